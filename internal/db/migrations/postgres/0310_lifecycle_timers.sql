-- The lifecycle timers (package ticket, timers.go): when a ticket started
-- waiting for its requester's reply, and how many reminders it has sent
-- them since. Solved and unsolved tickets count from solved_at.
ALTER TABLE tickets ADD COLUMN waiting_since TIMESTAMPTZ;
ALTER TABLE tickets ADD COLUMN reminders_sent INTEGER NOT NULL DEFAULT 0;
UPDATE tickets SET waiting_since = updated_at WHERE status = 'waiting_for_reply';
-- What the timers' scan reads: only the tickets a timer may act on.
CREATE INDEX tickets_solved_due ON tickets(solved_at) WHERE status IN ('solved', 'unsolved');
CREATE INDEX tickets_waiting_due ON tickets(waiting_since) WHERE status = 'waiting_for_reply';
