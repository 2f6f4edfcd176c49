//! The app's frame: the home redirect, the live dashboard inside the navigation (the same
//! `static/dashboard.js`, which in the app asks `/app/realtime/ticket` for its websocket
//! ticket with the session's CSRF token instead of holding a bearer token), the language
//! switch, and the stylesheets (the app's, and the portal's accent colour).

use actix_web::http::{header, StatusCode};
use actix_web::web::Bytes;
use actix_web::HttpResponse;
use serde::Deserialize;
use serde_json::json;

use super::cookies::{self, Name};
use super::forms;
use super::i18n::Lang;
use super::render::{self, see_other, WebError};
use super::{Page, Visitor};

const APP_CSS: &str = include_str!("../../static/app.css");

/// `/app/`: the dashboard for a signed-in person, else the sign-in page.
pub async fn home(v: Visitor) -> Page {
    Ok(see_other(if v.signed_in() { "/app/dashboard" } else { "/app/login" }))
}

pub async fn dashboard(v: Visitor) -> Page {
    v.member()?;
    render::page(StatusCode::OK, "dashboard.html", v.frame("dashboard-title", "dashboard"), json!({}))
        .map_err(|e| v.fail(e))
}

/// `/app/settings`: the portal's settings and the person's own, as links.
pub async fn settings(v: Visitor) -> Page {
    let m = v.member()?;
    let ctx = json!({"can_manage": m.role().can_manage()});
    render::page(StatusCode::OK, "settings.html", v.frame("settings-title", "settings"), ctx).map_err(|e| v.fail(e))
}

/// A single-use websocket ticket for the dashboard's script (CSRF header checked by the
/// guard): the API's own ticket, bound to this session.
pub async fn ticket(v: Visitor) -> Page {
    // A script cannot follow the sign-in redirect: it is told 401 and goes there itself.
    let Ok(m) = v.member() else { return Ok(HttpResponse::Unauthorized().finish()) };
    let ticket = crate::http::realtime::issue(&v.state, &m.principal).await.map_err(|e| v.fail(e))?;
    Ok(HttpResponse::Ok().json(ticket))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LanguageForm {
    lang: String,
    next: String,
}

/// Switches the language: saved on the person when signed in, and in a cookie for the
/// pages before sign-in. Goes back to `next` (a path of this app only).
pub async fn language(v: Visitor, body: Bytes) -> Page {
    let form: LanguageForm = forms::parse(v.lang, &body)?;
    let lang = Lang::parse(&form.lang).ok_or_else(|| WebError::status(v.lang, StatusCode::BAD_REQUEST))?;
    if let Some(m) = v.session_member() {
        let (uid, now) = (m.user.user_id.clone(), v.state.clock.now());
        v.state
            .db
            .write(move |tx| Ok(tx.platform().set_locale(&uid, Some(lang.code()), now.naive_utc())?))
            .await
            .map_err(|e| v.fail(e))?;
    }
    let safe_next = form.next.starts_with("/app")
        && !form.next.starts_with("//")
        && !form.next.contains('\\')
        && !form.next.chars().any(char::is_control);
    let mut res = see_other(if safe_next { &form.next } else { "/app/" });
    let _ = res.add_cookie(&cookies::make(v.config(), Name::Lang, lang.code().to_string(), Some(365 * 24 * 3600)));
    Ok(res)
}

/// The portal's accent colour as a stylesheet (a CSP without inline styles can load it).
pub async fn brand_css(v: Visitor) -> HttpResponse {
    let accent = v.session_member().and_then(|m| m.branding.accent.clone());
    let body = accent.map(|c| format!(":root {{ --accent: {c}; }}\n")).unwrap_or_default();
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "private, no-cache"))
        .body(body)
}

pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(APP_CSS)
}
