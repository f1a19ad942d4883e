-- Fewer index entries per new ticket and per outgoing mail.
-- Most tickets are unassigned: only assigned ones need an entry to find a
-- person's tickets (a search for unassigned ones filters another index).
DROP INDEX tickets_assignee;
CREATE INDEX tickets_assignee ON tickets(assignee_id, id) WHERE assignee_id IS NOT NULL;
-- The rate limit counts through outbox_rcpt_live; nothing else looks mail
-- up by recipient.
DROP INDEX outbox_rcpt;
