-- Web portal: browser sessions, throttled sign-in, one-time links (sign-in
-- and password reset) and saved queue views.

CREATE TABLE web_sessions (
	id_hash    TEXT PRIMARY KEY,
	user_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	via        TEXT NOT NULL,
	csrf       TEXT NOT NULL,
	created_at TIMESTAMPTZ NOT NULL,
	seen_at    TIMESTAMPTZ NOT NULL,
	expires_at TIMESTAMPTZ NOT NULL,
	user_agent TEXT NOT NULL DEFAULT '',
	ip         TEXT NOT NULL DEFAULT ''
);
CREATE INDEX web_sessions_user ON web_sessions(user_id);
CREATE INDEX web_sessions_expires ON web_sessions(expires_at);

CREATE TABLE login_attempts (
	key          TEXT PRIMARY KEY,
	failures     INTEGER NOT NULL,
	window_start TIMESTAMPTZ NOT NULL,
	locked_until TIMESTAMPTZ
);

CREATE TABLE login_links (
	token_hash TEXT PRIMARY KEY,
	user_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	purpose    TEXT NOT NULL CHECK (purpose IN ('signin', 'reset')),
	created_at TIMESTAMPTZ NOT NULL,
	expires_at TIMESTAMPTZ NOT NULL,
	used_at    TIMESTAMPTZ
);
CREATE INDEX login_links_user ON login_links(user_id);

CREATE TABLE saved_views (
	id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	user_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	name       TEXT NOT NULL,
	path       TEXT NOT NULL,
	created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX saved_views_user ON saved_views(user_id, id);

-- Queue views count and filter a unit's tickets by status, and live updates
-- look for the latest change in a unit.
CREATE INDEX tickets_unit_status ON tickets(unit_id, status, id);
CREATE INDEX tickets_unit_updated ON tickets(unit_id, updated_at);
