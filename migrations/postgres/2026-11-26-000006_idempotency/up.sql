-- Idempotency-Key: the first answer to a POST, replayed for retries with the same key.
-- Scoped by the caller's credential (the SHA-256 of its bearer token).
CREATE TABLE idempotency_keys (
    scope TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    -- NULL while the first request is still running.
    status INTEGER NULL,
    content_type TEXT NULL,
    body TEXT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (scope, idem_key)
);
CREATE INDEX idempotency_keys_age ON idempotency_keys (created_at);
