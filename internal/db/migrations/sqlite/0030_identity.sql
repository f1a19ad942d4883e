-- Federated identity: accounts linked to OpenID Connect identities, pending
-- sign-ins (state, nonce, PKCE verifier; single-use), roles and unit
-- memberships granted by claim mapping rules, the identity audit log and
-- requests for supporter privileges.

CREATE TABLE oidc_identities (
	issuer        TEXT NOT NULL,
	subject       TEXT NOT NULL,
	user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	provider      TEXT NOT NULL,
	email         TEXT NOT NULL DEFAULT '',
	created_at    TIMESTAMP NOT NULL,
	last_login_at TIMESTAMP NOT NULL,
	PRIMARY KEY (issuer, subject)
);
CREATE INDEX oidc_identities_user ON oidc_identities(user_id);

CREATE TABLE oidc_pending (
	state_hash TEXT PRIMARY KEY,
	provider   TEXT NOT NULL,
	nonce      TEXT NOT NULL,
	verifier   TEXT NOT NULL,
	browser    TEXT NOT NULL,
	next       TEXT NOT NULL DEFAULT '/',
	created_at TIMESTAMP NOT NULL,
	expires_at TIMESTAMP NOT NULL
);
CREATE INDEX oidc_pending_expires ON oidc_pending(expires_at);

-- What the mapping rules of one source (oidc:<provider>) granted: target is
-- 'role' (the global role) or 'unit:<id>'; prev_role is what the person had
-- before ('' when nothing), restored when the rule no longer applies.
CREATE TABLE identity_grants (
	user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	source     TEXT NOT NULL,
	target     TEXT NOT NULL,
	unit_id    INTEGER REFERENCES units(id) ON DELETE CASCADE,
	role       TEXT NOT NULL,
	prev_role  TEXT NOT NULL DEFAULT '',
	granted_at TIMESTAMP NOT NULL,
	PRIMARY KEY (user_id, source, target)
);

CREATE TABLE identity_audit (
	id       INTEGER PRIMARY KEY,
	at       TIMESTAMP NOT NULL,
	user_id  INTEGER REFERENCES users(id) ON DELETE SET NULL,
	actor_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
	source   TEXT NOT NULL,
	action   TEXT NOT NULL,
	target   TEXT NOT NULL DEFAULT '',
	old      TEXT NOT NULL DEFAULT '',
	new      TEXT NOT NULL DEFAULT '',
	detail   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX identity_audit_user ON identity_audit(user_id, id);

CREATE TABLE access_requests (
	id         INTEGER PRIMARY KEY,
	user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	unit_id    INTEGER NOT NULL REFERENCES units(id) ON DELETE CASCADE,
	role       TEXT NOT NULL CHECK (role IN ('member', 'admin')),
	reason     TEXT NOT NULL DEFAULT '',
	ticket_id  INTEGER REFERENCES tickets(id) ON DELETE SET NULL,
	status     TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'denied')),
	decided_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
	decided_at TIMESTAMP,
	created_at TIMESTAMP NOT NULL
);
CREATE INDEX access_requests_unit ON access_requests(unit_id, status);
-- One pending request per person and unit.
CREATE UNIQUE INDEX access_requests_pending ON access_requests(user_id, unit_id) WHERE status = 'pending';
