-- When a ticket last changed as its requester sees it: internal notes move
-- updated_at (what staff see) but not this.
ALTER TABLE tickets ADD COLUMN public_updated_at TIMESTAMP NOT NULL DEFAULT '1970-01-01 00:00:00+00:00';
UPDATE tickets SET public_updated_at = updated_at;
