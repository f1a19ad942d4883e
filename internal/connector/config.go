package connector

import (
	"net/http"
	"time"
)

// The kinds of peer (the `kind` of a connector).
const (
	RT5      = "rt5"
	Redmine5 = "redmine5"
	Helpmesh = "helpmesh"
)

// Config is one connector as an administrator configured it, given to the
// constructor of its kind.
type Config struct {
	Name  string // the connector's name in helpmesh
	Kind  string // RT5, Redmine5 or Helpmesh
	URL   string // the peer's base URL
	Token string // the connector account's credential on the peer
	// Queue is the RT queue tickets are created in (rt5).
	Queue string
	// Project and TrackerID are where Redmine issues are created (redmine5).
	Project   string
	TrackerID int64
	// Unit is the remote unit tickets are created for (helpmesh).
	Unit string
	// PollInterval is how often the engine polls the peer.
	PollInterval time.Duration
	// Client sends the peer's requests: it dials only the addresses that
	// HELPMESH_OUTBOUND_ALLOW and the public Internet allow, follows no
	// redirect and times out (package outbound). Kinds use it and no other.
	Client *http.Client
	// Instance is this helpmesh's public base URL, for the cross-reference
	// a kind keeps on the peer (hm:<instance>/<ticket id>).
	Instance string
}

// Kinds is the registry of kinds of peer: the constructor of each, by
// kind. The composition root (internal/app) gives it to the engine.
type Kinds map[string]func(Config) (Peer, error)
