//! The public endpoints a recipient reaches from a message (no sign-in; the signed token
//! is the credential and names the portal, see `crate::campaigns::tokens`):
//!
//! - `GET /u/{token}`: a page with one button. It changes nothing — mail scanners and
//!   link previewers fetch every URL in a message, and must not unsubscribe anyone.
//! - `POST /u/{token}`: unsubscribes (RFC 8058 one-click: mail clients POST
//!   `List-Unsubscribe=One-Click` here). Idempotent: 200 every time.
//! - `GET /t/o/{token}`: the open pixel, a 1×1 GIF.
//! - `GET /t/c/{token}`: 302 to the link signed into the token, recording the click.
//!
//! A token that does not verify, or names a campaign or recipient that no longer exists,
//! is 404 (so a tampered click link is never a redirect). Pages are in English and Dutch.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde_json::json;

use super::AppState;
use crate::campaigns::tokens::{self, Kind, Link};
use crate::db::audit::NewEntry;
use crate::db::events::NewEvent;
use crate::domain::TenantId;
use crate::error::AppError;

const GIF: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
    0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02,
    0x02, 0x44, 0x01, 0x00, 0x3b,
];

async fn verified(state: &AppState, kind: Kind, token: &str) -> Result<Link, AppError> {
    let key = crate::campaigns::link_key(&state.db, &state.keyring, state.clock.now()).await?;
    tokens::verify(&key, kind, token).ok_or_else(|| AppError::not_found("link"))
}

/// The page's own stylesheet, and its one form posting back here.
const UNSUBSCRIBE_CSP: &str =
    "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

fn page(title_en: &str, title_nl: &str, body_en: &str, body_nl: &str, form: Option<&str>) -> HttpResponse {
    page_with(actix_web::http::StatusCode::OK, title_en, title_nl, body_en, body_nl, form)
}

/// A link that is not (or no longer) ours: a readable page, not JSON, for a person.
fn unknown_link() -> HttpResponse {
    page_with(
        actix_web::http::StatusCode::NOT_FOUND,
        "This link does not work",
        "Deze link werkt niet",
        "It may have been copied incompletely. To stop receiving emails, use the link in a recent message or reply to it.",
        "Misschien is hij niet volledig gekopieerd. Wilt u geen e-mails meer ontvangen, gebruik dan de link in een recent bericht of beantwoord het.",
        None,
    )
}

fn page_with(
    status: actix_web::http::StatusCode,
    title_en: &str,
    title_nl: &str,
    body_en: &str,
    body_nl: &str,
    form: Option<&str>,
) -> HttpResponse {
    let button = form
        .map(|action| {
            format!(
                r#"<form method="post" action="{action}"><input type="hidden" name="List-Unsubscribe" value="One-Click"><button type="submit">Unsubscribe · Afmelden</button></form>"#
            )
        })
        .unwrap_or_default();
    let html = format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="robots" content="noindex"><title>{title_en}</title><link rel="stylesheet" href="/static/organizeo.css"></head><body><main class="narrow"><h1>{title_en}</h1><p>{body_en}</p><h2 lang="nl">{title_nl}</h2><p lang="nl">{body_nl}</p>{button}</main></body></html>"#
    );
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::CONTENT_SECURITY_POLICY, UNSUBSCRIBE_CSP))
        .content_type("text/html; charset=utf-8")
        .body(html)
}

/// The unsubscribe link of previews and test messages: it explains, and does nothing.
fn preview_page() -> HttpResponse {
    page(
        "This is a preview",
        "Dit is een voorbeeld",
        "In a real message, this link lets the recipient unsubscribe in one click.",
        "In een echt bericht meldt de ontvanger zich met deze link in één klik af.",
        None,
    )
}

/// The confirm page: changes nothing.
#[utoipa::path(get, path = "/u/{token}", tag = "tracking",
    params(("token" = String, Path, description = "The signed token from the message")),
    responses((status = 200, description = "A page with one confirm button", content_type = "text/html"),
        (status = 404, description = "Not a link of ours: a page saying so", content_type = "text/html")))]
