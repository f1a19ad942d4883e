-- Core domain model: users, support units, services, tickets, messages,
-- attachments, watchers, relations, history, full-text search, durable jobs.

CREATE TABLE users (
	id            INTEGER PRIMARY KEY,
	email         TEXT NOT NULL UNIQUE,
	name          TEXT NOT NULL,
	role          TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
	team          TEXT NOT NULL DEFAULT '',
	password_hash TEXT NOT NULL DEFAULT '',
	disabled      INTEGER NOT NULL DEFAULT 0,
	created_at    TIMESTAMP NOT NULL,
	updated_at    TIMESTAMP NOT NULL
);

CREATE TABLE user_certificates (
	dn      TEXT PRIMARY KEY,
	user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE
);
CREATE INDEX user_certificates_user ON user_certificates(user_id);

CREATE TABLE api_tokens (
	id           INTEGER PRIMARY KEY,
	user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	name         TEXT NOT NULL DEFAULT '',
	token_hash   TEXT NOT NULL UNIQUE,
	scope        TEXT NOT NULL DEFAULT 'write' CHECK (scope IN ('read', 'write')),
	created_at   TIMESTAMP NOT NULL,
	expires_at   TIMESTAMP,
	revoked_at   TIMESTAMP
);
CREATE INDEX api_tokens_user ON api_tokens(user_id);

CREATE TABLE units (
	id            INTEGER PRIMARY KEY,
	slug          TEXT NOT NULL UNIQUE,
	name          TEXT NOT NULL,
	email         TEXT NOT NULL DEFAULT '',
	comment_email TEXT NOT NULL DEFAULT '',
	qos_level     TEXT NOT NULL DEFAULT 'base' CHECK (qos_level IN ('base', 'medium', 'advanced')),
	mode          TEXT NOT NULL DEFAULT 'direct' CHECK (mode IN ('direct', 'redirect', 'external')),
	is_handler    INTEGER NOT NULL DEFAULT 0,
	created_at    TIMESTAMP NOT NULL,
	updated_at    TIMESTAMP NOT NULL
);
-- At most one ticket handler team.
CREATE UNIQUE INDEX units_one_handler ON units(is_handler) WHERE is_handler;

CREATE TABLE unit_members (
	unit_id INTEGER NOT NULL REFERENCES units(id) ON DELETE CASCADE,
	user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	role    TEXT NOT NULL CHECK (role IN ('member', 'admin')),
	PRIMARY KEY (unit_id, user_id)
);
CREATE INDEX unit_members_user ON unit_members(user_id);

CREATE TABLE services (
	id          INTEGER PRIMARY KEY,
	slug        TEXT NOT NULL UNIQUE,
	name        TEXT NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	unit_id     INTEGER NOT NULL REFERENCES units(id),
	mode        TEXT NOT NULL DEFAULT 'direct' CHECK (mode IN ('direct', 'redirect', 'external')),
	created_at  TIMESTAMP NOT NULL,
	updated_at  TIMESTAMP NOT NULL
);

CREATE TABLE tickets (
	id           INTEGER PRIMARY KEY,
	subject      TEXT NOT NULL,
	status       TEXT NOT NULL,
	priority     TEXT NOT NULL,
	type         TEXT NOT NULL,
	kind         TEXT NOT NULL,
	service_id   INTEGER REFERENCES services(id),
	unit_id      INTEGER REFERENCES units(id),
	requester_id INTEGER NOT NULL REFERENCES users(id),
	team         TEXT NOT NULL DEFAULT '',
	assignee_id  INTEGER REFERENCES users(id),
	source       TEXT NOT NULL,
	created_at   TIMESTAMP NOT NULL,
	updated_at   TIMESTAMP NOT NULL,
	solved_at    TIMESTAMP
);
CREATE INDEX tickets_requester ON tickets(requester_id, id);
CREATE INDEX tickets_unit ON tickets(unit_id, id);
CREATE INDEX tickets_status ON tickets(status, id);
CREATE INDEX tickets_assignee ON tickets(assignee_id, id);
CREATE INDEX tickets_service ON tickets(service_id, id);
CREATE INDEX tickets_team ON tickets(team, id) WHERE team <> '';

