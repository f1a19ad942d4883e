package app

import (
	"context"
	"net/url"
	"strings"
	"sync"

	"github.com/helpmesh/helpmesh/internal/connector"
	"github.com/helpmesh/helpmesh/internal/connector/hmpeer"
	"github.com/helpmesh/helpmesh/internal/federation"
	"github.com/helpmesh/helpmesh/internal/outbound"
	"github.com/helpmesh/helpmesh/internal/tmf621"
)

// peerDeliveries are told of each delivery a helpmesh peer pushed to
// this instance (once per webhook-id).
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
// of its deliveries, which go only where policy allows; it gives the
// connector engine the kind helpmesh, whose connectors subscribe to their
// peer's hub, and polls a connector's peer at once when that peer pushes
// a delivery.
func (a *App) buildFederation(policy *outbound.Policy) {
	a.Federation = federation.New(a.DB, federation.Options{
		Tickets: a.Tickets, Users: a.Users, Units: a.Units, Events: a.Events, Checker: policy,
		Poster:  outbound.Poster{Client: policy.Client(outbound.Timeout), UserAgent: "helpmesh-federation"},
		BaseURL: a.Config.PublicURL(), BackoffBase: a.Config.OutboundRetry, Log: a.Log,
		Received: a.peerDeliveries.tell,
	})
	a.Federation.Follow(a.Events)
	a.AddWorker(a.Federation.Run)
	a.Connectors.SetKind(connector.Helpmesh, a.helpmeshPeer)
	polls := &pollNow{run: a.Connectors.PollNow, log: a.Log.Warn, running: map[string]bool{}, again: map[string]bool{}}
	a.OnPeerDelivery(func(name string, _ tmf621.Delivery) { polls.kick(name) })
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

// pollNow polls a connector's peer at once, in the background, at most
// one poll per connector at a time (a kick while one runs polls again
// after it).
type pollNow struct {
	run     func(ctx context.Context, name string) error
	log     func(msg string, args ...any)
	mu      sync.Mutex
	running map[string]bool
	again   map[string]bool
}

func (p *pollNow) kick(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.running[name] {
		p.again[name] = true
		return
	}
	p.running[name] = true
	go p.loop(name)
}

func (p *pollNow) loop(name string) {
	for {
		if err := p.run(context.Background(), name); err != nil {
			p.log("polling a helpmesh peer after its push", "connector", name, "err", err)
		}
		p.mu.Lock()
		if !p.again[name] {
			delete(p.running, name)
			p.mu.Unlock()
			return
		}
		delete(p.again, name)
		p.mu.Unlock()
	}
}
