//! The OpenAPI 3 description of the API, generated from the handlers' annotations and
//! served at `GET /api/v1/openapi.json`. A test fails when a route in `http::ROUTES` is
//! missing here, and schemathesis (`tools/schemathesis/`, run by `.ci/run`) fails CI when
//! the server gives an answer this document does not describe.
//!
//! Annotations say what is particular to an operation; [`SharedAnswers`] adds what follows
//! from the request path every operation goes through (middleware and extractors), so no
//! annotation has to repeat it and none can forget it.

use actix_web::HttpResponse;
use utoipa::OpenApi;

use crate::error::AppError;

use super::records::{companies, contacts, deals, notes, tasks, tickets};
use super::{
    account, api_keys, audit, auth, campaign_actions, campaign_recipients, campaigns, custom_fields, custom_values,
    emails, erasure, exports, features, health, imports, inapp, inbox, invitations, me, mfa, notifications, pages,
    pipelines, realtime, segments, staff, staff_access, suppressions, tags, tenant, tenant_exports, tracking, trash,
    users,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Organizeo API",
        description = "Multi-tenant CRM, messaging, campaigns and live dashboards. \
            Errors are RFC 9457 application/problem+json with a stable `code`.",
    ),
    paths(
        pages::index,
        pages::stylesheet,
        pages::dashboard,
        pages::dashboard_script,
        pages::widget_script,
        health::healthz,
        health::readyz,
        health::metrics,
        spec,
        auth::signup,
        auth::login,
        auth::logout,
        auth::mfa_login,
        me::me,
        me::list_tenants,
        me::create_tenant,
        account::change_password,
        account::list_sessions,
        account::revoke_session,
        mfa::enrol,
        mfa::confirm,
        mfa::disable,
        tenant::get_tenant,
        tenant::patch_tenant,
        users::list,
        users::add,
        users::update,
        invitations::list,
        invitations::revoke,
        invitations::mine,
        invitations::accept,
        invitations::decline,
        users::remove,
        api_keys::list,
        api_keys::create,
        api_keys::rotate,
        api_keys::delete,
        audit::list,
        realtime::ticket,
        realtime::upgrade,
        contacts::list,
        contacts::search,
        contacts::batch,
        contacts::timeline,
        contacts::create,
        contacts::get,
        contacts::update,
        contacts::delete,
        companies::list,
        companies::search,
        companies::batch,
        companies::timeline,
        companies::create,
        companies::get,
        companies::update,
        companies::delete,
        deals::list,
        deals::search,
        deals::batch,
        deals::timeline,
        deals::create,
        deals::get,
        deals::update,
        deals::delete,
        tickets::list,
        tickets::search,
        tickets::batch,
        tickets::timeline,
        tickets::create,
        tickets::get,
        tickets::update,
        tickets::delete,
        tasks::list,
        tasks::search,
        tasks::batch,
        tasks::timeline,
        tasks::create,
        tasks::get,
        tasks::update,
        tasks::delete,
        notes::list,
        notes::search,
        notes::batch,
        notes::timeline,
        notes::create,
        notes::get,
        notes::update,
        notes::delete,
        pipelines::list,
        pipelines::create,
        pipelines::get,
        pipelines::update,
        pipelines::delete,
        imports::create,
        imports::get,
        imports::errors_csv,
        exports::export,
        tags::list,
        tags::create,
        tags::get,
        tags::update,
        tags::delete,
        custom_values::list,
        custom_values::create,
        custom_values::get,
        custom_values::update,
        custom_values::delete,
        custom_fields::list,
        custom_fields::create,
        custom_fields::get,
        custom_fields::update,
        custom_fields::delete,
        erasure::erase,
        emails::list,
        emails::create,
        emails::get,
        emails::update,
        emails::delete,
        emails::revisions,
        emails::revision,
        emails::restore,
        segments::list,
        segments::create,
        segments::get,
        segments::update,
        segments::delete,
        segments::contacts,
        tenant_exports::create,
        tenant_exports::get,
        tenant_exports::download,
        trash::list,
        trash::restore,
        staff::login,
        staff::enrol,
        staff::confirm,
        staff::mfa,
        staff::logout,
        staff::me,
        staff::audit_log,
        staff::request_jita,
        staff_access::list,
        staff_access::approve,
        staff_access::revoke,
        features::list,
        features::opt_in,
        features::opt_out,
        features::staff_list,
        features::staff_create,
        features::staff_patch,
        notifications::list,
        notifications::counts,
        notifications::seen_all,
        notifications::read_all,
        notifications::archive_all,
        notifications::read,
        notifications::archive,
        notifications::seen,
        notifications::unread,
        notifications::unarchive,
        inapp::get_settings,
        inapp::patch_settings,
        inapp::rotate_secret,
        inapp::send_message,
        inapp::list_messages,
        inapp::get_message,
        inbox::list,
        inbox::counts,
        inbox::seen,
        inbox::read,
        inbox::unread,
        inbox::archive,
        inbox::unarchive,
        inbox::read_all,
        inbox::archive_all,
        inbox::ticket,
        inbox::upgrade,
        campaigns::list,
        campaigns::create,
        campaigns::get,
        campaigns::update,
        campaigns::delete,
        campaign_recipients::recipients,
        campaign_actions::preview,
        campaign_actions::test,
        campaign_actions::send,
        campaign_actions::pause,
        campaign_actions::resume,
        campaign_actions::cancel,
        suppressions::list,
        suppressions::create,
        suppressions::delete,
        suppressions::email_event,
        tracking::unsubscribe_page,
        tracking::unsubscribe,
        tracking::open,
        tracking::click,
    ),
    components(schemas(crate::error::Problem, crate::error::FieldError)),
    modifiers(&BearerAuth, &SharedAnswers, &CreatedLinks),
    tags(
        (name = "auth", description = "Sign-up, sign-in, sessions"),
        (name = "tenant", description = "Portal settings"),
        (name = "inapp", description = "In-app messages a portal sends to its own end users"),
        (name = "inbox", description = "An end user's in-app inbox (the widget's API; identity by HMAC headers, CORS for the portal's allowed origins)"),
        (name = "mfa", description = "Two-factor authentication (TOTP) and recovery codes"),
        (name = "users", description = "A portal's people and their roles: owner, admin, member, viewer"),
        (name = "api-keys", description = "Private app keys. Scopes are RESOURCE:read or RESOURCE:write \
            (write includes read) for RESOURCE in contacts, companies, deals, tickets, tasks, notes, pipelines, \
            tags, custom_fields, custom_values, imports, exports, realtime, audit_log, campaigns (emails, segments, \
            campaigns), and contacts:erase \
            (erasure on request; no other scope includes it). A key never manages users, keys, settings or 2FA."),
        (name = "audit", description = "The portal's append-only, hash-chained audit log"),
        (name = "contacts", description = "Contacts: email (unique per portal, case-insensitive), first_name, \
            last_name, phone, company_ids, tags, custom_fields. At least one of email, first_name, last_name."),
        (name = "companies", description = "Companies: name (required), domain, phone, tags, custom_fields."),
        (name = "deals", description = "Deals: name (required), amount (exact decimal, returned as a string), \
            currency (ISO 4217), pipeline_id, stage_id, status (open|won|lost), close_date, contact_ids, company_ids."),
        (name = "tickets", description = "Tickets: subject (required), description, status (open|pending|closed), \
            priority (low|normal|high|urgent), contact_ids, company_ids."),
        (name = "tasks", description = "Tasks: title (required), due_at, completed, assignee_id, contact_ids, \
            company_ids, deal_ids, ticket_ids."),
        (name = "notes", description = "Notes: body (required), contact_ids, company_ids, deal_ids, ticket_ids."),
        (name = "pipelines", description = "Deal pipelines with ordered stages"),
        (name = "custom-fields", description = "Custom field definitions; values are validated on every write"),
        (name = "tags", description = "Tags by name; deleting one hides it from its records until restored"),
        (name = "custom-values", description = "Tenant-wide {key, value} merge values for templates"),
        (name = "imports", description = "CSV import jobs and streaming CSV exports (owners/admins or imports/exports scopes)"),
        (name = "emails", description = "Email content with merge tags (minijinja: contact.*, \
            contact.custom_fields.*, custom_values.*, tenant.name, unsubscribe_url; HTML autoescaped) and its \
            version history: every change of content is an immutable revision; restoring one makes a new \
            revision. Deleted emails go to the trash with their history. Scope campaigns:read / campaigns:write; \
            viewers read only. Behind the `campaigns` feature flag."),
        (name = "segments", description = "Saved contact searches (the filter groups of POST \
            /api/v1/contacts/search) with their exact member count and members. Scope campaigns:read / \
            campaigns:write (members also need contacts:read). Behind the `campaigns` feature flag."),
        (name = "trash", description = "Deleted items, restorable whole for 30 days, then purged"),
        (name = "staff", description = "Platform staff (not portal users): sign-in with mandatory TOTP, `ozst_` \
            tokens that only staff routes accept, the platform audit trail, Portal JITA requests"),
        (name = "staff-access", description = "Portal JITA as the portal sees it: platform staff enter one portal \
            for a reason and at most 24 hours, under the portal's `staff_access` rule (allowed, approval_required, \
            denied). Under a grant, routes of high risk (people, keys, security settings, imports, exports, \
            deleting contacts, companies, deals and tickets) answer 403 `jita_forbidden`; every request is \
            audited with the grant id."),
        (name = "features", description = "Feature flags by stage (off, private_beta, public_beta, ga) as this \
            portal sees them; owners and admins opt in to public betas. A route of a feature that is off \
            answers 403 `feature_not_enabled` with `feature`; a websocket topic refuses its subscription and \
            ends it when the feature turns off."),
        (name = "notifications", description = "The signed-in person's notification inbox (announcements today), \
            newest first with cursor pages and exact counts; live on the `notifications` topic."),
        (name = "campaigns", description = "Email campaigns: a draft names an email, a segment and a sender; \
            `send` freezes the email's content and sends to the segment's members with an email (deduplicated \
            case-insensitively, suppressed addresses skipped) through the server's SMTP relay, paced by the \
            portal's `sending_rate_per_second`. Status draft → scheduled → sending ⇄ paused → completed, or \
            cancelled / failed; an action not allowed from the current status is 409 `campaign_status`. Reading \
            needs `campaigns:read`; drafting any member role or `campaigns:write`; sending, pausing, resuming, \
            cancelling, test sends and the suppression list need the owner or admin role or `campaigns:write`. \
            Live on the `campaigns` websocket topic: `campaign.status_changed` and `campaign.progress` \
            (`{id, status, stats}`, at most twice a second per campaign)."),
        (name = "tracking", description = "Public endpoints reached from a message, authenticated by the signed \
            token in the path: the unsubscribe page (GET changes nothing) and one-click unsubscribe (POST, RFC \
            8058), the open pixel and tracked links (302 to the signed original only; a tampered token is 404)."),
        (name = "operations", description = "Health, readiness, metrics, this spec"),
    )
)]
pub struct ApiDoc;