CREATE TABLE ticket_watchers (
	ticket_id INTEGER NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
	email     TEXT NOT NULL,
	user_id   INTEGER REFERENCES users(id) ON DELETE SET NULL,
	added_at  TIMESTAMP NOT NULL,
	PRIMARY KEY (ticket_id, email)
);
CREATE INDEX ticket_watchers_user ON ticket_watchers(user_id);

CREATE TABLE messages (
	id           INTEGER PRIMARY KEY,
	ticket_id    INTEGER NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
	author_id    INTEGER REFERENCES users(id),
	author_email TEXT NOT NULL DEFAULT '',
	author_name  TEXT NOT NULL DEFAULT '',
	internal     INTEGER NOT NULL DEFAULT 0,
	source       TEXT NOT NULL,
	body         TEXT NOT NULL,
	body_html    TEXT NOT NULL DEFAULT '',
	mail_id      TEXT,
	created_at   TIMESTAMP NOT NULL
);
CREATE INDEX messages_ticket ON messages(ticket_id, id);
CREATE UNIQUE INDEX messages_mail_id ON messages(mail_id) WHERE mail_id IS NOT NULL;

CREATE TABLE attachments (
	id           INTEGER PRIMARY KEY,
	message_id   INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
	ticket_id    INTEGER NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
	filename     TEXT NOT NULL,
	content_type TEXT NOT NULL,
	size         INTEGER NOT NULL,
	sha256       TEXT NOT NULL,
	created_at   TIMESTAMP NOT NULL
);
CREATE INDEX attachments_message ON attachments(message_id);

CREATE TABLE ticket_relations (
	id         INTEGER PRIMARY KEY,
	ticket_id  INTEGER NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
	other_id   INTEGER NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
	kind       TEXT NOT NULL CHECK (kind IN ('related', 'duplicate_of', 'parent_of', 'child_of', 'master_of', 'slave_of', 'follow_up_of')),
	created_at TIMESTAMP NOT NULL,
	UNIQUE (ticket_id, other_id, kind)
);

CREATE TABLE history (
	id        INTEGER PRIMARY KEY,
	ticket_id INTEGER NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
	at        TIMESTAMP NOT NULL,
	actor_id  INTEGER REFERENCES users(id),
	actor     TEXT NOT NULL,
	action    TEXT NOT NULL,
	field     TEXT NOT NULL DEFAULT '',
	old       TEXT NOT NULL DEFAULT '',
	new       TEXT NOT NULL DEFAULT '',
	source    TEXT NOT NULL
);
CREATE INDEX history_ticket ON history(ticket_id, id);

-- One row per ticket subject (internal = 0) and per message. ticket_id and
-- internal are stored, not indexed: visibility is filtered after matching.
CREATE VIRTUAL TABLE search_fts USING fts5(
	text,
	ticket_id UNINDEXED,
	internal UNINDEXED,
	tokenize = 'porter unicode61 remove_diacritics 2'
);

CREATE TABLE jobs (
	id           INTEGER PRIMARY KEY,
	kind         TEXT NOT NULL,
	payload      TEXT NOT NULL,
	run_at       TIMESTAMP NOT NULL,
	attempts     INTEGER NOT NULL DEFAULT 0,
	max_attempts INTEGER NOT NULL DEFAULT 10,
	locked_until TIMESTAMP,
	last_error   TEXT NOT NULL DEFAULT '',
	state        TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed')),
	created_at   TIMESTAMP NOT NULL,
	finished_at  TIMESTAMP
);
CREATE INDEX jobs_ready ON jobs(state, run_at) WHERE state = 'pending';

CREATE TABLE settings (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
