package status

import (
	"bytes"
	_ "embed"
	"encoding/xml"
	"fmt"
	"html/template"
	"strconv"
	"strings"
	"time"

	"github.com/helpmesh/helpmesh/internal/incident"
)

//go:embed page.html
var pageSource string

var pageTemplate = template.Must(template.New("status").Funcs(template.FuncMap{
	"pct":   func(a float64) string { return strconv.FormatFloat(a*100, 'f', 2, 64) + " %" },
	"day":   func(t time.Time) string { return t.Format("2 Jan 2006") },
	"when":  func(t time.Time) string { return t.UTC().Format("2 Jan 2006 15:04 UTC") },
	"label": func(s string) string { return strings.ReplaceAll(s, "_", " ") },
}).Parse(pageSource))

// level is the CSS class of a day's bar: by its availability, and at
// least as bad as the worst state of the day (an outage that has just
// begun has cost little time yet).
func level(d day) string {
	classes := []string{"ok", "minor", "major", "critical"}
	n := 0
	switch {
	case d.Availability < 0.95:
		n = 3
	case d.Availability < 0.99:
		n = 2
	case d.Availability < 1:
		n = 1
	}
	switch d.Worst {
	case incident.MajorOutage:
		n = max(n, 2)
	case incident.PartialOutage, incident.DegradedPerformance:
		n = max(n, 1)
	}
	return classes[n]
}

type serviceRow struct {
	Slug, Name, Status string
	// Bars is the 90 days as markup: an empty <i> for a day without
	// incident, a coloured one with its date and availability otherwise
	// (kept short: the page has one per service and day).
	Bars         template.HTML
	Availability float64
}

// barsHTML renders days; only dates and numbers go in, so nothing needs
// escaping.
func barsHTML(days []day) template.HTML {
	var b strings.Builder
	b.Grow(len(days) * 8)
	for _, d := range days {
		if lv := level(d); lv != "ok" {
			fmt.Fprintf(&b, `<i class="%s" title="%s: %s"></i>`, lv, d.Date.Format("2 Jan 2006"), pct(d.Availability))
			continue
		}
		b.WriteString("<i></i>")
	}
	return template.HTML(b.String()) //nolint:gosec // dates and numbers only
}

func pct(a float64) string { return strconv.FormatFloat(a*100, 'f', 2, 64) + " %" }

type pageData struct {
	Page         pageDoc
	Status       statusDoc
	Services     []serviceRow
	Unresolved   []*incident.Incident
	Past         []*incident.Incident
	Active       []Maintenance
	Upcoming     []Maintenance
	ServiceNames map[int64]string
}

func renderHTML(sn *snapshot) ([]byte, error) {
	d := pageData{Page: sn.page, Status: sn.indicator(), ServiceNames: map[int64]string{}}
	for _, sv := range sn.services {
		st := sn.current[sv.ID]
		if st == "" {
			st = incident.Operational
		}
		days := sn.bars[sv.ID]
		d.Services = append(d.Services, serviceRow{Slug: sv.Slug, Name: sv.Name, Status: st, Bars: barsHTML(days), Availability: overall(days)})
		d.ServiceNames[sv.ID] = sv.Name
	}
	d.Unresolved = sn.unresolved
	for _, in := range sn.recent {
		if in.Status == incident.Resolved && sn.at.Sub(in.CreatedAt) < 14*24*time.Hour {
			d.Past = append(d.Past, in)
		}
	}
	for _, m := range sn.maintenances {
		switch {
		case isActive(m):
			d.Active = append(d.Active, m)
		case isUpcoming(m):
			d.Upcoming = append(d.Upcoming, m)
		}
	}
	var b bytes.Buffer
	if err := pageTemplate.Execute(&b, d); err != nil {
		return nil, fmt.Errorf("status: page: %w", err)
	}
	return b.Bytes(), nil
}

// The Atom feed of incidents (RFC 4287), as Statuspage's history.atom.
type atomFeed struct {
	XMLName xml.Name    `xml:"http://www.w3.org/2005/Atom feed"`
	ID      string      `xml:"id"`
	Title   string      `xml:"title"`
	Updated string      `xml:"updated"`
	Link    []atomLink  `xml:"link"`
	Entries []atomEntry `xml:"entry"`
}

type atomLink struct {
	Href string `xml:"href,attr"`
	Rel  string `xml:"rel,attr,omitempty"`
	Type string `xml:"type,attr,omitempty"`
}

