-- Relations that propagate (DESIGN.md "Known errors, changes, incidents,
-- status page, relations"). Each relation is one row, seen from both of
-- its tickets: master_of and parent_of are kept from the master's and the
-- parent's side (slave_of and child_of are their inverses), related with
-- the lower ticket id first. Rows written the other way round before are
-- turned around here; an inverse that duplicates a stored row goes.
INSERT INTO ticket_relations (ticket_id, other_id, kind, created_at)
	SELECT r.other_id, r.ticket_id, CASE r.kind WHEN 'slave_of' THEN 'master_of' WHEN 'child_of' THEN 'parent_of' ELSE 'related' END, r.created_at
	FROM ticket_relations r
	WHERE (r.kind IN ('slave_of', 'child_of') OR (r.kind = 'related' AND r.ticket_id > r.other_id))
	AND NOT EXISTS (SELECT 1 FROM ticket_relations o WHERE o.ticket_id = r.other_id AND o.other_id = r.ticket_id
		AND o.kind = CASE r.kind WHEN 'slave_of' THEN 'master_of' WHEN 'child_of' THEN 'parent_of' ELSE 'related' END);
DELETE FROM ticket_relations WHERE kind IN ('slave_of', 'child_of') OR (kind = 'related' AND ticket_id > other_id);
-- The master's last message when it was linked: its later public updates
-- are copied to the slave, earlier ones were not.
ALTER TABLE ticket_relations ADD COLUMN since_message BIGINT NOT NULL DEFAULT 0;
CREATE INDEX ticket_relations_other ON ticket_relations(other_id);
-- Why a writer that is not a person made a change ("solved with its
-- master #12").
ALTER TABLE history ADD COLUMN reason TEXT NOT NULL DEFAULT '';
