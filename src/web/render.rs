//! Pages from `templates/app/` (compiled in) with minijinja, HTML autoescaping on for every
//! `.html` template: a value from a record is text, never markup. A page is rendered in two
//! passes: its own template, then `layout.html` around it (navigation, portal branding,
//! the language switch), so templates need no inheritance. The list pages' pager is one
//! template (`pager.html`) behind the function `pager(paged, first_url, next_url)`: no
//! `include` or `import`, whose minijinja feature would also reach the email templates
//! people write (`email::template`).
//!
//! Templates reach messages with `t("id", name=value)` and format with the filters
//! `money(currency)`, `datetime`, `number`, all in the page's language. Errors become
//! [`WebError`]: a rendered page with the right status, or a redirect.

use std::sync::OnceLock;

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use minijinja::value::{Kwargs, Value};
use minijinja::{Environment, State, UndefinedBehavior};
use serde_json::json;

use super::format;
use super::i18n::{self, Arg, Lang};
use crate::error::AppError;

/// What the web app's pages may load: their own styles and scripts, images from this
/// origin or https (a portal's logo), fetches to this origin; forms post only here.
pub const CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; \
    img-src 'self' https: data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// [`CSP`] for a page that frames a rendered email preview from this origin.
pub const CSP_FRAMING_PREVIEWS: &str = "default-src 'none'; style-src 'self'; script-src 'self'; \
    connect-src 'self'; img-src 'self' https: data:; frame-src 'self'; form-action 'self'; \
    frame-ancestors 'none'; base-uri 'none'";

/// A portal's rendered email, shown in a frame of the preview page: an opaque origin
/// (`sandbox` without `allow-same-origin`), no script, no forms, no plugins; its own inline
/// styles and remote images, as an inbox would show them; framed by this app's pages only.
pub const CSP_EMAIL: &str = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; \
    font-src https: data:; form-action 'none'; frame-ancestors 'self'; base-uri 'none'";

macro_rules! templates {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../templates/app/", $name)))),*]
    };
}

const TEMPLATES: &[(&str, &str)] = templates![
    "pager.html",
    "layout.html",
    "error.html",
    "signup.html",
    "login.html",
    "portal.html",
    "code.html",
    "dashboard.html",
    "board.html",
    "trash.html",
    "settings.html",
    "tags.html",
    "custom_fields.html",
    "account.html",
    "account_2fa.html",
    "account_codes.html",
    "portal_settings.html",
    "people.html",
    "api_keys.html",
    "api_key_secret.html",
    "audit.html",
    "custom_values.html",
    "custom_value.html",
    "pipelines.html",
    "pipeline.html",
    "records/list.html",
    "records/bulk_confirm.html",
    "records/show.html",
    "records/form.html",
    "mail/preview.html",
    "mail/emails.html",
    "mail/email.html",
    "mail/email_form.html",
    "mail/email_history.html",
    "mail/email_revision.html",
    "mail/email_compare.html",
    "mail/segments.html",
    "mail/segment.html",
    "mail/segment_form.html",
    "mail/campaigns.html",
    "mail/campaign.html",
    "mail/campaign_form.html",
    "mail/recipients.html",
    "mail/suppressions.html",
    "engage/imports.html",
    "engage/import_mapping.html",
    "engage/import.html",
    "engage/messages.html",
    "engage/message_form.html",
    "engage/message.html",
    "engage/notifications.html",
    "engage/staff_access.html",
    "engage/features.html",
];

fn lang_of(state: &State) -> Lang {
    state.lookup("lang").and_then(|v| v.as_str().and_then(Lang::parse)).unwrap_or(Lang::En)
}

fn translate(state: &State, id: String, kwargs: Kwargs) -> Result<String, minijinja::Error> {
    let mut args = Vec::new();
    for name in kwargs.args() {
        let value: Value = kwargs.get(name)?;
        let arg = match value.as_i64() {
            Some(n) => Arg::Number(n as f64),
            None => Arg::Text(value.to_string()),
        };
        args.push((name, arg));
    }
    Ok(i18n::t(lang_of(state), &id, &args))
}

fn money(state: &State, amount: Value, currency: Option<String>) -> String {
    if amount.is_none() || amount.is_undefined() {
        return String::new();
    }
    format::money(lang_of(state), &amount.to_string(), currency.as_deref().unwrap_or(""))
}

