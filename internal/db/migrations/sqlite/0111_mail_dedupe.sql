-- Inbound mail is the same mail when its Message-ID, its sender and the
-- unit it is delivered to are the same, not its Message-ID alone: another
-- sender's mail with a Message-ID seen before (or the same mail to another
-- unit) is mail of its own. inbound_mail is keyed by that (mail_key, see
-- the mail gateway's dedupeKey), and a Message-ID may now be on several
-- messages. Mail recorded before keeps its Message-ID as its key.
CREATE TABLE inbound_mail_new (
	mail_key    TEXT PRIMARY KEY,
	mail_id     TEXT NOT NULL,
	ticket_id   INTEGER REFERENCES tickets(id) ON DELETE CASCADE,
	message_id  INTEGER REFERENCES messages(id) ON DELETE CASCADE,
	automatic   INTEGER NOT NULL DEFAULT 0,
	received_at TIMESTAMP NOT NULL
);
INSERT INTO inbound_mail_new (mail_key, mail_id, ticket_id, message_id, automatic, received_at)
	SELECT mail_id, mail_id, ticket_id, message_id, automatic, received_at FROM inbound_mail;
DROP TABLE inbound_mail;
ALTER TABLE inbound_mail_new RENAME TO inbound_mail;
CREATE INDEX inbound_mail_message ON inbound_mail(message_id);

DROP INDEX messages_mail_id;
CREATE INDEX messages_mail_id ON messages(mail_id) WHERE mail_id IS NOT NULL;
