-- First-run setup: while no user exists, each start of serve stores the
-- hash of a one-time token and logs <base URL>/setup/<token>. Creating the
-- first administrator through any of them deletes them all.
CREATE TABLE setup_tokens (
	token_hash TEXT PRIMARY KEY,
	created_at TIMESTAMPTZ NOT NULL
);
