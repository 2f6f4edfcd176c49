-- CSV imports are jobs: a row with a status and a lease. Rows are applied in chunks, each
-- chunk in one transaction with the progress (next_row), so a crash or restart resumes
-- exactly where the last committed chunk ended and never applies a row twice.
CREATE TABLE imports (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    object TEXT NOT NULL,
    mode TEXT NOT NULL,
    -- JSON {csv column: field}.
    mapping TEXT NOT NULL,
    status TEXT NOT NULL,
    file BLOB NOT NULL,
    rows_total BIGINT NOT NULL,
    rows_imported BIGINT NOT NULL,
    rows_failed BIGINT NOT NULL,
    -- JSON array of {row, column, message}, the first 1000.
    errors TEXT NOT NULL,
    -- The first data row (from 1) not yet applied.
    next_row BIGINT NOT NULL,
    lease_owner TEXT NULL,
    lease_until TIMESTAMP NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX imports_pending ON imports (status, lease_until);
CREATE INDEX imports_by_tenant ON imports (tenant_id, id);
