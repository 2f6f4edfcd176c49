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
use crate::crm::import::{Mode, RowError};
use crate::crm::objects::Object;
use crate::crm::{csv_io, csv_read};
use crate::db::imports::{ImportRow, ImportStatus};
use crate::domain::ImportId;
use crate::error::{AppError, FieldError};

pub use super::imports_read::{errors_csv_of, importable, recent};

/// The largest CSV accepted (bytes).
pub const MAX_IMPORT_BYTES: usize = 50 * 1024 * 1024;

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportAccepted {
    pub id: String,
    /// queued
    pub status: String,
    /// Data rows staged (blank rows are not counted).
    pub rows_total: i64,
    /// The column separator used: detected from the header row, or as given.
    pub delimiter: String,
    /// utf-8, or windows-1252 when the file was not valid UTF-8.
    pub encoding: String,
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
    /// The CSV file, with a header row (up to 50 MB; UTF-8 or Windows-1252).
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
    /// The column separator: `,`, `;`, `tab` or `|`; detected from the header row when absent.
    #[schema(schema_with = delimiters)]
    delimiter: Option<String>,
}

fn delimiters() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some([",", ";", "tab", "|"]))
        .build()
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

/// The uploaded file, on disk (an unnamed temporary file the system removes when it is
/// closed, crash or not), with what was learnt while it streamed in.
pub struct Upload {
    file: std::fs::File,
    /// The first [`csv_read::HEAD_BYTES`], to detect the dialect.
    head: Vec<u8>,
    utf8: csv_read::Utf8Check,
}

impl Upload {
    /// An upload kept in a file between requests (the web app's mapping step): its head
    /// and encoding learnt by reading it once.
    pub async fn from_file(file: std::fs::File) -> Result<Upload, AppError> {
        web::block(move || {
            use std::io::{Read, Seek, SeekFrom};
            let mut file = file;
            file.seek(SeekFrom::Start(0))?;
            let (mut head, mut utf8, mut buf) = (Vec::new(), csv_read::Utf8Check::default(), vec![0u8; 64 * 1024]);
            loop {
                let n = file.read(&mut buf)?;
                let Some(chunk) = buf.get(..n).filter(|c| !c.is_empty()) else { break };
                utf8.feed(chunk);
                let room = csv_read::HEAD_BYTES.saturating_sub(head.len()).min(chunk.len());
                head.extend_from_slice(chunk.get(..room).unwrap_or_default());
            }
            Ok::<_, std::io::Error>(Upload { file, head, utf8 })
        })
        .await
        .map_err(AppError::internal)?
        .map_err(AppError::internal)
    }

    /// The file, to keep it between requests.
    pub fn into_file(self) -> std::fs::File {
        self.file
    }

    /// The header row and up to `rows` data rows, read as the import will read them
    /// (the dialect detected from the head); a file that cannot be read is a 422 on `file`.
    pub async fn preview(self, rows: usize) -> Result<(Vec<String>, Vec<Vec<String>>), AppError> {
        let dialect =
            csv_read::sniff(&self.head, self.utf8.valid(), None).map_err(|m| AppError::validation("file", m))?;
        let mut source = self.file;
        web::block(move || {
            use std::io::{Seek, SeekFrom};
            source.seek(SeekFrom::Start(0)).map_err(|e| format!("cannot read the file: {e}"))?;
            let mut read = csv_read::Rows::open(std::io::BufReader::new(source), dialect)?;
            let first = read.next_batch(rows)?;
            Ok::<_, String>((read.headers().to_vec(), first.into_iter().map(|(_, cells)| cells).collect()))
        })
        .await
        .map_err(AppError::internal)?
        .map_err(|m| AppError::validation("file", m))
    }
}

/// Bytes gathered before each write to the temporary file.
const WRITE_BUFFER: usize = 1024 * 1024;
/// Largest text field of the form, and most parts.
const MAX_FIELD_BYTES: usize = 64 * 1024;
const MAX_PARTS: usize = 16;
/// Rows parsed and staged per transaction.
const STAGE_BATCH: usize = 2000;

