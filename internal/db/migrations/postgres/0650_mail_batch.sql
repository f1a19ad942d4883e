-- Fewer mails (issue 16.6): the notices of a ticket to one recipient within
-- HELPMESH_MAIL_BATCH are gathered here and go out as one mail when the
-- window ends (a mail.batch job). mail is the JSON of the composed notice.
CREATE TABLE mail_gathering (
	id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	ticket_id  BIGINT NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
	rcpt       TEXT NOT NULL,
	kind       TEXT NOT NULL,
	mail       TEXT NOT NULL,
	created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX mail_gathering_key ON mail_gathering(ticket_id, rcpt, id);

-- The kinds of notice a person does not want by mail (comma-separated).
CREATE TABLE user_mail_prefs (
	user_id BIGINT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
	muted   TEXT NOT NULL DEFAULT ''
);
