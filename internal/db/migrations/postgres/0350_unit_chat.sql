-- A unit's chat (DESIGN.md "TEAM and ALARM tickets, chat") is a row of
-- webhooks with a format: the follower "chat" queues its posts in
-- webhook_deliveries, and the webhooks' sender sends and retries them.
-- format '' is a plain (signed) webhook; a unit has at most one chat.
ALTER TABLE webhooks ADD COLUMN format TEXT NOT NULL DEFAULT '' CHECK (format IN ('', 'mattermost', 'rocketchat', 'slack'));
CREATE UNIQUE INDEX webhooks_unit_chat ON webhooks (unit_id) WHERE format <> '';
