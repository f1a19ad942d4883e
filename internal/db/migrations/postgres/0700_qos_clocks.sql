-- Per-unit calendars and QoS clocks (DESIGN.md "QoS, calendars and the
-- ticket lifecycle"). A unit's calendar is the JSON of
-- {timezone, days, hours, holidays}, '' for the instance's default; its
-- custom QoS durations the JSON of {less_urgent, urgent, very_urgent,
-- top_priority}, '' unless its level is custom (qos_level then stays
-- 'base': its CHECK predates custom levels; a unit with durations is
-- custom).
ALTER TABLE units ADD COLUMN calendar TEXT NOT NULL DEFAULT '';
ALTER TABLE units ADD COLUMN qos TEXT NOT NULL DEFAULT '';
-- The priority a ticket was opened with, for reports.
ALTER TABLE tickets ADD COLUMN original_priority TEXT NOT NULL DEFAULT '';
UPDATE tickets SET original_priority = priority;
-- The response clock of the ticket's unit: started when the unit got the
-- ticket, due at qos_due_at, warned at qos_warn_at, stopped at the unit's
-- first response (qos_met_at). qos_told counts what the timer told (1 the
-- warning, 2 the violation); qos_next_at is when it tells next, NULL when
-- nothing is left to tell: the one column the timer scans.
ALTER TABLE tickets ADD COLUMN qos_started_at TIMESTAMPTZ;
ALTER TABLE tickets ADD COLUMN qos_due_at TIMESTAMPTZ;
ALTER TABLE tickets ADD COLUMN qos_warn_at TIMESTAMPTZ;
ALTER TABLE tickets ADD COLUMN qos_met_at TIMESTAMPTZ;
ALTER TABLE tickets ADD COLUMN qos_told INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tickets ADD COLUMN qos_next_at TIMESTAMPTZ;
CREATE INDEX tickets_qos_next ON tickets(qos_next_at) WHERE qos_next_at IS NOT NULL;
