-- CRM records. One table for every object type (contact, company, deal, ticket, task,
-- note): the built-in fields are defined as data in src/crm/objects.rs, so validation,
-- search, trash and events are one code path. Searchable values are mirrored into
-- record_values (one row per field value) where indexes serve filters and sorting.

CREATE TABLE records (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    object TEXT NOT NULL,
    -- Built-in fields as the API returns them (JSON object).
    props TEXT NOT NULL,
    -- Custom field values (JSON object).
    custom TEXT NOT NULL,
    -- Lower-cased text the ?q= search looks in.
    search_text TEXT NOT NULL,
    -- Contacts only: the lower-cased email, unique per portal among live contacts.
    email_lower TEXT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    -- In the trash since; purged for good at purge_at.
    deleted_at TIMESTAMP NULL,
    purge_at TIMESTAMP NULL
);
CREATE INDEX records_by_object ON records (tenant_id, object, id);
CREATE INDEX records_purge ON records (purge_at);
CREATE UNIQUE INDEX records_contact_email ON records (tenant_id, email_lower)
    WHERE email_lower IS NOT NULL AND deleted_at IS NULL;

CREATE TABLE record_values (
    tenant_id TEXT NOT NULL,
    record_id TEXT NOT NULL REFERENCES records (id) ON DELETE CASCADE,
    object TEXT NOT NULL,
    -- A built-in field name, or custom_fields.<key>.
    field TEXT NOT NULL,
    -- Position within a multi-valued field (multi_select, link lists); 0 otherwise.
    ord INTEGER NOT NULL,
    -- Lower-cased text (text, email, select, ids…) or NULL.
    text_value TEXT NULL,
    -- Numbers, booleans (0/1) and dates (seconds since 1970) or NULL.
    num_value DOUBLE PRECISION NULL,
    PRIMARY KEY (record_id, field, ord)
);
CREATE INDEX record_values_text ON record_values (tenant_id, object, field, text_value);
CREATE INDEX record_values_num ON record_values (tenant_id, object, field, num_value);

CREATE TABLE tags (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    name TEXT NOT NULL,
    name_lower TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    deleted_at TIMESTAMP NULL,
    purge_at TIMESTAMP NULL
);
CREATE UNIQUE INDEX tags_name ON tags (tenant_id, name_lower) WHERE deleted_at IS NULL;

CREATE TABLE record_tags (
    tenant_id TEXT NOT NULL,
    record_id TEXT NOT NULL REFERENCES records (id) ON DELETE CASCADE,
    tag_id TEXT NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    PRIMARY KEY (record_id, tag_id)
);
CREATE INDEX record_tags_by_tag ON record_tags (tenant_id, tag_id);

CREATE TABLE custom_fields (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    object TEXT NOT NULL,
    field_key TEXT NOT NULL,
    label TEXT NOT NULL,
    field_type TEXT NOT NULL,
    -- JSON array of allowed values for select and multi_select.
    options TEXT NOT NULL,
    required BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    deleted_at TIMESTAMP NULL,
    purge_at TIMESTAMP NULL
);
CREATE UNIQUE INDEX custom_fields_key ON custom_fields (tenant_id, object, field_key) WHERE deleted_at IS NULL;

-- The change-event outbox: written in the transaction of every change, numbered per
-- portal. Real-time push, webhooks and timelines read it.
CREATE TABLE event_heads (
    tenant_id TEXT PRIMARY KEY NOT NULL REFERENCES tenants (id),
    seq BIGINT NOT NULL
);
INSERT INTO event_heads (tenant_id, seq) SELECT id, 0 FROM tenants;

CREATE TABLE events (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    seq BIGINT NOT NULL,
    id TEXT NOT NULL UNIQUE,
    event_type TEXT NOT NULL,
    object TEXT NOT NULL,
    record_id TEXT NOT NULL,
    actor_type TEXT NOT NULL,
    actor_id TEXT NULL,
    -- The record as the REST API returns it (for a purge, at least its id).
    data TEXT NOT NULL,
    -- {field: {"from": old, "to": new}} for updates.
    diff TEXT NULL,
    occurred_at TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);
CREATE INDEX events_by_record ON events (tenant_id, record_id, seq);
