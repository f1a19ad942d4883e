-- Reconciliation of connectors (package connector, reconcile.go): when each
-- connector's next pass is due, and the summary of its last one.
ALTER TABLE connectors ADD COLUMN next_reconcile_at TIMESTAMPTZ;
ALTER TABLE connectors ADD COLUMN last_reconcile_at TIMESTAMPTZ;
ALTER TABLE connectors ADD COLUMN reconcile_checked INTEGER NOT NULL DEFAULT 0;
ALTER TABLE connectors ADD COLUMN reconcile_repaired INTEGER NOT NULL DEFAULT 0;
ALTER TABLE connectors ADD COLUMN reconcile_failed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE connectors ADD COLUMN reconcile_error TEXT NOT NULL DEFAULT '';

-- The messages of helpmesh's that are on the peer: the first message when
-- the ticket is created there, each reply and note when its item is sent.
-- Reconciliation queues again a message of a linked ticket that is neither
-- here nor in the queue (its item was skipped or lost).
CREATE TABLE connector_sent (
	connector_id BIGINT NOT NULL REFERENCES connectors(id) ON DELETE CASCADE,
	message_id   BIGINT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
	PRIMARY KEY (connector_id, message_id)
);
-- What was linked before counts as sent: its items were sent or are still
-- in the queue.
INSERT INTO connector_sent (connector_id, message_id)
	SELECT l.connector_id, m.id FROM messages m JOIN connector_links l ON l.ticket_id = m.ticket_id;
