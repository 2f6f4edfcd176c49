// In-app messages (migration 000023): the platform table of portals' widget identities,
// and the tenant tables of messages, inbox items and exact counters.

diesel::table! {
    inapp_apps (app_id) {
        app_id -> Text,
        tenant_id -> Text,
        allowed_origins -> Text,
        secret -> Nullable<Text>,
        key_id -> Nullable<Text>,
        secret_last4 -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    inapp_messages (id) {
        id -> Text,
        tenant_id -> Text,
        title -> Text,
        body -> Text,
        action_url -> Nullable<Text>,
        category -> Nullable<Text>,
        expires_at -> Nullable<Timestamp>,
        audience -> Text,
        status -> Text,
        recipients -> BigInt,
        cursor -> Nullable<Text>,
        lease_owner -> Nullable<Text>,
        lease_until -> Nullable<Timestamp>,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        completed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    inapp_items (id) {
        id -> Text,
        tenant_id -> Text,
        message_id -> Text,
        user_id -> Text,
        created_at -> Timestamp,
        seen_at -> Nullable<Timestamp>,
        read_at -> Nullable<Timestamp>,
        archived_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    inapp_counters (tenant_id, user_id) {
        tenant_id -> Text,
        user_id -> Text,
        unread -> BigInt,
        unseen -> BigInt,
        total -> BigInt,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(inapp_items -> inapp_messages (message_id));
diesel::allow_tables_to_appear_in_same_query!(inapp_items, inapp_messages, inapp_counters, inapp_apps);
