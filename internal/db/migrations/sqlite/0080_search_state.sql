-- Messages are indexed for search shortly after they are written, in
-- batches (ticket.indexer), no longer in the transaction that writes them.
-- indexed is the id of the last message indexed; every message so far is.
CREATE TABLE search_state (
	id      INTEGER PRIMARY KEY CHECK (id = 1),
	indexed INTEGER NOT NULL
);
INSERT INTO search_state (id, indexed) SELECT 1, COALESCE(MAX(id), 0) FROM messages;
