-- Email gateway: the outbox of outgoing mail, the record of inbound mail
-- (dedupe, automatic mail) and the quarantine of mail that could not be
-- processed.

CREATE TABLE outbox (
	id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	ticket_id   BIGINT REFERENCES tickets(id) ON DELETE SET NULL,
	kind        TEXT NOT NULL,
	mail_from   TEXT NOT NULL,
	rcpt        TEXT NOT NULL,
	subject     TEXT NOT NULL,
	message_id  TEXT NOT NULL UNIQUE,
	raw         BYTEA NOT NULL,
	state       TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('held', 'pending', 'sent', 'failed', 'suppressed')),
	attempts    INTEGER NOT NULL DEFAULT 0,
	last_error  TEXT NOT NULL DEFAULT '',
	dedupe_key  TEXT UNIQUE,
	created_at  TIMESTAMPTZ NOT NULL,
	sent_at     TIMESTAMPTZ
);
CREATE INDEX outbox_state ON outbox(state, id);
CREATE INDEX outbox_rcpt ON outbox(rcpt, created_at);
CREATE INDEX outbox_ticket ON outbox(ticket_id);

CREATE TABLE inbound_mail (
	mail_id     TEXT PRIMARY KEY,
	ticket_id   BIGINT REFERENCES tickets(id) ON DELETE CASCADE,
	message_id  BIGINT REFERENCES messages(id) ON DELETE CASCADE,
	automatic   BOOLEAN NOT NULL DEFAULT FALSE,
	received_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX inbound_mail_message ON inbound_mail(message_id);

CREATE TABLE quarantine (
	id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	source      TEXT NOT NULL,
	mail_from   TEXT NOT NULL DEFAULT '',
	rcpts       TEXT NOT NULL DEFAULT '',
	mail_id     TEXT NOT NULL DEFAULT '',
	subject     TEXT NOT NULL DEFAULT '',
	reason      TEXT NOT NULL,
	raw         BYTEA NOT NULL,
	size        BIGINT NOT NULL,
	received_at TIMESTAMPTZ NOT NULL
);
