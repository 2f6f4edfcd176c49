//! Imports and exports in the browser. An import takes three steps: the upload (a
//! multipart form; its CSRF token rides in the action's query string, as the guard reads no
//! multipart body), the column mapping with a preview of the first rows, and the start,
//! which hands the file and the mapping to the API's own `http::imports::start` (so the
//! checks, the staging, the job and the audit entry are the API's). Between the upload and
//! the start the file waits in this node's temporary directory under a random name bound to
//! the person and portal, and is removed when the import starts (or after an hour).
//! An import's page shows its progress (reloading itself while it runs), its row errors and
//! their CSV; exports stream the API's CSV (`http::exports::csv_response`). Owners and
//! admins only, as the API (`may_import`, `may_export`); others see why.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use actix_multipart::Multipart;
use actix_web::http::{header, StatusCode};
use actix_web::web::{self, Bytes};
use actix_web::HttpResponse;
use serde::Deserialize;
use serde_json::json;

use super::forms;
use super::mail;
use super::render::{self, see_other, WebError};
use super::{Page, Visitor};
use crate::crm::objects::Object;
use crate::error::AppError;
use crate::http::imports::{self, ImportView, Upload};
use crate::http::{exports, AppState};

/// Rows shown in the mapping step's preview.
pub const PREVIEW_ROWS: usize = 5;
/// A running import's page reloads itself this often (seconds).
pub const REFRESH_SECS: u32 = 2;
/// Imports listed on the page.
const RECENT: i64 = 25;
/// Uploads never started are removed after this long.
const UPLOAD_TTL: Duration = Duration::from_secs(3600);
/// The import modes (`import-mode-<mode>` in the catalogs).
pub const MODES: &[&str] = &["create", "update", "upsert"];

fn uploads_dir() -> PathBuf {
    std::env::temp_dir().join("organizeo-web-imports")
}

/// The waiting file of upload `token` for this person in this portal; `None` when the token
/// is not one this page made (only letters and digits).
fn upload_path(v: &Visitor, token: &str) -> Result<Option<PathBuf>, WebError> {
    let m = v.member()?;
    if token.len() != 32 || !token.chars().all(|c| c.is_ascii_hexdigit()) {
        return Ok(None);
    }
    Ok(Some(uploads_dir().join(format!("{}-{}-{token}.csv", m.tenant(), m.user.user_id))))
}

async fn open_upload(v: &Visitor, token: &str) -> Result<Upload, WebError> {
    let path = upload_path(v, token)?.ok_or_else(|| WebError::status(v.lang, StatusCode::NOT_FOUND))?;
    open_file(v, path).await
}

async fn open_file(v: &Visitor, path: PathBuf) -> Result<Upload, WebError> {
    let file = web::block(move || std::fs::File::open(path)).await.map_err(|e| v.fail(AppError::internal(e)))?;
    let file = file.map_err(|_| WebError::status(v.lang, StatusCode::NOT_FOUND))?;
    Upload::from_file(file).await.map_err(|e| v.fail(e))
}

/// Renames `from` to `to` (atomic): `false` when `from` is not there (claimed already).
async fn rename(v: &Visitor, from: PathBuf, to: PathBuf) -> Result<bool, WebError> {
    let moved = web::block(move || std::fs::rename(from, to)).await.map_err(|e| v.fail(AppError::internal(e)))?;
    Ok(moved.is_ok())
}

fn objects() -> Vec<serde_json::Value> {
    Object::ALL.iter().map(|o| json!({"name": o.name(), "plural": o.plural()})).collect()
}

async fn list_page(v: &Visitor, status: StatusCode, errors: BTreeMap<String, Vec<String>>) -> Page {
    let m = v.member()?;
    let manage = m.role().can_manage();
    let recent: Vec<ImportView> =
        if manage { imports::recent(&v.state, &m.principal, RECENT).await.map_err(|e| v.fail(e))? } else { Vec::new() };
    let ctx = json!({"imports": recent, "objects": objects(), "can_manage": manage, "errors": errors});
    render::page(status, "engage/imports.html", v.frame("imports-title", "imports"), ctx).map_err(|e| v.fail(e))
}

/// `/app/imports`: past imports, the upload form and the exports.
pub async fn list(v: Visitor) -> Page {
    list_page(&v, StatusCode::OK, BTreeMap::new()).await
}

