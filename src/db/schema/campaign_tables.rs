// Email campaign tables (issue #12): campaigns, their recipients, the suppression list and
// the portal's email settings. Kept by hand in step with migration 000022.

diesel::table! {
    campaigns (id) {
        id -> Text,
        tenant_id -> Text,
        name -> Text,
        email_id -> Nullable<Text>,
        segment_id -> Nullable<Text>,
        from_name -> Text,
        from_email -> Nullable<Text>,
        reply_to -> Nullable<Text>,
        send_at -> Nullable<Timestamp>,
        status -> Text,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        started_at -> Nullable<Timestamp>,
        completed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    campaign_runs (campaign_id) {
        campaign_id -> Text,
        tenant_id -> Text,
        content -> Text,
        tracking -> Bool,
        materialised -> Bool,
        audience_after -> Nullable<Text>,
        skipped_no_email -> BigInt,
        duplicates -> BigInt,
        lease_owner -> Nullable<Text>,
        lease_until -> Nullable<Timestamp>,
        error -> Nullable<Text>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    campaign_recipients (campaign_id, email_lower) {
        tenant_id -> Text,
        campaign_id -> Text,
        email_lower -> Text,
        id -> Text,
        contact_id -> Nullable<Text>,
        email -> Text,
        status -> Text,
        attempts -> Integer,
        lease_owner -> Nullable<Text>,
        lease_until -> Nullable<Timestamp>,
        sent_at -> Nullable<Timestamp>,
        error -> Nullable<Text>,
        message_id -> Text,
        opened_at -> Nullable<Timestamp>,
        clicked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    email_suppressions (tenant_id, email_lower) {
        tenant_id -> Text,
        email_lower -> Text,
        email -> Text,
        reason -> Text,
        campaign_id -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    email_settings (tenant_id) {
        tenant_id -> Text,
        sending_rate_per_second -> Integer,
        tracking -> Bool,
        updated_at -> Timestamp,
    }
}
