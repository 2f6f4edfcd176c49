//! CSV import: the upload becomes a background job (`jobs::imports`) whose progress and row
//! errors are read here. A high-risk action: owners and admins only, or a key with
//! `imports:write`; recorded in the audit log.

use std::collections::HashMap;

use actix_multipart::Multipart;
use actix_web::{web, HttpResponse};
use futures_util::StreamExt;
use serde::Serialize;
use utoipa::ToSchema;

use super::principal::{Access, Principal};
use super::AppState;
use crate::crm::csv_io;
use crate::crm::import::{self, Mode, RowError};
use crate::crm::objects::Object;
use crate::db::imports::{ImportRow, ImportStatus};
use crate::domain::ImportId;
use crate::error::{AppError, FieldError};

/// The largest CSV accepted.
pub const MAX_IMPORT_BYTES: usize = 50 * 1024 * 1024;

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportAccepted {
    pub id: String,
    /// queued
    pub status: String,
    pub rows_total: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportView {
    pub id: String,
    pub object: String,
    pub mode: String,
    /// queued, running, completed or failed.
    pub status: String,
    pub rows_total: i64,
    pub rows_imported: i64,
    pub rows_failed: i64,
    pub errors: Vec<RowError>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<ImportStatus> for ImportView {
    fn from(s: ImportStatus) -> Self {
        let stamp = |t: chrono::NaiveDateTime| t.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        Self {
            errors: serde_json::from_str(&s.errors).unwrap_or_default(),
            id: s.id,
            object: s.object,
            mode: s.mode,
            status: s.status,
            rows_total: s.rows_total,
            rows_imported: s.rows_imported,
            rows_failed: s.rows_failed,
            created_at: stamp(s.created_at),
            updated_at: stamp(s.updated_at),
        }
    }
}

/// The multipart form of `POST /api/v1/imports`, for the OpenAPI document.
#[derive(ToSchema)]
#[allow(dead_code)] // read by the OpenAPI document only
pub struct ImportForm {
    /// The CSV file, with a header row (up to 50 MB).
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// What each row is.
    #[schema(schema_with = object_names)]
    object: String,
    /// create (the default), update (rows carry `id`) or upsert (contacts only, by email).
    #[schema(schema_with = modes)]
    mode: Option<String>,
    /// JSON `{"CSV column": "field"}`; by default headers naming a field are used.
    mapping: Option<String>,
}

fn object_names() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(Object::ALL.into_iter().map(Object::name)))
        .build()
}

fn modes() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(["create", "update", "upsert"]))
        .build()
}

/// Reads the multipart form: `file` (bytes, up to 50 MB) and the text fields.
async fn read_form(mut form: Multipart) -> Result<(Option<Vec<u8>>, HashMap<String, String>), AppError> {
    let bad = |m: String| AppError::BadRequest { code: "bad_request", detail: m };
    let mut file = None;
    let mut fields = HashMap::new();
    while let Some(part) = form.next().await {
        let mut part = part.map_err(|e| bad(format!("malformed multipart body: {e}")))?;
        let name = part.name().unwrap_or_default().to_string();
        let mut bytes = Vec::new();
        while let Some(chunk) = part.next().await {
            let chunk = chunk.map_err(|e| bad(format!("malformed multipart body: {e}")))?;
            if bytes.len() + chunk.len() > MAX_IMPORT_BYTES {
                return Err(AppError::PayloadTooLarge { limit: MAX_IMPORT_BYTES });
            }
            bytes.extend_from_slice(&chunk);
        }
        if name == "file" {
            file = Some(bytes);
        } else if fields.len() < 16 && bytes.len() <= 1024 * 1024 {
            fields.insert(name, String::from_utf8_lossy(&bytes).to_string());
        }
    }
    Ok((file, fields))
}

