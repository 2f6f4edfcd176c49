//! Portal export over HTTP: `POST /api/v1/tenant/export` queues a job (202), `GET
//! /api/v1/tenant/exports/{id}` tells its status, `GET /api/v1/tenant/exports/{id}/download`
//! streams the finished zip. Owners and admins, or a key with `exports:write` (to ask) or
//! `exports:read` (to follow and download); high risk under Portal JITA; audited.

use std::io::Read;

use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::principal::{Access, Principal};
use super::AppState;
use crate::db::tenant_exports::ExportRow;
use crate::error::AppError;

/// Bytes read from the archive per chunk of the download.
const CHUNK: usize = 256 * 1024;

/// A portal export job.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportJob {
    pub id: String,
    /// queued, running, completed, failed or expired (archives are kept 7 days)
    pub status: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Size of the archive, once completed.
    pub bytes: Option<i64>,
    pub error: Option<String>,
    /// Where to follow the job.
    pub url: String,
    /// Where to download the archive, once completed.
    pub download_url: Option<String>,
}

impl ExportJob {
    fn of(row: &ExportRow) -> Self {
        let url = format!("/api/v1/tenant/exports/{}", row.id);
        Self {
            id: row.id.clone(),
            status: row.status.clone(),
            created_at: row.created_at.and_utc(),
            finished_at: row.finished_at.map(|t| t.and_utc()),
            bytes: row.bytes,
            error: row.error.clone(),
            download_url: (row.status == "completed").then(|| format!("{url}/download")),
            url,
        }
    }
}

/// Queue an export of the whole portal: a zip with a CSV per CRM object (custom fields as
/// columns) and JSON for settings, custom fields, pipelines, tags, custom values and the
/// audit log. Follow it at `url`.
#[utoipa::path(post, path = "/api/v1/tenant/export", tag = "tenant", security(("bearer" = [])),
    responses((status = 202, description = "Queued", body = ExportJob)))]
pub async fn create(state: web::Data<AppState>, p: Principal) -> Result<HttpResponse, AppError> {
    p.manager_or_scope(&state, "exports", Access::Write).await?;
    let now = state.clock.now();
    let id = uuid::Uuid::now_v7().to_string();
    let requested_by = p.change_actor().id;
    let entry = p.entry("tenant.export_requested");
    let row = state
        .db
        .tenant(p.tenant_id.clone())
        .write(move |t| {
            let row = t.insert_export(&id, requested_by.as_deref(), now.naive_utc())?;
            t.audit(entry.target("tenant_export", &row.id), now)?;
            Ok(row)
        })
        .await?;
    let job = ExportJob::of(&row);
    Ok(HttpResponse::Accepted().insert_header(("Location", job.url.clone())).json(job))
}

async fn job(state: &AppState, p: &Principal, id: &str) -> Result<ExportRow, AppError> {
    p.manager_or_scope(state, "exports", Access::Read).await?;
    let id = uuid::Uuid::parse_str(id).map_err(|_| AppError::not_found("export"))?.to_string();
    state
        .db
        .tenant(p.tenant_id.clone())
        .read(move |t| Ok(t.export(&id)?))
        .await?
        .ok_or_else(|| AppError::not_found("export"))
}

/// An export's status; `download_url` once it is completed.
#[utoipa::path(get, path = "/api/v1/tenant/exports/{id}", tag = "tenant", security(("bearer" = [])),
    params(("id" = String, Path, description = "The export's id")),
    responses((status = 200, body = ExportJob)))]
pub async fn get(state: web::Data<AppState>, p: Principal, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    let row = job(&state, &p, &id).await?;
    Ok(HttpResponse::Ok().json(ExportJob::of(&row)))
}

/// The archive of a completed export (`application/zip`), streamed; 409 until it is ready.
#[utoipa::path(get, path = "/api/v1/tenant/exports/{id}/download", tag = "tenant", security(("bearer" = [])),
    params(("id" = String, Path, description = "The export's id")),
    responses((status = 200, description = "The zip archive", content_type = "application/zip"),
        (status = 409, description = "Not completed (yet)", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn download(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let row = job(&state, &p, &id).await?;
    let file = match (&row.status[..], &row.file) {
        ("completed", Some(file)) => file.clone(),
        _ => {
            return Err(AppError::Conflict {
                code: "export_not_ready",
                detail: format!("the export is {}; download it once it is completed", row.status),
            })
        }
    };
    let opened = std::fs::File::open(&file)
        .map_err(|e| AppError::internal(anyhow::anyhow!("export archive {file} cannot be read: {e}")))?;
    let now = state.clock.now();
    let entry = p.entry("tenant.export_downloaded").target("tenant_export", &row.id);
    state.db.tenant(p.tenant_id.clone()).write(move |t| Ok(t.audit(entry, now)?)).await?;
    // One chunk per step, read on the blocking pool: memory is a chunk whatever the size.
    let body = futures_util::stream::unfold(Some(opened), |file| async move {
        let mut file = file?;
        let read = web::block(move || {
            let mut buf = vec![0u8; CHUNK];
            let n = file.read(&mut buf)?;
            buf.truncate(n);
            Ok::<_, std::io::Error>((file, buf))
        })
        .await;
        match read {
            Ok(Ok((_, buf))) if buf.is_empty() => None,
            Ok(Ok((file, buf))) => Some((Ok::<_, actix_web::Error>(web::Bytes::from(buf)), Some(file))),
            Ok(Err(e)) => Some((Err(actix_web::error::ErrorInternalServerError(e)), None)),
            Err(e) => Some((Err(actix_web::error::ErrorInternalServerError(e)), None)),
        }
    });
    let mut answer = HttpResponse::Ok();
    answer
        .content_type("application/zip")
        .insert_header(("Content-Disposition", format!("attachment; filename=\"organizeo-export-{}.zip\"", row.id)));
    Ok(match row.bytes.and_then(|b| u64::try_from(b).ok()) {
        Some(len) => answer.body(actix_web::body::SizedStream::new(len, body)),
        None => answer.streaming(body),
    })
}
