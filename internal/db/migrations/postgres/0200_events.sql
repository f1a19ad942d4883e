-- One stream of events for every follower (mail, live pages, webhooks,
-- connectors, timers). A row is written in the transaction of the change;
-- each follower keeps its own position in event_followers and moves it in
-- the transaction that records what the events caused, so each follower
-- tells each event exactly once. Rows that every follower has passed are
-- pruned after the retention period.
--
-- Several nodes commit at once, so ids do not commit in order: an id taken
-- early may commit late, behind a position a follower has already passed.
-- Followers therefore read events by seq, which is given to committed
-- events, in id order, by one transaction at a time (the row of event_seq
-- is its lock): an event that commits late gets a later seq.
CREATE TABLE events (
	id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	seq       BIGINT UNIQUE,
	type      TEXT NOT NULL,
	at        TIMESTAMPTZ NOT NULL,
	ticket_id BIGINT,
	data      TEXT NOT NULL
);
CREATE INDEX events_unsequenced ON events (id) WHERE seq IS NULL;

CREATE TABLE event_seq (last BIGINT NOT NULL);
INSERT INTO event_seq VALUES (0);

CREATE TABLE event_followers (
	name       TEXT PRIMARY KEY,
	position   BIGINT NOT NULL DEFAULT 0,
	told       BIGINT NOT NULL DEFAULT 0,
	failures   INTEGER NOT NULL DEFAULT 0,
	last_error TEXT NOT NULL DEFAULT '',
	retry_at   TIMESTAMPTZ,
	seen_at    TIMESTAMPTZ NOT NULL
);

-- The mail gateway was the only follower: what it had not told yet moves
-- over, and it starts at the beginning.
INSERT INTO events (type, at, ticket_id, data)
SELECT CASE payload::json->>'Kind'
		WHEN 'created' THEN 'ticket.created'
		WHEN 'message' THEN CASE WHEN (payload::json->>'Internal')::boolean THEN 'ticket.note' ELSE 'ticket.message' END
		ELSE 'ticket.updated' END,
	created_at, (payload::json->>'TicketID')::bigint, payload
FROM ticket_events ORDER BY id;
INSERT INTO event_followers (name, seen_at) VALUES ('mail', now());
DROP TABLE ticket_events;