/// Start an import. Multipart fields: `file` (CSV with a header row, up to 50 MB),
/// `object` (contact, company, …), `mode` (create, update or upsert; upsert matches
/// contacts by email), optional `mapping` (JSON `{"CSV column": "field"}`; by default
/// headers that name a field are used, others ignored). Multi-valued cells (tags,
/// multi_select, links) separate values with `;`.
#[utoipa::path(post, path = "/api/v1/imports", tag = "imports", security(("bearer" = [])),
    request_body(content = ImportForm, content_type = "multipart/form-data"),
    responses((status = 202, body = ImportAccepted),
        (status = 413, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn create(state: web::Data<AppState>, p: Principal, form: Multipart) -> Result<HttpResponse, AppError> {
    p.manager_or_scope(&state, "imports", Access::Write).await?;
    let (file, fields) = read_form(form).await?;
    let mut errors = Vec::new();
    let object = match fields.get("object").map(|s| s.trim()) {
        Some(o) => Object::parse(o).or_else(|| {
            errors.push(FieldError::new("object", "must be contact, company, deal, ticket, task or note"));
            None
        }),
        None => {
            errors.push(FieldError::new("object", "is required"));
            None
        }
    };
    let mode = Mode::parse(fields.get("mode").map(|s| s.trim()).unwrap_or("create"));
    if mode.is_none() {
        errors.push(FieldError::new("mode", "must be create, update or upsert"));
    }
    if mode == Some(Mode::Upsert) && object.is_some_and(|o| o != Object::Contact) {
        errors.push(FieldError::new("mode", "upsert matches contacts by email; use create or update"));
    }
    let mapping: Option<HashMap<String, String>> = match fields.get("mapping").filter(|m| !m.trim().is_empty()) {
        None => None,
        Some(raw) => match serde_json::from_str(raw) {
            Ok(m) => Some(m),
            Err(_) => {
                errors.push(FieldError::new("mapping", "must be a JSON object {\"CSV column\": \"field\"}"));
                None
            }
        },
    };
    let Some(file) = file else {
        errors.push(FieldError::new("file", "is required (a CSV file)"));
        return Err(AppError::invalid(errors));
    };
    let (Some(object), Some(mode), true) = (object, mode, errors.is_empty()) else {
        return Err(AppError::invalid(errors));
    };
    let (headers, rows) = import::read_csv(&file).map_err(|m| AppError::validation("file", m))?;
    let now = state.clock.now();
    let id = uuid::Uuid::now_v7().to_string();
    let rows_total = rows.len() as i64;
    let entry = p.entry("import.created").target("import", &id).details(serde_json::json!({
        "object": object.name(), "mode": mode, "rows_total": rows_total,
    }));
    let row = ImportRow {
        id: id.clone(),
        tenant_id: p.tenant_id.to_string(),
        object: object.name().into(),
        mode: serde_json::to_value(mode).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default(),
        mapping: serde_json::to_string(&mapping).map_err(AppError::internal)?,
        status: "queued".into(),
        file,
        rows_total,
        rows_imported: 0,
        rows_failed: 0,
        errors: "[]".into(),
        next_row: 1,
        lease_owner: None,
        lease_until: None,
        created_at: now.naive_utc(),
        updated_at: now.naive_utc(),
    };
    state
        .db
        .tenant(p.tenant_id.clone())
        .write(move |tdb| {
            // Check the mapping now, so a wrong column name is a 422, not a failed job.
            let defs = tdb.custom_fields(Some(object))?;
            let known = csv_io::importable_fields(object, &defs);
            csv_io::map_columns(&headers, mapping.as_ref(), &known)
                .map_err(|errs| AppError::invalid(errs.into_iter().map(|(f, m)| FieldError::new(f, m)).collect()))?;
            tdb.insert_import(&row)?;
            tdb.audit(entry, now)?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::Accepted().json(ImportAccepted { id, status: "queued".into(), rows_total }))
}

async fn load(state: &AppState, p: Principal, id: String) -> Result<ImportStatus, AppError> {
    p.manager_or_scope(state, "imports", Access::Read).await?;
    let id = ImportId::parse(&id).ok_or_else(|| AppError::not_found("import"))?;
    state
        .db
        .tenant(p.tenant_id.clone())
        .read(move |t| t.import_status(&id)?.ok_or_else(|| AppError::not_found("import")))
        .await
}

#[utoipa::path(get, path = "/api/v1/imports/{id}", tag = "imports", security(("bearer" = [])),
    params(("id" = String, Path, description = "Import id")),
    responses((status = 200, body = ImportView), (status = 404, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn get(state: web::Data<AppState>, p: Principal, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    let status = load(&state, p, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(ImportView::from(status)))
}

/// The row errors as CSV (`row,column,message`), for fixing the file in a spreadsheet.
#[utoipa::path(get, path = "/api/v1/imports/{id}/errors.csv", tag = "imports", security(("bearer" = [])),
    params(("id" = String, Path, description = "Import id")),
    responses((status = 200, description = "CSV", content_type = "text/csv"),
        (status = 404, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn errors_csv(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let status = load(&state, p, id.into_inner()).await?;
    let errors: Vec<RowError> = serde_json::from_str(&status.errors).unwrap_or_default();
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["row", "column", "message"]).map_err(AppError::internal)?;
    for e in errors {
        w.write_record([e.row.to_string(), csv_io::neutralise(&e.column), csv_io::neutralise(&e.message)])
            .map_err(AppError::internal)?;
    }
    let bytes = w.into_inner().map_err(|e| AppError::internal(anyhow::anyhow!("{e}")))?;
    Ok(HttpResponse::Ok().content_type("text/csv; charset=utf-8").body(bytes))
}