async fn write_out(mut file: std::fs::File, buf: Vec<u8>) -> Result<std::fs::File, AppError> {
    use std::io::Write;
    web::block(move || file.write_all(&buf).map(|()| file))
        .await
        .map_err(AppError::internal)?
        .map_err(AppError::internal)
}

/// Reads the multipart form: `file` streamed to a temporary file (up to 50 MB, never
/// held in memory) and the text fields.
pub async fn read_form(mut form: Multipart) -> Result<(Option<Upload>, HashMap<String, String>), AppError> {
    let bad = |m: String| AppError::BadRequest { code: "bad_request", detail: m };
    let mut upload: Option<Upload> = None;
    let mut fields = HashMap::new();
    let mut parts = 0;
    while let Some(part) = form.next().await {
        let mut part = part.map_err(|e| bad(format!("malformed multipart body: {e}")))?;
        parts += 1;
        if parts > MAX_PARTS {
            return Err(AppError::validation("file", format!("the form has more than {MAX_PARTS} parts")));
        }
        let name = part.name().unwrap_or_default().to_string();
        if name == "file" {
            if upload.is_some() {
                return Err(AppError::validation("file", "send one file per import"));
            }
            let mut file =
                web::block(tempfile::tempfile).await.map_err(AppError::internal)?.map_err(AppError::internal)?;
            let (mut head, mut utf8, mut size) = (Vec::new(), csv_read::Utf8Check::default(), 0usize);
            let mut buf = Vec::with_capacity(WRITE_BUFFER);
            while let Some(chunk) = part.next().await {
                let chunk = chunk.map_err(|e| bad(format!("malformed multipart body: {e}")))?;
                size += chunk.len();
                if size > MAX_IMPORT_BYTES {
                    return Err(AppError::PayloadTooLarge { limit: MAX_IMPORT_BYTES });
                }
                utf8.feed(&chunk);
                let room = csv_read::HEAD_BYTES.saturating_sub(head.len()).min(chunk.len());
                head.extend_from_slice(chunk.get(..room).unwrap_or_default());
                buf.extend_from_slice(&chunk);
                if buf.len() >= WRITE_BUFFER {
                    file = write_out(file, std::mem::replace(&mut buf, Vec::with_capacity(WRITE_BUFFER))).await?;
                }
            }
            file = write_out(file, buf).await?;
            upload = Some(Upload { file, head, utf8 });
        } else {
            let mut bytes = Vec::new();
            while let Some(chunk) = part.next().await {
                let chunk = chunk.map_err(|e| bad(format!("malformed multipart body: {e}")))?;
                if bytes.len() + chunk.len() > MAX_FIELD_BYTES {
                    return Err(AppError::validation(&name, "is longer than 64 KiB"));
                }
                bytes.extend_from_slice(&chunk);
            }
            fields.insert(name, String::from_utf8_lossy(&bytes).to_string());
        }
    }
    Ok((upload, fields))
}

