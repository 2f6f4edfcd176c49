//! Reads around imports that the web app's screens need besides the API's own answers
//! (`imports.rs`): the portal's recent imports, the fields a column can fill, and an
//! import's errors as CSV (the API's `errors.csv` answers these same bytes).

use super::imports::{may_import, ImportView};
use super::principal::{Access, Principal};
use super::AppState;
use crate::crm::csv_io;
use crate::crm::import::RowError;
use crate::crm::objects::Object;
use crate::db::imports::ImportStatus;
use crate::error::AppError;

/// The portal's newest imports (at most `limit`), for who may read imports.
pub async fn recent(state: &AppState, p: &Principal, limit: i64) -> Result<Vec<ImportView>, AppError> {
    p.manager_or_scope(state, "imports", Access::Read).await?;
    let rows = state.db.tenant(p.tenant_id.clone()).read(move |t| Ok(t.recent_imports(limit)?)).await?;
    let mut out = Vec::with_capacity(rows.len());
    for s in rows {
        // A key sees an import's errors only with its object's read scope (as `load`).
        if let Some(object) = Object::parse(&s.object) {
            if p.require(state, object.plural(), Access::Read).await.is_err() {
                continue;
            }
        }
        out.push(ImportView::from(s));
    }
    Ok(out)
}

/// The fields a column of an `object` import can fill (the web app's mapping choices).
pub async fn importable(state: &AppState, p: &Principal, object: Object) -> Result<Vec<String>, AppError> {
    may_import(state, p).await?;
    let defs = state.db.tenant(p.tenant_id.clone()).read(move |t| Ok(t.custom_fields(Some(object))?)).await?;
    Ok(csv_io::importable_fields(object, &defs).into_iter().map(|(f, _)| f).collect())
}

/// An import's row errors as CSV (`row,column,message`), cells neutralised.
pub fn errors_csv_of(status: &ImportStatus) -> Result<Vec<u8>, AppError> {
    let errors: Vec<RowError> = serde_json::from_str(&status.errors).unwrap_or_default();
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["row", "column", "message"]).map_err(AppError::internal)?;
    for e in errors {
        w.write_record([e.row.to_string(), csv_io::neutralise(&e.column), csv_io::neutralise(&e.message)])
            .map_err(AppError::internal)?;
    }
    w.into_inner().map_err(|e| AppError::internal(anyhow::anyhow!("{e}")))
}
