-- helpmesh to helpmesh federation (the TMF621 profile under /federation/v1/).
-- Serving side: the accounts an administrator made peers, the tickets each
-- peer opened (its catch-up feed and hub cover these), the notes it added
-- (by origin, so a retried note is stored once), its hub subscriptions and
-- the queue and log of the deliveries pushed to them.
CREATE TABLE federation_peers (
	user_id    INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
	name       TEXT NOT NULL UNIQUE,
	created_at TIMESTAMP NOT NULL
);
CREATE TABLE federation_tickets (
	ticket_id       INTEGER PRIMARY KEY REFERENCES tickets(id) ON DELETE CASCADE,
	peer_id         INTEGER NOT NULL REFERENCES federation_peers(user_id) ON DELETE CASCADE,
	external_id     TEXT NOT NULL DEFAULT '',
	-- The requester as the peer knows them: the ticket's requester here is
	-- the peer's account, so that only the peer mails its requester.
	requester_email TEXT NOT NULL,
	requester_name  TEXT NOT NULL DEFAULT '',
	idempotency_key TEXT,
	created_at      TIMESTAMP NOT NULL,
	UNIQUE (peer_id, idempotency_key)
);
CREATE INDEX federation_tickets_peer ON federation_tickets (peer_id);
CREATE TABLE federation_notes (
	peer_id    INTEGER NOT NULL REFERENCES federation_peers(user_id) ON DELETE CASCADE,
	origin     TEXT NOT NULL,
	message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
	PRIMARY KEY (peer_id, origin)
);
CREATE TABLE federation_hubs (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	peer_id    INTEGER NOT NULL REFERENCES federation_peers(user_id) ON DELETE CASCADE,
	callback   TEXT NOT NULL,
	secret     TEXT NOT NULL,
	created_at TIMESTAMP NOT NULL
);
CREATE INDEX federation_hubs_peer ON federation_hubs (peer_id);
CREATE TABLE federation_pushes (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	hub_id       INTEGER NOT NULL REFERENCES federation_hubs(id) ON DELETE CASCADE,
	event_id     INTEGER NOT NULL,
	event_type   TEXT NOT NULL,
	body         TEXT NOT NULL,
	state        TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
	attempts     INTEGER NOT NULL DEFAULT 0,
	last_error   TEXT NOT NULL DEFAULT '',
	next_try_at  TIMESTAMP NOT NULL,
	locked_until TIMESTAMP,
	delivered_at TIMESTAMP,
	created_at   TIMESTAMP NOT NULL,
	UNIQUE (hub_id, event_id)
);
CREATE INDEX federation_pushes_due ON federation_pushes (next_try_at) WHERE state = 'pending';
-- Receiving side: the hub subscriptions this instance holds at its helpmesh
-- peers (one per connector), with the secret their deliveries are signed
-- with, and the webhook-ids received (a replayed delivery is applied once).
CREATE TABLE federation_subscriptions (
	connector  TEXT PRIMARY KEY,
	hub_id     TEXT NOT NULL,
	secret     TEXT NOT NULL,
	created_at TIMESTAMP NOT NULL
);
CREATE TABLE federation_received (
	connector   TEXT NOT NULL,
	webhook_id  TEXT NOT NULL,
	received_at TIMESTAMP NOT NULL,
	PRIMARY KEY (connector, webhook_id)
);
