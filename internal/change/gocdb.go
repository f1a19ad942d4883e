package change

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/helpmesh/helpmesh/internal/apperr"
)

// The GOCDB downtime document: the output of the GOCDB programmatic
// interface's get_downtime (one <DOWNTIME> per downtime and service, the
// service's HOSTNAME and SERVICE_TYPE directly inside) and
// get_downtime_nested_services (one <DOWNTIME> per downtime, its services
// in <SERVICES><SERVICE>). Dates are Unix seconds.

// Limits of a GOCDB document.
const (
	MaxGOCDBBytes     = 5 << 20
	MaxGOCDBDowntimes = 10000
)

// Downtime is one downtime of a GOCDB document.
type Downtime struct {
	ID             string
	Classification string // SCHEDULED or UNSCHEDULED
	Severity       string // OUTAGE or WARNING
	Description    string
	Inserted       time.Time
	Start, End     time.Time
	Endpoints      []Endpoint
}

// Endpoint is a GOCDB service: a host and a service type.
type Endpoint struct {
	Hostname    string
	ServiceType string
}

type xmlEndpoint struct {
	Hostname    string `xml:"HOSTNAME"`
	ServiceType string `xml:"SERVICE_TYPE"`
	Endpoint    string `xml:"ENDPOINT,omitempty"`
	HostedBy    string `xml:"HOSTED_BY,omitempty"`
}

type xmlDowntime struct {
	XMLName        xml.Name `xml:"DOWNTIME"`
	ID             string   `xml:"ID,attr"`
	PrimaryKey     string   `xml:"PRIMARY_KEY,attr"`
	Classification string   `xml:"CLASSIFICATION,attr"`
	// get_downtime (not nested): one service.
	Hostname    string `xml:"HOSTNAME,omitempty"`
	ServiceType string `xml:"SERVICE_TYPE,omitempty"`
	Endpoint    string `xml:"ENDPOINT,omitempty"`
	HostedBy    string `xml:"HOSTED_BY,omitempty"`

	Severity        string `xml:"SEVERITY"`
	Description     string `xml:"DESCRIPTION"`
	InsertDate      string `xml:"INSERT_DATE"`
	StartDate       string `xml:"START_DATE"`
	EndDate         string `xml:"END_DATE"`
	FormatedStart   string `xml:"FORMATED_START_DATE,omitempty"`
	FormatedEnd     string `xml:"FORMATED_END_DATE,omitempty"`
	GOCDBPortalURL  string `xml:"GOCDB_PORTAL_URL,omitempty"`
	NestedEndpoints *struct {
		Services []xmlEndpoint `xml:"SERVICE"`
	} `xml:"SERVICES,omitempty"`
}

// ErrNotGOCDB is the error of a document that is not a GOCDB downtime
// document.
var ErrNotGOCDB = errors.New("not a GOCDB downtime document")

