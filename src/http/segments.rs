//! Segments over HTTP: `/api/v1/segments` (list, create), `/api/v1/segments/{id}` (read
//! with the exact member count, edit, delete) and `/api/v1/segments/{id}/contacts` (the
//! members, paged like the contact list). Rules in `crm::segments`; access as emails
//! (`campaigns` resource); reading the members also shows contacts, so a key needs
//! `contacts:read` for it too.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::emails::RESOURCE;
use super::extract::Json;
use super::paging::{encode_cursor, finish_page, Page, PageQuery};
use super::principal::{Access, Principal};
use super::AppState;
use crate::crm::objects::Object;
use crate::crm::records;
use crate::crm::search::FilterGroupInput;
use crate::crm::segments;
use crate::domain::SegmentId;
use crate::error::{AppError, FieldError};

/// A saved contact search.
#[derive(Debug, Serialize, ToSchema)]
pub struct Segment {
    pub id: String,
    pub name: String,
    /// The filter groups of `POST /api/v1/contacts/search`: AND inside a group, OR across.
    pub filter_groups: Vec<FilterGroupInput>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    /// How many live contacts match now, exactly (on `GET /api/v1/segments/{id}` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<i64>,
}

fn segment(row: &crate::db::segments::SegmentRow, count: Option<i64>) -> Result<Segment, AppError> {
    Ok(Segment {
        id: row.id.clone(),
        name: row.name.clone(),
        filter_groups: serde_json::from_str(&row.filter_groups).map_err(AppError::internal)?,
        created_at: row.created_at.and_utc(),
        updated_at: row.updated_at.and_utc(),
        count,
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SegmentPage {
    pub data: Vec<Segment>,
    pub next_cursor: Option<String>,
}

/// On create both are required (`filter_groups` may be empty: every contact); on edit the
/// fields given replace the current ones. Invalid filters are a 422 naming the filter, as
/// on the search endpoint.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct SegmentInput {
    pub name: Option<String>,
    pub filter_groups: Option<Vec<FilterGroupInput>>,
}

/// The members: contacts as `GET /api/v1/contacts` shows them.
#[derive(Debug, Serialize, ToSchema)]
pub struct SegmentContacts {
    #[schema(value_type = Vec<Object>)]
    pub data: Vec<Value>,
    pub next_cursor: Option<String>,
}

fn segment_id(raw: &str) -> Result<SegmentId, AppError> {
    SegmentId::parse(raw).ok_or_else(|| AppError::not_found("segment"))
}

#[utoipa::path(get, path = "/api/v1/segments", tag = "segments", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = SegmentPage)))]
pub async fn list(state: web::Data<AppState>, p: Principal, page: Page) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(page_of(&state, &p, page).await?))
}

/// One page of the portal's segments (the web app's list too).
pub async fn page_of(state: &AppState, p: &Principal, page: Page) -> Result<SegmentPage, AppError> {
    p.require(state, RESOURCE, Access::Read).await?;
    let mut errors = Vec::new();
    let after = page.after_id(&mut errors);
    if !errors.is_empty() {
        return Err(AppError::invalid(errors));
    }
    let limit = page.limit;
    let (rows, next_cursor) = state
        .db
        .tenant(p.tenant_id.clone())
        .read(move |t| Ok(finish_page(t.segments(after.as_deref(), limit + 1)?, limit, |r| encode_cursor(&r.id))))
        .await?;
    let data = rows.iter().map(|r| segment(r, None)).collect::<Result<Vec<_>, _>>()?;
    Ok(SegmentPage { data, next_cursor })
}