pub async fn unsubscribe_page(state: web::Data<AppState>, token: web::Path<String>) -> Result<HttpResponse, AppError> {
    if token.as_str() == "preview" {
        return Ok(preview_page());
    }
    let Ok(link) = verified(&state, Kind::Unsubscribe, &token).await else { return Ok(unknown_link()) };
    let (cid, rid) = (link.campaign_id.clone(), link.recipient_id.clone());
    let found = state
        .db
        .tenant(TenantId::from_db(link.tenant_id.clone()))
        .read(move |t| Ok(t.recipient(&cid, &rid)?.map(|r| (r.email_lower.clone(), r.email))))
        .await?;
    let Some((lower, email)) = found else { return Ok(unknown_link()) };
    if email.is_empty() {
        // The person was erased: nothing of them is kept, and they are never mailed again.
        return Ok(page(
            "You are unsubscribed",
            "U bent afgemeld",
            "This address will not receive these emails any more.",
            "Dit adres ontvangt deze e-mails niet meer.",
            None,
        ));
    }
    let already = state
        .db
        .tenant(TenantId::from_db(link.tenant_id))
        .read(move |t| Ok(t.suppression(&lower)?.is_some_and(|s| s.reason == "unsubscribed")))
        .await?;
    let email = html_escape(&email);
    if already {
        return Ok(page(
            "You are unsubscribed",
            "U bent afgemeld",
            &format!("{email} will not receive these emails any more."),
            &format!("{email} ontvangt deze e-mails niet meer."),
            None,
        ));
    }
    Ok(page(
        "Unsubscribe?",
        "Afmelden?",
        &format!("Stop sending these emails to {email}."),
        &format!("Stuur geen e-mails meer naar {email}."),
        Some(&format!("/u/{}", html_escape(&token))),
    ))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// One-click unsubscribe (RFC 8058); idempotent.
#[utoipa::path(post, path = "/u/{token}", tag = "tracking",
    params(("token" = String, Path, description = "The signed token from the message")),
    responses((status = 200, description = "Unsubscribed (also when already)", content_type = "text/html"),
        (status = 404, description = "Not a link of ours: a page saying so", content_type = "text/html")))]
pub async fn unsubscribe(
    state: web::Data<AppState>,
    req: HttpRequest,
    token: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let link = verified(&state, Kind::Unsubscribe, &token).await?;
    let now = state.clock.now();
    let meta = super::principal::request_meta(&req);
    let tenant = TenantId::from_db(link.tenant_id.clone());
    let email = state
        .db
        .tenant(tenant)
        .write(move |t| {
            let Some(r) = t.recipient(&link.campaign_id, &link.recipient_id)? else { return Ok(None) };
            if r.email.is_empty() {
                // Erased: the keyed hash already keeps the address unmailed.
                return Ok(Some(String::new()));
            }
            let (row, new) = t.suppress_address(&r.email, "unsubscribed", Some(&link.campaign_id), now.naive_utc())?;
            if new {
                t.audit(
                    NewEntry::new("suppression.unsubscribed")
                        .actor("recipient", &r.id)
                        .target("campaign", &link.campaign_id)
                        .from_request(meta.ip, meta.user_agent, meta.request_id)
                        .details(
                            json!({"email": crate::campaigns::mask_address(&row.email), "contact_id": r.contact_id}),
                        ),
                    now,
                )?;
                t.append_event(
                    NewEvent {
                        event_type: "campaign.unsubscribed".into(),
                        object: crate::campaigns::OBJECT,
                        record_id: link.campaign_id.clone(),
                        actor_type: "system",
                        actor_id: None,
                        data: json!({"id": link.campaign_id, "contact_id": r.contact_id}),
                        diff: None,
                    },
                    now,
                );
            }
            Ok(Some(r.email))
        })
        .await?;
    let Some(email) = email else { return Ok(unknown_link()) };
    let email = if email.is_empty() { "This address".to_string() } else { html_escape(&email) };
    Ok(page(
        "You are unsubscribed",
        "U bent afgemeld",
        &format!("{email} will not receive these emails any more."),
        &format!("{email} ontvangt deze e-mails niet meer."),
        None,
    ))
}

async fn engage(state: &AppState, link: Link, click: bool, now: DateTime<Utc>) -> Result<(), AppError> {
    let tenant = TenantId::from_db(link.tenant_id.clone());
    state
        .db
        .tenant(tenant)
        .write(move |t| {
            t.recipient(&link.campaign_id, &link.recipient_id)?.ok_or_else(|| AppError::not_found("link"))?;
            t.mark_engaged(&link.campaign_id, &link.recipient_id, click, now.naive_utc())?;
            Ok(())
        })
        .await
}

/// The open pixel.
#[utoipa::path(get, path = "/t/o/{token}", tag = "tracking",
    params(("token" = String, Path, description = "The signed token from the message")),
    responses((status = 200, description = "A 1×1 transparent GIF", content_type = "image/gif"),
        (status = 404, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn open(state: web::Data<AppState>, token: web::Path<String>) -> Result<HttpResponse, AppError> {
    let link = verified(&state, Kind::Open, &token).await?;
    engage(&state, link, false, state.clock.now()).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store, max-age=0"))
        .content_type("image/gif")
        .body(GIF))
}

/// A tracked link: 302 to the original.
#[utoipa::path(get, path = "/t/c/{token}", tag = "tracking",
    params(("token" = String, Path, description = "The signed token from the message")),
    responses((status = 302, description = "To the link signed into the token"),
        (status = 404, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn click(state: web::Data<AppState>, token: web::Path<String>) -> Result<HttpResponse, AppError> {
    let link = verified(&state, Kind::Click, &token).await?;
    let url = link.url.clone().ok_or_else(|| AppError::not_found("link"))?;
    let lower = url.to_ascii_lowercase();
    if !(lower.starts_with("https://") || lower.starts_with("http://")) || url.contains(['\r', '\n']) {
        return Err(AppError::not_found("link"));
    }
    engage(&state, link, true, state.clock.now()).await?;
    Ok(HttpResponse::Found()
        .insert_header((header::LOCATION, url))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .finish())
}
