-- helpmesh import (package importer): which tickets and changes of another
-- system (origin: "rt5 <url> <queue>", "redmine5 <url> <project>") were
-- copied, so that running the import again copies nothing twice. A ticket
-- and its mapping, a change and its record, commit together.
CREATE TABLE imported_tickets (
	origin TEXT NOT NULL,
	remote_id TEXT NOT NULL,
	ticket_id INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
	imported_at TIMESTAMP NOT NULL,
	PRIMARY KEY (origin, remote_id)
);
CREATE TABLE imported_changes (
	origin TEXT NOT NULL,
	remote_id TEXT NOT NULL,
	ticket_id INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
	PRIMARY KEY (origin, remote_id)
);
