-- Deal pipelines with ordered stages. Stages live in the pipeline row (JSON array of
-- {id, name}) because they are always read and written with their pipeline.
CREATE TABLE pipelines (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    name TEXT NOT NULL,
    stages TEXT NOT NULL,
    display_order INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX pipelines_by_tenant ON pipelines (tenant_id, display_order);