/// Start an import. Multipart fields: `file` (CSV with a header row, up to 50 MB; UTF-8
/// or Windows-1252; separated by `,`, `;`, tab or `|`, detected from the header row),
/// `object` (contact, company, …), `mode` (create, update or upsert; upsert matches
/// contacts by email), optional `mapping` (JSON `{"CSV column": "field"}`; by default
/// headers that name a field are used, others ignored), optional `delimiter` (`,`, `;`,
/// `tab` or `|`, overriding detection). Multi-valued cells (tags, multi_select, links)
/// separate values with `;` (`\;` is a literal semicolon, `\\` a backslash). Blank rows
/// are skipped. The file is parsed once, as it arrives, into staged rows; the answer
/// comes when all are staged.
#[utoipa::path(post, path = "/api/v1/imports", tag = "imports", security(("bearer" = [])),
    request_body(content = ImportForm, content_type = "multipart/form-data"),
    responses((status = 202, body = ImportAccepted),
        (status = 413, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn create(state: web::Data<AppState>, p: Principal, form: Multipart) -> Result<HttpResponse, AppError> {
    may_import(&state, &p).await?;
    let (upload, fields) = read_form(form).await?;
    Ok(HttpResponse::Accepted().json(start(&state, &p, upload, fields).await?))
}

/// Who may start an import: owners and admins, or a key with `imports:write`.
pub async fn may_import(state: &AppState, p: &Principal) -> Result<(), AppError> {
    p.manager_or_scope(state, "imports", Access::Write).await
}

/// Starts an import of `upload` with the form's fields (`object`, `mode`, `mapping`,
/// `delimiter`), as `POST /api/v1/imports` describes; the web app's start form too.
pub async fn start(
    state: &AppState,
    p: &Principal,
    upload: Option<Upload>,
    fields: HashMap<String, String>,
) -> Result<ImportAccepted, AppError> {
    may_import(state, p).await?;
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
    let delimiter = match fields.get("delimiter").filter(|d| !d.is_empty()) {
        None => None,
        Some(d) => csv_read::parse_delimiter(d).or_else(|| {
            errors.push(FieldError::new("delimiter", "must be ',', ';', 'tab' or '|'"));
            None
        }),
    };
    let Some(upload) = upload else {
        errors.push(FieldError::new("file", "is required (a CSV file)"));
        return Err(AppError::invalid(errors));
    };
    let (Some(object), Some(mode), true) = (object, mode, errors.is_empty()) else {
        return Err(AppError::invalid(errors));
    };
    // An import writes records: a key needs their write scope too (imports:write alone
    // would otherwise edit any object).
    p.require(state, object.plural(), Access::Write).await?;
    let dialect =
        csv_read::sniff(&upload.head, upload.utf8.valid(), delimiter).map_err(|m| AppError::validation("file", m))?;
    let mut source = upload.file;
    let mut rows = web::block(move || {
        use std::io::{Seek, SeekFrom};
        source.seek(SeekFrom::Start(0)).map_err(|e| format!("cannot read the file: {e}"))?;
        csv_read::Rows::open(std::io::BufReader::new(source), dialect)
    })
    .await
    .map_err(AppError::internal)?
    .map_err(|m| AppError::validation("file", m))?;
    let headers = rows.headers().to_vec();

    let now = state.clock.now();
    let id = ImportId::from_db(uuid::Uuid::now_v7().to_string());
    let row = ImportRow {
        id: id.to_string(),
        tenant_id: p.tenant_id.to_string(),
        object: object.name().into(),
        mode: serde_json::to_value(mode).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default(),
        mapping: serde_json::to_string(&mapping).map_err(AppError::internal)?,
        status: "staging".into(),
        rows_total: 0,
        rows_imported: 0,
        rows_failed: 0,
        errors: "[]".into(),
        next_row: 1,
        lease_owner: None,
        lease_until: None,
        created_at: now.naive_utc(),
        updated_at: now.naive_utc(),
        headers: serde_json::to_string(&headers).map_err(AppError::internal)?,
    };
    let tenant = state.db.tenant(p.tenant_id.clone());
    // Creating the job and staging its rows are not the request's change: they do not
    // mark its Idempotency-Key, so an upload cut off here is retried and runs again (the
    // purge job removes the abandoned staging). Queuing the job, below, is the change.
    let prepared: Result<i64, AppError> = crate::db::idempotency::unmarked(async {
        tenant
            .clone()
            .write(move |tdb| {
                // Check the columns now, so a wrong name or separator is a 422, not a failed job.
                let defs = tdb.custom_fields(Some(object))?;
                let known = csv_io::importable_fields(object, &defs);
                let map = csv_io::map_columns(&headers, mapping.as_ref(), &known).map_err(|errs| {
                    AppError::invalid(errs.into_iter().map(|(f, m)| FieldError::new(f, m)).collect())
                })?;
                if map.fields.is_empty() {
                    return Err(AppError::validation("file", no_column_message(object, &headers)));
                }
                tdb.insert_import(&row)?;
                Ok(())
            })
            .await?;

        // Parse and stage in batches: memory holds one batch, whatever the file's size.
        let mut rows_total = 0i64;
        let staged: Result<(), AppError> = async {
            loop {
                let (back, batch) = web::block(move || {
                    let batch = rows.next_batch(STAGE_BATCH);
                    (rows, batch)
                })
                .await
                .map_err(AppError::internal)?;
                rows = back;
                let batch = batch.map_err(|m| AppError::validation("file", m))?;
                let last = batch.len() < STAGE_BATCH;
                rows_total += batch.len() as i64;
                let encoded = batch
                    .into_iter()
                    .map(|(n, cells)| serde_json::to_string(&cells).map(|c| (n, c)))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(AppError::internal)?;
                if !encoded.is_empty() {
                    let id = id.clone();
                    tenant.clone().write(move |t| Ok(t.stage_import_rows(&id, &encoded)?)).await?;
                }
                if last {
                    return Ok(());
                }
            }
        }
        .await;
        if let Err(e) = staged {
            let id = id.clone();
            if let Err(cleanup) = tenant.clone().write(move |t| Ok(t.discard_import(&id)?)).await {
                // The purge job removes uploads left staging.
                tracing::warn!(error = %cleanup, "could not discard a refused upload");
            }
            return Err(e);
        }
        Ok(rows_total)
    })
    .await;
    let rows_total = prepared?;
    let entry = p.entry("import.created").target("import", &id).details(serde_json::json!({
        "object": object.name(), "mode": mode, "rows_total": rows_total,
        "delimiter": (dialect.delimiter as char).to_string(), "encoding": dialect.encoding.name(),
    }));
    let id2 = id.clone();
    tenant
        .write(move |t| {
            if !t.queue_import(&id2, rows_total, now.naive_utc())? {
                return Err(AppError::Unavailable { detail: "the upload was interrupted; send it again".into() });
            }
            t.audit(entry, now)?;
            Ok(())
        })
        .await?;
    Ok(ImportAccepted {
        id: id.to_string(),
        status: "queued".into(),
        rows_total,
        delimiter: (dialect.delimiter as char).to_string(),
        encoding: dialect.encoding.name().into(),
    })
}

/// Why no column was usable, with the likely cause.
fn no_column_message(object: Object, headers: &[String]) -> String {
    let shown: Vec<&str> = headers.iter().take(5).map(String::as_str).collect();
    let mut m = format!(
        "no column names a field of {} (the header row has {:?}); name columns as in an export or send a mapping",
        object.name(),
        shown
    );
    if headers.len() == 1 && headers.iter().any(|h| h.contains([',', ';', '\t', '|'])) {
        m.push_str("; the columns may be separated by another character than the one used (set delimiter)");
    }
    m
}

/// One import of this portal, for who may read imports.
pub async fn load(state: &AppState, p: Principal, id: String) -> Result<ImportStatus, AppError> {
    p.manager_or_scope(state, "imports", Access::Read).await?;
    let id = ImportId::parse(&id).ok_or_else(|| AppError::not_found("import"))?;
    let status = state
        .db
        .tenant(p.tenant_id.clone())
        .read(move |t| t.import_status(&id)?.ok_or_else(|| AppError::not_found("import")))
        .await?;
    // Its rows' errors quote the object's data: a key reads them with that object's scope.
    if let Some(object) = Object::parse(&status.object) {
        p.require(state, object.plural(), Access::Read).await?;
    }
    Ok(status)
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
    Ok(HttpResponse::Ok().content_type("text/csv; charset=utf-8").body(errors_csv_of(&status)?))
}
