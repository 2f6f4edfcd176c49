-- Feature flags by stage. A platform table (the release managers' configuration, no
-- portal owns a flag); `feature_flag_portals` lists the portals of a private beta
-- (`listed`) and those that opted in to a public beta (`opted_in`).
CREATE TABLE feature_flags (
    key TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    stage TEXT NOT NULL CHECK (stage IN ('off', 'private_beta', 'public_beta', 'ga')),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE TABLE feature_flag_portals (
    flag_key TEXT NOT NULL REFERENCES feature_flags (key) ON DELETE CASCADE,
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('listed', 'opted_in')),
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (flag_key, tenant_id, kind)
);
-- The capabilities the code gates (src/features.rs), general availability on a new install.
INSERT INTO feature_flags (key, name, description, stage, created_at, updated_at) VALUES
    ('campaigns', 'Email campaigns', 'Emails, segments, campaigns, suppressions and their live progress', 'ga', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
    ('in_app_messages', 'In-app messages', 'Messages to your own product''s users, the widget and its inbox', 'ga', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
    ('csv_import_export', 'CSV import and export', 'Importing records from CSV files and exporting them', 'ga', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
    ('live_dashboard', 'Live dashboard', 'The dashboard topic: counts and pipeline totals pushed as they change', 'ga', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP);

-- A portal user's notification inbox (task assignments, finished jobs, announcements).
CREATE TABLE notifications (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    -- JSON object: what the notification is about (a feature key, a task id…).
    data TEXT NOT NULL DEFAULT '{}',
    created_at TIMESTAMP NOT NULL,
    seen_at TIMESTAMP NULL,
    read_at TIMESTAMP NULL,
    archived_at TIMESTAMP NULL
);
CREATE INDEX notifications_by_user ON notifications (tenant_id, user_id, id);
