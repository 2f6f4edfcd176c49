//! Segments: a named, saved contact search (the filter groups of `POST
//! /api/v1/contacts/search`), evaluated whenever it is read or sent to, so its members are
//! always the live contacts that match now. Each change writes its outbox event
//! (`segment.created|updated|deleted`) and audit entry in the caller's transaction.
//!
//! The filter groups are stored as the client wrote them and parsed again against the
//! portal's current custom fields at every use: a custom field deleted or re-keyed since
//! makes the segment refuse to evaluate ([`stale`], a 409 naming the filter), never
//! quietly widen its audience. This module must never return a trashed contact or another
//! portal's contact as a member.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::objects::Object;
use super::search::{parse, FilterGroupInput, Search};
use crate::db::audit::NewEntry;
use crate::db::events::{ChangeActor, NewEvent};
use crate::db::records::RecordRow;
use crate::db::segments::SegmentRow;
use crate::db::{TenantDb, TenantTx};
use crate::domain::SegmentId;
use crate::error::{AppError, FieldError};

/// The object of segment events.
pub const OBJECT: &str = "segment";
/// Characters in a segment's name.
pub const NAME_MAX: usize = 200;

fn not_found() -> AppError {
    AppError::not_found("segment")
}

fn check_name(raw: &str, errors: &mut Vec<FieldError>) -> String {
    let name = raw.trim().to_string();
    if name.is_empty() || name.chars().count() > NAME_MAX {
        errors.push(FieldError::new("name", format!("is required, at most {NAME_MAX} characters")));
    }
    name
}

/// Parses filter groups for contacts against this portal's custom fields.
fn parse_groups(t: &mut TenantDb<'_>, groups: &[FilterGroupInput]) -> Result<Search, Vec<FieldError>> {
    let defs = match t.custom_fields(Some(Object::Contact)) {
        Ok(d) => d,
        Err(e) => return Err(vec![FieldError::new("filter_groups", format!("cannot be read now: {e}"))]),
    };
    parse(Object::Contact, groups, &defs)
}

/// The 409 of a segment whose stored filters no longer parse.
fn stale(errors: Vec<FieldError>) -> AppError {
    let detail = errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; ");
    AppError::conflict(format!("this segment's filters no longer fit the contact fields ({detail}); edit the segment"))
}

/// The segment's search, as the portal's fields stand now (409 if they no longer fit).
pub fn search_of(t: &mut TenantDb<'_>, row: &SegmentRow) -> Result<Search, AppError> {
    let groups: Vec<FilterGroupInput> = serde_json::from_str(&row.filter_groups).map_err(AppError::internal)?;
    parse_groups(t, &groups).map_err(stale)
}

/// The contacts an in-app message reaches: the segment's members (every live contact
/// when `row` is `None`) that have an `external_id`.
pub fn end_user_search(t: &mut TenantDb<'_>, row: Option<&SegmentRow>) -> Result<Search, AppError> {
    let mut groups: Vec<FilterGroupInput> = match row {
        Some(r) => serde_json::from_str(&r.filter_groups).map_err(AppError::internal)?,
        None => Vec::new(),
    };
    let has_id =
        super::search::FilterInput { field: "external_id".into(), op: "exists".into(), value: Value::Bool(true) };
    if groups.is_empty() {
        groups.push(FilterGroupInput { filters: Vec::new() });
    }
    for g in &mut groups {
        g.filters.push(has_id.clone());
    }
    parse_groups(t, &groups).map_err(stale)
}

/// A segment of this portal.
pub fn get(t: &mut TenantDb<'_>, id: &SegmentId) -> Result<SegmentRow, AppError> {
    t.segment(id.as_str())?.ok_or_else(not_found)
}

/// How many live contacts the segment holds now, exactly.
pub fn count(t: &mut TenantDb<'_>, row: &SegmentRow) -> Result<i64, AppError> {
    let search = search_of(t, row)?;
    Ok(t.segment_member_count(&search)?)
}

