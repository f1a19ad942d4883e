package app

import (
	"fmt"

	"github.com/helpmesh/helpmesh/internal/connector"
	"github.com/helpmesh/helpmesh/internal/connector/redmine5"
	"github.com/helpmesh/helpmesh/internal/connector/rt5"
	"github.com/helpmesh/helpmesh/internal/outbound"
)

// kinds is the registry of the kinds of peer this helpmesh is built with:
// each kind's constructor, by kind (connector.RT5, connector.Redmine5,
// connector.Helpmesh). A connector of a kind not listed here is kept but
// fails with a clear error until the kind is built in.
func kinds() connector.Kinds {
	return connector.Kinds{
		connector.Redmine5: redmine5.NewPeer,
		connector.RT5:      rt5.NewPeer,
	}
}

// Source returns the reader of the system cfg names, for `helpmesh
// import`: a kind of peer that can list its tickets. Its requests go only
// where HELPMESH_OUTBOUND_ALLOW and the public Internet allow.
func (a *App) Source(cfg connector.Config) (connector.Source, error) {
	newPeer, ok := kinds()[cfg.Kind]
	if !ok {
		return nil, fmt.Errorf("helpmesh does not import from %q", cfg.Kind)
	}
	policy, err := outbound.NewPolicy(a.Config.OutboundAllow)
	if err != nil {
		return nil, err
	}
	cfg.Client = policy.Client(connectorTimeout)
	cfg.Instance = a.Config.PublicURL()
	p, err := newPeer(cfg)
	if err != nil {
		return nil, err
	}
	src, ok := p.(connector.Source)
	if !ok {
		return nil, fmt.Errorf("helpmesh does not import from %q", cfg.Kind)
	}
	return src, nil
}
