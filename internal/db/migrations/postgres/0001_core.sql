-- Core domain model: users, support units, services, tickets, messages,
-- attachments, watchers, relations, history, full-text search, durable jobs.

CREATE TABLE users (
	id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	email         TEXT NOT NULL UNIQUE,
	name          TEXT NOT NULL,
	role          TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
	team          TEXT NOT NULL DEFAULT '',
	password_hash TEXT NOT NULL DEFAULT '',
	disabled      BOOLEAN NOT NULL DEFAULT FALSE,
	created_at    TIMESTAMPTZ NOT NULL,
	updated_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE user_certificates (
	dn      TEXT PRIMARY KEY,
	user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE
);
CREATE INDEX user_certificates_user ON user_certificates(user_id);

CREATE TABLE api_tokens (
	id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	user_id      BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	name         TEXT NOT NULL DEFAULT '',
	token_hash   TEXT NOT NULL UNIQUE,
	scope        TEXT NOT NULL DEFAULT 'write' CHECK (scope IN ('read', 'write')),
	created_at   TIMESTAMPTZ NOT NULL,
	expires_at   TIMESTAMPTZ,
	revoked_at   TIMESTAMPTZ
);
CREATE INDEX api_tokens_user ON api_tokens(user_id);

CREATE TABLE units (
	id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	slug          TEXT NOT NULL UNIQUE,
	name          TEXT NOT NULL,
	email         TEXT NOT NULL DEFAULT '',
	comment_email TEXT NOT NULL DEFAULT '',
	qos_level     TEXT NOT NULL DEFAULT 'base' CHECK (qos_level IN ('base', 'medium', 'advanced')),
	mode          TEXT NOT NULL DEFAULT 'direct' CHECK (mode IN ('direct', 'redirect', 'external')),
	is_handler    BOOLEAN NOT NULL DEFAULT FALSE,
	created_at    TIMESTAMPTZ NOT NULL,
	updated_at    TIMESTAMPTZ NOT NULL
);
-- At most one ticket handler team.
CREATE UNIQUE INDEX units_one_handler ON units(is_handler) WHERE is_handler;

CREATE TABLE unit_members (
	unit_id BIGINT NOT NULL REFERENCES units(id) ON DELETE CASCADE,
	user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	role    TEXT NOT NULL CHECK (role IN ('member', 'admin')),
	PRIMARY KEY (unit_id, user_id)
);
CREATE INDEX unit_members_user ON unit_members(user_id);

CREATE TABLE services (
	id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	slug        TEXT NOT NULL UNIQUE,
	name        TEXT NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	unit_id     BIGINT NOT NULL REFERENCES units(id),
	mode        TEXT NOT NULL DEFAULT 'direct' CHECK (mode IN ('direct', 'redirect', 'external')),
	created_at  TIMESTAMPTZ NOT NULL,
	updated_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE tickets (
	id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	subject      TEXT NOT NULL,
	status       TEXT NOT NULL,
	priority     TEXT NOT NULL,
	type         TEXT NOT NULL,
	kind         TEXT NOT NULL,
	service_id   BIGINT REFERENCES services(id),
	unit_id      BIGINT REFERENCES units(id),
	requester_id BIGINT NOT NULL REFERENCES users(id),
	team         TEXT NOT NULL DEFAULT '',
	assignee_id  BIGINT REFERENCES users(id),
	source       TEXT NOT NULL,
	created_at   TIMESTAMPTZ NOT NULL,
	updated_at   TIMESTAMPTZ NOT NULL,
	solved_at    TIMESTAMPTZ
);
CREATE INDEX tickets_requester ON tickets(requester_id, id);
CREATE INDEX tickets_unit ON tickets(unit_id, id);
CREATE INDEX tickets_status ON tickets(status, id);
CREATE INDEX tickets_assignee ON tickets(assignee_id, id);
CREATE INDEX tickets_service ON tickets(service_id, id);
CREATE INDEX tickets_team ON tickets(team, id) WHERE team <> '';

CREATE TABLE ticket_watchers (
	ticket_id BIGINT NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
	email     TEXT NOT NULL,
	user_id   BIGINT REFERENCES users(id) ON DELETE SET NULL,
	added_at  TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (ticket_id, email)
);
CREATE INDEX ticket_watchers_user ON ticket_watchers(user_id);

CREATE TABLE messages (
	id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	ticket_id    BIGINT NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
	author_id    BIGINT REFERENCES users(id),
	author_email TEXT NOT NULL DEFAULT '',
	author_name  TEXT NOT NULL DEFAULT '',
	internal     BOOLEAN NOT NULL DEFAULT FALSE,
	source       TEXT NOT NULL,
	body         TEXT NOT NULL,
	body_html    TEXT NOT NULL DEFAULT '',
	mail_id      TEXT,
	created_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX messages_ticket ON messages(ticket_id, id);
CREATE UNIQUE INDEX messages_mail_id ON messages(mail_id) WHERE mail_id IS NOT NULL;

CREATE TABLE attachments (
	id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	message_id   BIGINT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
	ticket_id    BIGINT NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
	filename     TEXT NOT NULL,
	content_type TEXT NOT NULL,
	size         BIGINT NOT NULL,
	sha256       TEXT NOT NULL,
	created_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX attachments_message ON attachments(message_id);

CREATE TABLE ticket_relations (
	id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	ticket_id  BIGINT NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
	other_id   BIGINT NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
	kind       TEXT NOT NULL CHECK (kind IN ('related', 'duplicate_of', 'parent_of', 'child_of', 'master_of', 'slave_of', 'follow_up_of')),
	created_at TIMESTAMPTZ NOT NULL,
	UNIQUE (ticket_id, other_id, kind)
);

CREATE TABLE history (
	id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	ticket_id BIGINT NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
	at        TIMESTAMPTZ NOT NULL,
	actor_id  BIGINT REFERENCES users(id),
	actor     TEXT NOT NULL,
	action    TEXT NOT NULL,
	field     TEXT NOT NULL DEFAULT '',
	old       TEXT NOT NULL DEFAULT '',
	new       TEXT NOT NULL DEFAULT '',
	source    TEXT NOT NULL
);
CREATE INDEX history_ticket ON history(ticket_id, id);

-- Full-text search: a tsvector per ticket subject and per message body.
ALTER TABLE tickets ADD COLUMN search tsvector GENERATED ALWAYS AS (to_tsvector('english', subject)) STORED;
ALTER TABLE messages ADD COLUMN search tsvector GENERATED ALWAYS AS (to_tsvector('english', body)) STORED;
CREATE INDEX tickets_search ON tickets USING GIN (search);
CREATE INDEX messages_search ON messages USING GIN (search);

CREATE TABLE jobs (
	id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	kind         TEXT NOT NULL,
	payload      TEXT NOT NULL,
	run_at       TIMESTAMPTZ NOT NULL,
	attempts     INTEGER NOT NULL DEFAULT 0,
	max_attempts INTEGER NOT NULL DEFAULT 10,
	locked_until TIMESTAMPTZ,
	last_error   TEXT NOT NULL DEFAULT '',
	state        TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed')),
	created_at   TIMESTAMPTZ NOT NULL,
	finished_at  TIMESTAMPTZ
);
CREATE INDEX jobs_ready ON jobs(state, run_at) WHERE state = 'pending';

CREATE TABLE settings (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
