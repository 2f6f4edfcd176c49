-- A first request holds its Idempotency-Key under a lease: a server killed mid-request no
-- longer wedges the key for 24 hours. committed_at is set in the same transaction as the
-- request's write, so a retry after a crash knows whether the change was saved.
ALTER TABLE idempotency_keys ADD COLUMN locked_until TIMESTAMP NULL;
ALTER TABLE idempotency_keys ADD COLUMN committed_at TIMESTAMP NULL;