/// One page of members in creation order after the contact id `after`.
pub fn members(
    t: &mut TenantDb<'_>,
    search: &Search,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<RecordRow>, AppError> {
    Ok(t.segment_member_page(search, after, limit)?)
}

/// The segment as the API and its events show it.
pub fn view(row: &SegmentRow) -> Value {
    let groups: Value = serde_json::from_str(&row.filter_groups).unwrap_or_else(|_| json!([]));
    json!({
        "id": row.id,
        "name": row.name,
        "filter_groups": groups,
        "created_at": row.created_at.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "updated_at": row.updated_at.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
    })
}

fn event(verb: &str, row: &SegmentRow, actor: &ChangeActor, data: Value) -> NewEvent {
    NewEvent {
        event_type: format!("segment.{verb}"),
        object: OBJECT,
        record_id: row.id.clone(),
        actor_type: actor.kind,
        actor_id: actor.id.clone(),
        data,
        diff: None,
    }
}

fn encode(groups: &[FilterGroupInput]) -> Result<String, AppError> {
    serde_json::to_string(groups).map_err(AppError::internal)
}

/// Saves a new segment.
pub fn create(
    t: &mut TenantTx<'_>,
    name: &str,
    groups: &[FilterGroupInput],
    actor: &ChangeActor,
    audit: NewEntry,
    now: DateTime<Utc>,
) -> Result<SegmentRow, AppError> {
    let mut errors = Vec::new();
    let name = check_name(name, &mut errors);
    if let Err(e) = parse_groups(t, groups) {
        errors.extend(e);
    }
    if !errors.is_empty() {
        return Err(AppError::invalid(errors));
    }
    let at = crate::content::stored(now);
    let row = SegmentRow {
        id: SegmentId::new().to_string(),
        tenant_id: t.tenant_id().to_string(),
        name,
        filter_groups: encode(groups)?,
        created_at: at,
        updated_at: at,
    };
    t.insert_segment(&row)?;
    t.append_event(event("created", &row, actor, view(&row)), now);
    t.audit(audit.target("segment", &row.id).details(json!({"name": row.name})), now)?;
    Ok(row)
}

/// Renames a segment or replaces its filters; nothing is written if neither changes.
pub fn update(
    t: &mut TenantTx<'_>,
    id: &SegmentId,
    name: Option<&str>,
    groups: Option<&[FilterGroupInput]>,
    actor: &ChangeActor,
    audit: NewEntry,
    now: DateTime<Utc>,
) -> Result<SegmentRow, AppError> {
    let mut row = get(t, id)?;
    let before = row.clone();
    let mut errors = Vec::new();
    if let Some(n) = name {
        row.name = check_name(n, &mut errors);
    }
    if let Some(g) = groups {
        match parse_groups(t, g) {
            Ok(_) => row.filter_groups = encode(g)?,
            Err(e) => errors.extend(e),
        }
    }
    if !errors.is_empty() {
        return Err(AppError::invalid(errors));
    }
    let same_filters = serde_json::from_str::<Value>(&before.filter_groups).ok()
        == serde_json::from_str::<Value>(&row.filter_groups).ok();
    if row.name == before.name && same_filters {
        return Ok(before);
    }
    row.updated_at = crate::content::stored(now);
    t.save_segment(&row)?;
    t.append_event(event("updated", &row, actor, view(&row)), now);
    t.audit(
        audit.target("segment", &row.id).details(json!({"name": row.name, "filters_changed": !same_filters})),
        now,
    )?;
    Ok(row)
}

/// Deletes a segment for good (it holds no data of its own: its members are contacts).
pub fn delete(
    t: &mut TenantTx<'_>,
    id: &SegmentId,
    actor: &ChangeActor,
    audit: NewEntry,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let row = get(t, id)?;
    t.delete_segment(&row.id)?;
    t.append_event(event("deleted", &row, actor, json!({"id": row.id})), now);
    t.audit(audit.target("segment", &row.id).details(json!({"name": row.name})), now)?;
    Ok(())
}
