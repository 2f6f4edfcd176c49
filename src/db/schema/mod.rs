// The one schema for both backends: portable column types only (Text, BigInt, Integer,
// Bool, Double, Timestamp, Binary; JSON as Text). Kept by hand in step with
// migrations/sqlite and migrations/postgres.

mod campaign_tables;
mod content;
mod inapp_tables;
mod platform;
pub use campaign_tables::*;
pub use content::*;
pub use inapp_tables::*;
pub use platform::*;

diesel::table! {
    tenants (id) {
        id -> Text,
        name -> Text,
        parent_tenant_id -> Nullable<Text>,
        branding -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        require_mfa -> Bool,
        staff_access -> Text,
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
        locale -> Nullable<Text>,
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
        invitation_id -> Nullable<Text>,
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
    spent_sign_in_steps (digest) {
        digest -> Text,
        expires_at -> Timestamp,
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

diesel::table! {
    records (id) {
        id -> Text,
        tenant_id -> Text,
        object -> Text,
        props -> Text,
        custom -> Text,
        search_text -> Text,
        email_lower -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
        purge_at -> Nullable<Timestamp>,
        external_id -> Nullable<Text>,
    }
}

diesel::table! {
    record_values (record_id, field, ord) {
        tenant_id -> Text,
        record_id -> Text,
        object -> Text,
        field -> Text,
        ord -> Integer,
        text_value -> Nullable<Text>,
        num_value -> Nullable<Double>,
        full_text -> Nullable<Text>,
    }
}

diesel::table! {
    tags (id) {
        id -> Text,
        tenant_id -> Text,
        name -> Text,
        name_lower -> Text,
        created_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
        purge_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    record_tags (record_id, tag_id) {
        tenant_id -> Text,
        record_id -> Text,
        tag_id -> Text,
    }
}

diesel::table! {
    custom_fields (id) {
        id -> Text,
        tenant_id -> Text,
        object -> Text,
        field_key -> Text,
        label -> Text,
        field_type -> Text,
        options -> Text,
        required -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
        purge_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    event_heads (tenant_id) {
        tenant_id -> Text,
        seq -> BigInt,
    }
}

diesel::table! {
    events (tenant_id, seq) {
        tenant_id -> Text,
        seq -> BigInt,
        id -> Text,
        event_type -> Text,
        object -> Text,
        record_id -> Text,
        actor_type -> Text,
        actor_id -> Nullable<Text>,
        data -> Text,
        diff -> Nullable<Text>,
        occurred_at -> Timestamp,
    }
}

diesel::table! {
    pipelines (id) {
        id -> Text,
        tenant_id -> Text,
        name -> Text,
        stages -> Text,
        display_order -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    custom_values (id) {
        id -> Text,
        tenant_id -> Text,
        value_key -> Text,
        value -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
        purge_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    idempotency_keys (scope, idem_key) {
        scope -> Text,
        idem_key -> Text,
        request_hash -> Text,
        status -> Nullable<Integer>,
        content_type -> Nullable<Text>,
        body -> Nullable<Text>,
        created_at -> Timestamp,
        locked_until -> Nullable<Timestamp>,
        committed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    realtime_tickets (ticket_hash) {
        ticket_hash -> Text,
        tenant_id -> Text,
        subject_kind -> Text,
        subject_id -> Text,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    imports (id) {
        id -> Text,
        tenant_id -> Text,
        object -> Text,
        mode -> Text,
        mapping -> Text,
        status -> Text,
        rows_total -> BigInt,
        rows_imported -> BigInt,
        rows_failed -> BigInt,
        errors -> Text,
        next_row -> BigInt,
        lease_owner -> Nullable<Text>,
        lease_until -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        headers -> Text,
    }
}

diesel::table! {
    import_files (import_id) {
        import_id -> Text,
        tenant_id -> Text,
        file -> Binary,
    }
}

diesel::table! {
    import_rows (import_id, row_no) {
        import_id -> Text,
        tenant_id -> Text,
        row_no -> BigInt,
        cells -> Text,
    }
}

diesel::joinable!(record_values -> records (record_id));
diesel::joinable!(record_tags -> records (record_id));
diesel::joinable!(record_tags -> tags (tag_id));
diesel::joinable!(memberships -> tenants (tenant_id));
diesel::joinable!(memberships -> users (user_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(sessions -> tenants (tenant_id));

diesel::table! {
    invitations (id) {
        id -> Text,
        tenant_id -> Text,
        email -> Text,
        role -> Text,
        invited_by -> Nullable<Text>,
        status -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        responded_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(invitations -> tenants (tenant_id));

diesel::table! {
    jita_grants (id) {
        id -> Text,
        tenant_id -> Text,
        staff_id -> Text,
        reason -> Text,
        ticket_ref -> Text,
        duration_minutes -> Integer,
        status -> Text,
        token_hash -> Text,
        created_at -> Timestamp,
        approved_at -> Nullable<Timestamp>,
        approved_by -> Nullable<Text>,
        expires_at -> Nullable<Timestamp>,
        ended_at -> Nullable<Timestamp>,
        ended_by -> Nullable<Text>,
        requests -> BigInt,
        refusals -> BigInt,
    }
}

diesel::table! {
    suppressions (tenant_id, email_hash) {
        tenant_id -> Text,
        email_hash -> Text,
        reason -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    tenant_exports (id) {
        id -> Text,
        tenant_id -> Text,
        status -> Text,
        requested_by -> Nullable<Text>,
        lease_owner -> Nullable<Text>,
        lease_until -> Nullable<Timestamp>,
        attempts -> Integer,
        file -> Nullable<Text>,
        bytes -> Nullable<BigInt>,
        error -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    notifications (id) {
        id -> Text,
        tenant_id -> Text,
        user_id -> Text,
        kind -> Text,
        title -> Text,
        body -> Text,
        data -> Text,
        created_at -> Timestamp,
        seen_at -> Nullable<Timestamp>,
        read_at -> Nullable<Timestamp>,
        archived_at -> Nullable<Timestamp>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    feature_flags,
    feature_flag_portals,
    notifications,
    tenant_exports,
    platform_secrets,
    suppressions,
    backup_schedule,
    jita_grants,
    staff_members,
    staff_recovery_codes,
    staff_challenges,
    staff_sessions,
    platform_audit_head,
    platform_audit_log,
    invitations,
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
    records,
    record_values,
    tags,
    record_tags,
    custom_fields,
    event_heads,
    events,
    pipelines,
    custom_values,
    idempotency_keys,
    imports,
    import_rows,
    import_files,
    realtime_tickets,
);
