//! Record operations inside one transaction: create, update, trash, restore, purge, and
//! the JSON view the API returns. Each change writes its outbox event in the same
//! transaction. Used by the HTTP handlers (and later by batch and import).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Map, Value};

use super::input::Parsed;
use super::objects::custom_index_name;
use super::objects::{Kind, Object};
use crate::db::custom_fields::CustomFieldRow;
use crate::db::events::NewEvent;
use crate::db::records::{FieldIndex, RecordRow};
use crate::db::{TenantDb, TenantTx};
use crate::domain::{PipelineId, RecordId, UserId};
use crate::error::{AppError, FieldError};

/// How long a deleted record can be restored.
pub fn trash_retention() -> Duration {
    Duration::days(30)
}

pub use crate::db::events::ChangeActor;

fn rfc3339(t: chrono::NaiveDateTime) -> Value {
    Value::String(t.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
}

/// The record as the API returns it: id, times, every built-in field (null when unset),
/// tags, and the values of live custom fields by key.
pub fn view(object: Object, row: &RecordRow, tags: Vec<String>, defs: &[CustomFieldRow]) -> Value {
    let props: Map<String, Value> = serde_json::from_str(&row.props).unwrap_or_default();
    let custom: Map<String, Value> = serde_json::from_str(&row.custom).unwrap_or_default();
    let mut out = Map::new();
    out.insert("id".into(), Value::String(row.id.clone()));
    out.insert("created_at".into(), rfc3339(row.created_at));
    out.insert("updated_at".into(), rfc3339(row.updated_at));
    for spec in object.fields() {
        let v = props.get(&spec.key).cloned().unwrap_or(Value::Null);
        let v = match (&spec.kind, v) {
            (super::objects::Kind::Links(_), Value::Null) => json!([]),
            (_, v) => v,
        };
        out.insert(spec.key, v);
    }
    out.insert("tags".into(), json!(tags));
    let mut cf = Map::new();
    for def in defs.iter().filter(|d| d.object == object.name()) {
        cf.insert(def.field_key.clone(), custom.get(&def.id).cloned().unwrap_or(Value::Null));
    }
    out.insert("custom_fields".into(), Value::Object(cf));
    if let Some(t) = row.deleted_at {
        out.insert("deleted_at".into(), rfc3339(t));
    }
    Value::Object(out)
}

fn search_text(object: Object, props: &Map<String, Value>) -> String {
    object
        .searchable()
        .iter()
        .filter_map(|k| props.get(*k).and_then(Value::as_str))
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

fn external_id(object: Object, props: &Map<String, Value>) -> Option<String> {
    (object == Object::Contact).then(|| props.get("external_id").and_then(Value::as_str).map(str::to_string)).flatten()
}

fn email_lower(object: Object, props: &Map<String, Value>) -> Option<String> {
    (object == Object::Contact).then(|| props.get("email").and_then(Value::as_str).map(str::to_lowercase)).flatten()
}

/// Checks that linked ids are live records of the right object in this portal.
fn check_links(tdb: &mut TenantDb<'_>, parsed: &Parsed) -> Result<(), AppError> {
    let mut errors = Vec::new();
    for (field, target, ids) in &parsed.links {
        let live = tdb.live_ids(*target, ids)?;
        for (i, id) in ids.iter().enumerate() {
            if !live.contains(id) {
                errors.push(FieldError::new(
                    format!("{field}[{i}]"),
                    format!("{id} is not a {} in this portal (or it is in the trash)", target.name()),
                ));
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::invalid(errors))
    }
}

/// Checks fields that refer to other things in the portal: people (`assignee_id`) and,
/// for deals, the pipeline and its stage. A deal moved to a pipeline without a stage lands
/// in its first stage.
fn check_refs(
    tdb: &mut TenantDb<'_>,
    object: Object,
    props: &mut Map<String, Value>,
    index: &mut BTreeMap<String, Vec<super::values::Indexed>>,
    touched: &[String],
) -> Result<(), AppError> {
    let mut errors = Vec::new();
    for spec in object.fields() {
        if spec.kind != Kind::Member || !touched.contains(&spec.key) {
            continue;
        }
        if let Some(id) = props.get(&spec.key).and_then(Value::as_str) {
            if tdb.membership(&UserId::from_db(id.to_string()))?.is_none() {
                errors.push(FieldError::new(spec.key.clone(), "is not a person in this portal"));
            }
        }
    }
    let pipeline_touched = touched.iter().any(|k| k == "pipeline_id" || k == "stage_id");
    if object == Object::Deal && pipeline_touched {
        let pipeline_id = props.get("pipeline_id").and_then(Value::as_str).map(str::to_string);
        let stage_id = props.get("stage_id").and_then(Value::as_str).map(str::to_string);
        match (pipeline_id, stage_id) {
            (None, None) => {}
            (None, Some(_)) => errors.push(FieldError::new("pipeline_id", "is required with stage_id")),
            (Some(pid), stage) => match tdb.pipeline(&PipelineId::from_db(pid))? {
                None => errors.push(FieldError::new("pipeline_id", "is not a pipeline of this portal")),
                Some(p) => {
                    let stages = p.stage_list();
                    let stage_ok = stage.as_ref().is_some_and(|s| stages.iter().any(|st| &st.id == s));
                    if !stage_ok {
                        if touched.iter().any(|k| k == "stage_id") && stage.is_some() {
                            errors.push(FieldError::new("stage_id", "is not a stage of this pipeline"));
                        } else if let Some(first) = stages.first() {
                            props.insert("stage_id".into(), Value::String(first.id.clone()));
                            index.insert(
                                "stage_id".into(),
                                vec![super::values::Indexed { text: Some(first.id.clone()), num: None }],
                            );
                        }
                    }
                }
            },
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::invalid(errors))
    }
}

fn check_email_free(tdb: &mut TenantDb<'_>, email: Option<&str>, own_id: Option<&str>) -> Result<(), AppError> {
    let Some(email) = email else { return Ok(()) };
    match tdb.contact_by_email(email)? {
        Some(existing) if Some(existing.as_str()) != own_id => {
            let mut extra = Map::new();
            extra.insert("existing_id".into(), Value::String(existing));
            Err(AppError::WithExtra {
                status: actix_web::http::StatusCode::CONFLICT,
                code: "conflict",
                detail: format!("a contact with the email {email} already exists"),
                errors: vec![FieldError::new("email", "is already used by another contact")],
                extra,
            })
        }
        _ => Ok(()),
    }
}

/// External ids are unique per portal among live contacts (exact, case-sensitive).
fn check_external_id_free(
    tdb: &mut TenantDb<'_>,
    external: Option<&str>,
    own_id: Option<&str>,
) -> Result<(), AppError> {
    let Some(external) = external else { return Ok(()) };
    match tdb.contact_by_external_id(external)? {
        Some(existing) if Some(existing.as_str()) != own_id => {
            let mut extra = Map::new();
            extra.insert("existing_id".into(), Value::String(existing));
            Err(AppError::WithExtra {
                status: actix_web::http::StatusCode::CONFLICT,
                code: "conflict",
                detail: "a contact with this external_id already exists".into(),
                errors: vec![FieldError::new("external_id", "is already used by another contact")],
                extra,
            })
        }
        _ => Ok(()),
    }
}

fn index_list(index: BTreeMap<String, Vec<super::values::Indexed>>) -> Vec<FieldIndex> {
    index.into_iter().map(|(field, values)| FieldIndex { field, values }).collect()
}

/// A task given to someone (created with an assignee, or reassigned) lands in that
/// person's notification inbox, unless they assigned it to themselves.
fn notify_assignee(
    tdb: &mut TenantTx<'_>,
    object: Object,
    task: &Value,
    actor: &ChangeActor,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    if object != Object::Task {
        return Ok(());
    }
    let Some(assignee) = task.get("assignee_id").and_then(Value::as_str) else { return Ok(()) };
    if actor.kind == "user" && actor.id.as_deref() == Some(assignee) {
        return Ok(());
    }
    let title = task.get("title").and_then(Value::as_str).unwrap_or_default();
    let notice = crate::notifications::Notice {
        kind: "task_assigned",
        title: format!("Task assigned: {title}"),
        body: String::new(),
        data: json!({"task_id": task.get("id"), "title": title, "due_at": task.get("due_at")}),
    };
    crate::notifications::deliver(tdb, &[assignee.to_string()], &notice, now)?;
    Ok(())
}

fn event(object: Object, verb: &str, id: &str, actor: &ChangeActor, data: Value, diff: Option<Value>) -> NewEvent {
    NewEvent {
        event_type: format!("{}.{verb}", object.name()),
        object: object.name(),
        record_id: id.to_string(),
        actor_type: actor.kind,
        actor_id: actor.id.clone(),
        data,
        diff,
    }
}

fn load_view(
    tdb: &mut TenantDb<'_>,
    object: Object,
    row: &RecordRow,
    defs: &[CustomFieldRow],
) -> Result<Value, AppError> {
    let tags = tdb.record_tag_names(&row.id)?;
    Ok(view(object, row, tags, defs))
}

pub fn create(
    tdb: &mut TenantTx<'_>,
    object: Object,
    parsed: Parsed,
    defs: &[CustomFieldRow],
    actor: &ChangeActor,
    now: DateTime<Utc>,
) -> Result<Value, AppError> {
    check_links(tdb, &parsed)?;
    let touched: Vec<String> = parsed.props.keys().cloned().collect();
    let mut index = parsed.index;
    let mut props: Map<String, Value> = parsed.props.into_iter().filter(|(_, v)| !v.is_null()).collect();
    check_refs(tdb, object, &mut props, &mut index, &touched)?;
    let custom: Map<String, Value> = parsed.custom.into_iter().filter(|(_, v)| !v.is_null()).collect();
    let email = email_lower(object, &props);
    check_email_free(tdb, email.as_deref(), None)?;
    let external = external_id(object, &props);
    check_external_id_free(tdb, external.as_deref(), None)?;
    let at = now.naive_utc();
    let row = RecordRow {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: tdb.tenant_id().to_string(),
        object: object.name().to_string(),
        search_text: search_text(object, &props),
        props: Value::Object(props).to_string(),
        custom: Value::Object(custom).to_string(),
        email_lower: email,
        created_at: at,
        updated_at: at,
        deleted_at: None,
        purge_at: None,
        external_id: external,
    };
    tdb.insert_record(&row)?;
    tdb.index_fields(object, &row.id, &index_list(index), true)?;
    // A new record has only the tags it was created with: no read back when it has none.
    let v = match &parsed.tags {
        Some(tags) => {
            tdb.set_record_tags(&row.id, tags, at)?;
            load_view(tdb, object, &row, defs)?
        }
        None => view(object, &row, Vec::new(), defs),
    };
    tdb.append_event(event(object, "created", &row.id, actor, v.clone(), None), now);
    notify_assignee(tdb, object, &v, actor, now)?;
    Ok(v)
}

pub fn get(tdb: &mut TenantDb<'_>, object: Object, id: &RecordId, defs: &[CustomFieldRow]) -> Result<Value, AppError> {
    let (row, tags) = tdb.live_record_with_tags(object, id)?.ok_or_else(|| AppError::not_found(object.name()))?;
    Ok(view(object, &row, tags, defs))
}

pub fn update(
    tdb: &mut TenantTx<'_>,
    object: Object,
    id: &RecordId,
    parsed: Parsed,
    defs: &[CustomFieldRow],
    actor: &ChangeActor,
    now: DateTime<Utc>,
) -> Result<Value, AppError> {
    let (rid, id) = (id, id.as_str());
    let mut row = tdb.record(object, rid, false)?.ok_or_else(|| AppError::not_found(object.name()))?;
    check_links(tdb, &parsed)?;
    let before = load_view(tdb, object, &row, defs)?;
    let touched: Vec<String> = parsed.props.keys().cloned().collect();
    let mut index = parsed.index;
    let mut props: Map<String, Value> = serde_json::from_str(&row.props).unwrap_or_default();
    let mut custom: Map<String, Value> = serde_json::from_str(&row.custom).unwrap_or_default();
    for (k, v) in parsed.props {
        if v.is_null() {
            props.remove(&k);
        } else {
            props.insert(k, v);
        }
    }
    for (k, v) in parsed.custom {
        if v.is_null() {
            custom.remove(&k);
        } else {
            custom.insert(k, v);
        }
    }
    check_refs(tdb, object, &mut props, &mut index, &touched)?;
    let email = email_lower(object, &props);
    check_email_free(tdb, email.as_deref(), Some(id))?;
    let external = external_id(object, &props);
    check_external_id_free(tdb, external.as_deref(), Some(id))?;
    row.external_id = external;
    row.search_text = search_text(object, &props);
    row.props = Value::Object(props).to_string();
    row.custom = Value::Object(custom).to_string();
    row.email_lower = email;
    row.updated_at = now.naive_utc();
    if let Some(tags) = &parsed.tags {
        tdb.set_record_tags(id, tags, row.updated_at)?;
    }
    let mut after = load_view(tdb, object, &row, defs)?;
    let diff = diff(&before, &after);
    if diff.is_empty() {
        // Nothing changed: no write, no event, the record as it was.
        return Ok(before);
    }
    tdb.update_record(&row)?;
    tdb.index_fields(object, id, &index_list(index), false)?;
    after = load_view(tdb, object, &row, defs)?;
    // A deal moving between stages is the event pipelines and dashboards follow.
    let verb = if object == Object::Deal && diff.contains_key("stage_id") { "stage_changed" } else { "updated" };
    let reassigned = diff.contains_key("assignee_id");
    tdb.append_event(event(object, verb, id, actor, after.clone(), Some(Value::Object(diff))), now);
    if reassigned {
        notify_assignee(tdb, object, &after, actor, now)?;
    }
    Ok(after)
}

/// `{field: {"from", "to"}}` for every field that differs (times excluded).
fn diff(before: &Value, after: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    let (Some(b), Some(a)) = (before.as_object(), after.as_object()) else {
        return out;
    };
    for (k, new) in a {
        if k == "updated_at" {
            continue;
        }
        if k == "custom_fields" {
            let empty = Map::new();
            let old_cf = b.get(k).and_then(Value::as_object).unwrap_or(&empty);
            for (ck, cv) in new.as_object().unwrap_or(&empty) {
                let ov = old_cf.get(ck).unwrap_or(&Value::Null);
                if ov != cv {
                    out.insert(format!("custom_fields.{ck}"), json!({"from": ov, "to": cv}));
                }
            }
            continue;
        }
        let old = b.get(k).unwrap_or(&Value::Null);
        if old != new {
            out.insert(k.clone(), json!({"from": old, "to": new}));
        }
    }
    out
}

pub fn trash(
    tdb: &mut TenantTx<'_>,
    object: Object,
    id: &RecordId,
    actor: &ChangeActor,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let (rid, id) = (id, id.as_str());
    tdb.record(object, rid, false)?.ok_or_else(|| AppError::not_found(object.name()))?;
    let purge_at = now + trash_retention();
    tdb.set_trashed(rid, Some(now.naive_utc()), Some(purge_at.naive_utc()))?;
    tdb.append_event(event(object, "deleted", id, actor, json!({"id": id}), None), now);
    Ok(())
}

/// Brings a record back whole: fields, custom values, tags and links were never removed.
pub fn restore(
    tdb: &mut TenantTx<'_>,
    object: Object,
    id: &RecordId,
    defs: &[CustomFieldRow],
    actor: &ChangeActor,
    now: DateTime<Utc>,
) -> Result<Value, AppError> {
    let (rid, id) = (id, id.as_str());
    let row = tdb.record(object, rid, true)?.ok_or_else(|| AppError::not_found(object.name()))?;
    check_email_free(tdb, row.email_lower.as_deref(), Some(id))?;
    check_external_id_free(tdb, row.external_id.as_deref(), Some(id))?;
    tdb.set_trashed(rid, None, None)?;
    let live = tdb.record(object, rid, false)?.ok_or_else(|| AppError::not_found(object.name()))?;
    let v = load_view(tdb, object, &live, defs)?;
    tdb.append_event(event(object, "restored", id, actor, v.clone(), None), now);
    Ok(v)
}

/// Custom field definitions by object, as views and validation need them.
pub fn defs_by_object(defs: Vec<CustomFieldRow>) -> HashMap<String, Vec<CustomFieldRow>> {
    let mut map: HashMap<String, Vec<CustomFieldRow>> = HashMap::new();
    for d in defs {
        map.entry(d.object.clone()).or_default().push(d);
    }
    map
}

/// The index field name for a filter on `custom_fields.<key>`.
pub fn custom_filter_field(defs: &[CustomFieldRow], key: &str) -> Option<String> {
    defs.iter().find(|d| d.field_key == key).map(|d| custom_index_name(&d.id))
}
