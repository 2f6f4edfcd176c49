//! Lists and searches: `GET /{plural}` and `POST /{plural}/search`, their sort keys and the
//! keyset cursors that page through them.

use actix_web::{web, HttpResponse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::RecordPage;
use crate::crm::objects::Object;
use crate::crm::query::{ListSpec, Order, Position};
use crate::crm::records;
use crate::error::{AppError, FieldError};
use crate::http::paging::{decode_cursor, encode_cursor, finish_page, Page};
use crate::http::principal::{Access, Principal};
use crate::http::AppState;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// 1-100, default 25.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    pub after: Option<String>,
    /// Text to find in the record's main fields (case-insensitive).
    pub q: Option<String>,
    /// Only records with this tag (case-insensitive).
    pub tag: Option<String>,
    /// `created_at` (default, oldest first), `updated_at`, a built-in field (`last_name`,
    /// `amount`, `due_at`, …) or `custom_fields.<key>`; a leading `-` sorts descending.
    /// Ties break on the id; records without a value come last in either direction.
    pub sort: Option<String>,
}

/// `POST /{plural}/search`: filter groups (AND inside a group, OR across groups) on
/// built-in and custom fields, with the list's paging, sort and text search.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct SearchRequest {
    pub filter_groups: Vec<crate::crm::search::FilterGroupInput>,
    /// As for lists: `created_at` (default), `updated_at`, a field or
    /// `custom_fields.<key>`, `-` for descending.
    pub sort: Option<String>,
    /// 1-100, default 25.
    #[schema(value_type = Option<i64>)]
    pub limit: Option<serde_json::Value>,
    pub after: Option<String>,
    /// Text to find in the record's main fields.
    pub q: Option<String>,
}

/// A record list's cursor: the last row's place in the sort order, tied to that order.
/// Creation order keeps the plain id cursor.
fn encode_position(sort: &str, position: &Position) -> String {
    let (kind, value) = match position {
        Position::Id(id) => return encode_cursor(id),
        Position::Updated(t, _) => ("u", Some(t.format("%Y-%m-%dT%H:%M:%S%.f").to_string())),
        Position::Text(t, _) => ("t", Some(t.clone())),
        // The bits, so the cursor holds exactly the stored number.
        Position::Num(n, _) => ("n", Some(n.to_bits().to_string())),
        Position::Missing(_) => ("m", None),
    };
    let body = serde_json::json!({"s": sort, "k": kind, "v": value, "id": position.id()});
    URL_SAFE_NO_PAD.encode(format!("v2:{body}"))
}

fn decode_position(raw: &str, sort: &str, order: &Order) -> Option<Position> {
    if let Order::Created { .. } = order {
        return decode_cursor(raw).map(Position::Id);
    }
    let bytes = URL_SAFE_NO_PAD.decode(raw).ok()?;
    let body: serde_json::Value = serde_json::from_slice(bytes.strip_prefix(b"v2:")?).ok()?;
    if body.get("s")?.as_str()? != sort {
        return None;
    }
    let id = uuid::Uuid::parse_str(body.get("id")?.as_str()?).ok()?.to_string();
    let value = body.get("v").and_then(serde_json::Value::as_str);
    let numeric = matches!(order, Order::Field { numeric: true, .. });
    match (body.get("k")?.as_str()?, order) {
        ("u", Order::Updated { .. }) => {
            let t = chrono::NaiveDateTime::parse_from_str(value?, "%Y-%m-%dT%H:%M:%S%.f").ok()?;
            Some(Position::Updated(t, id))
        }
        ("t", Order::Field { .. }) if !numeric => Some(Position::Text(value?.to_string(), id)),
        ("n", Order::Field { .. }) if numeric => Some(Position::Num(f64::from_bits(value?.parse().ok()?), id)),
        ("m", Order::Field { .. }) => Some(Position::Missing(id)),
        _ => None,
    }
}

pub async fn search_records(
    state: web::Data<AppState>,
    p: Principal,
    object: Object,
    body: SearchRequest,
) -> Result<HttpResponse, AppError> {
    let limit = match &body.limit {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        Some(_) => return Err(AppError::validation("limit", "must be a whole number from 1 to 100")),
    };
    let params = ListParams { limit, after: body.after, q: body.q, tag: None, sort: body.sort };
    list_with(state, p, object, params, Some(body.filter_groups)).await
}

pub async fn list_records(
    state: web::Data<AppState>,
    p: Principal,
    object: Object,
    q: ListParams,
) -> Result<HttpResponse, AppError> {
    list_with(state, p, object, q, None).await
}

async fn list_with(
    state: web::Data<AppState>,
    p: Principal,
    object: Object,
    q: ListParams,
    filter_groups: Option<Vec<crate::crm::search::FilterGroupInput>>,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(page(&state, &p, object, q, filter_groups).await?))
}

/// One page of a list or search, as the API answers it (the web app's lists call it too).
pub async fn page(
    state: &AppState,
    p: &Principal,
    object: Object,
    q: ListParams,
    filter_groups: Option<Vec<crate::crm::search::FilterGroupInput>>,
) -> Result<RecordPage, AppError> {
    p.require(state, object.plural(), Access::Read).await?;
    let mut errors = Vec::new();
    let page = Page::parse(q.limit.as_deref(), q.after.as_deref(), &mut errors);
    let limit = page.limit;
    let sort = match q.sort.as_deref().map(str::trim) {
        None | Some("") => "created_at".to_string(),
        Some(s) => s.to_string(),
    };
    let spec = ListSpec {
        object,
        order: Order::Created { desc: false },
        after: None,
        q: q.q.map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty()),
        tag: q.tag.map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty()),
        limit: limit + 1,
        trashed: false,
        search: None,
    };
    let (rows, next_cursor) = state
        .db
        .tenant(p.tenant_id.clone())
        .read(move |t| {
            let defs = t.custom_fields(Some(object))?;
            let mut spec = spec;
            let mut errors = errors;
            match crate::crm::search::parse_sort(object, Some(&sort), &defs) {
                Ok(order) => spec.order = order,
                Err(m) => errors.push(FieldError::new("sort", m)),
            }
            if let Some(raw) = &page.after {
                match decode_position(raw, &sort, &spec.order) {
                    Some(position) => spec.after = Some(position),
                    None => errors.push(FieldError::new("after", "is not a cursor from this list and sort")),
                }
            }
            if let Some(groups) = &filter_groups {
                match crate::crm::search::parse(object, groups, &defs) {
                    Ok(search) => spec.search = Some(search),
                    Err(e) => errors.extend(e),
                }
            }
            if !errors.is_empty() {
                return Err(AppError::invalid(errors));
            }
            let (rows, next) = finish_page(t.list_records(&spec)?, limit, |(_, pos)| encode_position(&sort, pos));
            let ids: Vec<&str> = rows.iter().map(|(row, _)| row.id.as_str()).collect();
            let mut tags = t.tag_names_of(&ids)?;
            let mut out = Vec::with_capacity(rows.len());
            for (row, _) in &rows {
                out.push(records::view(object, row, tags.remove(&row.id).unwrap_or_default(), &defs));
            }
            Ok((out, next))
        })
        .await?;
    Ok(RecordPage { data: rows, next_cursor })
}
