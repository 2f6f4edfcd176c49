-- Portal exports (POST /api/v1/tenant/export): jobs as rows. A worker claims a queued
-- export, or one whose lease expired (its node died), by a conditional UPDATE, and builds
-- the archive from the start; the file's path and size are kept once it is complete, and
-- after seven days the purge deletes the archive and marks the export expired.
CREATE TABLE tenant_exports (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed', 'expired')),
    requested_by TEXT NULL,
    lease_owner TEXT NULL,
    lease_until TIMESTAMP NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    file TEXT NULL,
    bytes BIGINT NULL,
    error TEXT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP NULL
);
CREATE INDEX tenant_exports_by_status ON tenant_exports (status, created_at);
