-- Webhooks: subscriptions to the event stream, and the log of their
-- deliveries, which is also their queue. The follower "webhooks" inserts
-- one delivery per matching (event, webhook) in the transaction that moves
-- its position, so each is queued exactly once; a worker sends the due
-- ones and records each attempt on the row.
CREATE TABLE webhooks (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	url        TEXT NOT NULL,
	events     TEXT NOT NULL, -- the types, space-separated, or "*"
	unit_id    INTEGER REFERENCES units(id) ON DELETE CASCADE,
	secret     TEXT NOT NULL, -- whsec_...: the receiver's key, needed to sign
	created_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
	created_at TIMESTAMP NOT NULL
);
CREATE INDEX webhooks_unit ON webhooks (unit_id);

CREATE TABLE webhook_deliveries (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	webhook_id   INTEGER NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
	event_id     INTEGER NOT NULL,
	event_type   TEXT NOT NULL,
	body         TEXT NOT NULL, -- sent as is on every attempt
	state        TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
	attempts     INTEGER NOT NULL DEFAULT 0,
	last_status  INTEGER NOT NULL DEFAULT 0, -- the last answer's code, 0 for none
	last_error   TEXT NOT NULL DEFAULT '',
	next_try_at  TIMESTAMP,
	locked_until TIMESTAMP,
	delivered_at TIMESTAMP,
	created_at   TIMESTAMP NOT NULL,
	UNIQUE (webhook_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_try_at) WHERE state = 'pending';
