-- GGUS user escalation (package ticket, escalate.go): how many times the
-- requester side escalated the ticket, 0 to 3.
ALTER TABLE tickets ADD COLUMN escalation_level INTEGER NOT NULL DEFAULT 0;