mod modifiers;
use modifiers::{BearerAuth, CreatedLinks, SharedAnswers};

/// The document as served.
pub fn document() -> Result<serde_json::Value, AppError> {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).map_err(AppError::internal)?;
    camel_case_links(&mut doc);
    Ok(doc)
}

/// utoipa 5 writes a Link's fields as `operation_id`, `operation_ref` and `request_body`;
/// OpenAPI (and every tool reading it) spells them in camel case.
fn camel_case_links(doc: &mut serde_json::Value) {
    let Some(paths) = doc.get_mut("paths").and_then(serde_json::Value::as_object_mut) else { return };
    let responses = paths
        .values_mut()
        .filter_map(serde_json::Value::as_object_mut)
        .flat_map(|item| item.values_mut())
        .filter_map(|op| op.get_mut("responses").and_then(serde_json::Value::as_object_mut))
        .flat_map(|responses| responses.values_mut());
    for response in responses {
        let Some(links) = response.get_mut("links").and_then(serde_json::Value::as_object_mut) else { continue };
        for link in links.values_mut().filter_map(serde_json::Value::as_object_mut) {
            for (snake, camel) in
                [("operation_id", "operationId"), ("operation_ref", "operationRef"), ("request_body", "requestBody")]
            {
                if let Some(value) = link.remove(snake) {
                    link.insert(camel.to_string(), value);
                }
            }
        }
    }
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "operations",
    responses((status = 200, description = "OpenAPI 3 document", content_type = "application/json")))]
pub async fn spec() -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(document()?))
}
