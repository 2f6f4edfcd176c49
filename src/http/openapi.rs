//! The OpenAPI 3 description of the API, generated from the handlers' annotations and
//! served at `GET /api/v1/openapi.json`. A test fails when a route in `http::ROUTES` is
//! missing here.

use actix_web::HttpResponse;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::records::{companies, contacts, deals, notes, tasks, tickets};
use super::{
    account, api_keys, audit, auth, custom_fields, custom_values, exports, health, imports, invitations, me, mfa,
    pages, pipelines, realtime, tags, tenant, trash, users,
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
        trash::list,
        trash::restore,
    ),
    components(schemas(crate::error::Problem, crate::error::FieldError)),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Sign-up, sign-in, sessions"),
        (name = "tenant", description = "Portal settings"),
        (name = "mfa", description = "Two-factor authentication (TOTP) and recovery codes"),
        (name = "users", description = "A portal's people and their roles: owner, admin, member, viewer"),
        (name = "api-keys", description = "Private app keys. Scopes are RESOURCE:read or RESOURCE:write \
            (write includes read) for RESOURCE in contacts, companies, deals, tickets, tasks, notes, pipelines, \
            tags, custom_fields, custom_values, imports, exports, realtime, audit_log. A key never manages \
            users, keys, settings or 2FA."),
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
        (name = "trash", description = "Deleted items, restorable whole for 30 days, then purged"),
        (name = "operations", description = "Health, readiness, metrics, this spec"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "operations",
    responses((status = 200, description = "OpenAPI 3 document", content_type = "application/json")))]
pub async fn spec() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
