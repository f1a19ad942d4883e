-- When a ticket last changed as its requester sees it: internal notes move
-- updated_at (what staff see) but not this.
ALTER TABLE tickets ADD COLUMN public_updated_at TIMESTAMPTZ;
UPDATE tickets SET public_updated_at = updated_at;
ALTER TABLE tickets ALTER COLUMN public_updated_at SET NOT NULL;
