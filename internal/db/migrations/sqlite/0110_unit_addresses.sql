-- Every reply and comment address of a unit belongs to one unit only, and
-- is one address only of it, compared without case: unit_addresses holds
-- them (lower case), and its primary key is the guarantee that the units'
-- own columns cannot give across two columns. The unit store writes both in
-- one transaction.
--
-- Existing data: addresses are lower-cased. An address that several units
-- share (or a unit's comment address equal to its reply address) stays
-- with the oldest unit, as its reply address before its comment address (the unit
-- that the lookup by address found so far); the others lose it (the column
-- becomes empty: no mail reaches them there) until an administrator gives
-- them an address of their own.
UPDATE units SET email = lower(trim(email)), comment_email = lower(trim(comment_email));

CREATE TABLE unit_addresses (
	address TEXT PRIMARY KEY,
	unit_id INTEGER NOT NULL REFERENCES units(id) ON DELETE CASCADE,
	kind    TEXT NOT NULL CHECK (kind IN ('reply', 'comment')),
	UNIQUE (unit_id, kind)
);

INSERT INTO unit_addresses (address, unit_id, kind)
SELECT a.address, a.unit_id, a.kind FROM (
	SELECT email AS address, id AS unit_id, 'reply' AS kind FROM units WHERE email <> ''
	UNION ALL
	SELECT comment_email, id, 'comment' FROM units WHERE comment_email <> ''
) a
WHERE NOT EXISTS (SELECT 1 FROM units o WHERE o.id < a.unit_id AND (o.email = a.address OR o.comment_email = a.address))
	AND NOT (a.kind = 'comment' AND EXISTS (SELECT 1 FROM units o WHERE o.id = a.unit_id AND o.email = a.address));

UPDATE units SET
	email = COALESCE((SELECT a.address FROM unit_addresses a WHERE a.unit_id = units.id AND a.kind = 'reply'), ''),
	comment_email = COALESCE((SELECT a.address FROM unit_addresses a WHERE a.unit_id = units.id AND a.kind = 'comment'), '');
