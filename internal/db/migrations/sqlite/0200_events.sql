-- One stream of events for every follower (mail, live pages, webhooks,
-- connectors, timers). A row is written in the transaction of the change;
-- each follower keeps its own position in event_followers and moves it in
-- the transaction that records what the events caused, so each follower
-- tells each event exactly once. Rows that every follower has passed are
-- pruned after the retention period. AUTOINCREMENT: an id is never used
-- twice, also after the newest rows were pruned.
CREATE TABLE events (
	id        INTEGER PRIMARY KEY AUTOINCREMENT,
	type      TEXT NOT NULL,
	at        TIMESTAMP NOT NULL,
	ticket_id INTEGER,
	data      TEXT NOT NULL
);

-- A follower's position is the id of the last event it told: on SQLite one
-- writer commits the ids in order.
CREATE TABLE event_followers (
	name       TEXT PRIMARY KEY,
	position   INTEGER NOT NULL DEFAULT 0,
	told       INTEGER NOT NULL DEFAULT 0,
	failures   INTEGER NOT NULL DEFAULT 0,
	last_error TEXT NOT NULL DEFAULT '',
	retry_at   TIMESTAMP,
	seen_at    TIMESTAMP NOT NULL
);

-- The mail gateway was the only follower: what it had not told yet moves
-- over, and it starts at the beginning.
INSERT INTO events (type, at, ticket_id, data)
SELECT CASE json_extract(payload, '$.Kind')
		WHEN 'created' THEN 'ticket.created'
		WHEN 'message' THEN CASE WHEN json_extract(payload, '$.Internal') THEN 'ticket.note' ELSE 'ticket.message' END
		ELSE 'ticket.updated' END,
	created_at, json_extract(payload, '$.TicketID'), payload
FROM ticket_events ORDER BY id;
INSERT INTO event_followers (name, seen_at) VALUES ('mail', CURRENT_TIMESTAMP);
DROP TABLE ticket_events;
