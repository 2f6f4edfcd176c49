//! In-app messages in the browser: the list with each message's figures, the compose form
//! (title, body, action, category, expiry, and the audience: everyone with an external id,
//! a segment's members, or end-user ids one a line), and a message's page with its delivery
//! stats. A message is sent when it is stored (the API has no drafts or schedule; it may
//! expire): `http::inapp::{page_of, send, message}` decide, with the API's roles (people
//! who may write send, everyone reads) and its 422s beside the fields.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use serde::Deserialize;
use serde_json::{json, Value};

use super::forms::{self, Refused};
use super::mail::{self, url};
use super::render::{self, see_other, WebError};
use super::{Page, Visitor};
use crate::http::inapp::{self, ListQuery, RESOURCE};
use crate::http::paging;
use crate::http::principal::Access;
use crate::http::segments;

/// A sending message's page reloads itself this often (seconds).
pub const REFRESH_SECS: u32 = 5;

/// The form's fields, named as the API names them (`audience` for all three choices).
const FIELDS: &[&str] = &["title", "body", "action_url", "category", "expires_at", "audience"];

/// The audience choices (`message-audience-<kind>` in the catalogs).
pub const AUDIENCES: &[&str] = &["all", "segment", "users"];

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Query {
    after: Option<String>,
}

/// `/app/messages`.
pub async fn list(v: Visitor) -> Page {
    let m = v.member()?;
    let q: Query = mail::query(&v)?;
    let page = inapp::page_of(&v.state, &m.principal, ListQuery { limit: None, after: forms::value(&q.after) })
        .await
        .map_err(|e| v.fail(e))?;
    let next_url = page.next_cursor.map(|c| url("/app/messages", &[("after", &c)]));
    let ctx = json!({"messages": page.data, "next_url": next_url, "paged": q.after.is_some(),
        "first_url": "/app/messages", "can_write": m.role().can_write()});
    render::page(StatusCode::OK, "engage/messages.html", v.frame("messages-title", "messages"), ctx)
        .map_err(|e| v.fail(e))
}

/// Refuses the form before its body is read when the API would refuse the send.
async fn may_send(v: &Visitor) -> Result<(), WebError> {
    let m = v.member()?;
    m.principal.require(&v.state, RESOURCE, Access::Write).await.map_err(|e| v.fail(e))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct MessageForm {
    title: String,
    body: String,
    action_url: String,
    category: String,
    expires_at: String,
    audience: String,
    segment_id: String,
    user_ids: String,
}

impl MessageForm {
    /// The API's body: empty optional fields left out, a `datetime-local` read as UTC.
    fn body(&self) -> Value {
        let audience = match self.audience.as_str() {
            "segment" => json!({"segment_id": self.segment_id.trim()}),
            "users" => json!({"user_ids": self
                .user_ids
                .lines()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()}),
            _ => json!({"all": true}),
        };
        let mut body = serde_json::Map::new();
        body.insert("audience".into(), audience);
        body.insert("title".into(), json!(self.title));
        body.insert("body".into(), json!(self.body.replace("\r\n", "\n")));
        let optional = [("action_url", &self.action_url), ("category", &self.category)];
        for (name, value) in optional {
            if !value.trim().is_empty() {
                body.insert(name.into(), json!(value.trim()));
            }
        }
        let at = self.expires_at.trim();
        if !at.is_empty() {
            let at = match at.len() {
                16 => format!("{at}:00Z"),
                19 => format!("{at}Z"),
                _ => at.to_string(),
            };
            body.insert("expires_at".into(), json!(at));
        }
        Value::Object(body)
    }
}

async fn form_page(v: &Visitor, status: StatusCode, form: &MessageForm, errors: BTreeMap<String, Vec<String>>) -> Page {
    let m = v.member()?;
    let hundred = paging::Page { limit: paging::MAX_LIMIT, after: None };
    // Segments are the campaigns feature's: read only when its pages are open to the portal
    // (`GET /api/v1/segments` is refused otherwise, and so is this read).
    let segments: Vec<Value> =
        if crate::web::features::page_on(&v.state.realtime.flags(), m.tenant().as_str(), "/app/segments") {
            let segments = segments::page_of(&v.state, &m.principal, hundred).await.map_err(|e| v.fail(e))?;
            segments.data.iter().map(|s| json!({"id": s.id, "name": s.name})).collect()
        } else {
            Vec::new()
        };
    let audience = if AUDIENCES.contains(&form.audience.as_str()) { form.audience.as_str() } else { "all" };
    let form = json!({"title": form.title, "body": form.body, "action_url": form.action_url,
        "category": form.category, "expires_at": form.expires_at, "audience": audience,
        "segment_id": form.segment_id, "user_ids": form.user_ids});
    let ctx = json!({"form": form, "errors": errors, "segments": segments, "audiences": AUDIENCES});
    render::page(status, "engage/message_form.html", v.frame("message-new-title", "messages"), ctx)
        .map_err(|e| v.fail(e))
}

/// `/app/messages/new`.
pub async fn new(v: Visitor) -> Page {
    may_send(&v).await?;
    form_page(&v, StatusCode::OK, &MessageForm::default(), BTreeMap::new()).await
}

/// `POST /app/messages`: sends the message (the fan-out runs in the background).
pub async fn create(v: Visitor, body: Bytes) -> Page {
    let m = v.member()?;
    may_send(&v).await?;
    let form: MessageForm = forms::parse(v.lang, &body)?;
    match inapp::send(&v.state, &m.principal, form.body()).await {
        Ok(sent) => Ok(see_other(&format!("/app/messages/{}", sent.id))),
        Err(e) => {
            // `audience.user_ids` and `audience.segment_id` land beside the audience.
            let e = match e {
                crate::error::AppError::Validation { mut errors, detail } => {
                    for f in &mut errors {
                        if f.field.starts_with("audience") {
                            f.field = "audience".into();
                        }
                    }
                    crate::error::AppError::Validation { errors, detail }
                }
                other => other,
            };
            match forms::refused(v.lang, e, FIELDS, "title") {
                Refused::Form { status, errors } => form_page(&v, status, &form, errors).await,
                Refused::Page(p) => Err(p),
            }
        }
    }
}

/// `/app/messages/{id}`: the message and its stats; reloads itself while it goes out.
pub async fn show(v: Visitor, id: web::Path<String>) -> Page {
    let m = v.member()?;
    let msg = inapp::message(&v.state, &m.principal, id.into_inner()).await.map_err(|e| v.fail(e))?;
    let live = msg.status != "sent";
    let segments_on = crate::web::features::page_on(&v.state.realtime.flags(), m.tenant().as_str(), "/app/segments");
    let ctx = json!({"message": msg, "live": live, "segments_on": segments_on});
    let mut frame = v.frame("message-page-title", "messages");
    if live {
        if let Some(f) = frame.as_object_mut() {
            f.insert("refresh".into(), json!(REFRESH_SECS));
        }
    }
    render::page(StatusCode::OK, "engage/message.html", frame, ctx).map_err(|e| v.fail(e))
}
