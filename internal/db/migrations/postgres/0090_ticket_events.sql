-- Ticket events waiting for the mail gateway: a row is written in the
-- transaction of the change and deleted in the transaction that stores the
-- mails it causes, so every event is told exactly once, crash or not. Only
-- the primary key: an event costs the change one append.
CREATE TABLE ticket_events (
	id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	payload    TEXT NOT NULL,
	created_at TIMESTAMPTZ NOT NULL
);
