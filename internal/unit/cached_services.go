package unit

import "context"

// servicesKey is the lookups key of the whole catalogue.
const servicesKey = "services"

// CachedServices returns the catalogue as Services does, from the lookups
// cache: the new-ticket form reads it at every view. The slice and its
// services are shared between callers, who must not change them.
func (s *Store) CachedServices(ctx context.Context) ([]*Service, error) {
	if e, ok := s.lookups.get(servicesKey); ok && e.svs != nil {
		return e.svs, nil
	}
	svs, err := s.Services(ctx)
	if err != nil {
		return nil, err
	}
	if svs == nil {
		svs = []*Service{}
	}
	s.lookups.put(servicesKey, lookup{svs: svs})
	return svs, nil
}
