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

diesel::joinable!(memberships -> tenants (tenant_id));
diesel::joinable!(memberships -> users (user_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(sessions -> tenants (tenant_id));

diesel::allow_tables_to_appear_in_same_query!(tenants, users, memberships, sessions);