/// Removes uploads older than [`UPLOAD_TTL`] (never started).
fn sweep(dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let now = SystemTime::now();
    for entry in entries.flatten() {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| now.duration_since(t).unwrap_or_default() > UPLOAD_TTL);
        if old {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// `POST /app/imports/upload` (multipart: `file`, `object`): keeps the file and goes to the
/// mapping step.
pub async fn upload(v: Visitor, form: Multipart) -> Page {
    let m = v.member()?;
    imports::may_import(&v.state, &m.principal).await.map_err(|e| v.fail(e))?;
    let refused = |v: &Visitor, e: AppError| match forms::refused(v.lang, e, &["file", "object"], "file") {
        forms::Refused::Form { status, errors } => Ok((status, errors)),
        forms::Refused::Page(p) => Err(p),
    };
    let (upload, fields) = match imports::read_form(form).await {
        Ok(read) => read,
        Err(e) => {
            let (status, errors) = refused(&v, e)?;
            return list_page(&v, status, errors).await;
        }
    };
    let object = fields.get("object").and_then(|o| Object::parse(o.trim()));
    let (Some(upload), Some(object)) = (upload, object) else {
        let mut errors = BTreeMap::new();
        errors.insert("file".to_string(), vec![crate::web::i18n::t(v.lang, "import-file-required", &[])]);
        return list_page(&v, StatusCode::UNPROCESSABLE_ENTITY, errors).await;
    };
    let token = uuid::Uuid::new_v4().simple().to_string();
    let path = upload_path(&v, &token)?.ok_or_else(|| WebError::status(v.lang, StatusCode::BAD_REQUEST))?;
    let mut source = upload.into_file();
    web::block(move || {
        use std::io::{Seek, SeekFrom};
        let dir = uploads_dir();
        std::fs::create_dir_all(&dir)?;
        sweep(&dir);
        source.seek(SeekFrom::Start(0))?;
        let mut target = std::fs::File::create(&path)?;
        std::io::copy(&mut source, &mut target).map(|_| ())
    })
    .await
    .map_err(|e| v.fail(AppError::internal(e)))?
    .map_err(|e| v.fail(AppError::internal(e)))?;
    Ok(see_other(&mail::url("/app/imports/mapping", &[("upload", &token), ("object", object.name())])))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct MappingQuery {
    upload: String,
    object: String,
}

/// The mapping step: each column of the file with the field it fills (a header naming a
/// field is chosen already), the first rows, and the mode.
async fn mapping_page(
    v: &Visitor,
    status: StatusCode,
    token: &str,
    object: Object,
    chosen: Option<&HashMap<String, String>>,
    errors: BTreeMap<String, Vec<String>>,
) -> Page {
    let m = v.member()?;
    let fields = imports::importable(&v.state, &m.principal, object).await.map_err(|e| v.fail(e))?;
    let (headers, rows) = match open_upload(v, token).await?.preview(PREVIEW_ROWS).await {
        Ok(p) => p,
        Err(e) => return Err(v.fail(e)),
    };
    let columns: Vec<_> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let picked = match chosen {
                Some(c) => c.get(&format!("col{i}")).cloned().unwrap_or_default(),
                None => fields.iter().find(|f| f.eq_ignore_ascii_case(h.trim())).cloned().unwrap_or_default(),
            };
            json!({"index": i, "header": h, "field": picked})
        })
        .collect();
    let mode = chosen.and_then(|c| c.get("mode")).cloned().unwrap_or_else(|| "create".into());
    let ctx = json!({"upload": token, "object": object.name(), "columns": columns, "rows": rows, "fields": fields,
        "modes": MODES, "mode": mode, "errors": errors});
    render::page(status, "engage/import_mapping.html", v.frame("import-mapping-title", "imports"), ctx)
        .map_err(|e| v.fail(e))
}

/// `/app/imports/mapping?upload=&object=`; without an upload, back to the imports.
pub async fn mapping(v: Visitor) -> Page {
    let m = v.member()?;
    let q: MappingQuery = mail::query(&v)?;
    let Some(object) = Object::parse(&q.object).filter(|_| !q.upload.is_empty()) else {
        return Ok(see_other("/app/imports"));
    };
    imports::may_import(&v.state, &m.principal).await.map_err(|e| v.fail(e))?;
    mapping_page(&v, StatusCode::OK, &q.upload, object, None, BTreeMap::new()).await
}

/// `POST /app/imports`: starts the import with the chosen mapping (`col<i>` = field).
pub async fn start(v: Visitor, body: Bytes) -> Page {
    let m = v.member()?;
    imports::may_import(&v.state, &m.principal).await.map_err(|e| v.fail(e))?;
    let form: HashMap<String, String> = forms::parse(v.lang, &body)?;
    let token = form.get("upload").cloned().unwrap_or_default();
    let object =
        form.get("object").and_then(|o| Object::parse(o)).ok_or_else(|| v.fail(AppError::not_found("import")))?;
    // Claim the upload by renaming it (atomic): a second start of the same upload, a double
    // click or a replay, finds nothing and is a 404, so it cannot start two imports.
    let path = upload_path(&v, &token)?.ok_or_else(|| WebError::status(v.lang, StatusCode::NOT_FOUND))?;
    let claimed = path.with_extension("claimed");
    if !rename(&v, path.clone(), claimed.clone()).await? {
        return Err(WebError::status(v.lang, StatusCode::NOT_FOUND));
    }
    let started = start_claimed(&v, &form, object, claimed.clone()).await;
    match started {
        Ok(id) => {
            let _ = web::block(move || std::fs::remove_file(claimed)).await;
            Ok(see_other(&format!("/app/imports/{id}")))
        }
        Err(refused) => {
            // Refused: the upload is there again for the corrected mapping.
            rename(&v, claimed, path).await?;
            match refused {
                Err(page) => Err(page),
                Ok((status, errors)) => mapping_page(&v, status, &token, object, Some(&form), errors).await,
            }
        }
    }
}

/// A refused start: the mapping form again with these errors, or an error page.
type StartRefused = Result<(StatusCode, BTreeMap<String, Vec<String>>), WebError>;

/// Starts the import of the claimed file with the form's mapping: the new import's id.
async fn start_claimed(
    v: &Visitor,
    form: &HashMap<String, String>,
    object: Object,
    claimed: PathBuf,
) -> Result<String, StartRefused> {
    let m = v.member().map_err(Err)?;
    let (headers, _) =
        open_file(v, claimed.clone()).await.map_err(Err)?.preview(0).await.map_err(|e| Err(v.fail(e)))?;
    let mapping: BTreeMap<&str, &str> = headers
        .iter()
        .enumerate()
        .filter_map(|(i, h)| form.get(&format!("col{i}")).filter(|f| !f.is_empty()).map(|f| (h.as_str(), f.as_str())))
        .collect();
    let mut fields = HashMap::new();
    fields.insert("object".to_string(), object.name().to_string());
    fields.insert("mode".to_string(), form.get("mode").cloned().unwrap_or_else(|| "create".into()));
    fields.insert("mapping".to_string(), json!(mapping).to_string());
    let upload = open_file(v, claimed).await.map_err(Err)?;
    let columns = column_fields(&headers);
    let field_names: Vec<&str> = columns.iter().map(String::as_str).collect();
    match imports::start(&v.state, &m.principal, Some(upload), fields).await {
        Ok(started) => Ok(started.id),
        Err(e) => match forms::refused(v.lang, beside_columns(e, &headers), &field_names, "file") {
            forms::Refused::Form { status, errors } => Err(Ok((status, errors))),
            forms::Refused::Page(p) => Err(Err(p)),
        },
    }
}

/// The fields a start's errors may land beside: the form's, and each column's `col<i>`.
fn column_fields(headers: &[String]) -> Vec<String> {
    let mut fields: Vec<String> = ["mode", "mapping", "file", "object"].iter().map(|f| f.to_string()).collect();
    fields.extend((0..headers.len()).map(|i| format!("col{i}")));
    fields
}

/// The API names a mapping's errors `mapping.<column>`; here they go beside that column.
fn beside_columns(e: AppError, headers: &[String]) -> AppError {
    match e {
        AppError::Validation { mut errors, detail } => {
            for f in &mut errors {
                let column = f.field.strip_prefix("mapping.").and_then(|c| headers.iter().position(|h| h == c));
                if let Some(i) = column {
                    f.field = format!("col{i}");
                }
            }
            AppError::Validation { errors, detail }
        }
        other => other,
    }
}

/// `/app/imports/{id}`: progress, reloading itself until the import is done; its errors.
pub async fn show(v: Visitor, id: web::Path<String>) -> Page {
    let m = v.member()?;
    let status = imports::load(&v.state, m.principal.clone(), id.into_inner()).await.map_err(|e| v.fail(e))?;
    let view = ImportView::from(status);
    let done = view.rows_imported + view.rows_failed;
    let live = view.status == "queued" || view.status == "running";
    let percent = if view.rows_total > 0 { done * 100 / view.rows_total } else { 100 };
    let ctx = json!({"import": view, "done": done, "percent": percent.clamp(0, 100), "live": live});
    let mut frame = v.frame("import-title", "imports");
    if live {
        if let Some(f) = frame.as_object_mut() {
            f.insert("refresh".into(), json!(REFRESH_SECS));
        }
    }
    render::page(StatusCode::OK, "engage/import.html", frame, ctx).map_err(|e| v.fail(e))
}

/// `/app/imports/{id}/errors.csv`: the API's error CSV.
pub async fn errors_csv(v: Visitor, id: web::Path<String>) -> Page {
    let m = v.member()?;
    let id = id.into_inner();
    let status = imports::load(&v.state, m.principal.clone(), id.clone()).await.map_err(|e| v.fail(e))?;
    let bytes = imports::errors_csv_of(&status).map_err(|e| v.fail(e))?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"import-{id}-errors.csv\"")))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(bytes))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ExportQuery {
    object: String,
}

/// `/app/exports/download?object=contacts`: the API's streamed CSV (audited); without an
/// object, back to the page.
pub async fn export(v: Visitor, state: web::Data<AppState>) -> Page {
    let m = v.member()?;
    let q: ExportQuery = mail::query(&v)?;
    let Some(object) = Object::ALL.into_iter().find(|o| o.plural() == q.object || o.name() == q.object) else {
        return Ok(see_other("/app/imports"));
    };
    exports::csv_response(state, &m.principal, object).await.map_err(|e| v.fail(e))
}
