-- Known errors (DESIGN.md "Known errors, changes, incidents"): a problem
-- with a known symptom and workaround, on services, linked to tickets
-- whose requesters were answered with the workaround.
CREATE TABLE known_errors (
	id         INTEGER PRIMARY KEY,
	title      TEXT NOT NULL,
	symptom    TEXT NOT NULL,
	workaround TEXT NOT NULL,
	root_cause TEXT NOT NULL DEFAULT '',
	status     TEXT NOT NULL CHECK (status IN ('open', 'workaround', 'resolved', 'retired')),
	created_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
	created_at TIMESTAMP NOT NULL,
	updated_at TIMESTAMP NOT NULL
);

CREATE TABLE known_error_services (
	known_error_id INTEGER NOT NULL REFERENCES known_errors(id) ON DELETE CASCADE,
	service_id     INTEGER NOT NULL REFERENCES services(id) ON DELETE CASCADE,
	PRIMARY KEY (known_error_id, service_id)
);
CREATE INDEX known_error_services_service ON known_error_services(service_id);

CREATE TABLE known_error_tickets (
	known_error_id INTEGER NOT NULL REFERENCES known_errors(id) ON DELETE CASCADE,
	ticket_id      INTEGER NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
	created_at     TIMESTAMP NOT NULL,
	PRIMARY KEY (known_error_id, ticket_id)
);
CREATE INDEX known_error_tickets_ticket ON known_error_tickets(ticket_id);
