package web

import (
	"bytes"
	"fmt"
	"html/template"
	"reflect"
	"slices"
	"sync"

	"github.com/helpmesh/helpmesh/internal/knownerror"
	"github.com/helpmesh/helpmesh/internal/unit"
)

// serviceChoices keeps the new-ticket form's list of services (template
// "service-choices" of the page "new"), rendered for the catalogue and
// the known errors it was given, one rendering per chosen service. It
// was the most costly part of the form (a hundred services, each with
// escaped attributes). The stores hand out the same catalogue and known
// errors until they change (unit.Store.CachedServices,
// knownerror.Store.ActiveByService): when either is another value, the
// renderings are dropped.
type serviceChoices struct {
	mu   sync.Mutex
	svcs []*unit.Service
	kes  map[string][]*knownerror.KnownError
	html map[string]template.HTML // by chosen service slug, "" for none
}

type serviceChoicesData struct {
	Services    []*unit.Service
	KnownErrors map[string][]*knownerror.KnownError
	Chosen      string
}

// get returns the list with chosen checked, rendered with t (the page's
// template) when not kept.
func (c *serviceChoices) get(t *template.Template, svcs []*unit.Service, kes map[string][]*knownerror.KnownError, chosen string) (template.HTML, error) {
	if !slices.ContainsFunc(svcs, func(s *unit.Service) bool { return s.Slug == chosen }) {
		chosen = "" // nothing checked: kept once, whatever was asked
	}
	c.mu.Lock()
	if c.html == nil || !sameSlice(c.svcs, svcs) || !sameMap(c.kes, kes) {
		c.svcs, c.kes, c.html = svcs, kes, map[string]template.HTML{}
	}
	h, ok := c.html[chosen]
	c.mu.Unlock()
	if ok {
		return h, nil
	}
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, "service-choices", serviceChoicesData{Services: svcs, KnownErrors: kes, Chosen: chosen}); err != nil {
		return "", fmt.Errorf("web: service choices: %w", err)
	}
	h = template.HTML(b.String()) //nolint:gosec // escaped by html/template
	c.mu.Lock()
	if sameSlice(c.svcs, svcs) && sameMap(c.kes, kes) {
		c.html[chosen] = h
	}
	c.mu.Unlock()
	return h, nil
}

// sameSlice tells whether a and b are the same slice (not equal ones).
func sameSlice(a, b []*unit.Service) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// sameMap tells whether a and b are the same map (not equal ones).
func sameMap(a, b map[string][]*knownerror.KnownError) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}
