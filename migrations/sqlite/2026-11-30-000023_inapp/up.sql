-- In-app messages (issue #13): a portal's own end users get messages in a widget.
--
-- `inapp_apps` is a platform table (like `platform_secrets`): the widget names its portal
-- only by `app_id`, so the lookup is by app id across portals, and its sealed identity
-- secret is re-sealed by `organizeo keys rotate` with the other platform secrets. It is
-- written only with the portal id of the signed-in principal.
CREATE TABLE inapp_apps (
    app_id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL UNIQUE REFERENCES tenants (id) ON DELETE CASCADE,
    -- JSON array of origins (`https://app.example.com`) allowed to call the inbox API.
    allowed_origins TEXT NOT NULL DEFAULT '[]',
    -- HMAC key sealed with the keyring (context `inapp-secret:{app_id}`); NULL until the
    -- first rotation, and every end-user request is refused (401) until then.
    secret TEXT NULL,
    key_id TEXT NULL,
    secret_last4 TEXT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- One message as the portal sent it; its audience is fanned out into `inapp_items` by a
-- job with a lease, a batch per transaction, resumable from `cursor`.
CREATE TABLE inapp_messages (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    action_url TEXT NULL,
    category TEXT NULL,
    expires_at TIMESTAMP NULL,
    -- JSON: {"user_ids":[…]} | {"segment_id":…} | {"all":true}
    audience TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'sending', 'sent', 'failed')),
    recipients BIGINT NOT NULL DEFAULT 0,
    cursor TEXT NULL,
    lease_owner TEXT NULL,
    lease_until TIMESTAMP NULL,
    created_by TEXT NULL,
    created_at TIMESTAMP NOT NULL,
    completed_at TIMESTAMP NULL
);
CREATE INDEX inapp_messages_by_tenant ON inapp_messages (tenant_id, id);
CREATE INDEX inapp_messages_due ON inapp_messages (status, lease_until);

-- One row per (message, end user): the end user's inbox item and its state.
CREATE TABLE inapp_items (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    message_id TEXT NOT NULL REFERENCES inapp_messages (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    seen_at TIMESTAMP NULL,
    read_at TIMESTAMP NULL,
    archived_at TIMESTAMP NULL
);
CREATE UNIQUE INDEX inapp_items_once ON inapp_items (message_id, user_id);
CREATE INDEX inapp_items_inbox ON inapp_items (tenant_id, user_id, id);
CREATE INDEX inapp_items_by_message ON inapp_items (tenant_id, message_id);

-- Exact counts per end user, changed in the same transaction as every item change.
CREATE TABLE inapp_counters (
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    unread BIGINT NOT NULL DEFAULT 0,
    unseen BIGINT NOT NULL DEFAULT 0,
    total BIGINT NOT NULL DEFAULT 0,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);

-- Contacts are end users by `external_id` (unique per portal, case-sensitive).
ALTER TABLE records ADD COLUMN external_id TEXT NULL;
CREATE UNIQUE INDEX records_contact_external_id ON records (tenant_id, external_id)
    WHERE external_id IS NOT NULL AND deleted_at IS NULL;
