//! The web app for people, under `/app/`: server-rendered pages (minijinja, autoescaped)
//! in English and Dutch, signed in by cookie, protected against CSRF.
//!
//! It is a second front door to the same rules, never a second copy of them: sign-up and
//! sign-in call `identity::login`, sign-out `identity::sessions`, records the functions the
//! JSON handlers call (`http::records::crud`, `…::list::page`, `…::timeline::entries`,
//! `http::emails`, `http::campaigns`, …) with the same
//! [`Principal`](crate::http::principal::Principal), so roles, validation, events and the
//! audit log are the API's. This module must never query the database for a rule of its
//! own, read across portals (the `system` module of `db`), or let a cookie authenticate `/api/v1` (the API reads only
//! bearer tokens).
//!
//! | file | concern |
//! | --- | --- |
//! | `cookies.rs` | cookie names (`__Host-` under TLS) and attributes |
//! | `csrf.rs` | the guard on every state-changing request: origin and token |
//! | `context.rs` | the `Visitor` extractor: session, person, portal, language |
//! | `i18n.rs`, `format.rs` | Fluent catalogs (`templates/locales/`), numbers, money, dates |
//! | `render.rs` | templates (`templates/app/`), the layout, error pages |
//! | `account.rs` | my account: password, 2FA enrolment (QR, recovery codes) and turning it off, sessions with revoke |
//! | `portal.rs` | portal settings: name, required 2FA, staff access, sending rate, tracking |
//! | `people.rs` | people and roles: list, invite, change role, remove |
//! | `keys.rs` | private app keys: list, create with a scope picker (the key shown once), rotate, delete |
//! | `audit.rs` | the audit log with filters (action, person, days) and cursor paging |
//! | `custom_values.rs`, `pipelines.rs` | custom values (list, add, edit, trash); pipelines (rename, stages, delete) |
//! | `auth.rs` | sign up, sign in (portal by name, second factor), sign out |
//! | `records/`, `forms.rs` | every CRM object's list (filter builder, bulk tag/untag/trash), detail, create and edit; form bodies |
//! | `board.rs` | deals as a pipeline board, moving a deal between stages, a first pipeline |
//! | `definitions.rs` | the portal's tags and custom fields: list, add, delete |
//! | `trash.rs` | the trash with restore; moving a record to the trash |
//! | `mail.rs` | what the email-marketing screens share: tabs, paging, access, the contact picker |
//! | `emails.rs`, `diff.rs` | emails: list, form, history (one revision, two compared line by line, restore), preview |
//! | `segments.rs` | segments: list, form (the search language one filter a line), count and members |
//! | `campaigns.rs`, `campaign_actions.rs` | campaigns: list, draft form, page with stats; send, schedule, pause, resume, cancel, test, preview, recipients |
//! | `suppressions.rs` | the suppression list: add by hand, remove |
//! | `imports.rs` | imports (upload, column mapping with a preview, progress, error CSV) and exports |
//! | `messages.rs` | in-app messages: list, compose with an audience, a message's stats |
//! | `notifications.rs` | the person's notification inbox and the bell's count and the live pages' script (`static/live.js`) |
//! | `staff_access.rs` | platform staff access (JITA) grants: list, approve, revoke |
//! | `features.rs` | features: stages, opting in to public betas |
//! | `shell.rs` | dashboard, language switch, stylesheets, the websocket ticket |
//!
//! Its routes are [`PAGES`], registered by `http::configure` beside the API's `ROUTES`;
//! they are HTML, not part of the OpenAPI document.

pub mod account;
pub mod api_text;
pub mod audit;
pub mod auth;
pub mod board;
pub mod campaign_actions;
pub mod campaigns;
pub mod context;
pub mod cookies;
pub mod csrf;
pub mod custom_values;
pub mod definitions;
pub mod diff;
pub mod emails;
pub mod features;
pub mod format;
pub mod forms;
pub mod i18n;
pub mod imports;
pub mod keys;
pub mod mail;
pub mod messages;
pub mod notifications;
pub mod people;
pub mod pipelines;
pub mod portal;
pub mod records;
pub mod render;
pub mod segments;
pub mod shell;
pub mod staff_access;
pub mod suppressions;
pub mod trash;

