package app

import (
	"context"
	"net/url"
	"strings"
	"sync"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/connector"
	"github.com/helpmesh/helpmesh/internal/connector/hmpeer"
	"github.com/helpmesh/helpmesh/internal/federation"
	"github.com/helpmesh/helpmesh/internal/outbound"
	"github.com/helpmesh/helpmesh/internal/tmf621"
)

// peerDeliveries apply each delivery a helpmesh peer pushed to this
// instance: the engine polls that connector's peer at once (one poll per
// connector at a time), and whatever OnPeerDelivery registered is told.
type peerDeliveries struct {
	mu    sync.Mutex
	fns   []func(connector string, d tmf621.Delivery)
	polls sync.Map // connector name -> *sync.Mutex
	poll  func(ctx context.Context, name string) error
}

func (p *peerDeliveries) apply(ctx context.Context, name string, d tmf621.Delivery) error {
	lock, _ := p.polls.LoadOrStore(name, &sync.Mutex{})
	lock.(*sync.Mutex).Lock()
	err := p.poll(ctx, name)
	lock.(*sync.Mutex).Unlock()
	if err != nil && !apperr.Is(err, apperr.NotFound) { // a subscription without its connector has nothing to apply
		return err
	}
	p.mu.Lock()
	fns := p.fns
	p.mu.Unlock()
	for _, fn := range fns {
		fn(name, d)
	}
	return nil
}

// OnPeerDelivery registers fn to be told of each delivery a helpmesh peer
// pushed to this instance, once it is applied (verified, once per
// webhook-id).
func (a *App) OnPeerDelivery(fn func(connector string, d tmf621.Delivery)) {
	a.peerDeliveries.mu.Lock()
	defer a.peerDeliveries.mu.Unlock()
	a.peerDeliveries.fns = append(a.peerDeliveries.fns, fn)
}

// buildFederation makes the federation store (the TMF621 profile under
// /federation/v1/), its hub follower of the event stream and the sender
// of its deliveries, which go only where policy allows; it gives the
// connector engine the kind helpmesh, whose connectors subscribe to their
// peer's hub, and has a delivery pushed by that peer applied by polling
// the peer at once.
func (a *App) buildFederation(policy *outbound.Policy) {
	a.peerDeliveries.poll = a.Connectors.PollNow
	a.Federation = federation.New(a.DB, federation.Options{
		Tickets: a.Tickets, Users: a.Users, Units: a.Units, Events: a.Events, Checker: policy,
		Poster:  outbound.Poster{Client: policy.Client(outbound.Timeout), UserAgent: "helpmesh-federation"},
		BaseURL: a.Config.PublicURL(), BackoffBase: a.Config.OutboundRetry, Log: a.Log,
		Blobs: a.Blobs, MaxFile: a.Config.MaxUploadBytes,
		Apply: a.peerDeliveries.apply,
	})
	a.Federation.Follow(a.Events)
	a.AddWorker(a.Federation.Run)
	a.Connectors.SetKind(connector.Helpmesh, a.helpmeshPeer)
}

// helpmeshPeer is the constructor of the kind helpmesh.
func (a *App) helpmeshPeer(cfg connector.Config) (connector.Peer, error) {
	instance := cfg.Instance
	if u, err := url.Parse(cfg.Instance); err == nil && u.Host != "" {
		instance = u.Host
	}
	base := strings.TrimRight(a.Config.PublicURL(), "/")
	return hmpeer.New(hmpeer.Options{URL: cfg.URL, Token: cfg.Token, Unit: cfg.Unit, Instance: instance, Client: cfg.Client,
		Connector: cfg.Name, Callback: base + "/federation/v1/callback/" + url.PathEscape(cfg.Name), Subscriptions: a.Federation})
}
