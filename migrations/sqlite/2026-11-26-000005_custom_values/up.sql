-- Tenant-wide merge values ({{ custom_values.key }} in templates).
CREATE TABLE custom_values (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    value_key TEXT NOT NULL,
    value TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    deleted_at TIMESTAMP NULL,
    purge_at TIMESTAMP NULL
);
CREATE UNIQUE INDEX custom_values_key ON custom_values (tenant_id, value_key) WHERE deleted_at IS NULL;
CREATE INDEX tags_purge ON tags (purge_at);
