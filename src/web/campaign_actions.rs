//! What moves a campaign from the browser — send now, schedule, pause, resume, cancel, a
//! test send — and what shows its result: the preview as a contact and the recipients by
//! status. Each is the API's use case (`http::campaign_actions::{act, test_send,
//! preview_of}`, `http::campaign_recipients::recipients_of`) with the same principal, so
//! only owners and admins move a campaign or send tests, and a refused move (409 from the
//! status machine, 422 not ready to send) comes back as the campaign's page with the
//! API's message.

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use serde::Deserialize;
use serde_json::{json, Value};

use super::campaigns::{show_page, Extra};
use super::mail::{self, url};
use super::records::view;
use super::render::{self, see_other};
use super::{forms, Page, Visitor};
use crate::campaigns::Action;
use crate::crm::objects::Object;
use crate::error::AppError;
use crate::http::campaign_actions::{self, TestSend};
use crate::http::campaign_recipients::{self, STATUSES};
use crate::http::campaigns::{self, CampaignQuery};

/// The API's messages of a refused action, for the campaign's page; anything but a 409 or
/// 422 is an error page.
fn refused(v: &Visitor, e: AppError) -> Result<(StatusCode, Vec<String>), super::render::WebError> {
    match e {
        AppError::Validation { errors, .. } => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            errors
                .into_iter()
                .map(|f| format!("{}: {}", f.field, super::api_text::message(v.lang, &f.message)))
                .collect(),
        )),
        AppError::Conflict { detail, .. } => Ok((StatusCode::CONFLICT, vec![detail])),
        other => Err(v.fail(other)),
    }
}