// ParseGOCDB reads a GOCDB downtime document from r, streaming, at most
// MaxGOCDBBytes and MaxGOCDBDowntimes downtimes. The entries of one
// downtime (get_downtime repeats it per service) are merged. Errors are
// apperr errors: Invalid for a malformed document or entry (naming it),
// TooLarge for an oversized one. encoding/xml expands no entities but
// XML's five, so entity bombs fail as malformed.
func ParseGOCDB(r io.Reader) ([]Downtime, error) {
	rr := &recordingReader{r: r}
	lr := &io.LimitedReader{R: rr, N: MaxGOCDBBytes + 1}
	d := xml.NewDecoder(lr)
	d.Strict = true
	var out []Downtime
	index := map[string]int{}
	root := false
	malformed := func(err error) error {
		switch {
		case lr.N <= 0:
			return apperr.New(apperr.TooLarge, "the GOCDB document is larger than %d bytes", MaxGOCDBBytes)
		case rr.err != nil:
			return fmt.Errorf("change: reading the GOCDB document: %w", rr.err)
		}
		return apperr.Field("document", "is not well-formed XML: %v", err)
	}
	for {
		tok, err := d.Token()
		if err == io.EOF && lr.N > 0 {
			break
		}
		if err != nil {
			return nil, malformed(err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if !root {
			if se.Name.Local != "results" {
				return nil, apperr.Field("document", "%v: the root element is <%s>, not <results>", ErrNotGOCDB, se.Name.Local)
			}
			root = true
			continue
		}
		if se.Name.Local != "DOWNTIME" {
			if err := d.Skip(); err != nil {
				return nil, malformed(err)
			}
			continue
		}
		var x xmlDowntime
		if err := d.DecodeElement(&x, &se); err != nil {
			return nil, malformed(err)
		}
		dt, err := x.downtime()
		if err != nil {
			return nil, err
		}
		if i, ok := index[dt.ID]; ok {
			prev := &out[i]
			// A service ended early ends before the others: the
			// downtime ends with the last.
			if prev.Start != dt.Start || prev.Severity != dt.Severity {
				return nil, apperr.Field("document", "downtime %s: its entries disagree on the start or severity", dt.ID)
			}
			if dt.End.After(prev.End) {
				prev.End = dt.End
			}
			for _, e := range dt.Endpoints {
				if !slices.Contains(prev.Endpoints, e) {
					prev.Endpoints = append(prev.Endpoints, e)
				}
			}
			continue
		}
		if len(out) == MaxGOCDBDowntimes {
			return nil, apperr.New(apperr.TooLarge, "the GOCDB document has more than %d downtimes", MaxGOCDBDowntimes)
		}
		index[dt.ID] = len(out)
		out = append(out, dt)
	}
	if !root {
		return nil, apperr.Field("document", "%v: it is empty", ErrNotGOCDB)
	}
	return out, nil
}

// recordingReader remembers the first error of its reader but EOF (a
// failed read is no malformed document).
type recordingReader struct {
	r   io.Reader
	err error
}

func (rr *recordingReader) Read(p []byte) (int, error) {
	n, err := rr.r.Read(p)
	if err != nil && err != io.EOF && rr.err == nil {
		rr.err = err
	}
	return n, err
}

// downtime checks x and returns it as a Downtime.
func (x *xmlDowntime) downtime() (Downtime, error) {
	bad := func(format string, a ...any) error {
		return apperr.Field("document", "downtime %q: %s", x.ID, fmt.Sprintf(format, a...))
	}
	id := strings.TrimSpace(x.ID)
	if id == "" || len(id) > 64 || strings.ContainsFunc(id, func(r rune) bool { return r < 0x21 || r == 0x7f }) {
		return Downtime{}, bad("the ID attribute is missing or not a short token")
	}
	dt := Downtime{ID: id, Description: x.Description}
	switch strings.ToUpper(strings.TrimSpace(x.Classification)) {
	case "SCHEDULED":
		dt.Classification = Scheduled
	case "UNSCHEDULED", "":
		dt.Classification = Unscheduled
	default:
		return Downtime{}, bad("CLASSIFICATION %q is neither SCHEDULED nor UNSCHEDULED", x.Classification)
	}
	switch strings.ToUpper(strings.TrimSpace(x.Severity)) {
	case "OUTAGE":
		dt.Severity = "outage"
	case "WARNING", "AT_RISK":
		dt.Severity = "warning"
	default:
		return Downtime{}, bad("SEVERITY %q is neither OUTAGE nor WARNING", x.Severity)
	}
	var err error
	for _, f := range []struct {
		name     string
		in       string
		out      *time.Time
		optional bool
	}{{"START_DATE", x.StartDate, &dt.Start, false}, {"END_DATE", x.EndDate, &dt.End, false}, {"INSERT_DATE", x.InsertDate, &dt.Inserted, true}} {
		if strings.TrimSpace(f.in) == "" && f.optional {
			continue
		}
		if *f.out, err = unixDate(f.in); err != nil {
			return Downtime{}, bad("%s %q is not a Unix time", f.name, f.in)
		}
	}
	if dt.Inserted.IsZero() {
		dt.Inserted = dt.Start
	}
	if x.Hostname != "" || x.ServiceType != "" {
		dt.Endpoints = append(dt.Endpoints, Endpoint{strings.TrimSpace(x.Hostname), strings.TrimSpace(x.ServiceType)})
	}
	if x.NestedEndpoints != nil {
		for _, e := range x.NestedEndpoints.Services {
			ep := Endpoint{strings.TrimSpace(e.Hostname), strings.TrimSpace(e.ServiceType)}
			if !slices.Contains(dt.Endpoints, ep) {
				dt.Endpoints = append(dt.Endpoints, ep)
			}
		}
	}
	if len(dt.Endpoints) == 0 {
		return Downtime{}, bad("it names no service")
	}
	if len(dt.Endpoints) > MaxServices {
		return Downtime{}, bad("it names more than %d services", MaxServices)
	}
	return dt, nil
}

// unixDate parses Unix seconds within years 1970 to 9999.
func unixDate(s string) (time.Time, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 || n > 253402300799 {
		return time.Time{}, fmt.Errorf("bad Unix time %q", s)
	}
	return time.Unix(n, 0).UTC(), nil
}

// GOCDBDescription joins a change's title and description into the one
// DESCRIPTION of GOCDB; SplitGOCDBDescription undoes it.
func GOCDBDescription(title, description string) string {
	if description == "" || description == title {
		return title
	}
	return title + "\n\n" + description
}

// SplitGOCDBDescription returns the title and description of a GOCDB
// DESCRIPTION: a first paragraph of one short line is the title and the
// rest the description; otherwise the title is the start of the first
// line and the description the whole text.
func SplitGOCDBDescription(s string) (title, description string) {
	s = strings.TrimSpace(strings.ReplaceAll(s, "\r\n", "\n"))
	if head, rest, ok := strings.Cut(s, "\n\n"); ok && !strings.Contains(head, "\n") && len([]rune(head)) <= MaxTitle && strings.TrimSpace(rest) != "" {
		return strings.TrimSpace(head), strings.TrimSpace(rest)
	}
	first, _, _ := strings.Cut(s, "\n")
	first = strings.TrimSpace(first)
	if r := []rune(first); len(r) > MaxTitle {
		first = string(r[:MaxTitle-1]) + "…"
	}
	if first == "" {
		first = "GOCDB downtime"
	}
	return first, s
}

// ExportID is the GOCDB ID a change is served with: its GOCDB ID when
// imported, else its own id.
func (c *Change) ExportID() string {
	if c.GOCDBID != "" {
		return c.GOCDBID
	}
	return strconv.FormatInt(c.ID, 10)
}

// WriteGOCDB writes cs as a GOCDB downtime document: nested (one
// <DOWNTIME> with <SERVICES>, get_downtime_nested_services) or not (one
// <DOWNTIME> per service, get_downtime, each with its service's own end).
// A service's HOSTNAME and
// SERVICE_TYPE are both its slug, which is what ParseGOCDB maps back.
// portal is the base of each downtime's GOCDB_PORTAL_URL.
func WriteGOCDB(w io.Writer, cs []*Change, nested bool, portal string) error {
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	e := xml.NewEncoder(w)
	e.Indent("", "  ")
	root := xml.StartElement{Name: xml.Name{Local: "results"}}
	if err := e.EncodeToken(root); err != nil {
		return err
	}
	for _, c := range cs {
		x := xmlDowntime{ID: c.ExportID(), PrimaryKey: c.ExportID() + "G0", Classification: strings.ToUpper(c.Classification),
			Severity: strings.ToUpper(c.Severity), Description: GOCDBDescription(c.Title, c.Description),
			InsertDate: unix(c.DeclaredAt), StartDate: unix(c.Start), EndDate: unix(c.End),
			FormatedStart: c.Start.UTC().Format("2006-01-02 15:04"), FormatedEnd: c.End.UTC().Format("2006-01-02 15:04"),
			GOCDBPortalURL: strings.TrimRight(portal, "/") + "/" + strconv.FormatInt(c.ID, 10)}
		if nested {
			x.NestedEndpoints = &struct {
				Services []xmlEndpoint `xml:"SERVICE"`
			}{}
			for _, sv := range c.Services {
				x.NestedEndpoints.Services = append(x.NestedEndpoints.Services, xmlEndpoint{Hostname: sv.Slug, ServiceType: sv.Slug, Endpoint: sv.Slug + sv.Slug})
			}
			if err := e.Encode(x); err != nil {
				return err
			}
			continue
		}
		for _, sv := range c.Services {
			x.Hostname, x.ServiceType, x.Endpoint = sv.Slug, sv.Slug, sv.Slug+sv.Slug
			x.EndDate, x.FormatedEnd = unix(c.End), c.End.UTC().Format("2006-01-02 15:04")
			if !sv.End.IsZero() && sv.End.Before(c.End) { // ended early
				x.EndDate, x.FormatedEnd = unix(sv.End), sv.End.UTC().Format("2006-01-02 15:04")
			}
			if err := e.Encode(x); err != nil {
				return err
			}
		}
	}
	if err := e.EncodeToken(root.End()); err != nil {
		return err
	}
	return e.Flush()
}

func unix(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }
