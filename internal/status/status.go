package status

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/helpmesh/helpmesh/internal/incident"
)

// Doc is one rendered document.
type Doc struct {
	Body []byte
	// Gzip is Body compressed, for clients that accept it.
	Gzip        []byte
	ContentType string
	ETag        string
	// Stale is true when the database did not answer and the last
	// rendering was served instead.
	Stale bool
}

// Document names: the JSON documents by their path under /api/v2/, and
// these.
const (
	PageHTML       = "status.html"
	HistoryAtom    = "history.atom"
	MaintenanceICS = "maintenance.ics"
)

// Options configures a Page.
type Options struct {
	Services     Services
	Incidents    Incidents
	Maintenances Maintenances // optional
	// Name and URL are the page's (the site name, <base URL>/status).
	Name string
	URL  string
	// StaticDir, when set, receives a copy of every rendering, served
	// when the database does not answer (also after a restart).
	StaticDir string
	// TTL bounds how long a rendering is served without a change event
	// (maintenance starts and ends with time); default 30 s.
	TTL time.Duration
	// Coalesce is the shortest time between two renderings (default
	// 100 ms): under a burst of changes the page is rendered at most once
	// per Coalesce, and readers are served the previous rendering
	// meanwhile (refresh.go).
	Coalesce time.Duration

	Log *slog.Logger
	Now func() time.Time
}

// Page renders and caches the status page and its documents.
type Page struct {
	opts Options
	gen  atomic.Uint64 // moved by Invalidate

	mu       sync.Mutex // held while rendering
	cur      atomic.Pointer[rendering]
	lastGood atomic.Pointer[rendering]
	// renderedAt is when the last rendering ended (wall clock, under mu);
	// refreshing is true while a background rendering is on its way.
	renderedAt time.Time
	refreshing atomic.Bool
}

type rendering struct {
	gen  uint64
	at   time.Time
	docs map[string]Doc
	// down is true for the last rendering served because the database
	// did not answer.
	down bool
}

