// Content with version history (migration 000021): the revision store shared by every
// kind of content, emails, and segments (saved contact searches).

diesel::table! {
    content_revisions (tenant_id, kind, entity_id, revision) {
        tenant_id -> Text,
        kind -> Text,
        entity_id -> Text,
        revision -> Integer,
        snapshot -> Text,
        author -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    emails (id) {
        id -> Text,
        tenant_id -> Text,
        name -> Text,
        subject -> Text,
        preheader -> Text,
        html -> Text,
        text -> Text,
        revision -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    segments (id) {
        id -> Text,
        tenant_id -> Text,
        name -> Text,
        filter_groups -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(content_revisions, emails, segments);
