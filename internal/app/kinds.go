package app

import "github.com/helpmesh/helpmesh/internal/connector"

// kinds is the registry of the kinds of peer this helpmesh is built with:
// each kind's constructor, by kind (connector.RT5, connector.Redmine5,
// connector.Helpmesh). A connector of a kind not listed here is kept but
// fails with a clear error until the kind is built in.
func kinds() connector.Kinds {
	return connector.Kinds{}
}
