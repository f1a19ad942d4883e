-- Changes and downtimes (DESIGN.md "Known errors, changes, incidents"):
-- a window on services (stored in UTC with the time zone it was given in),
-- warning or outage, scheduled or unscheduled from the notice given, its
-- approvals, and when its reminders were appended (each exactly once).
-- gocdb_id is the GOCDB downtime ID of an imported downtime.
CREATE TABLE changes (
	id             INTEGER PRIMARY KEY,
	gocdb_id       TEXT UNIQUE,
	title          TEXT NOT NULL,
	description    TEXT NOT NULL,
	severity       TEXT NOT NULL CHECK (severity IN ('warning', 'outage')),
	classification TEXT NOT NULL CHECK (classification IN ('scheduled', 'unscheduled')),
	status         TEXT NOT NULL CHECK (status IN ('planned', 'approved', 'in_progress', 'completed', 'cancelled', 'failed')),
	risk           TEXT NOT NULL DEFAULT '',
	plan           TEXT NOT NULL DEFAULT '',
	rollback       TEXT NOT NULL DEFAULT '',
	start_at       TIMESTAMP NOT NULL,
	end_at         TIMESTAMP NOT NULL,
	time_zone      TEXT NOT NULL,
	declared_at    TIMESTAMP NOT NULL,
	created_by     INTEGER REFERENCES users(id) ON DELETE SET NULL,
	created_at     TIMESTAMP NOT NULL,
	updated_at     TIMESTAMP NOT NULL,
	reminded_24h_at TIMESTAMP,
	reminded_1h_at  TIMESTAMP
);
CREATE INDEX changes_window ON changes(start_at, end_at);

-- One row per service; end_at is the service's own end (earlier than the
-- change's after a per-service early end).
CREATE TABLE change_services (
	change_id  INTEGER NOT NULL REFERENCES changes(id) ON DELETE CASCADE,
	service_id INTEGER NOT NULL REFERENCES services(id) ON DELETE CASCADE,
	end_at     TIMESTAMP NOT NULL,
	PRIMARY KEY (change_id, service_id)
);
CREATE INDEX change_services_service ON change_services(service_id);

CREATE TABLE change_approvals (
	change_id   INTEGER NOT NULL REFERENCES changes(id) ON DELETE CASCADE,
	user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	approved_at TIMESTAMP NOT NULL,
	PRIMARY KEY (change_id, user_id)
);
