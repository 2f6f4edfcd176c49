//! Tags: names unique per portal among live tags (case-insensitive), also created by naming
//! them on a record. A tag moved to the trash disappears from its records and comes back
//! with them on restore.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::Json;
use super::paging::{encode_cursor, finish_page, Page, PageQuery};
use super::principal::{Access, Principal};
use super::AppState;
use crate::db::tags::TagRow;
use crate::domain::TagId;
use crate::error::AppError;

#[derive(Debug, Serialize, ToSchema)]
pub struct Tag {
    pub id: String,
    pub name: String,
    /// Live records carrying the tag.
    pub record_count: i64,
    pub created_at: DateTime<Utc>,
}

impl Tag {
    pub fn of(row: &TagRow, record_count: i64) -> Self {
        Self { id: row.id.clone(), name: row.name.clone(), record_count, created_at: row.created_at.and_utc() }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TagPage {
    pub data: Vec<Tag>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct TagInput {
    pub name: String,
}

fn tag_name(raw: &str) -> Result<String, AppError> {
    let name = raw.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AppError::validation("name", "is required, at most 100 characters"));
    }
    Ok(name)
}

#[utoipa::path(get, path = "/api/v1/tags", tag = "tags", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = TagPage)))]
pub async fn list(state: web::Data<AppState>, p: Principal, page: Page) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(page_of(&state, &p, page).await?))
}

/// One page of the portal's live tags (the web app's tags page too).
pub async fn page_of(state: &AppState, p: &Principal, page: Page) -> Result<TagPage, AppError> {
    p.require(state, "tags", Access::Read).await?;
    let mut errors = Vec::new();
    let after = page.after_id(&mut errors);
    if !errors.is_empty() {
        return Err(AppError::invalid(errors));
    }
    let limit = page.limit;
    let (data, next_cursor) = state
        .db
        .tenant(p.tenant_id.clone())
        .read(move |t| {
            let rows = t.tags(false, after.as_deref(), limit + 1)?;
            let (rows, next) = finish_page(rows, limit, |(t, _)| encode_cursor(&t.id));
            Ok((rows.iter().map(|(t, n)| Tag::of(t, *n)).collect(), next))
        })
        .await?;
    Ok(TagPage { data, next_cursor })
}

#[utoipa::path(post, path = "/api/v1/tags", tag = "tags", security(("bearer" = [])), request_body = TagInput,
    responses((status = 201, body = Tag), (status = 409, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn create(state: web::Data<AppState>, p: Principal, body: Json<TagInput>) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Created().json(create_tag(&state, &p, &body.0.name).await?))
}

/// Creates a tag (people who may write; the web app's tags page too).
pub async fn create_tag(state: &AppState, p: &Principal, name: &str) -> Result<Tag, AppError> {
    p.require(state, "tags", Access::Write).await?;
    let name = tag_name(name)?;
    let now = state.clock.now().naive_utc();
    let row = TagRow {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: p.tenant_id.to_string(),
        name_lower: name.to_lowercase(),
        name,
        created_at: now,
        deleted_at: None,
        purge_at: None,
    };
    let row = state
        .db
        .tenant(p.tenant_id.clone())
        .write(move |tdb| {
            if tdb.live_tag_named(&row.name_lower)?.is_some() {
                return Err(AppError::conflict(format!("a tag named {} exists", row.name)));
            }
            tdb.insert_tag(&row)?;
            Ok(row)
        })
        .await?;
    Ok(Tag::of(&row, 0))
}

#[utoipa::path(get, path = "/api/v1/tags/{id}", tag = "tags", security(("bearer" = [])),
    params(("id" = String, Path, description = "Tag id")),
    responses((status = 200, body = Tag), (status = 404, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn get(state: web::Data<AppState>, p: Principal, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    p.require(&state, "tags", Access::Read).await?;
    let id = TagId::parse(&id.into_inner()).ok_or_else(|| AppError::not_found("tag"))?;
    let tag = state
        .db
        .tenant(p.tenant_id.clone())
        .read(move |tdb| {
            tdb.tag(&id, false)?.ok_or_else(|| AppError::not_found("tag"))?;
            let all = tdb.tags(false, None, i64::MAX)?;
            let (row, n) =
                all.into_iter().find(|(t, _)| t.id == id.as_str()).ok_or_else(|| AppError::not_found("tag"))?;
            Ok(Tag::of(&row, n))
        })
        .await?;
    Ok(HttpResponse::Ok().json(tag))
}

/// Rename a tag (every record carrying it shows the new name).
#[utoipa::path(patch, path = "/api/v1/tags/{id}", tag = "tags", security(("bearer" = [])), request_body = TagInput,
    params(("id" = String, Path, description = "Tag id")),
    responses((status = 200, body = Tag), (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn update(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<String>,
    body: Json<TagInput>,
) -> Result<HttpResponse, AppError> {
    p.require(&state, "tags", Access::Write).await?;
    let id = TagId::parse(&id.into_inner()).ok_or_else(|| AppError::not_found("tag"))?;
    let name = tag_name(&body.0.name)?;
    let row = state
        .db
        .tenant(p.tenant_id.clone())
        .write(move |tdb| {
            let mut row = tdb.tag(&id, false)?.ok_or_else(|| AppError::not_found("tag"))?;
            if let Some(other) = tdb.live_tag_named(&name.to_lowercase())? {
                if other.id != row.id {
                    return Err(AppError::conflict(format!("a tag named {name} exists")));
                }
            }
            row.name_lower = name.to_lowercase();
            row.name = name;
            tdb.save_tag(&row)?;
            Ok(row)
        })
        .await?;
    Ok(HttpResponse::Ok().json(Tag::of(&row, 0)))
}

/// Move a tag to the trash: it disappears from its records until restored.
#[utoipa::path(delete, path = "/api/v1/tags/{id}", tag = "tags", security(("bearer" = [])),
    params(("id" = String, Path, description = "Tag id")),
    responses((status = 204, description = "In the trash"), (status = 404, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn delete(state: web::Data<AppState>, p: Principal, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    trash_tag(&state, &p, &id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Moves a tag to the trash (owners and admins, or `tags:write`; the web app too).
pub async fn trash_tag(state: &AppState, p: &Principal, id: &str) -> Result<(), AppError> {
    p.manager_or_scope(state, "tags", Access::Write).await?;
    let id = TagId::parse(id).ok_or_else(|| AppError::not_found("tag"))?;
    let now = state.clock.now();
    state
        .db
        .tenant(p.tenant_id.clone())
        .write(move |tdb| {
            let mut row = tdb.tag(&id, false)?.ok_or_else(|| AppError::not_found("tag"))?;
            row.deleted_at = Some(now.naive_utc());
            row.purge_at = Some((now + crate::crm::records::trash_retention()).naive_utc());
            tdb.save_tag(&row)?;
            Ok(())
        })
        .await
}
