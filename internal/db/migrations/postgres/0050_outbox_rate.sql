-- The per-recipient rate limit counts the recent mails that were not
-- suppressed: a flooded address has many suppressed rows, which the limit's
-- count must not walk for every further mail to it.
CREATE INDEX outbox_rcpt_live ON outbox(rcpt, created_at) WHERE state <> 'suppressed';