use actix_web::http::StatusCode;
use actix_web::middleware::from_fn;
use actix_web::{web, HttpRequest, HttpResponse};

pub use context::Visitor;
use render::WebError;

/// The header scripts send the CSRF token in.
pub const HEADER_CSRF: &str = "x-csrf-token";

/// How this server is reached, for cookies and the origin check.
#[derive(Debug, Clone)]
pub struct Config {
    /// Cookies are `Secure` and `__Host-` prefixed: the server speaks TLS, or its public
    /// URL is https (TLS ended by a proxy in front).
    pub secure: bool,
    /// The server itself speaks TLS (the scheme of its own origin).
    pub tls: bool,
    /// The public URL's origin (`https://app.example.com`), accepted as `Origin`.
    pub public_origin: String,
}

impl Config {
    pub fn new(tls: bool, public_url: &str) -> Config {
        let origin = match url::Url::parse(public_url) {
            Ok(u) => u.origin().ascii_serialization(),
            Err(_) => public_url.trim_end_matches('/').to_string(),
        };
        Config { secure: tls || public_url.starts_with("https://"), tls, public_origin: origin }
    }
}

/// Checks the catalogs and templates; a broken one stops the server at start-up.
pub fn check() -> Result<(), String> {
    i18n::check()?;
    render::check()
}

macro_rules! pages {
    ($( $path:literal => { $( $method:ident : $handler:path ),+ $(,)? } ),* $(,)?) => {
        /// Every page route, as `(method, path pattern)`.
        pub const PAGES: &[(&str, &str)] = &[ $( $( (stringify!($method), concat!("/app", $path)), )+ )* ];

        fn register(cfg: &mut web::ServiceConfig) {
            $(
                cfg.service(
                    web::resource($path)
                        $( .route(web::$method().to($handler)) )+
                        .default_service(web::to(method_not_allowed)),
                );
            )*
        }
    };
}

