//! The HTTP API. Every route is registered here, in [`ROUTES`], so the whole API reads in
//! one screen; the same table feeds the OpenAPI completeness test.
//!
//! Handlers parse input, call the database through `Db` (never on the executor threads)
//! and map failures to [`AppError`]; they hold no business state of their own.

pub mod account;
pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod campaign_actions;
pub mod campaign_recipients;
pub mod campaigns;
pub mod custom_fields;
pub mod custom_values;
pub mod emails;
pub mod erasure;
pub mod exports;
pub mod extract;
pub mod features;
pub mod health;
pub mod idempotency;
pub mod imports;
pub mod imports_read;
pub mod inapp;
pub mod inbox;
pub mod invitations;
pub mod me;
pub mod mfa;
pub mod middleware;
pub mod notifications;
pub mod openapi;
pub mod pages;
pub mod paging;
pub mod pipelines;
pub mod principal;
pub mod rate_limit;
pub mod realtime;
pub mod records;
pub mod segments;
pub mod staff;
pub mod staff_access;
pub mod suppressions;
pub mod tags;
pub mod tenant;
pub mod tenant_exports;
pub mod tracking;
pub mod trash;
pub mod users;

use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};

use crate::clock::Clock;
use crate::config::Settings;
use crate::db::Db;
use crate::error::AppError;
use crate::metrics::Metrics;
use crate::security::crypto::Keyring;

/// What every handler can reach.
pub struct AppState {
    pub db: Db,
    pub clock: Clock,
    pub settings: Arc<Settings>,
    pub metrics: Metrics,
    /// Field encryption keys (TOTP secrets, later other fields).
    pub keyring: Keyring,
    /// Websocket sessions and tenant actors.
    pub realtime: crate::realtime::Realtime,
    /// Rate limits and the abuse detector of this node.
    pub guard: std::sync::Arc<rate_limit::Guard>,
    /// Campaign sending on this node (the SMTP pool, the public URL, leases).
    pub campaigns: Arc<crate::campaigns::Engine>,
    /// Wakes this node's in-app fan-out worker when a message is sent here.
    pub inapp_wake: Arc<tokio::sync::Notify>,
    /// Per-end-user rate limit of the inbox API.
    pub inbox_limits: Arc<governor::DefaultKeyedRateLimiter<String>>,
    /// How the web app's cookies and origin check see this server.
    pub web: crate::web::Config,
}

impl AppState {
    /// What the sign-in use cases need, at this moment.
    pub fn login_context(&self) -> crate::identity::login::Context<'_> {
        crate::identity::login::Context {
            db: &self.db,
            keyring: &self.keyring,
            session_ttl: self.settings.session_ttl,
            now: self.clock.now(),
        }
    }
}

/// How a route may be used under a Portal JITA grant (a staff member inside a portal).
/// A route with no class is refused under JITA, like a high-risk one: fail closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Risk {
    /// Reading and everyday edits: allowed under JITA, every request audited.
    Standard,
    /// Security settings, people, keys, imports, exports, deleting contacts, companies,
    /// deals and tickets, settings-like deletes: refused under JITA (403 `jita_forbidden`).
    High,
}

macro_rules! risk_class {
    () => {
        None
    };
    (std) => {
        Some(Risk::Standard)
    };
    (high) => {
        Some(Risk::High)
    };
}

/// Declares the route table: registers each path once with all its methods (anything else
/// on that path is a 405 naming the allowed methods) and records `(METHOD, path)` pairs,
/// and each method's JITA risk class (`get(std)`, `delete(high)`; none = refused).
macro_rules! routes {
    ($( $path:literal => { $( $method:ident $( ( $class:ident ) )? : $handler:path ),+ $(,)? } ),* $(,)?) => {
        /// Every route the server answers, as `(method, path pattern)`.
        pub const ROUTES: &[(&str, &str)] = &[ $( $( (stringify!($method), $path), )+ )* ];

        /// Every route with its risk class under Portal JITA.
        pub const ROUTE_RISK: &[(&str, &str, Option<Risk>)] =
            &[ $( $( (stringify!($method), $path, risk_class!($($class)?)), )+ )* ];

        fn register(cfg: &mut web::ServiceConfig) {
            let mut api = ApiScopes::default();
            $(
                let (group, rest) = api_group($path);
                let resource = web::resource(rest)
                    $( .route(web::$method().to($handler)) )+
                    .default_service(web::to(|| async {
                        let allow = [$( stringify!($method) ),+]
                            .iter()
                            .map(|m| m.to_ascii_uppercase())
                            .collect::<Vec<_>>()
                            .join(", ");
                        Err::<HttpResponse, _>(AppError::MethodNotAllowed { allow })
                    }));
                match group {
                    Some(group) => api.add(group, resource),
                    None => {
                        cfg.service(resource);
                    }
                }
            )*
            cfg.service(api.into_scope());
        }
    };
}

