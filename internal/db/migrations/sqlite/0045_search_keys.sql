-- Search rows keyed by ticket: rowid = ticket_id << 20 | seq << 1 | internal,
-- where seq is 0 for the subject and n for the ticket's n-th message. A
-- search reads only the FTS index (no stored text, no per-row lookups):
-- newest tickets first by iterating rowids downwards, one ticket's rows by a
-- rowid range, public rows by the low bit.
CREATE VIRTUAL TABLE search_keyed USING fts5(
	text,
	content = '',
	contentless_delete = 1,
	tokenize = 'porter unicode61 remove_diacritics 2'
);
INSERT INTO search_keyed (rowid, text)
	SELECT (ticket_id << 20) | ((ROW_NUMBER() OVER (PARTITION BY ticket_id ORDER BY rowid) - 1) << 1) | (internal <> 0), text
	FROM search_fts;
DROP TABLE search_fts;
ALTER TABLE search_keyed RENAME TO search_fts;
