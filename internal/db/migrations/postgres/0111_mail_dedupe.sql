-- Inbound mail is the same mail when its Message-ID, its sender and the
-- unit it is delivered to are the same, not its Message-ID alone: another
-- sender's mail with a Message-ID seen before (or the same mail to another
-- unit) is mail of its own. inbound_mail is keyed by that (mail_key, see
-- the mail gateway's dedupeKey), and a Message-ID may now be on several
-- messages. Mail recorded before keeps its Message-ID as its key.
ALTER TABLE inbound_mail ADD COLUMN mail_key TEXT;
UPDATE inbound_mail SET mail_key = mail_id;
ALTER TABLE inbound_mail DROP CONSTRAINT inbound_mail_pkey;
ALTER TABLE inbound_mail ALTER COLUMN mail_key SET NOT NULL;
ALTER TABLE inbound_mail ADD PRIMARY KEY (mail_key);

DROP INDEX messages_mail_id;
CREATE INDEX messages_mail_id ON messages(mail_id) WHERE mail_id IS NOT NULL;