pages! {
    "" => { get: shell::home },
    "/" => { get: shell::home },
    "/signup" => { get: auth::signup_form, post: auth::signup },
    "/login" => { get: auth::login_form, post: auth::login },
    "/login/portal" => { get: auth::portal_form, post: auth::portal },
    "/login/code" => { get: auth::code_form, post: auth::code },
    "/logout" => { post: auth::logout },
    "/dashboard" => { get: shell::dashboard },
    "/realtime/ticket" => { post: shell::ticket },
    "/language" => { post: shell::language },
    "/brand.css" => { get: shell::brand_css },
    "/static/app.css" => { get: shell::stylesheet },
    "/contacts" => { get: records::pages::contacts::list, post: records::pages::contacts::create },
    "/contacts/new" => { get: records::pages::contacts::new },
    "/contacts/bulk" => { post: records::pages::contacts::bulk },
    "/contacts/{id}" => { get: records::pages::contacts::show, post: records::pages::contacts::update },
    "/contacts/{id}/edit" => { get: records::pages::contacts::edit },
    "/contacts/{id}/delete" => { post: records::pages::contacts::delete },
    "/companies" => { get: records::pages::companies::list, post: records::pages::companies::create },
    "/companies/new" => { get: records::pages::companies::new },
    "/companies/bulk" => { post: records::pages::companies::bulk },
    "/companies/{id}" => { get: records::pages::companies::show, post: records::pages::companies::update },
    "/companies/{id}/edit" => { get: records::pages::companies::edit },
    "/companies/{id}/delete" => { post: records::pages::companies::delete },
    "/deals" => { get: records::pages::deals::list, post: records::pages::deals::create },
    "/deals/new" => { get: records::pages::deals::new },
    "/deals/bulk" => { post: records::pages::deals::bulk },
    "/deals/board" => { get: board::show },
    "/deals/{id}/stage" => { post: board::move_deal },
    "/pipelines" => { get: pipelines::list, post: board::create_pipeline },
    "/static/board.js" => { get: board::script },
    "/static/records.js" => { get: records::list::script },
    "/trash" => { get: trash::list },
    "/trash/{type}/{id}/restore" => { post: trash::restore },
    "/settings" => { get: shell::settings },
    "/tags" => { get: definitions::tag_list, post: definitions::tag_create },
    "/tags/{id}/delete" => { post: definitions::tag_delete },
    "/custom-fields" => { get: definitions::field_list, post: definitions::field_create },
    "/custom-fields/{id}/delete" => { post: definitions::field_delete },
    "/account" => { get: account::show },
    "/account/2fa" => { post: account::enrol },
    "/account/2fa/confirm" => { post: account::confirm },
    "/account/sessions/{id}/revoke" => { post: account::revoke },
    "/deals/{id}" => { get: records::pages::deals::show, post: records::pages::deals::update },
    "/deals/{id}/edit" => { get: records::pages::deals::edit },
    "/deals/{id}/delete" => { post: records::pages::deals::delete },
    "/tickets" => { get: records::pages::tickets::list, post: records::pages::tickets::create },
    "/tickets/new" => { get: records::pages::tickets::new },
    "/tickets/bulk" => { post: records::pages::tickets::bulk },
    "/tickets/{id}" => { get: records::pages::tickets::show, post: records::pages::tickets::update },
    "/tickets/{id}/edit" => { get: records::pages::tickets::edit },
    "/tickets/{id}/delete" => { post: records::pages::tickets::delete },
    "/tasks" => { get: records::pages::tasks::list, post: records::pages::tasks::create },
    "/tasks/new" => { get: records::pages::tasks::new },
    "/tasks/bulk" => { post: records::pages::tasks::bulk },
    "/tasks/{id}" => { get: records::pages::tasks::show, post: records::pages::tasks::update },
    "/tasks/{id}/edit" => { get: records::pages::tasks::edit },
    "/tasks/{id}/delete" => { post: records::pages::tasks::delete },
    "/notes" => { get: records::pages::notes::list, post: records::pages::notes::create },
    "/notes/new" => { get: records::pages::notes::new },
    "/notes/bulk" => { post: records::pages::notes::bulk },
    "/notes/{id}" => { get: records::pages::notes::show, post: records::pages::notes::update },
    "/notes/{id}/edit" => { get: records::pages::notes::edit },
    "/notes/{id}/delete" => { post: records::pages::notes::delete },
    "/emails" => { get: emails::list, post: emails::create },
    "/emails/new" => { get: emails::new },
    "/emails/{id}" => { get: emails::show, post: emails::update },
    "/emails/{id}/edit" => { get: emails::edit },
    "/emails/{id}/revisions" => { get: emails::history },
    "/emails/{id}/revisions/{n}" => { get: emails::revision },
    "/emails/{id}/revisions/{n}/restore" => { post: emails::restore },
    "/emails/{id}/compare" => { get: emails::compare },
    "/emails/{id}/preview" => { get: emails::preview },
    "/emails/{id}/preview/html" => { get: emails::preview_html },
    "/segments" => { get: segments::list, post: segments::create },
    "/segments/new" => { get: segments::new },
    "/segments/{id}" => { get: segments::show, post: segments::update },
    "/segments/{id}/edit" => { get: segments::edit },
    "/campaigns" => { get: campaigns::list, post: campaigns::create },
    "/campaigns/new" => { get: campaigns::new },
    "/campaigns/{id}" => { get: campaigns::show, post: campaigns::update },
    "/campaigns/{id}/edit" => { get: campaigns::edit },
    "/campaigns/{id}/send" => { post: campaign_actions::send },
    "/campaigns/{id}/pause" => { post: campaign_actions::pause },
    "/campaigns/{id}/resume" => { post: campaign_actions::resume },
    "/campaigns/{id}/cancel" => { post: campaign_actions::cancel },
    "/campaigns/{id}/test" => { post: campaign_actions::test },
    "/campaigns/{id}/preview" => { get: campaign_actions::preview },
    "/campaigns/{id}/preview/html" => { get: campaign_actions::preview_html },
    "/campaigns/{id}/recipients" => { get: campaign_actions::recipients },
    "/suppressions" => { get: suppressions::list, post: suppressions::add },
    "/suppressions/remove" => { post: suppressions::remove },
    "/settings/portal" => { get: portal::show, post: portal::update },
    "/people" => { get: people::list, post: people::invite },
    "/people/{id}/role" => { post: people::change_role },
    "/people/{id}/remove" => { post: people::remove },
    "/people/invitations/{id}/revoke" => { post: people::revoke_invitation },
    "/api-keys" => { get: keys::list, post: keys::create },
    "/api-keys/{id}/rotate" => { post: keys::rotate },
    "/api-keys/{id}/delete" => { post: keys::delete },
    "/account/password" => { post: account::change_password },
    "/account/2fa/disable" => { post: account::disable },
    "/audit" => { get: audit::list },
    "/custom-values" => { get: custom_values::list, post: custom_values::create },
    "/custom-values/{id}" => { get: custom_values::show, post: custom_values::update },
    "/custom-values/{id}/delete" => { post: custom_values::delete },
    "/pipelines/{id}" => { get: pipelines::show, post: pipelines::update },
    "/pipelines/{id}/delete" => { post: pipelines::delete },
    // Engagement screens (webeng): imports and exports, in-app messages, the bell, staff
    // access, features.
    "/imports" => { get: imports::list, post: imports::start },
    "/imports/upload" => { post: imports::upload },
    "/imports/mapping" => { get: imports::mapping },
    "/imports/{id}" => { get: imports::show },
    "/imports/{id}/errors.csv" => { get: imports::errors_csv },
    "/exports/download" => { get: imports::export },
    "/messages" => { get: messages::list, post: messages::create },
    "/messages/new" => { get: messages::new },
    "/messages/{id}" => { get: messages::show },
    "/notifications" => { get: notifications::list },
    "/notifications/counts" => { get: notifications::counts },
    "/notifications/read-all" => { post: notifications::read_all },
    "/notifications/{id}/read" => { post: notifications::read },
    "/notifications/{id}/unread" => { post: notifications::unread },
    "/notifications/{id}/archive" => { post: notifications::archive },
    "/static/live.js" => { get: notifications::script },
    "/staff-access" => { get: staff_access::list },
    "/staff-access/{id}/approve" => { post: staff_access::approve },
    "/staff-access/{id}/revoke" => { post: staff_access::revoke },
    "/features" => { get: features::list },
    "/features/{key}/opt-in" => { post: features::opt_in },
    "/features/{key}/opt-out" => { post: features::opt_out },
}

/// Mounts the pages under `/app`, behind the CSRF guard; anything else there is a 404 page.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::scope("/app").wrap(from_fn(csrf::guard)).configure(register).default_service(web::to(not_found)));
}

async fn not_found(req: HttpRequest) -> Page {
    Err(page_error(&req, StatusCode::NOT_FOUND))
}

async fn method_not_allowed(req: HttpRequest) -> Page {
    Err(page_error(&req, StatusCode::METHOD_NOT_ALLOWED))
}

fn page_error(req: &HttpRequest, status: StatusCode) -> WebError {
    let lang = match req.app_data::<web::Data<crate::http::AppState>>() {
        Some(state) => context::anonymous_lang(req, &state.web),
        None => i18n::Lang::En,
    };
    WebError::status(lang, status)
}

/// A page handler's answer.
pub type Page = Result<HttpResponse, WebError>;