#[utoipa::path(post, path = "/api/v1/segments", tag = "segments", security(("bearer" = [])), request_body = SegmentInput,
    responses((status = 201, body = Segment),
        (status = 422, description = "A missing name or invalid filters", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn create(
    state: web::Data<AppState>,
    p: Principal,
    body: Json<SegmentInput>,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Created().json(create_segment(&state, &p, body.0).await?))
}

/// Saves a new segment (people who may write; the web app's form too).
pub async fn create_segment(state: &AppState, p: &Principal, b: SegmentInput) -> Result<Segment, AppError> {
    p.require(state, RESOURCE, Access::Write).await?;
    let Some(groups) = b.filter_groups else {
        let mut errors = vec![FieldError::new("filter_groups", "is required (an empty list means every contact)")];
        if b.name.is_none() {
            errors.insert(0, FieldError::new("name", "is required"));
        }
        return Err(AppError::invalid(errors));
    };
    let name = b.name.unwrap_or_default();
    let (actor, audit, now) = (p.change_actor(), p.entry("segment.created"), state.clock.now());
    let row = state
        .db
        .tenant(p.tenant_id.clone())
        .write(move |t| segments::create(t, &name, &groups, &actor, audit, now))
        .await?;
    segment(&row, None)
}

/// A segment with its exact member count (live contacts matching now).
#[utoipa::path(get, path = "/api/v1/segments/{id}", tag = "segments", security(("bearer" = [])),
    params(("id" = String, Path, description = "Segment id")),
    responses((status = 200, body = Segment), (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "A custom field the filters name was deleted or re-keyed since", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn get(state: web::Data<AppState>, p: Principal, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(get_segment(&state, &p, &id).await?))
}

/// A segment with its exact member count (the web app's segment page too).
pub async fn get_segment(state: &AppState, p: &Principal, id: &str) -> Result<Segment, AppError> {
    read_segment(state, p, id, true).await
}

/// A segment, counted or not: counting reads every member, which a page that only names
/// the segment (a sending campaign's, reloading every few seconds) should not pay for.
pub async fn read_segment(state: &AppState, p: &Principal, id: &str, counted: bool) -> Result<Segment, AppError> {
    p.require(state, RESOURCE, Access::Read).await?;
    let id = segment_id(id)?;
    let (row, count) = state
        .db
        .tenant(p.tenant_id.clone())
        .read(move |t| {
            let row = segments::get(t, &id)?;
            let count = if counted { Some(segments::count(t, &row)?) } else { None };
            Ok((row, count))
        })
        .await?;
    segment(&row, count)
}

#[utoipa::path(patch, path = "/api/v1/segments/{id}", tag = "segments", security(("bearer" = [])),
    params(("id" = String, Path, description = "Segment id")), request_body = SegmentInput,
    responses((status = 200, body = Segment), (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "An empty name or invalid filters", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn update(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<String>,
    body: Json<SegmentInput>,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(update_segment(&state, &p, &id, body.0).await?))
}

/// Renames a segment or replaces its filters (the web app's form too).
pub async fn update_segment(state: &AppState, p: &Principal, id: &str, b: SegmentInput) -> Result<Segment, AppError> {
    p.require(state, RESOURCE, Access::Write).await?;
    let id = segment_id(id)?;
    let (actor, audit, now) = (p.change_actor(), p.entry("segment.updated"), state.clock.now());
    let row = state
        .db
        .tenant(p.tenant_id.clone())
        .write(move |t| segments::update(t, &id, b.name.as_deref(), b.filter_groups.as_deref(), &actor, audit, now))
        .await?;
    segment(&row, None)
}

/// Delete a segment for good (its contacts are untouched).
#[utoipa::path(delete, path = "/api/v1/segments/{id}", tag = "segments", security(("bearer" = [])),
    params(("id" = String, Path, description = "Segment id")),
    responses((status = 204, description = "Deleted"), (status = 404, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn delete(state: web::Data<AppState>, p: Principal, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    p.require(&state, RESOURCE, Access::Write).await?;
    let id = segment_id(&id)?;
    let (actor, audit, now) = (p.change_actor(), p.entry("segment.deleted"), state.clock.now());
    state.db.tenant(p.tenant_id.clone()).write(move |t| segments::delete(t, &id, &actor, audit, now)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The segment's members now: live contacts in creation order, as `GET /api/v1/contacts`
/// shows them.
#[utoipa::path(get, path = "/api/v1/segments/{id}/contacts", tag = "segments", security(("bearer" = [])),
    params(("id" = String, Path, description = "Segment id"), PageQuery),
    responses((status = 200, body = SegmentContacts), (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "A custom field the filters name was deleted or re-keyed since", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn contacts(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<String>,
    page: Page,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(members_of(&state, &p, &id, page).await?))
}

/// One page of a segment's members now (the web app's segment page too).
pub async fn members_of(state: &AppState, p: &Principal, id: &str, page: Page) -> Result<SegmentContacts, AppError> {
    p.require(state, RESOURCE, Access::Read).await?;
    p.require(state, Object::Contact.plural(), Access::Read).await?;
    let id = segment_id(id)?;
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
            let row = segments::get(t, &id)?;
            let search = segments::search_of(t, &row)?;
            let defs = t.custom_fields(Some(Object::Contact))?;
            let rows = segments::members(t, &search, after.as_deref(), limit + 1)?;
            let (rows, next) = finish_page(rows, limit, |r| encode_cursor(&r.id));
            let ids: Vec<&str> = rows.iter().map(|row| row.id.as_str()).collect();
            let mut tags = t.tag_names_of(&ids)?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                out.push(records::view(Object::Contact, row, tags.remove(&row.id).unwrap_or_default(), &defs));
            }
            Ok((out, next))
        })
        .await?;
    Ok(SegmentContacts { data, next_cursor })
}
