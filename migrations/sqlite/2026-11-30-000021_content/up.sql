-- Content with version history. `content_revisions` is the one revision store for every
-- kind of content (`kind` = 'email' now; pages and blog posts later): each row is an
-- immutable snapshot (the whole content as JSON), numbered from 1 per entity, the next
-- number taken inside the write transaction that holds the entity's row. Restoring an old
-- revision appends a new one; nothing here is ever updated. Revisions go when their
-- entity is purged from the trash, or with their portal.
CREATE TABLE content_revisions (
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    revision INTEGER NOT NULL,
    snapshot TEXT NOT NULL,
    author TEXT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, kind, entity_id, revision)
);
CREATE UNIQUE INDEX content_revisions_unique ON content_revisions (kind, entity_id, revision);

-- Emails (templates with merge tags): the current content and its revision number. A
-- deleted email sits in the trash (`deleted_at`) with its history until the purge, 30
-- days after.
CREATE TABLE emails (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    subject TEXT NOT NULL,
    preheader TEXT NOT NULL,
    html TEXT NOT NULL,
    text TEXT NOT NULL,
    revision INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    deleted_at TIMESTAMP NULL
);
CREATE INDEX emails_by_tenant ON emails (tenant_id, id);
CREATE INDEX emails_in_trash ON emails (deleted_at) WHERE deleted_at IS NOT NULL;

-- Segments: a saved contact search (`filter_groups`, the language of
-- POST /api/v1/contacts/search, as JSON), evaluated when read or sent to.
CREATE TABLE segments (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    filter_groups TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX segments_by_tenant ON segments (tenant_id, id);