fn datetime(state: &State, value: Value) -> String {
    match value.as_str() {
        Some(s) => format::datetime_text(lang_of(state), s),
        None => String::new(),
    }
}

fn number(state: &State, value: Value) -> String {
    match value.as_i64() {
        Some(n) => format::integer(lang_of(state), n),
        None => format::decimal(lang_of(state), &value.to_string(), None).unwrap_or_else(|| value.to_string()),
    }
}

/// `pager(paged, first_url, next_url)`: the "first page" link (when `paged`) and the
/// "next page" link (when there is one), from `pager.html` in the page's language.
fn pager(state: &State, paged: Value, first_url: Value, next_url: Value) -> Result<Value, minijinja::Error> {
    let ctx = minijinja::context! { lang => lang_of(state).code(), paged => paged.is_true(),
    first_url => first_url, next_url => next_url };
    let html = state.env().get_template("pager.html")?.render(ctx)?;
    Ok(Value::from_safe_string(html))
}

fn build() -> Result<Environment<'static>, String> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
    for (name, source) in TEMPLATES {
        env.add_template(name, source).map_err(|e| format!("template {name}: {e}"))?;
    }
    env.add_function("t", translate);
    env.add_function("pager", pager);
    env.add_filter("money", money);
    env.add_filter("datetime", datetime);
    env.add_filter("number", number);
    Ok(env)
}

fn env() -> Result<&'static Environment<'static>, String> {
    static ENV: OnceLock<Result<Environment<'static>, String>> = OnceLock::new();
    ENV.get_or_init(build).as_ref().map_err(Clone::clone)
}

/// Parses every template; called at start-up so a broken one stops the server there.
pub fn check() -> Result<(), String> {
    env().map(|_| ())
}

fn render(name: &str, ctx: &serde_json::Value) -> Result<String, AppError> {
    let env = env().map_err(|e| AppError::internal(anyhow::anyhow!(e)))?;
    let template = env.get_template(name).map_err(|e| AppError::internal(anyhow::anyhow!("{e:#}")))?;
    template.render(Value::from_serialize(ctx)).map_err(|e| AppError::internal(anyhow::anyhow!("{name}: {e:#}")))
}

/// A whole page: `template` with `ctx`, inside the layout with `frame` (the page's
/// language, CSRF token, title, navigation and branding).
pub fn page(
    status: StatusCode,
    template: &str,
    frame: serde_json::Value,
    ctx: serde_json::Value,
) -> Result<HttpResponse, AppError> {
    let mut all = frame.clone();
    if let (Some(target), serde_json::Value::Object(extra)) = (all.as_object_mut(), ctx) {
        target.extend(extra);
    }
    let body = render(template, &all)?;
    let mut layout = frame;
    if let Some(target) = layout.as_object_mut() {
        target.insert("content".into(), json!(body));
    }
    let html = render("layout.html", &layout)?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        // Not the API's no-referrer: under it browsers send `Origin: null` with a form
        // post, which the CSRF guard refuses. Other sites still get no referrer.
        .insert_header((header::REFERRER_POLICY, "same-origin"))
        .body(html))
}

/// A failed page: a redirect (to sign in, mostly), or an error page with the status.
#[derive(Debug)]
pub enum WebError {
    Redirect(String),
    Page { lang: Lang, status: StatusCode, detail: Option<String> },
}

impl std::fmt::Display for WebError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WebError::Redirect(to) => write!(f, "redirect to {to}"),
            WebError::Page { status, .. } => write!(f, "error page {status}"),
        }
    }
}

impl WebError {
    /// The answer to a forged or stale state-changing request.
    pub fn csrf(lang: Lang) -> Self {
        WebError::Page { lang, status: StatusCode::FORBIDDEN, detail: Some(i18n::t(lang, "error-csrf", &[])) }
    }

    pub fn status(lang: Lang, status: StatusCode) -> Self {
        WebError::Page { lang, status, detail: None }
    }

