-- Sweeping unreferenced blobs asks which sums attachments name.
CREATE INDEX IF NOT EXISTS attachments_sha256 ON attachments(sha256);
