package app

import (
	"github.com/helpmesh/helpmesh/internal/connector"
	"github.com/helpmesh/helpmesh/internal/connector/redmine5"
	"github.com/helpmesh/helpmesh/internal/connector/rt5"
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