// New returns a Page.
func New(opts Options) *Page {
	if opts.TTL <= 0 {
		opts.TTL = 30 * time.Second
	}
	if opts.Coalesce <= 0 {
		opts.Coalesce = 100 * time.Millisecond
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Name == "" {
		opts.Name = "helpmesh"
	}
	return &Page{opts: opts}
}

// retryDown is how long the last rendering is served, without asking,
// when the database did not answer.
const retryDown = 5 * time.Second

// Events are the event types that change the page.
var Events = []string{"incident.created", "incident.updated", "change.created", "change.updated"}

// Document returns the document named name (see the constants, and the
// JSON paths under /api/v2/). An unknown name is apperr-free: ok is false.
func (p *Page) Document(ctx context.Context, name string) (Doc, bool, error) {
	r, err := p.rendering(ctx)
	if err != nil {
		return Doc{}, false, err
	}
	d, ok := r.docs[name]
	return d, ok, nil
}

func (p *Page) fresh(r *rendering) bool {
	return r != nil && r.gen == p.gen.Load() && p.opts.Now().Sub(r.at) < p.opts.TTL
}

// stale returns the last rendering (in memory, else on disk) marked
// stale.
func (p *Page) stale() *rendering {
	src := p.lastGood.Load()
	if src == nil {
		src = p.loadStatic()
	}
	if src == nil {
		return nil
	}
	r := &rendering{at: src.at, docs: make(map[string]Doc, len(src.docs)), down: true}
	for k, d := range src.docs {
		d.Stale = true
		r.docs[k] = d
	}
	return r
}

// snapshot reads what the page shows.
func (p *Page) snapshot(ctx context.Context) (*snapshot, error) {
	now := p.opts.Now().UTC().Truncate(time.Second)
	sn := &snapshot{at: now, current: map[int64]string{}, since: map[int64]time.Time{}}
	svs, err := p.opts.Services.Services(ctx)
	if err != nil {
		return nil, err
	}
	sn.services = svs
	if sn.unresolved, err = p.opts.Incidents.List(ctx, incident.Filter{Unresolved: true, Limit: incident.MaxList}); err != nil {
		return nil, err
	}
	if sn.recent, err = p.opts.Incidents.List(ctx, incident.Filter{Limit: 50}); err != nil {
		return nil, err
	}
	first := now.Truncate(24*time.Hour).AddDate(0, 0, -(Days - 1))
	outages, err := p.opts.Incidents.Outages(ctx, first)
	if err != nil {
		return nil, err
	}
	if p.opts.Maintenances != nil {
		if sn.maintenances, err = p.opts.Maintenances.Maintenances(ctx, first); err != nil {
			return nil, err
		}
	}
	updated := time.Time{}
	for _, in := range sn.unresolved {
		for _, c := range in.Components {
			if c.RecoveredAt == nil && incident.Severity(c.Status) > incident.Severity(sn.current[c.ServiceID]) {
				sn.current[c.ServiceID] = c.Status
			}
			if in.UpdatedAt.After(sn.since[c.ServiceID]) {
				sn.since[c.ServiceID] = in.UpdatedAt
			}
		}
	}
	for _, m := range sn.maintenances {
		if isActive(m) {
			for _, sid := range m.Services {
				if sn.current[sid] == "" {
					sn.current[sid] = incident.UnderMaintenance
				}
			}
		}
		updated = later(updated, m.UpdatedAt)
	}
	for _, in := range sn.recent {
		updated = later(updated, in.UpdatedAt)
	}
	for _, sv := range svs {
		updated = later(updated, sv.UpdatedAt.UTC())
	}
	if updated.IsZero() {
		updated = now
	}
	ids := make([]int64, len(svs))
	for i, sv := range svs {
		ids[i] = sv.ID
	}
	sn.bars = bars(now, ids, outages, sn.maintenances)
	sn.page = pageDoc{ID: pageID(p.opts.URL), Name: p.opts.Name, URL: p.opts.URL, TimeZone: "Etc/UTC", UpdatedAt: updated}
	return sn, nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// pageID is a stable id of the page, from its URL.
func pageID(url string) string {
	sum := sha256.Sum256([]byte(url))
	return hex.EncodeToString(sum[:6])
}

func (p *Page) render(ctx context.Context) (*rendering, error) {
	sn, err := p.snapshot(ctx)
	if err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	r := &rendering{at: p.opts.Now(), docs: map[string]Doc{}}
	m := newDocMaker()
	for name, v := range sn.jsonDocs() {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(true)
		if err := enc.Encode(v); err != nil {
			return nil, fmt.Errorf("status: %s: %w", name, err)
		}
		r.docs[name] = m.doc(b.Bytes(), "application/json; charset=utf-8")
	}
	html, err := renderHTML(sn)
	if err != nil {
		return nil, err
	}
	r.docs[PageHTML] = m.doc(html, "text/html; charset=utf-8")
	atom, err := renderAtom(sn)
	if err != nil {
		return nil, err
	}
	r.docs[HistoryAtom] = m.doc(atom, "application/atom+xml; charset=utf-8")
	r.docs[MaintenanceICS] = m.doc(renderICS(sn), "text/calendar; charset=utf-8")
	return r, nil
}

// docMaker makes the documents of one rendering, with one gzip writer
// (making one costs more than compressing a small document).
type docMaker struct{ zw *gzip.Writer }

func newDocMaker() *docMaker {
	zw, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed) // a valid level
	return &docMaker{zw: zw}
}

func (m *docMaker) doc(b []byte, ct string) Doc {
	sum := sha256.Sum256(b)
	var z bytes.Buffer
	m.zw.Reset(&z)
	_, _ = m.zw.Write(b) // a bytes.Buffer does not fail
	_ = m.zw.Close()
	return Doc{Body: b, Gzip: z.Bytes(), ContentType: ct, ETag: `"` + hex.EncodeToString(sum[:12]) + `"`}
}

// staticName is a document's file name in StaticDir.
func staticName(name string) string { return strings.ReplaceAll(name, "/", "--") }

// saveStatic writes the rendering to StaticDir, each file replaced at once.
func (p *Page) saveStatic(r *rendering) {
	if p.opts.StaticDir == "" {
		return
	}
	if err := os.MkdirAll(p.opts.StaticDir, 0o750); err != nil {
		p.opts.Log.Warn("status page: static copy", "err", err)
		return
	}
	for name, d := range r.docs {
		path := filepath.Join(p.opts.StaticDir, staticName(name))
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, d.Body) {
			continue
		}
		tmp := path + ".tmp"
		err := os.WriteFile(tmp, d.Body, 0o640)
		if err == nil {
			err = os.Rename(tmp, path)
		}
		if err != nil {
			p.opts.Log.Warn("status page: static copy", "file", path, "err", err)
		}
	}
}

// contentTypes are the static copy's, by document name.
func contentType(name string) string {
	switch {
	case strings.HasSuffix(name, ".json"):
		return "application/json; charset=utf-8"
	case name == PageHTML:
		return "text/html; charset=utf-8"
	case name == HistoryAtom:
		return "application/atom+xml; charset=utf-8"
	case name == MaintenanceICS:
		return "text/calendar; charset=utf-8"
	}
	return ""
}

// loadStatic reads the copy of StaticDir, or nil.
func (p *Page) loadStatic() *rendering {
	if p.opts.StaticDir == "" {
		return nil
	}
	r := &rendering{docs: map[string]Doc{}}
	m := newDocMaker()
	for _, name := range Names() {
		b, err := os.ReadFile(filepath.Join(p.opts.StaticDir, staticName(name)))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			p.opts.Log.Warn("status page: static copy", "err", err)
			continue
		}
		r.docs[name] = m.doc(b, contentType(name))
	}
	if len(r.docs) == 0 {
		return nil
	}
	return r
}

// Names lists every document.
func Names() []string {
	return []string{PageHTML, HistoryAtom, MaintenanceICS, "status.json", "summary.json", "components.json", "incidents.json",
		"incidents/unresolved.json", "scheduled-maintenances.json", "scheduled-maintenances/upcoming.json", "scheduled-maintenances/active.json"}
}