/// Where the API's routes are mounted.
const API_PREFIX: &str = "/api/v1";

/// `/api/v1/contacts/{id}` → (`Some("/contacts")`, `"/{id}"`); a path outside the API, or
/// whose resource segment is not a literal, is registered as it is (`None`).
fn api_group(path: &'static str) -> (Option<&'static str>, &'static str) {
    let Some(rest) = path.strip_prefix(API_PREFIX).filter(|r| r.starts_with('/')) else { return (None, path) };
    let end = rest.get(1..).and_then(|r| r.find('/')).map_or(rest.len(), |i| i + 1);
    let (group, tail) = rest.split_at(end);
    if group.contains('{') {
        return (None, path);
    }
    (Some(group), tail)
}

/// The API's resources grouped in one scope per resource segment under one `/api/v1`
/// scope. actix's router tries a level's entries in order and each dynamic pattern costs a
/// regex match, so a flat table of ~150 routes made every request (and every
/// `match_pattern()` of the middleware) run dozens of them; two static prefix checks now
/// pick the group and only its few patterns are tried. Patterns, order within a group and
/// answers are unchanged (`match_pattern()` still gives the whole pattern).
#[derive(Default)]
struct ApiScopes(Vec<(&'static str, Option<actix_web::Scope>)>);

impl ApiScopes {
    fn add(&mut self, group: &'static str, resource: actix_web::Resource) {
        match self.0.iter_mut().find(|(g, _)| *g == group) {
            Some((_, slot)) => *slot = slot.take().map(|scope| scope.service(resource)),
            None => self.0.push((group, Some(web::scope(group).service(resource)))),
        }
    }

    fn into_scope(self) -> actix_web::Scope {
        self.0.into_iter().filter_map(|(_, s)| s).fold(web::scope(API_PREFIX), |api, s| api.service(s))
    }
}

/// The JITA risk class of `method` (lower case) on the route `pattern`; `None` when the
/// route has none (refused under JITA) or is unknown.
pub fn risk_of(method: &str, pattern: &str) -> Option<Risk> {
    ROUTE_RISK.iter().find(|(m, p, _)| *m == method && *p == pattern).and_then(|(_, _, r)| *r)
}

routes! {
    "/" => { get: pages::index },
    "/static/organizeo.css" => { get: pages::stylesheet },
    "/dashboard" => { get: pages::dashboard },
    "/static/dashboard.js" => { get: pages::dashboard_script },
    "/static/widget.js" => { get: pages::widget_script },
    "/healthz" => { get: health::healthz },
    "/readyz" => { get: health::readyz },
    "/metrics" => { get: health::metrics },
    "/api/v1/openapi.json" => { get: openapi::spec },
    "/api/v1/signup" => { post: auth::signup },
    "/api/v1/auth/login" => { post: auth::login },
    "/api/v1/auth/logout" => { post: auth::logout },
    "/api/v1/auth/mfa" => { post: auth::mfa_login },
    "/api/v1/me" => { get: me::me },
    "/api/v1/me/tenants" => { get: me::list_tenants, post: me::create_tenant },
    "/api/v1/me/password" => { post: account::change_password },
    "/api/v1/me/sessions" => { get: account::list_sessions },
    "/api/v1/me/sessions/{id}" => { delete: account::revoke_session },
    "/api/v1/me/mfa/totp" => { post: mfa::enrol, delete: mfa::disable },
    "/api/v1/me/mfa/totp/confirm" => { post: mfa::confirm },
    "/api/v1/tenant" => { get(std): tenant::get_tenant, patch(high): tenant::patch_tenant },
    "/api/v1/tenant/export" => { post(high): tenant_exports::create },
    "/api/v1/tenant/exports/{id}" => { get(high): tenant_exports::get },
    "/api/v1/tenant/exports/{id}/download" => { get(high): tenant_exports::download },
    "/api/v1/users" => { get(high): users::list, post(high): users::add },
    "/api/v1/users/{id}" => { patch(high): users::update, delete(high): users::remove },
    "/api/v1/invitations" => { get(high): invitations::list },
    "/api/v1/invitations/{id}" => { delete(high): invitations::revoke },
    "/api/v1/me/invitations" => { get: invitations::mine },
    "/api/v1/me/invitations/{id}/accept" => { post: invitations::accept },
    "/api/v1/me/invitations/{id}/decline" => { post: invitations::decline },
    "/api/v1/api-keys" => { get(high): api_keys::list, post(high): api_keys::create },
    "/api/v1/api-keys/{id}" => { delete(high): api_keys::delete },
    "/api/v1/api-keys/{id}/rotate" => { post(high): api_keys::rotate },
    "/api/v1/audit-log" => { get(std): audit::list },
    "/api/v1/realtime/ticket" => { post(std): realtime::ticket },
    "/api/v1/realtime" => { get: realtime::upgrade },
    "/api/v1/contacts/{id}/timeline" => { get(std): records::contacts::timeline },
    "/api/v1/contacts/{id}/erase" => { post(high): erasure::erase },
    "/api/v1/contacts/batch" => { post(std): records::contacts::batch },
    "/api/v1/contacts/search" => { post(std): records::contacts::search },
    "/api/v1/contacts" => { get(std): records::contacts::list, post(std): records::contacts::create },
    "/api/v1/contacts/{id}" => {
        get(std): records::contacts::get,
        patch(std): records::contacts::update,
        delete(high): records::contacts::delete,
    },
    "/api/v1/custom-fields" => { get(std): custom_fields::list, post(std): custom_fields::create },
    "/api/v1/custom-fields/{id}" => {
        get(std): custom_fields::get,
        patch(std): custom_fields::update,
        delete(high): custom_fields::delete,
    },
    "/api/v1/tags" => { get(std): tags::list, post(std): tags::create },
    "/api/v1/tags/{id}" => { get(std): tags::get, patch(std): tags::update, delete(high): tags::delete },
    "/api/v1/custom-values" => { get(std): custom_values::list, post(std): custom_values::create },
    "/api/v1/custom-values/{id}" => { get(std): custom_values::get, patch(std): custom_values::update, delete(high): custom_values::delete },
    "/api/v1/imports" => { post(high): imports::create },
    "/api/v1/imports/{id}" => { get(high): imports::get },
    "/api/v1/imports/{id}/errors.csv" => { get(high): imports::errors_csv },
    "/api/v1/exports/{file}" => { get(high): exports::export },
    "/api/v1/trash" => { get(std): trash::list },
    "/api/v1/trash/{type}/{id}/restore" => { post(std): trash::restore },
    "/api/v1/pipelines" => { get(std): pipelines::list, post(std): pipelines::create },
    "/api/v1/pipelines/{id}" => { get(std): pipelines::get, patch(std): pipelines::update, delete(high): pipelines::delete },
    "/api/v1/emails" => { get(std): emails::list, post(std): emails::create },
    "/api/v1/emails/{id}" => { get(std): emails::get, patch(std): emails::update, delete(high): emails::delete },
    "/api/v1/emails/{id}/revisions" => { get(std): emails::revisions },
    "/api/v1/emails/{id}/revisions/{n}" => { get(std): emails::revision },
    "/api/v1/emails/{id}/revisions/{n}/restore" => { post(std): emails::restore },
    "/api/v1/segments" => { get(std): segments::list, post(std): segments::create },
    "/api/v1/segments/{id}" => { get(std): segments::get, patch(std): segments::update, delete(high): segments::delete },
    "/api/v1/segments/{id}/contacts" => { get(std): segments::contacts },
    "/api/v1/companies/{id}/timeline" => { get(std): records::companies::timeline },
    "/api/v1/companies/batch" => { post(std): records::companies::batch },
    "/api/v1/companies/search" => { post(std): records::companies::search },
    "/api/v1/companies" => { get(std): records::companies::list, post(std): records::companies::create },
    "/api/v1/companies/{id}" => {
        get(std): records::companies::get,
        patch(std): records::companies::update,
        delete(high): records::companies::delete,
    },
    "/api/v1/deals/{id}/timeline" => { get(std): records::deals::timeline },
    "/api/v1/deals/batch" => { post(std): records::deals::batch },
    "/api/v1/deals/search" => { post(std): records::deals::search },
    "/api/v1/deals" => { get(std): records::deals::list, post(std): records::deals::create },
    "/api/v1/deals/{id}" => { get(std): records::deals::get, patch(std): records::deals::update, delete(high): records::deals::delete },
    "/api/v1/tickets/{id}/timeline" => { get(std): records::tickets::timeline },
    "/api/v1/tickets/batch" => { post(std): records::tickets::batch },
    "/api/v1/tickets/search" => { post(std): records::tickets::search },
    "/api/v1/tickets" => { get(std): records::tickets::list, post(std): records::tickets::create },
    "/api/v1/tickets/{id}" => { get(std): records::tickets::get, patch(std): records::tickets::update, delete(high): records::tickets::delete },
    "/api/v1/tasks/{id}/timeline" => { get(std): records::tasks::timeline },
    "/api/v1/tasks/batch" => { post(std): records::tasks::batch },
    "/api/v1/tasks/search" => { post(std): records::tasks::search },
    "/api/v1/tasks" => { get(std): records::tasks::list, post(std): records::tasks::create },
    "/api/v1/tasks/{id}" => { get(std): records::tasks::get, patch(std): records::tasks::update, delete(std): records::tasks::delete },
    "/api/v1/notes/{id}/timeline" => { get(std): records::notes::timeline },
    "/api/v1/notes/batch" => { post(std): records::notes::batch },
    "/api/v1/notes/search" => { post(std): records::notes::search },
    "/api/v1/notes" => { get(std): records::notes::list, post(std): records::notes::create },
    "/api/v1/notes/{id}" => { get(std): records::notes::get, patch(std): records::notes::update, delete(std): records::notes::delete },
    "/api/v1/staff/login" => { post: staff::login },
    "/api/v1/staff/mfa/totp" => { post: staff::enrol },
    "/api/v1/staff/mfa/totp/confirm" => { post: staff::confirm },
    "/api/v1/staff/mfa" => { post: staff::mfa },
    "/api/v1/staff/logout" => { post: staff::logout },
    "/api/v1/staff/me" => { get: staff::me },
    "/api/v1/staff/audit-log" => { get: staff::audit_log },
    "/api/v1/staff/jita" => { post: staff::request_jita },
    "/api/v1/staff/flags" => { get: features::staff_list, post: features::staff_create },
    "/api/v1/staff/flags/{key}" => { patch: features::staff_patch },
    "/api/v1/features" => { get(std): features::list },
    "/api/v1/features/{key}/opt-in" => { post: features::opt_in },
    "/api/v1/features/{key}/opt-out" => { post: features::opt_out },
    "/api/v1/me/notifications" => { get: notifications::list },
    "/api/v1/me/notifications/counts" => { get: notifications::counts },
    "/api/v1/me/notifications/seen" => { post: notifications::seen_all },
    "/api/v1/me/notifications/read-all" => { post: notifications::read_all },
    "/api/v1/me/notifications/archive-all" => { post: notifications::archive_all },
    "/api/v1/me/notifications/{id}/read" => { post: notifications::read },
    "/api/v1/me/notifications/{id}/archive" => { post: notifications::archive },
    "/api/v1/me/notifications/{id}/seen" => { post: notifications::seen },
    "/api/v1/me/notifications/{id}/unread" => { post: notifications::unread },
    "/api/v1/me/notifications/{id}/unarchive" => { post: notifications::unarchive },
    "/api/v1/campaigns" => { get(std): campaigns::list, post(std): campaigns::create },
    "/api/v1/campaigns/{id}" => { get(std): campaigns::get, patch(std): campaigns::update, delete(high): campaigns::delete },
    "/api/v1/campaigns/{id}/recipients" => { get(std): campaign_recipients::recipients },
    "/api/v1/campaigns/{id}/preview" => { get(std): campaign_actions::preview },
    "/api/v1/campaigns/{id}/test" => { post(high): campaign_actions::test },
    "/api/v1/campaigns/{id}/send" => { post(high): campaign_actions::send },
    "/api/v1/campaigns/{id}/pause" => { post(high): campaign_actions::pause },
    "/api/v1/campaigns/{id}/resume" => { post(high): campaign_actions::resume },
    "/api/v1/campaigns/{id}/cancel" => { post(high): campaign_actions::cancel },
    "/api/v1/suppressions" => { get(std): suppressions::list, post(high): suppressions::create },
    "/api/v1/suppressions/{email}" => { delete(high): suppressions::delete },
    "/api/v1/email-events" => { post(high): suppressions::email_event },
    "/u/{token}" => { get: tracking::unsubscribe_page, post: tracking::unsubscribe },
    "/t/o/{token}" => { get: tracking::open },
    "/t/c/{token}" => { get: tracking::click },
    "/api/v1/inapp/settings" => { get(std): inapp::get_settings, patch(high): inapp::patch_settings },
    "/api/v1/inapp/settings/rotate-secret" => { post(high): inapp::rotate_secret },
    "/api/v1/inapp/messages" => { get(std): inapp::list_messages, post(std): inapp::send_message },
    "/api/v1/inapp/messages/{id}" => { get(std): inapp::get_message },
    "/api/v1/inbox" => { get: inbox::list },
    "/api/v1/inbox/counts" => { get: inbox::counts },
    "/api/v1/inbox/read-all" => { post: inbox::read_all },
    "/api/v1/inbox/archive-all" => { post: inbox::archive_all },
    "/api/v1/inbox/ticket" => { post: inbox::ticket },
    "/api/v1/inbox/ws" => { get: inbox::upgrade },
    "/api/v1/inbox/{id}/seen" => { post: inbox::seen },
    "/api/v1/inbox/{id}/read" => { post: inbox::read },
    "/api/v1/inbox/{id}/unread" => { post: inbox::unread },
    "/api/v1/inbox/{id}/archive" => { post: inbox::archive },
    "/api/v1/inbox/{id}/unarchive" => { post: inbox::unarchive },
    "/api/v1/staff-access" => { get: staff_access::list },
    "/api/v1/staff-access/{id}" => { delete: staff_access::revoke },
    "/api/v1/staff-access/{id}/approve" => { post: staff_access::approve },
}

/// Mounts every route, the web app's pages under `/app` (`crate::web::PAGES`: HTML for
/// people, not part of this API or its OpenAPI document), plus a problem+json 404 for
/// anything else.
pub fn configure(cfg: &mut web::ServiceConfig) {
    register(cfg);
    crate::web::configure(cfg);
    cfg.default_service(web::to(unknown_route));
}

async fn unknown_route(req: HttpRequest) -> Result<HttpResponse, AppError> {
    Err(AppError::NotFound { detail: format!("no route for {} {}", req.method(), req.path()) })
}

#[cfg(test)]
mod tests {
    use super::api_group;

    #[test]
    fn api_routes_are_grouped_by_their_resource_segment() {
        assert_eq!(api_group("/api/v1/contacts/{id}"), (Some("/contacts"), "/{id}"));
        assert_eq!(api_group("/api/v1/contacts"), (Some("/contacts"), ""));
        assert_eq!(api_group("/api/v1/me/mfa/totp"), (Some("/me"), "/mfa/totp"));
        assert_eq!(api_group("/api/v1/openapi.json"), (Some("/openapi.json"), ""));
        // Outside the API, or a dynamic first segment: registered as they are.
        assert_eq!(api_group("/u/{token}"), (None, "/u/{token}"));
        assert_eq!(api_group("/api/v1x/a"), (None, "/api/v1x/a"));
        assert_eq!(api_group("/api/v1/{object}/x"), (None, "/api/v1/{object}/x"));
    }

    #[test]
    fn every_api_route_lands_in_a_group() {
        // A route left flat would be tried before the API scope on every request.
        for (_, path) in super::ROUTES {
            if path.starts_with("/api/v1/") {
                assert!(api_group(path).0.is_some(), "{path} is not grouped");
            }
        }
    }
}
