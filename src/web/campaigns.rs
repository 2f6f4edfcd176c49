//! Campaigns in the browser: the list by status, the draft form (picking an email and a
//! segment), and a campaign's page with its live stats, the buttons its status allows and
//! the test-send form. What moves a campaign (send, schedule, pause, resume, cancel, test)
//! is in `campaign_actions.rs`. Every read and write is the API's (`http::campaigns`):
//! only drafts are editable, and the buttons shown come from the status machine itself
//! (`campaigns::next`), so the page never offers what the API would refuse.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use serde::Deserialize;
use serde_json::{json, Value};

use super::forms::{self, Refused};
use super::mail::{self, url};
use super::render::{self, see_other};
use super::{Page, Visitor};
use crate::campaigns::{next, Action, STATUSES};
use crate::error::AppError;
use crate::http::campaigns::{self, Campaign, CampaignQuery};
use crate::http::paging;
use crate::http::{emails, segments};

/// A sending or scheduled campaign's page reloads itself this often (seconds) in a browser
/// without script (`<noscript>`); with script `static/live.js` shows its progress live, or
/// falls back to this when the `campaigns` topic refuses it.
pub const REFRESH_SECS: u32 = 5;

const FIELDS: &[&str] = &["name", "email_id", "segment_id", "from_name", "from_email", "reply_to", "send_at"];

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ListQuery {
    status: Option<String>,
    after: Option<String>,
}

