// The one schema for both backends: portable column types only (Text, BigInt, Integer,
// Bool, Double, Timestamp, Binary; JSON as Text). Kept by hand in step with
// migrations/sqlite and migrations/postgres.

diesel::table! {
    tenants (id) {
        id -> Text,
        name -> Text,
        parent_tenant_id -> Nullable<Text>,
        branding -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        require_mfa -> Bool,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        email -> Text,
        name -> Text,
        password_hash -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        totp_secret -> Nullable<Text>,
        totp_key_id -> Nullable<Text>,
        totp_enabled_at -> Nullable<Timestamp>,
        totp_last_step -> Nullable<BigInt>,
    }
}

diesel::table! {
    memberships (tenant_id, user_id) {
        tenant_id -> Text,
        user_id -> Text,
        role -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        tenant_id -> Text,
        user_id -> Text,
        token_hash -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        last_seen_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
    }
}

diesel::table! {
    recovery_codes (id) {
        id -> Text,
        user_id -> Text,
        code_hash -> Text,
        created_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    mfa_challenges (id) {
        id -> Text,
        token_hash -> Text,
        tenant_id -> Text,
        user_id -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        attempts -> Integer,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    auth_throttle (scope, subject) {
        scope -> Text,
        subject -> Text,
        failures -> Integer,
        last_failure_at -> Timestamp,
        blocked_until -> Nullable<Timestamp>,
    }
}

diesel::table! {
    api_keys (id) {
        id -> Text,
        tenant_id -> Text,
        name -> Text,
        display_prefix -> Text,
        key_hash -> Text,
        scopes -> Text,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        rotated_at -> Nullable<Timestamp>,
        last_used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    audit_heads (tenant_id) {
        tenant_id -> Text,
        seq -> BigInt,
        hash -> Text,
    }
}

diesel::table! {
    audit_log (tenant_id, seq) {
        tenant_id -> Text,
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

diesel::joinable!(memberships -> tenants (tenant_id));
diesel::joinable!(memberships -> users (user_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(sessions -> tenants (tenant_id));

diesel::allow_tables_to_appear_in_same_query!(
    tenants,
    users,
    memberships,
    sessions,
    recovery_codes,
    mfa_challenges,
    auth_throttle,
    api_keys,
    audit_heads,
    audit_log,
);
