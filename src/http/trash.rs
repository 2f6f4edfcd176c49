//! The trash: deleted records, custom fields, tags, custom values and emails, restorable whole for 30 days, then purged
//! for good by the scheduler (`jobs::purge`).

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::custom_fields::CustomField;
use super::paging::{encode_cursor, finish_page, Page};
use super::principal::{Access, Principal};
use super::records::change_actor;
use super::AppState;
use crate::crm::objects::Object;
use crate::crm::query::{ListSpec, Order, Position};
use crate::crm::records;
use crate::domain::{CustomFieldId, CustomValueId, EmailId, RecordId, TagId};
use crate::error::AppError;

/// What can be in the trash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TrashType {
    Record(Object),
    CustomField,
    Tag,
    CustomValue,
    Email,
}

const TYPES: &str = "contact, company, deal, ticket, task, note, tag, custom_field, custom_value, email";

fn parse_type(raw: &str) -> Option<TrashType> {
    match raw {
        "custom_field" => Some(TrashType::CustomField),
        "tag" => Some(TrashType::Tag),
        "custom_value" => Some(TrashType::CustomValue),
        "email" => Some(TrashType::Email),
        other => Object::ALL.into_iter().find(|o| o.name() == other).map(TrashType::Record),
    }
}

fn resource(t: TrashType) -> &'static str {
    match t {
        TrashType::Record(o) => o.plural(),
        TrashType::CustomField => "custom_fields",
        TrashType::Tag => "tags",
        TrashType::CustomValue => "custom_values",
        TrashType::Email => super::emails::RESOURCE,
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct TrashQuery {
    /// What to list (required).
    #[serde(rename = "type")]
    #[param(required = true, schema_with = trash_type_schema)]
    pub kind: Option<String>,
    /// 1-100, default 25.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    pub after: Option<String>,
}

/// The path of `POST /api/v1/trash/{type}/{id}/restore`, for the OpenAPI document.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // read by the OpenAPI document only
pub struct RestorePath {
    /// What the item is.
    #[serde(rename = "type")]
    #[param(schema_with = trash_type_schema)]
    kind: String,
    /// The item's id.
    id: String,
}

/// Every `type` the trash holds, as the OpenAPI document lists them.
fn trash_type_schema() -> utoipa::openapi::Object {
    let names = Object::ALL.into_iter().map(Object::name).chain(["tag", "custom_field", "custom_value", "email"]);
    utoipa::openapi::ObjectBuilder::new().schema_type(utoipa::openapi::Type::String).enum_values(Some(names)).build()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TrashItem {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    pub deleted_at: String,
    /// When it will be deleted for good.
    pub purge_at: String,
    /// The item as it was.
    #[schema(value_type = Object)]
    pub item: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TrashPage {
    pub data: Vec<TrashItem>,
    pub next_cursor: Option<String>,
}

fn stamp(t: Option<chrono::NaiveDateTime>) -> String {
    t.map(|t| t.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)).unwrap_or_default()
}

#[utoipa::path(get, path = "/api/v1/trash", tag = "trash", security(("bearer" = [])), params(TrashQuery),
    responses((status = 200, body = TrashPage),
        (status = 422, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn list(
    state: web::Data<AppState>,
    p: Principal,
    q: web::Query<TrashQuery>,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(page(&state, &p, q.into_inner()).await?))
}

/// One page of the trash of one type, as the API answers it (the web app's trash too).
pub async fn page(state: &AppState, p: &Principal, q: TrashQuery) -> Result<TrashPage, AppError> {
    let t = q
        .kind
        .as_deref()
        .and_then(parse_type)
        .ok_or_else(|| AppError::validation("type", format!("is required: one of {TYPES}")))?;
    p.require(state, resource(t), Access::Read).await?;
    let mut errors = Vec::new();
    let page = Page::parse(q.limit.as_deref(), q.after.as_deref(), &mut errors);
    let (limit, after_id) = (page.limit, page.after_id(&mut errors));
    if !errors.is_empty() {
        return Err(AppError::invalid(errors));
    }
    let (data, next_cursor) = state
        .db
        .tenant(p.tenant_id.clone())
        .read(move |tdb| {
            let mut items = Vec::new();
            match t {
                TrashType::Record(object) => {
                    let defs = tdb.custom_fields(Some(object))?;
                    let rows = tdb.list_records(&ListSpec {
                        object,
                        order: Order::Created { desc: false },
                        after: after_id.map(Position::Id),
                        q: None,
                        tag: None,
                        limit: limit + 1,
                        trashed: true,
                        search: None,
                    })?;
                    let ids: Vec<&str> = rows.iter().map(|(row, _)| row.id.as_str()).collect();
                    let mut tags_of = tdb.tag_names_of(&ids)?;
                    for (row, _) in rows {
                        let tags = tags_of.remove(&row.id).unwrap_or_default();
                        items.push(TrashItem {
                            kind: object.name().into(),
                            id: row.id.clone(),
                            deleted_at: stamp(row.deleted_at),
                            purge_at: stamp(row.purge_at),
                            item: records::view(object, &row, tags, &defs),
                        });
                    }
                }
                TrashType::CustomField => {
                    for row in tdb.trashed_custom_fields(after_id.as_deref(), limit + 1)? {
                        items.push(TrashItem {
                            kind: "custom_field".into(),
                            id: row.id.clone(),
                            deleted_at: stamp(row.deleted_at),
                            purge_at: stamp(row.purge_at),
                            item: serde_json::to_value(CustomField::from(&row)).map_err(AppError::internal)?,
                        });
                    }
                }
                TrashType::Tag => {
                    for (row, _) in tdb.tags(true, after_id.as_deref(), limit + 1)? {
                        items.push(TrashItem {
                            kind: "tag".into(),
                            id: row.id.clone(),
                            deleted_at: stamp(row.deleted_at),
                            purge_at: stamp(row.purge_at),
                            item: serde_json::to_value(super::tags::Tag::of(&row, 0)).map_err(AppError::internal)?,
                        });
                    }
                }
                TrashType::CustomValue => {
                    for row in tdb.custom_values(true, after_id.as_deref(), limit + 1)? {
                        items.push(TrashItem {
                            kind: "custom_value".into(),
                            id: row.id.clone(),
                            deleted_at: stamp(row.deleted_at),
                            purge_at: stamp(row.purge_at),
                            item: serde_json::to_value(super::custom_values::CustomValue::from(&row))
                                .map_err(AppError::internal)?,
                        });
                    }
                }
                TrashType::Email => {
                    for row in tdb.emails(true, after_id.as_deref(), limit + 1)? {
                        items.push(TrashItem {
                            kind: "email".into(),
                            id: row.id.clone(),
                            deleted_at: stamp(row.deleted_at),
                            purge_at: stamp(crate::content::emails::purge_at(&row)),
                            item: serde_json::to_value(super::emails::Email::from(&row)).map_err(AppError::internal)?,
                        });
                    }
                }
            }
            Ok(finish_page(items, limit, |i| encode_cursor(&i.id)))
        })
        .await?;
    Ok(TrashPage { data, next_cursor })
}

/// Whether bringing back an item of this type needs an owner or admin (or the key scope):
/// everything but emails, which are everyday content.
pub fn restore_needs_manager(kind: &str) -> bool {
    parse_type(kind) != Some(TrashType::Email)
}

/// Bring an item back whole: a record with its tags, custom values and links; a custom
/// field with the values records still hold; an email with its whole history.
#[utoipa::path(post, path = "/api/v1/trash/{type}/{id}/restore", tag = "trash", security(("bearer" = [])),
    params(RestorePath),
    responses((status = 200, description = "The restored item", body = Object),
        (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Its email or key was taken meanwhile", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn restore(
    state: web::Data<AppState>,
    p: Principal,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (kind, id) = path.into_inner();
    Ok(HttpResponse::Ok().json(restore_item(&state, &p, &kind, &id).await?))
}

/// Brings an item back and returns it as it is now (the web app's trash calls it too).
pub async fn restore_item(
    state: &AppState,
    p: &Principal,
    kind: &str,
    id: &str,
) -> Result<serde_json::Value, AppError> {
    let t = parse_type(kind).ok_or_else(|| AppError::not_found("trash type"))?;
    if restore_needs_manager(kind) {
        p.manager_or_scope(state, resource(t), Access::Write).await?;
    } else {
        // Emails are everyday content: whoever may delete one may bring it back.
        p.require(state, resource(t), Access::Write).await?;
    }
    let id = uuid::Uuid::parse_str(id).map_err(|_| AppError::not_found("item"))?.to_string();
    let (record, field, tag, value, email) = (
        RecordId::from_db(id.clone()),
        CustomFieldId::from_db(id.clone()),
        TagId::from_db(id.clone()),
        CustomValueId::from_db(id.clone()),
        EmailId::from_db(id),
    );
    let audit = p.entry("email.restored");
    let actor = change_actor(p);
    let now = state.clock.now();
    state
        .db
        .tenant(p.tenant_id.clone())
        .write(move |tdb| match t {
            TrashType::Record(object) => {
                let defs = tdb.custom_fields(Some(object))?;
                records::restore(tdb, object, &record, &defs, &actor, now)
            }
            TrashType::CustomField => {
                let mut row = tdb.custom_field(&field, true)?.ok_or_else(|| AppError::not_found("custom field"))?;
                let object = Object::parse(&row.object).ok_or_else(|| AppError::not_found("custom field"))?;
                if tdb.live_custom_field_by_key(object, &row.field_key)?.is_some() {
                    return Err(AppError::conflict(format!(
                        "another custom field now uses the key {}; rename it first",
                        row.field_key
                    )));
                }
                row.deleted_at = None;
                row.purge_at = None;
                row.updated_at = now.naive_utc();
                tdb.update_custom_field(&row)?;
                serde_json::to_value(CustomField::from(&row)).map_err(AppError::internal)
            }
            TrashType::Tag => {
                let mut row = tdb.tag(&tag, true)?.ok_or_else(|| AppError::not_found("tag"))?;
                if tdb.live_tag_named(&row.name_lower)?.is_some() {
                    return Err(AppError::conflict(format!("another tag is now named {}", row.name)));
                }
                row.deleted_at = None;
                row.purge_at = None;
                tdb.save_tag(&row)?;
                serde_json::to_value(super::tags::Tag::of(&row, 0)).map_err(AppError::internal)
            }
            TrashType::CustomValue => {
                let mut row = tdb.custom_value(&value, true)?.ok_or_else(|| AppError::not_found("custom value"))?;
                if tdb.live_custom_value_keyed(&row.value_key)?.is_some() {
                    return Err(AppError::conflict(format!("the key {} was taken meanwhile", row.value_key)));
                }
                row.deleted_at = None;
                row.purge_at = None;
                row.updated_at = now.naive_utc();
                tdb.save_custom_value(&row)?;
                serde_json::to_value(super::custom_values::CustomValue::from(&row)).map_err(AppError::internal)
            }
            TrashType::Email => {
                let row = crate::content::emails::untrash(tdb, &email, &actor, audit, now)?;
                serde_json::to_value(super::emails::Email::from(&row)).map_err(AppError::internal)
            }
        })
        .await
}