type atomEntry struct {
	ID        string   `xml:"id"`
	Title     string   `xml:"title"`
	Published string   `xml:"published"`
	Updated   string   `xml:"updated"`
	Link      atomLink `xml:"link"`
	Content   atomText `xml:"content"`
}

type atomText struct {
	Type string `xml:"type,attr"`
	Body string `xml:",chardata"`
}

func renderAtom(sn *snapshot) ([]byte, error) {
	f := atomFeed{ID: "tag:helpmesh," + sn.page.ID + ":history", Title: sn.page.Name + " status history",
		Updated: sn.page.UpdatedAt.Format(time.RFC3339),
		Link:    []atomLink{{Href: sn.page.URL, Type: "text/html"}, {Href: sn.page.URL + "/history.atom", Rel: "self", Type: "application/atom+xml"}}}
	for _, in := range sn.recent {
		var body strings.Builder
		for _, u := range in.Updates {
			fmt.Fprintf(&body, "%s — %s: %s\n\n", u.CreatedAt.Format(time.RFC3339), u.Status, u.Body)
		}
		id := strconv.FormatInt(in.ID, 10)
		f.Entries = append(f.Entries, atomEntry{ID: "tag:helpmesh," + sn.page.ID + ":incident-" + id, Title: in.Title,
			Published: in.CreatedAt.Format(time.RFC3339), Updated: in.UpdatedAt.Format(time.RFC3339),
			Link: atomLink{Href: sn.page.URL + "#incident-" + id, Type: "text/html"}, Content: atomText{Type: "text", Body: body.String()}})
	}
	b, err := xml.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("status: atom: %w", err)
	}
	return append([]byte(xml.Header), b...), nil
}

// icsText escapes a text value (RFC 5545 §3.3.11).
func icsText(s string) string {
	return strings.NewReplacer(`\`, `\\`, ";", `\;`, ",", `\,`, "\r\n", `\n`, "\n", `\n`, "\r", `\n`).Replace(s)
}

// icsLine folds a content line at 75 octets (RFC 5545 §3.1) without
// splitting a UTF-8 sequence.
func icsLine(b *strings.Builder, line string) {
	for len(line) > 75 {
		cut := 75
		for cut > 0 && line[cut]&0xC0 == 0x80 {
			cut--
		}
		b.WriteString(line[:cut] + "\r\n ")
		line = line[cut:]
	}
	b.WriteString(line + "\r\n")
}

func renderICS(sn *snapshot) []byte {
	var b strings.Builder
	ts := func(t time.Time) string { return t.UTC().Format("20060102T150405Z") }
	host := strings.TrimPrefix(strings.TrimPrefix(sn.page.URL, "https://"), "http://")
	host, _, _ = strings.Cut(host, "/")
	for _, l := range []string{"BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//helpmesh//status//EN", "CALSCALE:GREGORIAN",
		"X-WR-CALNAME:" + icsText(sn.page.Name+" maintenance")} {
		icsLine(&b, l)
	}
	for _, m := range sn.maintenances {
		var names []string
		for _, sid := range m.Services {
			if sv, _ := sn.serviceByID(sid); sv != nil {
				names = append(names, sv.Name)
			}
		}
		sev := "WARNING"
		if m.Outage {
			sev = "OUTAGE"
		}
		icsLine(&b, "BEGIN:VEVENT")
		icsLine(&b, fmt.Sprintf("UID:change-%d@%s", m.ID, host))
		icsLine(&b, "DTSTAMP:"+ts(m.UpdatedAt))
		icsLine(&b, "DTSTART:"+ts(m.Start))
		icsLine(&b, "DTEND:"+ts(m.End))
		icsLine(&b, "SUMMARY:"+icsText(fmt.Sprintf("[%s] %s", sev, m.Title)))
		icsLine(&b, "DESCRIPTION:"+icsText(m.Description+"\n\nServices: "+strings.Join(names, ", ")))
		if m.Status == "cancelled" {
			icsLine(&b, "STATUS:CANCELLED")
		} else {
			icsLine(&b, "STATUS:CONFIRMED")
		}
		icsLine(&b, "URL:"+sn.page.URL+"#maintenance-m"+strconv.FormatInt(m.ID, 10))
		icsLine(&b, "END:VEVENT")
	}
	icsLine(&b, "END:VCALENDAR")
	return []byte(b.String())
}