/// `/app/campaigns?status=`: newest first, with progress.
pub async fn list(v: Visitor) -> Page {
    let m = v.member()?;
    let q: ListQuery = mail::query(&v)?;
    let status = forms::value(&q.status);
    let query = CampaignQuery { status: status.clone(), limit: None, after: forms::value(&q.after) };
    let page = campaigns::page_of(&v.state, &m.principal, query).await.map_err(|e| v.fail(e))?;
    let current = status.unwrap_or_default();
    let next_url = page.next_cursor.map(|c| url("/app/campaigns", &[("status", &current), ("after", &c)]));
    let filters: Vec<Value> = std::iter::once("")
        .chain(STATUSES.iter().copied())
        .map(|s| {
            json!({"label": if s.is_empty() { "all" } else { s }, "href": url("/app/campaigns", &[("status", s)]),
                "current": s == current})
        })
        .collect();
    let ctx = json!({"campaigns": page.data, "filters": filters, "next_url": next_url, "paged": q.after.is_some(),
        "first_url": url("/app/campaigns", &[("status", &current)]),
        "can_write": m.role().can_write()});
    render::page(StatusCode::OK, "mail/campaigns.html", mail::frame(&v, "campaigns-title", "campaigns"), ctx)
        .map_err(|e| v.fail(e))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CampaignForm {
    name: String,
    email_id: String,
    segment_id: String,
    from_name: String,
    from_email: String,
    reply_to: String,
}

impl CampaignForm {
    /// The API's draft fields: an empty choice or address is `null` there too.
    fn body(&self) -> Value {
        json!({"name": self.name, "email_id": self.email_id, "segment_id": self.segment_id,
            "from_name": self.from_name, "from_email": self.from_email, "reply_to": self.reply_to})
    }

    fn of(c: &Campaign) -> CampaignForm {
        CampaignForm {
            name: c.name.clone(),
            email_id: c.email_id.clone().unwrap_or_default(),
            segment_id: c.segment_id.clone().unwrap_or_default(),
            from_name: c.from_name.clone(),
            from_email: c.from_email.clone().unwrap_or_default(),
            reply_to: c.reply_to.clone().unwrap_or_default(),
        }
    }
}

/// The emails and segments a draft can pick (the first 100 of each, as the API lists them).
async fn choices(v: &Visitor) -> Result<(Value, Value), super::render::WebError> {
    let m = v.member()?;
    let hundred = || paging::Page { limit: paging::MAX_LIMIT, after: None };
    let emails = emails::page_of(&v.state, &m.principal, hundred()).await.map_err(|e| v.fail(e))?;
    let segments = segments::page_of(&v.state, &m.principal, hundred()).await.map_err(|e| v.fail(e))?;
    let emails: Vec<Value> = emails.data.iter().map(|e| json!({"id": e.id, "name": e.name})).collect();
    let segments: Vec<Value> = segments.data.iter().map(|s| json!({"id": s.id, "name": s.name})).collect();
    Ok((json!(emails), json!(segments)))
}

async fn form_page(
    v: &Visitor,
    status: StatusCode,
    id: Option<&str>,
    form: &CampaignForm,
    errors: BTreeMap<String, Vec<String>>,
) -> Page {
    let (emails, segments) = choices(v).await?;
    let (title, action, cancel) = match id {
        Some(id) => ("campaign-edit-title", format!("/app/campaigns/{id}"), format!("/app/campaigns/{id}")),
        None => ("campaign-new-title", "/app/campaigns".to_string(), "/app/campaigns".to_string()),
    };
    let form = json!({"name": form.name, "email_id": form.email_id, "segment_id": form.segment_id,
        "from_name": form.from_name, "from_email": form.from_email, "reply_to": form.reply_to});
    let ctx = json!({"form": form, "errors": errors, "emails": emails, "segments": segments, "action": action,
        "cancel": cancel, "heading": title});
    render::page(status, "mail/campaign_form.html", mail::frame(v, title, "campaigns"), ctx).map_err(|e| v.fail(e))
}

pub async fn new(v: Visitor) -> Page {
    mail::may_write(&v).await?;
    form_page(&v, StatusCode::OK, None, &CampaignForm::default(), BTreeMap::new()).await
}

pub async fn edit(v: Visitor, id: web::Path<String>) -> Page {
    let m = v.member()?;
    let c = campaigns::get_campaign(&v.state, &m.principal, &id).await.map_err(|e| v.fail(e))?;
    mail::may_write(&v).await?;
    if c.status != "draft" {
        return Err(v.fail(campaigns::not_draft(&c.status)));
    }
    form_page(&v, StatusCode::OK, Some(&c.id), &CampaignForm::of(&c), BTreeMap::new()).await
}

async fn save(v: Visitor, id: Option<String>, body: Bytes) -> Page {
    let m = v.member()?;
    mail::may_write(&v).await?;
    let form: CampaignForm = forms::parse(v.lang, &body)?;
    let saved = match &id {
        None => campaigns::create_draft(&v.state, &m.principal, form.body()).await,
        Some(id) => campaigns::update_draft(&v.state, &m.principal, id, form.body()).await,
    };
    match saved {
        Ok(c) => Ok(see_other(&format!("/app/campaigns/{}", c.id))),
        Err(e) => match forms::refused(v.lang, e, FIELDS, "name") {
            Refused::Form { status, errors } => form_page(&v, status, id.as_deref(), &form, errors).await,
            Refused::Page(p) => Err(p),
        },
    }
}

pub async fn create(v: Visitor, body: Bytes) -> Page {
    save(v, None, body).await
}

pub async fn update(v: Visitor, id: web::Path<String>, body: Bytes) -> Page {
    save(v, Some(id.into_inner()), body).await
}

/// What a campaign page shows besides the campaign: messages from a refused action, the
/// answer of a test send, and what the forms held.
#[derive(Debug, Default)]
pub struct Extra {
    pub errors: Vec<String>,
    pub test_results: Option<Value>,
    pub test_to: String,
    pub send_at: String,
}

/// `Some` when it exists, `None` when it is not found (deleted, in the trash).
fn found<T>(read: Result<T, AppError>) -> Result<Option<T>, AppError> {
    match read {
        Ok(x) => Ok(Some(x)),
        Err(AppError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `/app/campaigns/{id}`.
pub async fn show(v: Visitor, id: web::Path<String>) -> Page {
    show_page(&v, &id, StatusCode::OK, Extra::default()).await
}

/// A campaign's page: its stats, its email and segment, and the buttons that its status
/// and the person's role allow.
pub async fn show_page(v: &Visitor, id: &str, status: StatusCode, extra: Extra) -> Page {
    let m = v.member()?;
    let c = campaigns::get_campaign(&v.state, &m.principal, id).await.map_err(|e| v.fail(e))?;
    // Names only: an email in the trash or a deleted segment shows as missing.
    let email = match &c.email_id {
        Some(e) => found(emails::get_email(&v.state, &m.principal, e).await).map_err(|e| v.fail(e))?.map(|e| e.name),
        None => None,
    };
    let segment = match &c.segment_id {
        // Counted only while it can still change who is mailed; a segment whose filter
        // names a deleted custom field cannot be counted (409), but is still named.
        Some(s) => {
            let draft = c.status == "draft";
            let read = match segments::read_segment(&v.state, &m.principal, s, draft).await {
                Err(AppError::Conflict { .. }) if draft => {
                    segments::read_segment(&v.state, &m.principal, s, false).await
                }
                other => other,
            };
            found(read).map_err(|e| v.fail(e))?.map(|s| (s.name, s.count))
        }
        None => None,
    };
    let manage = m.role().can_manage();
    let may = |a: Action| manage && next(&c.status, a, false).is_some();
    let s = &c.stats;
    let done = s.sent + s.failed + s.bounced + s.suppressed;
    let live = c.status == "sending" || c.status == "scheduled";
    let ctx = json!({
        "campaign": c, "email_name": email, "segment_name": segment.as_ref().map(|s| &s.0),
        "segment_count": segment.as_ref().and_then(|s| s.1), "done": done,
        "can_edit": m.role().can_write() && c.status == "draft",
        "can_send": may(Action::Send), "can_pause": may(Action::Pause), "can_resume": may(Action::Resume),
        "can_cancel": may(Action::Cancel), "can_test": manage, "live": live, "refresh": REFRESH_SECS,
        "errors": extra.errors, "test_results": extra.test_results, "test_to": extra.test_to,
        "send_at": extra.send_at,
    });
    let mut frame = mail::frame(v, "campaign-title", "campaigns");
    if live {
        if let Some(f) = frame.as_object_mut() {
            f.insert("refresh".into(), json!(REFRESH_SECS));
            // `static/live.js` follows the page over the websocket; the reload is for
            // browsers without script.
            f.insert("refresh_noscript".into(), json!(true));
        }
    }
    render::page(status, "mail/campaign.html", frame, ctx).map_err(|e| v.fail(e))
}
