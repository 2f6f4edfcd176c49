-- Platform staff: the operator's own people, not portal users. They sign in with a
-- password and a mandatory TOTP second factor (enrolled at their first sign-in), hold
-- `ozst_` tokens that portal routes refuse, and act in a portal only through a JITA grant.
CREATE TABLE staff_members (
    id TEXT PRIMARY KEY NOT NULL,
    email TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('support', 'engineer', 'security', 'release_manager')),
    password_hash TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
    -- AES-256-GCM sealed, with its key id (as users.totp_secret).
    totp_secret TEXT NULL,
    totp_key_id TEXT NULL,
    totp_enabled_at TIMESTAMP NULL,
    totp_last_step BIGINT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE staff_recovery_codes (
    id TEXT PRIMARY KEY NOT NULL,
    staff_id TEXT NOT NULL REFERENCES staff_members (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP NULL
);
CREATE INDEX staff_recovery_codes_by_staff ON staff_recovery_codes (staff_id);

-- The steps between a password and a session: `enrollment` (first sign-in: set up TOTP)
-- or `mfa` (a code). Single use, short-lived, few attempts.
CREATE TABLE staff_challenges (
    id TEXT PRIMARY KEY NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    staff_id TEXT NOT NULL REFERENCES staff_members (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('enrollment', 'mfa')),
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    used_at TIMESTAMP NULL
);

CREATE TABLE staff_sessions (
    id TEXT PRIMARY KEY NOT NULL,
    staff_id TEXT NOT NULL REFERENCES staff_members (id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP NULL,
    ip TEXT NULL,
    user_agent TEXT NULL
);
CREATE INDEX staff_sessions_by_staff ON staff_sessions (staff_id);

-- The platform's own audit trail (staff sign-ins, grants, flags, risk alerts), hash-chained
-- like each portal's (`security::audit_chain`, tenant id "platform") and append-only.
CREATE TABLE platform_audit_head (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO platform_audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE platform_audit_log (
    seq BIGINT PRIMARY KEY NOT NULL,
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
    hash TEXT NOT NULL
);
CREATE INDEX platform_audit_by_action ON platform_audit_log (action, seq);
CREATE TRIGGER platform_audit_log_no_update BEFORE UPDATE ON platform_audit_log
BEGIN
    SELECT RAISE(ABORT, 'platform_audit_log is append-only');
END;
CREATE TRIGGER platform_audit_log_no_delete BEFORE DELETE ON platform_audit_log
BEGIN
    SELECT RAISE(ABORT, 'platform_audit_log is append-only');
END;