    /// An application error as a page: 401 goes to sign-in; internal causes are logged
    /// here and never shown.
    pub fn from_app(lang: Lang, e: AppError) -> Self {
        match e {
            AppError::Unauthorized { .. } => WebError::Redirect("/app/login".into()),
            AppError::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "internal error on a web page");
                WebError::status(lang, StatusCode::INTERNAL_SERVER_ERROR)
            }
            other => {
                let status = other.status_code();
                let detail = match &other {
                    AppError::Forbidden { .. } if other.code() == "forbidden" => {
                        i18n::t(lang, "error-forbidden-role", &[])
                    }
                    AppError::NotFound { .. } => i18n::t(lang, "error-not-found-detail", &[]),
                    AppError::WithExtra { code: "feature_not_enabled", extra, .. } => {
                        let feature = extra.get("feature").and_then(|f| f.as_str()).unwrap_or_default();
                        i18n::t(lang, "error-feature-off", &[("feature", Arg::Text(feature.to_string()))])
                    }
                    AppError::RateLimited { retry_after_secs, .. } => {
                        i18n::t(lang, "error-rate-limited", &[("seconds", Arg::Number(*retry_after_secs as f64))])
                    }
                    AppError::Validation { errors, .. } => errors
                        .iter()
                        .map(|e| format!("{}: {}", e.field, super::api_text::message(lang, &e.message)))
                        .collect::<Vec<_>>()
                        .join("; "),
                    _ => other.to_problem().detail,
                };
                WebError::Page { lang, status, detail: Some(detail) }
            }
        }
    }
}

/// `303 See Other` to `to` (after a form, the browser GETs the next page).
/// A 303 to `to`; a target that cannot be a header value (a control character) goes to
/// the app's start page instead of failing the response.
pub fn see_other(to: &str) -> HttpResponse {
    let location = header::HeaderValue::from_str(to).unwrap_or(header::HeaderValue::from_static("/app/"));
    HttpResponse::SeeOther().insert_header((header::LOCATION, location)).finish()
}

impl ResponseError for WebError {
    fn status_code(&self) -> StatusCode {
        match self {
            WebError::Redirect(_) => StatusCode::SEE_OTHER,
            WebError::Page { status, .. } => *status,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            WebError::Redirect(to) => see_other(to),
            WebError::Page { lang, status, detail } => {
                let frame = json!({"lang": lang.code(), "csrf": "", "title": i18n::t(*lang, "error-title", &[]),
                    "nav": "", "member": null, "langs": [], "next": "/app/"});
                let ctx = json!({"status": status.as_u16(), "detail": detail});
                page(*status, "error.html", frame, ctx).unwrap_or_else(|e| {
                    tracing::error!(error = %e, "error page did not render");
                    HttpResponse::build(*status).content_type("text/plain; charset=utf-8").body(status.to_string())
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses() {
        check().unwrap();
    }

    /// The shared pager renders in the page's language.
    #[test]
    fn the_pager_speaks_the_pages_language() {
        let frame = |lang: &str| {
            json!({"lang": lang, "paged": true, "next_url": "/app/tags?after=x", "tags": [],
            "form": {}, "errors": {}, "can_write": false, "can_manage": false})
        };
        let nl = render("tags.html", &frame("nl")).unwrap();
        let first = i18n::t(Lang::Nl, "list-first", &[]);
        let next = i18n::t(Lang::Nl, "list-next", &[]);
        assert!(nl.contains(&first) && nl.contains(&next), "{nl}");
        assert!(nl.contains("rel=\"next\" id=\"next-page\""), "{nl}");
        let en = render("tags.html", &frame("en")).unwrap();
        assert!(en.contains(&i18n::t(Lang::En, "list-next", &[])) && !en.contains(&next), "{en}");
    }

    /// A literal `t('id')` missing from the catalogs would show the id itself on the page.
    #[test]
    fn every_literal_message_id_in_the_templates_is_in_the_catalogs() {
        let known = i18n::ids(Lang::En);
        let mut missing = Vec::new();
        for (name, source) in TEMPLATES {
            for (i, _) in source.match_indices("t('") {
                let id: String = source[i + 3..].chars().take_while(|c| *c != '\'').collect();
                // `t('prefix-' ~ value)` builds its id from data: checked where the data is.
                if !id.ends_with('-') && !known.contains(&id) {
                    missing.push(format!("{name}: {id}"));
                }
            }
        }
        assert!(missing.is_empty(), "missing from the catalogs: {missing:?}");
    }
}
