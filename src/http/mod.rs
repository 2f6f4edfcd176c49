//! The HTTP API. Every route is registered here, in [`ROUTES`], so the whole API reads in
//! one screen; the same table feeds the OpenAPI completeness test.
//!
//! Handlers parse input, call the database through `Db` (never on the executor threads)
//! and map failures to [`AppError`]; they hold no business state of their own.

pub mod account;
pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod custom_fields;
pub mod custom_values;
pub mod exports;
pub mod extract;
pub mod health;
pub mod idempotency;
pub mod imports;
pub mod invitations;
pub mod me;
pub mod mfa;
pub mod middleware;
pub mod openapi;
pub mod pages;
pub mod paging;
pub mod pipelines;
pub mod principal;
pub mod rate_limit;
pub mod realtime;
pub mod records;
pub mod tags;
pub mod tenant;
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

/// Declares the route table: registers each path once with all its methods (anything else
/// on that path is a 405 naming the allowed methods) and records `(METHOD, path)` pairs.
macro_rules! routes {
    ($( $path:literal => { $( $method:ident : $handler:path ),+ $(,)? } ),* $(,)?) => {
        /// Every route the server answers, as `(method, path pattern)`.
        pub const ROUTES: &[(&str, &str)] = &[ $( $( (stringify!($method), $path), )+ )* ];

        fn register(cfg: &mut web::ServiceConfig) {
            $(
                cfg.service(
                    web::resource($path)
                        $( .route(web::$method().to($handler)) )+
                        .default_service(web::to(|| async {
                            let allow = [$( stringify!($method) ),+]
                                .iter()
                                .map(|m| m.to_ascii_uppercase())
                                .collect::<Vec<_>>()
                                .join(", ");
                            Err::<HttpResponse, _>(AppError::MethodNotAllowed { allow })
                        })),
                );
            )*
        }
    };
}

routes! {
    "/" => { get: pages::index },
    "/static/organizeo.css" => { get: pages::stylesheet },
    "/dashboard" => { get: pages::dashboard },
    "/static/dashboard.js" => { get: pages::dashboard_script },
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
    "/api/v1/tenant" => { get: tenant::get_tenant, patch: tenant::patch_tenant },
    "/api/v1/users" => { get: users::list, post: users::add },
    "/api/v1/users/{id}" => { patch: users::update, delete: users::remove },
    "/api/v1/invitations" => { get: invitations::list },
    "/api/v1/invitations/{id}" => { delete: invitations::revoke },
    "/api/v1/me/invitations" => { get: invitations::mine },
    "/api/v1/me/invitations/{id}/accept" => { post: invitations::accept },
    "/api/v1/me/invitations/{id}/decline" => { post: invitations::decline },
    "/api/v1/api-keys" => { get: api_keys::list, post: api_keys::create },
    "/api/v1/api-keys/{id}" => { delete: api_keys::delete },
    "/api/v1/api-keys/{id}/rotate" => { post: api_keys::rotate },
    "/api/v1/audit-log" => { get: audit::list },
    "/api/v1/realtime/ticket" => { post: realtime::ticket },
    "/api/v1/realtime" => { get: realtime::upgrade },
    "/api/v1/contacts/{id}/timeline" => { get: records::contacts::timeline },
    "/api/v1/contacts/batch" => { post: records::contacts::batch },
    "/api/v1/contacts/search" => { post: records::contacts::search },
    "/api/v1/contacts" => { get: records::contacts::list, post: records::contacts::create },
    "/api/v1/contacts/{id}" => {
        get: records::contacts::get,
        patch: records::contacts::update,
        delete: records::contacts::delete,
    },
    "/api/v1/custom-fields" => { get: custom_fields::list, post: custom_fields::create },
    "/api/v1/custom-fields/{id}" => {
        get: custom_fields::get,
        patch: custom_fields::update,
        delete: custom_fields::delete,
    },
    "/api/v1/tags" => { get: tags::list, post: tags::create },
    "/api/v1/tags/{id}" => { get: tags::get, patch: tags::update, delete: tags::delete },
    "/api/v1/custom-values" => { get: custom_values::list, post: custom_values::create },
    "/api/v1/custom-values/{id}" => { get: custom_values::get, patch: custom_values::update, delete: custom_values::delete },
    "/api/v1/imports" => { post: imports::create },
    "/api/v1/imports/{id}" => { get: imports::get },
    "/api/v1/imports/{id}/errors.csv" => { get: imports::errors_csv },
    "/api/v1/exports/{file}" => { get: exports::export },
    "/api/v1/trash" => { get: trash::list },
    "/api/v1/trash/{type}/{id}/restore" => { post: trash::restore },
    "/api/v1/pipelines" => { get: pipelines::list, post: pipelines::create },
    "/api/v1/pipelines/{id}" => { get: pipelines::get, patch: pipelines::update, delete: pipelines::delete },
    "/api/v1/companies/{id}/timeline" => { get: records::companies::timeline },
    "/api/v1/companies/batch" => { post: records::companies::batch },
    "/api/v1/companies/search" => { post: records::companies::search },
    "/api/v1/companies" => { get: records::companies::list, post: records::companies::create },
    "/api/v1/companies/{id}" => {
        get: records::companies::get,
        patch: records::companies::update,
        delete: records::companies::delete,
    },
    "/api/v1/deals/{id}/timeline" => { get: records::deals::timeline },
    "/api/v1/deals/batch" => { post: records::deals::batch },
    "/api/v1/deals/search" => { post: records::deals::search },
    "/api/v1/deals" => { get: records::deals::list, post: records::deals::create },
    "/api/v1/deals/{id}" => { get: records::deals::get, patch: records::deals::update, delete: records::deals::delete },
    "/api/v1/tickets/{id}/timeline" => { get: records::tickets::timeline },
    "/api/v1/tickets/batch" => { post: records::tickets::batch },
    "/api/v1/tickets/search" => { post: records::tickets::search },
    "/api/v1/tickets" => { get: records::tickets::list, post: records::tickets::create },
    "/api/v1/tickets/{id}" => { get: records::tickets::get, patch: records::tickets::update, delete: records::tickets::delete },
    "/api/v1/tasks/{id}/timeline" => { get: records::tasks::timeline },
    "/api/v1/tasks/batch" => { post: records::tasks::batch },
    "/api/v1/tasks/search" => { post: records::tasks::search },
    "/api/v1/tasks" => { get: records::tasks::list, post: records::tasks::create },
    "/api/v1/tasks/{id}" => { get: records::tasks::get, patch: records::tasks::update, delete: records::tasks::delete },
    "/api/v1/notes/{id}/timeline" => { get: records::notes::timeline },
    "/api/v1/notes/batch" => { post: records::notes::batch },
    "/api/v1/notes/search" => { post: records::notes::search },
    "/api/v1/notes" => { get: records::notes::list, post: records::notes::create },
    "/api/v1/notes/{id}" => { get: records::notes::get, patch: records::notes::update, delete: records::notes::delete },
}

/// Mounts every route, plus a problem+json 404 for anything else.
pub fn configure(cfg: &mut web::ServiceConfig) {
    register(cfg);
    cfg.default_service(web::to(unknown_route));
}

async fn unknown_route(req: HttpRequest) -> Result<HttpResponse, AppError> {
    Err(AppError::NotFound { detail: format!("no route for {} {}", req.method(), req.path()) })
}
