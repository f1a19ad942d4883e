-- Connectors (package connector): the external ticketing systems tickets
-- of `external` services are synchronised with. The follower "connectors"
-- queues helpmesh's changes in connector_items in the transaction that
-- moves its position; a worker sends them in order per ticket. The poller
-- applies the peer's changes in one transaction with the remote ids it
-- applied (connector_applied) and the new cursor.
CREATE TABLE connectors (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	name          TEXT NOT NULL UNIQUE,
	kind          TEXT NOT NULL CHECK (kind IN ('rt5', 'redmine5', 'helpmesh')),
	url           TEXT NOT NULL,
	token         TEXT NOT NULL,
	queue         TEXT NOT NULL DEFAULT '',
	project       TEXT NOT NULL DEFAULT '',
	tracker_id    INTEGER NOT NULL DEFAULT 0,
	unit          TEXT NOT NULL DEFAULT '',
	poll_seconds  INTEGER NOT NULL DEFAULT 30,
	paused        INTEGER NOT NULL DEFAULT 0,
	poll_cursor   TEXT NOT NULL DEFAULT '',
	polled        INTEGER NOT NULL DEFAULT 0, -- the first Poll has given a cursor
	last_sync_at  TIMESTAMP,
	last_error    TEXT NOT NULL DEFAULT '',
	failures      INTEGER NOT NULL DEFAULT 0, -- in a row, for the backoff
	retry_at      TIMESTAMP,                  -- the peer is left alone until then
	next_poll_at  TIMESTAMP,
	lease_owner   TEXT NOT NULL DEFAULT '',
	lease_until   TIMESTAMP,
	created_at    TIMESTAMP NOT NULL,
	updated_at    TIMESTAMP NOT NULL
);

CREATE TABLE connector_links (
	ticket_id    INTEGER NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
	connector_id INTEGER NOT NULL REFERENCES connectors(id) ON DELETE CASCADE,
	remote_id    TEXT NOT NULL,
	remote_url   TEXT NOT NULL DEFAULT '',
	state        TEXT NOT NULL DEFAULT 'linked' CHECK (state IN ('linked', 'ended')),
	last_sync_at TIMESTAMP NOT NULL,
	created_at   TIMESTAMP NOT NULL,
	PRIMARY KEY (ticket_id, connector_id),
	UNIQUE (connector_id, remote_id)
);

CREATE TABLE connector_items (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	connector_id INTEGER NOT NULL REFERENCES connectors(id) ON DELETE CASCADE,
	ticket_id    INTEGER NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
	event_id     INTEGER NOT NULL,
	op           TEXT NOT NULL CHECK (op IN ('create', 'message', 'note', 'status', 'priority')),
	message_id   INTEGER NOT NULL DEFAULT 0,
	value        TEXT NOT NULL DEFAULT '',
	state        TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'dead')),
	attempts     INTEGER NOT NULL DEFAULT 0,
	next_try_at  TIMESTAMP NOT NULL,
	last_error   TEXT NOT NULL DEFAULT '',
	created_at   TIMESTAMP NOT NULL,
	UNIQUE (connector_id, event_id, op)
);
CREATE INDEX connector_items_order ON connector_items (connector_id, ticket_id, id);

CREATE TABLE connector_applied (
	connector_id INTEGER NOT NULL REFERENCES connectors(id) ON DELETE CASCADE,
	remote_id    TEXT NOT NULL,
	applied_at   TIMESTAMP NOT NULL,
	PRIMARY KEY (connector_id, remote_id)
);

CREATE TABLE connector_sync_log (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	ticket_id    INTEGER NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
	connector    TEXT NOT NULL,
	direction    TEXT NOT NULL CHECK (direction IN ('out', 'in')),
	what         TEXT NOT NULL,
	result       TEXT NOT NULL,
	at           TIMESTAMP NOT NULL
);
CREATE INDEX connector_sync_log_ticket ON connector_sync_log (ticket_id, id);

-- The connector of an `external` service.
ALTER TABLE services ADD COLUMN connector TEXT NOT NULL DEFAULT '';
