-- ALARM tickets (DESIGN.md "TEAM and ALARM tickets, chat"): a service's
-- emergency address and the teams whose members may raise alarms (a JSON
-- array of team names); each alarm ticket's last page, for the re-page timer.
ALTER TABLE services ADD COLUMN alarm_email TEXT NOT NULL DEFAULT '';
ALTER TABLE services ADD COLUMN alarm_teams TEXT NOT NULL DEFAULT '[]';
ALTER TABLE tickets ADD COLUMN alarm_paged_at TIMESTAMP;
CREATE INDEX tickets_alarm_due ON tickets(alarm_paged_at) WHERE alarm_paged_at IS NOT NULL;
