-- Account security: 2FA, required 2FA, throttling, private app keys, audit log.

ALTER TABLE tenants ADD COLUMN require_mfa BOOLEAN NOT NULL DEFAULT FALSE;

-- TOTP secret, AES-256-GCM sealed; the key id sits beside the ciphertext for rotation.
ALTER TABLE users ADD COLUMN totp_secret TEXT NULL;
ALTER TABLE users ADD COLUMN totp_key_id TEXT NULL;
-- Set when enrolment is confirmed with a code; NULL while pending or disabled.
ALTER TABLE users ADD COLUMN totp_enabled_at TIMESTAMP NULL;
-- The last accepted time step: a step is never accepted twice (replay guard).
ALTER TABLE users ADD COLUMN totp_last_step BIGINT NULL;

CREATE TABLE recovery_codes (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP NULL
);
CREATE INDEX recovery_codes_by_user ON recovery_codes (user_id);

-- The second step of a sign-in: single use, short-lived, few attempts.
CREATE TABLE mfa_challenges (
    id TEXT PRIMARY KEY NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    used_at TIMESTAMP NULL
);

-- Failure counters for password and 2FA attempts, per account and per IP. In the
-- database so a restart does not reset them.
CREATE TABLE auth_throttle (
    scope TEXT NOT NULL,
    subject TEXT NOT NULL,
    failures INTEGER NOT NULL,
    last_failure_at TIMESTAMP NOT NULL,
    blocked_until TIMESTAMP NULL,
    PRIMARY KEY (scope, subject)
);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    -- The first characters of the key, shown in lists so people can tell keys apart.
    display_prefix TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    -- JSON array of scope strings, e.g. ["contacts:read","deals:write"].
    scopes TEXT NOT NULL,
    created_by TEXT NULL,
    created_at TIMESTAMP NOT NULL,
    rotated_at TIMESTAMP NULL,
    last_used_at TIMESTAMP NULL
);
CREATE INDEX api_keys_by_tenant ON api_keys (tenant_id);

-- The newest link of each portal's audit chain; updating it first serialises appends.
CREATE TABLE audit_heads (
    tenant_id TEXT PRIMARY KEY NOT NULL REFERENCES tenants (id),
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);

-- Portals that existed before this migration start their chain here.
INSERT INTO audit_heads (tenant_id, seq, hash)
SELECT id, 0, '0000000000000000000000000000000000000000000000000000000000000000' FROM tenants;

CREATE TABLE audit_log (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    seq BIGINT NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    actor_type TEXT NOT NULL,
    actor_id TEXT NULL,
    action TEXT NOT NULL,
    target_type TEXT NULL,
    target_id TEXT NULL,
    ip TEXT NULL,
    user_agent TEXT NULL,
    request_id TEXT NULL,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);
CREATE INDEX audit_log_by_action ON audit_log (tenant_id, action, seq);
CREATE INDEX audit_log_by_actor ON audit_log (tenant_id, actor_id, seq);

-- Append-only, enforced by the database as a second wall behind the application.
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
