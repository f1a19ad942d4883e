-- Incidents (DESIGN.md "Known errors, changes, incidents, status page"):
-- one incident over several services, each with its own impact and its own
-- recovery (incident_components), a timeline of updates, and the tickets
-- linked to it that may be answered together when it is resolved.
CREATE TABLE incidents (
	id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	title         TEXT NOT NULL,
	impact        TEXT NOT NULL CHECK (impact IN ('none', 'minor', 'major', 'critical')),
	status        TEXT NOT NULL CHECK (status IN ('investigating', 'identified', 'monitoring', 'resolved')),
	created_by    BIGINT REFERENCES users(id) ON DELETE SET NULL,
	created_at    TIMESTAMPTZ NOT NULL,
	updated_at    TIMESTAMPTZ NOT NULL,
	monitoring_at TIMESTAMPTZ,
	resolved_at   TIMESTAMPTZ
);
CREATE INDEX incidents_created ON incidents(created_at);
CREATE INDEX incidents_unresolved ON incidents(status) WHERE status <> 'resolved';

-- One row per affected service: its current state, the worst it reached,
-- and when it started and recovered.
CREATE TABLE incident_components (
	incident_id  BIGINT NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
	service_id   BIGINT NOT NULL REFERENCES services(id) ON DELETE CASCADE,
	status       TEXT NOT NULL CHECK (status IN ('operational', 'degraded_performance', 'partial_outage', 'major_outage')),
	worst        TEXT NOT NULL CHECK (worst IN ('degraded_performance', 'partial_outage', 'major_outage')),
	started_at   TIMESTAMPTZ NOT NULL,
	recovered_at TIMESTAMPTZ,
	PRIMARY KEY (incident_id, service_id)
);
CREATE INDEX incident_components_service ON incident_components(service_id, started_at);

CREATE TABLE incident_updates (
	id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	incident_id BIGINT NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
	status      TEXT NOT NULL CHECK (status IN ('investigating', 'identified', 'monitoring', 'resolved')),
	body        TEXT NOT NULL,
	components  TEXT NOT NULL DEFAULT '[]', -- JSON: the services this update changed, [{service, status}]
	author_id   BIGINT REFERENCES users(id) ON DELETE SET NULL,
	created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX incident_updates_incident ON incident_updates(incident_id, id);

CREATE TABLE incident_tickets (
	incident_id BIGINT NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
	ticket_id   BIGINT NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
	created_at  TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (incident_id, ticket_id)
);
CREATE INDEX incident_tickets_ticket ON incident_tickets(ticket_id);
