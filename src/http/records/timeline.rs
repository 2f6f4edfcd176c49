//! `GET /{plural}/{id}/timeline`: a record's history from the outbox, newest first.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::record_id;
use crate::crm::objects::Object;
use crate::error::AppError;
use crate::http::paging::{finish_page, Page};
use crate::http::principal::{key_allows, Access, Actor, Principal};
use crate::http::AppState;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct TimelineParams {
    /// 1-100, default 25.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    pub after: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TimelineEntry {
    /// The event's position in the portal's change sequence.
    pub seq: i64,
    /// `contact.created`, `contact.updated`, `deal.stage_changed`, `note.created`, …
    #[serde(rename = "type")]
    pub kind: String,
    pub occurred_at: String,
    /// `{type: user|api_key|system, id}`.
    #[schema(value_type = Object)]
    pub actor: serde_json::Value,
    /// For updates: `{field: {from, to}}`.
    #[schema(value_type = Option<Object>)]
    pub changes: Option<serde_json::Value>,
    /// The record the event is about (this one, or a linked note or task) as it was then.
    #[schema(value_type = Object)]
    pub record: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TimelinePage {
    pub data: Vec<TimelineEntry>,
    pub next_cursor: Option<String>,
}

/// Field changes (old → new, who, when), linked notes and tasks, trash and restore.
pub async fn timeline(
    state: web::Data<AppState>,
    p: Principal,
    object: Object,
    id: String,
    q: TimelineParams,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(entries(&state, &p, object, &id, q).await?))
}

/// One page of a record's history, as the API answers it (the web app's record pages call
/// it too).
pub async fn entries(
    state: &AppState,
    p: &Principal,
    object: Object,
    id: &str,
    q: TimelineParams,
) -> Result<TimelinePage, AppError> {
    p.require(state, object.plural(), Access::Read).await?;
    let id = record_id(object, id)?;
    let mut errors = Vec::new();
    let page = Page::parse(q.limit.as_deref(), q.after.as_deref(), &mut errors);
    let before = page.after_seq(&mut errors, "is not a cursor from this timeline");
    if !errors.is_empty() {
        return Err(AppError::invalid(errors));
    }
    let limit = page.limit;
    let link_field = format!("{}_ids", object.name());
    // Linked notes and tasks are part of the history only for readers of notes and tasks.
    let linked: Vec<&'static str> = [Object::Note, Object::Task]
        .into_iter()
        .filter(|o| match &p.actor {
            Actor::Key(k) => key_allows(&k.scopes, o.plural(), Access::Read),
            Actor::User(_) | Actor::Jita(_) => true,
        })
        .map(Object::name)
        .collect();
    let (rows, next_cursor) = state
        .db
        .tenant(p.tenant_id.clone())
        .read(move |t| {
            // Live or in the trash: the history of a deleted record stays readable.
            if t.record(object, &id, false)?.is_none() && t.record(object, &id, true)?.is_none() {
                return Err(AppError::not_found(object.name()));
            }
            Ok(finish_page(t.timeline(id.as_str(), &link_field, &linked, before, limit + 1)?, limit, |e| {
                e.seq.to_string()
            }))
        })
        .await?;
    let data = rows
        .into_iter()
        .map(|e| TimelineEntry {
            seq: e.seq,
            kind: e.event_type,
            occurred_at: e.occurred_at.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            actor: serde_json::json!({"type": e.actor_type, "id": e.actor_id}),
            changes: e.diff.and_then(|d| serde_json::from_str(&d).ok()),
            record: serde_json::from_str(&e.data).unwrap_or(serde_json::Value::Null),
        })
        .collect();
    Ok(TimelinePage { data, next_cursor })
}
