-- Email campaigns (issue #12). A campaign is a row with a status machine (see
-- src/campaigns/mod.rs); at send time its audience becomes one row per recipient in
-- `campaign_recipients`, deduplicated by lower-cased address (the primary key), and each
-- recipient is claimed with a lease before it is mailed, so a crash resumes where it
-- stopped. The node driving a sending campaign holds the campaign's own lease.
CREATE TABLE campaigns (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    email_id TEXT NULL,
    segment_id TEXT NULL,
    from_name TEXT NOT NULL DEFAULT '',
    from_email TEXT NULL,
    reply_to TEXT NULL,
    send_at TIMESTAMP NULL,
    status TEXT NOT NULL CHECK (status IN ('draft', 'scheduled', 'sending', 'paused', 'completed', 'cancelled', 'failed')),
    created_by TEXT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    started_at TIMESTAMP NULL,
    completed_at TIMESTAMP NULL
);
-- The sending state of a campaign that left draft: its frozen content, the audience
-- materialisation's progress and the lease of the node driving it.
CREATE TABLE campaign_runs (
    campaign_id TEXT PRIMARY KEY NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    -- The email's content frozen when the send started (JSON: subject, preheader, html,
    -- text, revision), so edits during a send change nothing that is already going out.
    content TEXT NOT NULL,
    -- Whether opens and clicks are tracked, frozen at send from the portal's setting.
    tracking BOOLEAN NOT NULL,
    -- Audience materialisation: done, and where it stopped (last contact id) if not.
    materialised BOOLEAN NOT NULL DEFAULT FALSE,
    audience_after TEXT NULL,
    skipped_no_email BIGINT NOT NULL DEFAULT 0,
    duplicates BIGINT NOT NULL DEFAULT 0,
    lease_owner TEXT NULL,
    lease_until TIMESTAMP NULL,
    -- Why the campaign is waiting or failed (the SMTP server is unreachable, …).
    error TEXT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX campaigns_by_tenant ON campaigns (tenant_id, id);
CREATE INDEX campaigns_by_status ON campaigns (status, send_at);
CREATE INDEX campaign_runs_by_lease ON campaign_runs (lease_until);

CREATE TABLE campaign_recipients (
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    campaign_id TEXT NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    email_lower TEXT NOT NULL,
    id TEXT NOT NULL,
    contact_id TEXT NULL,
    email TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'failed', 'bounced', 'suppressed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT NULL,
    lease_until TIMESTAMP NULL,
    sent_at TIMESTAMP NULL,
    error TEXT NULL,
    message_id TEXT NOT NULL,
    opened_at TIMESTAMP NULL,
    clicked_at TIMESTAMP NULL,
    PRIMARY KEY (campaign_id, email_lower)
);
CREATE UNIQUE INDEX campaign_recipients_by_id ON campaign_recipients (campaign_id, id);
-- Retries wait in lease_until with no lease_owner: one condition finds what is due.
CREATE INDEX campaign_recipients_due ON campaign_recipients (campaign_id, status, lease_until);
CREATE INDEX campaign_recipients_by_message ON campaign_recipients (tenant_id, message_id);
-- The claim's order: queued rows of a campaign by id, without walking the sent ones.
CREATE INDEX campaign_recipients_queue ON campaign_recipients (campaign_id, status, id);

-- Addresses never to be mailed again in a portal: unsubscribes, hard bounces, complaints,
-- manual entries. (Erased people are kept apart, as keyed hashes, in `suppressions`.)
CREATE TABLE email_suppressions (
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    email_lower TEXT NOT NULL,
    email TEXT NOT NULL,
    reason TEXT NOT NULL CHECK (reason IN ('unsubscribed', 'hard_bounce', 'complaint', 'manual')),
    campaign_id TEXT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, email_lower)
);

-- A portal's email settings (PATCH /api/v1/tenant): sending pace and tracking.
CREATE TABLE email_settings (
    tenant_id TEXT PRIMARY KEY NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    sending_rate_per_second INTEGER NOT NULL DEFAULT 20,
    tracking BOOLEAN NOT NULL DEFAULT TRUE,
    updated_at TIMESTAMP NOT NULL
);