async fn act(v: Visitor, id: &str, action: Action) -> Page {
    let m = v.member()?;
    match campaign_actions::act(&v.state, &m.principal, id, action).await {
        Ok(c) => Ok(see_other(&format!("/app/campaigns/{}", c.id))),
        Err(e) => {
            let (status, errors) = refused(&v, e)?;
            show_page(&v, id, status, Extra { errors, ..Extra::default() }).await
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SendForm {
    /// Empty: now. Else a `datetime-local` value, read as UTC (the pages show UTC).
    send_at: String,
}

/// `POST /app/campaigns/{id}/send`: now, or at `send_at` (saved on the draft first, as
/// `PATCH` then `send` through the API).
pub async fn send(v: Visitor, id: web::Path<String>, body: Bytes) -> Page {
    let m = v.member()?;
    mail::may_manage(&v).await?;
    let form: SendForm = forms::parse(v.lang, &body)?;
    let at = form.send_at.trim();
    if !at.is_empty() {
        // `2026-12-01T09:30` from the browser's picker; seconds and a zone if typed.
        let rfc3339 = match at.len() {
            16 => format!("{at}:00Z"),
            19 => format!("{at}Z"),
            _ => at.to_string(),
        };
        if let Err(e) = campaigns::update_draft(&v.state, &m.principal, &id, json!({"send_at": rfc3339})).await {
            let (status, errors) = refused(&v, e)?;
            let extra = Extra { errors, send_at: form.send_at.clone(), ..Extra::default() };
            return show_page(&v, &id, status, extra).await;
        }
    }
    act(v, &id, Action::Send).await
}

pub async fn pause(v: Visitor, id: web::Path<String>) -> Page {
    act(v, &id, Action::Pause).await
}

pub async fn resume(v: Visitor, id: web::Path<String>) -> Page {
    act(v, &id, Action::Resume).await
}

pub async fn cancel(v: Visitor, id: web::Path<String>) -> Page {
    act(v, &id, Action::Cancel).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TestForm {
    /// Addresses separated by commas, spaces or lines.
    to: String,
}

/// `POST /app/campaigns/{id}/test`: the campaign's page with what the relay said for each
/// address.
pub async fn test(v: Visitor, id: web::Path<String>, body: Bytes) -> Page {
    let m = v.member()?;
    mail::may_manage(&v).await?;
    let form: TestForm = forms::parse(v.lang, &body)?;
    let to: Vec<String> =
        form.to.split([',', ';', ' ', '\n', '\r', '\t']).filter(|a| !a.is_empty()).map(str::to_string).collect();
    let input = TestSend { to, contact_id: None };
    let (status, extra) = match campaign_actions::test_send(&v.state, &m.principal, &id, input).await {
        Ok(answer) => (StatusCode::OK, Extra { test_results: Some(json!(answer.results)), ..Extra::default() }),
        Err(e) => {
            let (status, errors) = refused(&v, e)?;
            (status, Extra { errors, test_to: form.to.clone(), ..Extra::default() })
        }
    };
    show_page(&v, &id, status, extra).await
}

/// `/app/campaigns/{id}/preview?contact_id=`: the campaign's email as that contact gets
/// it (the frozen content once sending started).
pub async fn preview(v: Visitor, id: web::Path<String>) -> Page {
    let m = v.member()?;
    let q: super::emails::PreviewQuery = mail::query(&v)?;
    let c = campaigns::get_campaign(&v.state, &m.principal, &id).await.map_err(|e| v.fail(e))?;
    let here = format!("/app/campaigns/{}/preview", c.id);
    let choices = mail::contact_choices(&v, &here, &q.q).await?;
    let contact = forms::value(&q.contact_id);
    let (status, shown, errors) = match &contact {
        None => (StatusCode::OK, None, Vec::new()),
        Some(cid) => match campaign_actions::preview_of(&v.state, &m.principal, &c.id, Some(cid.clone())).await {
            Ok(p) => (StatusCode::OK, Some(p), Vec::new()),
            Err(e) => {
                let (status, errors) = mail::messages(&v, e)?;
                (status, None, errors)
            }
        },
    };
    let frame_url = contact.as_deref().map(|cid| url(&format!("{here}/html"), &[("contact_id", cid)]));
    let ctx = json!({"back": format!("/app/campaigns/{}", c.id), "back_label": c.name, "action": here,
        "choices": choices, "q": q.q, "contact_id": contact, "preview": shown, "errors": errors,
        "frame_url": frame_url});
    render::page(status, "mail/preview.html", mail::frame(&v, "preview-title", "campaigns"), ctx)
        .map(mail::allow_preview_frame)
        .map_err(|e| v.fail(e))
}

/// `/app/campaigns/{id}/preview/html?contact_id=`: the rendered HTML alone, for the
/// preview page's sandboxed frame; without a contact, the preview page.
pub async fn preview_html(v: Visitor, id: web::Path<String>) -> Page {
    let m = v.member()?;
    let q: super::emails::PreviewQuery = mail::query(&v)?;
    let Some(contact) = forms::value(&q.contact_id) else {
        return Ok(see_other(&format!("/app/campaigns/{}/preview", id.as_str())));
    };
    let p = campaign_actions::preview_of(&v.state, &m.principal, &id, Some(contact)).await.map_err(|e| v.fail(e))?;
    Ok(mail::email_document(p.html))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RecipientQuery {
    status: Option<String>,
    after: Option<String>,
}

/// `/app/campaigns/{id}/recipients?status=&after=`: 25 at a time in the order queued.
pub async fn recipients(v: Visitor, id: web::Path<String>) -> Page {
    let m = v.member()?;
    let q: RecipientQuery = mail::query(&v)?;
    let c = campaigns::get_campaign(&v.state, &m.principal, &id).await.map_err(|e| v.fail(e))?;
    let status = forms::value(&q.status);
    let query = CampaignQuery { status: status.clone(), limit: None, after: forms::value(&q.after) };
    let page = campaign_recipients::recipients_of(&v.state, &m.principal, &c.id, query).await.map_err(|e| v.fail(e))?;
    let here = format!("/app/campaigns/{}/recipients", c.id);
    let current = status.unwrap_or_default();
    let next_url = page.next_cursor.map(|n| url(&here, &[("status", &current), ("after", &n)]));
    let filters: Vec<Value> = std::iter::once("")
        .chain(STATUSES.iter().copied())
        .map(|s| {
            json!({"label": if s.is_empty() { "all" } else { s }, "href": url(&here, &[("status", s)]),
            "current": s == current})
        })
        .collect();
    let rows: Vec<Value> = page
        .data
        .iter()
        .map(|r| {
            let href = r.contact_id.as_deref().map(|cid| view::href(Object::Contact, cid));
            json!({"recipient": r, "href": href})
        })
        .collect();
    let ctx = json!({"campaign": c, "rows": rows, "filters": filters, "next_url": next_url,
        "paged": q.after.is_some(), "first_url": url(&here, &[("status", &current)])});
    render::page(StatusCode::OK, "mail/recipients.html", mail::frame(&v, "recipients-title", "campaigns"), ctx)
        .map_err(|e| v.fail(e))
}
