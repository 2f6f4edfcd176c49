//! Streaming CSV export of every live record of an object, page by page (constant memory),
//! custom fields included, with spreadsheet formulas neutralised. A high-risk action:
//! owners and admins only, or a key with `exports:read`; recorded in the audit log.

use actix_web::{web, HttpResponse};
use futures_util::StreamExt;

use super::principal::{Access, Principal};
use super::AppState;
use crate::crm::csv_io;
use crate::crm::objects::Object;
use crate::crm::query::{ListSpec, Order, Position};
use crate::crm::records;
use crate::error::AppError;

/// Records read per database round trip while exporting.
const EXPORT_PAGE: i64 = 500;

/// The path of `GET /api/v1/exports/{file}`, for the OpenAPI document.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // read by the OpenAPI document only
pub struct ExportPath {
    /// `<plural>.csv`: contacts.csv, companies.csv, deals.csv, tickets.csv, tasks.csv or notes.csv.
    #[param(schema_with = export_file_schema)]
    file: String,
}

fn export_file_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(Object::ALL.into_iter().map(|o| format!("{}.csv", o.plural()))))
        .build()
}

/// Stream every live record of an object as CSV, page by page (constant memory), custom
/// fields included, cells that a spreadsheet would run as formulas neutralised.
#[utoipa::path(get, path = "/api/v1/exports/{file}", tag = "imports", security(("bearer" = [])),
    params(ExportPath),
    responses((status = 200, description = "CSV", content_type = "text/csv"),
        (status = 404, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn export(
    state: web::Data<AppState>,
    p: Principal,
    file: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let object = file
        .strip_suffix(".csv")
        .and_then(|plural| Object::ALL.into_iter().find(|o| o.plural() == plural))
        .ok_or_else(|| AppError::not_found("export"))?;
    csv_response(state, &p, object).await
}

/// Who may export: owners and admins, or a key with `exports:read`.
pub async fn may_export(state: &AppState, p: &Principal) -> Result<(), AppError> {
    p.manager_or_scope(state, "exports", Access::Read).await
}

/// The export of `object` as a streamed CSV download (audited), for the API and the web app.
pub async fn csv_response(state: web::Data<AppState>, p: &Principal, object: Object) -> Result<HttpResponse, AppError> {
    may_export(&state, p).await?;
    // The file is the object's records: a key reads it with that object's read scope too.
    p.require(&state, object.plural(), Access::Read).await?;
    let now = state.clock.now();
    let entry = p.entry("export.created").details(serde_json::json!({ "object": object.name() }));
    let tenant = p.tenant_id.clone();
    let defs = state
        .db
        .tenant(tenant.clone())
        .write(move |tdb| {
            tdb.audit(entry, now)?;
            Ok(tdb.custom_fields(Some(object))?)
        })
        .await?;
    let header = csv_io::export_header(object, &defs);
    let first = csv_line(&header)?;
    let state2 = state.clone();
    let tenant = p.tenant_id.clone();
    // (after id, finished) → one page of CSV lines per step.
    let pages = futures_util::stream::unfold((None::<String>, false), move |(after, finished)| {
        let (state, tenant, defs, header) = (state2.clone(), tenant.clone(), defs.clone(), header.clone());
        async move {
            if finished {
                return None;
            }
            let page = state
                .db
                .tenant(tenant.clone())
                .read(move |tdb| {
                    let rows = tdb.list_records(&ListSpec {
                        object,
                        order: Order::Created { desc: false },
                        after: after.map(Position::Id),
                        q: None,
                        tag: None,
                        limit: EXPORT_PAGE,
                        trashed: false,
                        search: None,
                    })?;
                    let mut out = Vec::new();
                    let mut last = None;
                    let ids: Vec<&str> = rows.iter().map(|(row, _)| row.id.as_str()).collect();
                    let mut tags_of = tdb.tag_names_of(&ids)?;
                    for (row, _) in &rows {
                        let tags = tags_of.remove(&row.id).unwrap_or_default();
                        let view = records::view(object, row, tags, &defs);
                        out.extend(csv_line(&csv_io::export_row(&view, &header))?);
                        last = Some(row.id.clone());
                    }
                    Ok((out, last, (rows.len() as i64) < EXPORT_PAGE))
                })
                .await;
            match page {
                Ok((bytes, last, end)) => Some((Ok::<_, actix_web::Error>(web::Bytes::from(bytes)), (last, end))),
                Err(e) => {
                    tracing::error!(error = %e, "export page failed");
                    Some((Err(actix_web::error::ErrorInternalServerError("export failed")), (None, true)))
                }
            }
        }
    });
    let body =
        futures_util::stream::once(async move { Ok::<_, actix_web::Error>(web::Bytes::from(first)) }).chain(pages);
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header(("Content-Disposition", format!("attachment; filename=\"{}.csv\"", object.plural())))
        .streaming(body))
}

fn csv_line(cells: &[String]) -> Result<Vec<u8>, AppError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(cells).map_err(AppError::internal)?;
    w.into_inner().map_err(|e| AppError::internal(anyhow::anyhow!("{e}")))
}
