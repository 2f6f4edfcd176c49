// Platform tables (no portal owns their rows): staff and their sign-in state, the
// platform audit chain, feature flags, backups' schedule and platform secrets. Kept by hand
// in step with the migrations, like the rest of the schema.

diesel::table! {
    staff_members (id) {
        id -> Text,
        email -> Text,
        role -> Text,
        password_hash -> Text,
        status -> Text,
        totp_secret -> Nullable<Text>,
        totp_key_id -> Nullable<Text>,
        totp_enabled_at -> Nullable<Timestamp>,
        totp_last_step -> Nullable<BigInt>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    staff_recovery_codes (id) {
        id -> Text,
        staff_id -> Text,
        code_hash -> Text,
        created_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    staff_challenges (id) {
        id -> Text,
        token_hash -> Text,
        staff_id -> Text,
        kind -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        attempts -> Integer,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    staff_sessions (id) {
        id -> Text,
        staff_id -> Text,
        token_hash -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
    }
}

diesel::table! {
    platform_audit_head (id) {
        id -> Integer,
        seq -> BigInt,
        hash -> Text,
    }
}

diesel::table! {
    platform_audit_log (seq) {
        seq -> BigInt,
        occurred_at -> Timestamp,
        actor_type -> Text,
        actor_id -> Nullable<Text>,
        action -> Text,
        target_type -> Nullable<Text>,
        target_id -> Nullable<Text>,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        request_id -> Nullable<Text>,
        details -> Text,
        prev_hash -> Text,
        hash -> Text,
    }
}

diesel::table! {
    backup_schedule (id) {
        id -> Integer,
        slot -> BigInt,
        status -> Text,
        lease_owner -> Nullable<Text>,
        lease_until -> Nullable<Timestamp>,
        last_success_at -> Nullable<Timestamp>,
        last_file -> Nullable<Text>,
        last_bytes -> Nullable<BigInt>,
        failures -> BigInt,
        last_failure_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    platform_secrets (name) {
        name -> Text,
        secret -> Text,
        key_id -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    feature_flags (key) {
        key -> Text,
        name -> Text,
        description -> Text,
        stage -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    feature_flag_portals (flag_key, tenant_id, kind) {
        flag_key -> Text,
        tenant_id -> Text,
        kind -> Text,
        created_at -> Timestamp,
    }
}
