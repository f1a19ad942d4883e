package app

import (
	"sync"

	"github.com/helpmesh/helpmesh/internal/federation"
	"github.com/helpmesh/helpmesh/internal/outbound"
	"github.com/helpmesh/helpmesh/internal/tmf621"
)

// peerDeliveries are told of each delivery a helpmesh peer pushed to
// this instance (once per webhook-id): the connector engine reads that
// peer's feed then.
type peerDeliveries struct {
	mu  sync.Mutex
	fns []func(connector string, d tmf621.Delivery)
}

func (p *peerDeliveries) tell(connector string, d tmf621.Delivery) {
	p.mu.Lock()
	fns := p.fns
	p.mu.Unlock()
	for _, fn := range fns {
		fn(connector, d)
	}
}

// OnPeerDelivery registers fn to be told of each delivery a helpmesh peer
// pushed to this instance (verified, once per webhook-id).
func (a *App) OnPeerDelivery(fn func(connector string, d tmf621.Delivery)) {
	a.peerDeliveries.mu.Lock()
	defer a.peerDeliveries.mu.Unlock()
	a.peerDeliveries.fns = append(a.peerDeliveries.fns, fn)
}

// buildFederation makes the federation store (the TMF621 profile under
// /federation/v1/), its hub follower of the event stream and the sender
// of its deliveries, which go only where policy allows.
func (a *App) buildFederation(policy *outbound.Policy) {
	a.Federation = federation.New(a.DB, federation.Options{
		Tickets: a.Tickets, Users: a.Users, Units: a.Units, Events: a.Events, Checker: policy,
		Poster:  outbound.Poster{Client: policy.Client(outbound.Timeout), UserAgent: "helpmesh-federation"},
		BaseURL: a.Config.PublicURL(), BackoffBase: a.Config.OutboundRetry, Log: a.Log,
		Received: a.peerDeliveries.tell,
	})
	a.Federation.Follow(a.Events)
	a.AddWorker(a.Federation.Run)
}
