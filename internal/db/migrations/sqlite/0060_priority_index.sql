-- Staff queues filtered by priority: a rare priority (no top-priority ticket
-- on hold, say) must not make the list walk every ticket of a status.
CREATE INDEX tickets_unit_priority ON tickets(unit_id, priority, status, id);
