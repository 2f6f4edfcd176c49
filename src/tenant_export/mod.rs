//! Portal export: one zip archive of everything a portal holds, for the portal to take its
//! data out. A job row (`tenant_exports`) moves through
//!
//! ```text
//!   queued ──claim (any node)──► running(owner, lease) ──► completed(file, bytes) ──7 days──► expired
//!                                   │   ▲                └─► failed(error)       (purge deletes the file)
//!                 lease expired ────┘   └── (claimed again; the archive is rebuilt from
//!                 (node died)               the start, at most three attempts)
//! ```
//!
//! The archive (written as `ID.zip.partial`, renamed when complete):
//!
//! | entry | content |
//! | --- | --- |
//! | `contacts.csv`, `companies.csv`, `deals.csv`, `tickets.csv`, `tasks.csv`, `notes.csv` | every live record, as `GET /api/v1/exports/{plural}.csv` writes it (custom fields as columns, formulas guarded) |
//! | `settings.json` | the portal's settings |
//! | `custom_fields.json`, `pipelines.json`, `tags.json`, `custom_values.json` | definitions |
//! | `emails.json` | every live email with its whole revision history (`content.rs`) |
//! | `segments.json` | every segment with its filter groups |
//! | `campaigns.json`, `suppressions.json` | campaigns with their stats, the suppression list |
//! | `inapp_messages.json` | every in-app message with its audience and delivery figures |
//! | `audit_log.json` | every audit entry, newest first, with its chain hashes |
//! | `manifest.json` | when, and how many rows each entry holds |
//!
//! Records and audit entries are read a page at a time and written straight into the
//! deflate stream, so memory stays flat whatever the portal's size. Campaigns join the
//! archive when that feature exists.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use zip::write::SimpleFileOptions;
use zip::ZipWriter;

use crate::crm::csv_io;
use crate::crm::objects::Object;
use crate::crm::query::{ListSpec, Order, Position};
use crate::crm::records;
use crate::db::audit::AuditFilter;
use crate::db::Db;
use crate::domain::TenantId;
use crate::error::AppError;

mod content;

/// How long a completed archive stays for download before the purge deletes it.
pub fn retention() -> chrono::Duration {
    chrono::Duration::days(7)
}

/// Rows read per database round trip.
const PAGE: i64 = 500;

type Zip = ZipWriter<BufWriter<File>>;

fn io(e: impl std::fmt::Display) -> AppError {
    AppError::internal(anyhow::anyhow!("writing the archive: {e}"))
}

fn options() -> SimpleFileOptions {
    SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated).large_file(true)
}

/// Where export `id` of portal `tenant` lives under `dir`.
pub fn archive_path(dir: &Path, tenant: &TenantId, id: &str) -> PathBuf {
    dir.join(tenant.as_str()).join(format!("{id}.zip"))
}

fn ts(t: chrono::NaiveDateTime) -> Value {
    Value::String(t.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
}

fn csv_line(cells: &[String]) -> Result<Vec<u8>, AppError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(cells).map_err(AppError::internal)?;
    w.into_inner().map_err(|e| AppError::internal(anyhow::anyhow!("{e}")))
}

/// Writes a JSON value as one archive entry.
fn json_entry(zip: &mut Zip, name: &str, value: &Value) -> Result<(), AppError> {
    zip.start_file(name, options()).map_err(io)?;
    serde_json::to_writer_pretty(&mut *zip, value).map_err(io)?;
    Ok(())
}

/// Builds the archive of `tenant` at `path` (through a `.partial` file); returns its size
/// and the rows per entry.
pub async fn build(db: &Db, tenant: &TenantId, path: &Path, now: DateTime<Utc>) -> Result<u64, AppError> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(io)?;
    }
    let partial = path.with_extension("zip.partial");
    let file = fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&partial).map_err(io)?;
    let mut zip: Zip = ZipWriter::new(BufWriter::with_capacity(1 << 20, file));
    let mut counts = serde_json::Map::new();
    for object in Object::ALL {
        let (z, n) = records_csv(db, tenant, object, zip).await?;
        zip = z;
        counts.insert(format!("{}.csv", object.plural()), json!(n));
    }
    let (z, settings) = db
        .tenant(tenant.clone())
        .read(move |t| {
            let mut zip = zip;
            let row = t.tenant()?;
            let settings = json!({
                "id": row.id, "name": row.name, "require_mfa": row.require_mfa,
                "staff_access": row.staff_access, "created_at": ts(row.created_at), "updated_at": ts(row.updated_at),
            });
            json_entry(&mut zip, "settings.json", &settings)?;
            let fields: Vec<Value> = t
                .custom_fields(None)?
                .into_iter()
                .map(|f| {
                    json!({"id": f.id, "object": f.object, "key": f.field_key, "label": f.label, "type": f.field_type,
                           "options": serde_json::from_str::<Value>(&f.options).unwrap_or(Value::Null),
                           "required": f.required, "created_at": ts(f.created_at)})
                })
                .collect();
            let pipelines: Vec<Value> = t
                .pipelines()?
                .into_iter()
                .map(|p| {
                    json!({"id": p.id, "name": p.name, "display_order": p.display_order,
                           "stages": serde_json::from_str::<Value>(&p.stages).unwrap_or(Value::Null),
                           "created_at": ts(p.created_at)})
                })
                .collect();
            let counts = (fields.len(), pipelines.len());
            json_entry(&mut zip, "custom_fields.json", &Value::Array(fields))?;
            json_entry(&mut zip, "pipelines.json", &Value::Array(pipelines))?;
            let mut tags = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let page = t.tags(false, after.as_deref(), PAGE)?;
                let full = page.len() as i64 == PAGE;
                for (tag, used) in page {
                    after = Some(tag.id.clone());
                    tags.push(
                        json!({"id": tag.id, "name": tag.name, "records": used, "created_at": ts(tag.created_at)}),
                    );
                }
                if !full {
                    break;
                }
            }
            let mut values = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let page = t.custom_values(false, after.as_deref(), PAGE)?;
                let full = page.len() as i64 == PAGE;
                for v in page {
                    after = Some(v.id.clone());
                    values.push(
                        json!({"id": v.id, "key": v.value_key, "value": v.value, "created_at": ts(v.created_at)}),
                    );
                }
                if !full {
                    break;
                }
            }
            let more = (tags.len(), values.len());
            json_entry(&mut zip, "tags.json", &Value::Array(tags))?;
            json_entry(&mut zip, "custom_values.json", &Value::Array(values))?;
            Ok((zip, (counts.0, counts.1, more.0, more.1)))
        })
        .await?;
    zip = z;
    for (name, n) in [
        ("custom_fields.json", settings.0),
        ("pipelines.json", settings.1),
        ("tags.json", settings.2),
        ("custom_values.json", settings.3),
    ] {
        counts.insert(name.into(), json!(n));
    }
    let (z, emails) = content::emails_json(db, tenant, zip).await?;
    counts.insert("emails.json".into(), json!(emails));
    let (z, segments) = content::segments_json(db, tenant, z).await?;
    counts.insert("segments.json".into(), json!(segments));
    let (z, campaigns, suppressions) = content::campaigns_json(db, tenant, z).await?;
    counts.insert("campaigns.json".into(), json!(campaigns));
    counts.insert("suppressions.json".into(), json!(suppressions));
    let (z, inapp) = content::inapp_json(db, tenant, z).await?;
    counts.insert("inapp_messages.json".into(), json!(inapp));
    let (z, audited) = audit_json(db, tenant, z).await?;
    zip = z;
    counts.insert("audit_log.json".into(), json!(audited));
    json_entry(
        &mut zip,
        "manifest.json",
        &json!({"tenant_id": tenant.as_str(), "generated_at": now, "format": 1, "rows": counts}),
    )?;
    let buffered = zip.finish().map_err(io)?;
    let file = buffered.into_inner().map_err(io)?;
    file.sync_all().map_err(io)?;
    let bytes = file.metadata().map_err(io)?.len();
    fs::rename(&partial, path).map_err(io)?;
    Ok(bytes)
}

/// One object's CSV entry, a page of records per read.
async fn records_csv(db: &Db, tenant: &TenantId, object: Object, zip: Zip) -> Result<(Zip, u64), AppError> {
    let (mut zip, defs) = db
        .tenant(tenant.clone())
        .read(move |t| {
            let mut zip = zip;
            let defs = t.custom_fields(Some(object))?;
            zip.start_file(format!("{}.csv", object.plural()), options()).map_err(io)?;
            Ok((zip, defs))
        })
        .await?;
    let header = csv_io::export_header(object, &defs);
    zip.write_all(&csv_line(&header)?).map_err(io)?;
    let mut after: Option<String> = None;
    let mut rows = 0u64;
    loop {
        let (defs, header) = (defs.clone(), header.clone());
        let (z, last, n) = db
            .tenant(tenant.clone())
            .read(move |t| {
                let mut zip = zip;
                let page = t.list_records(&ListSpec {
                    object,
                    order: Order::Created { desc: false },
                    after: after.map(Position::Id),
                    q: None,
                    tag: None,
                    limit: PAGE,
                    trashed: false,
                    search: None,
                })?;
                let mut last = None;
                let ids: Vec<&str> = page.iter().map(|(row, _)| row.id.as_str()).collect();
                let mut tags_of = t.tag_names_of(&ids)?;
                for (row, _) in &page {
                    let tags = tags_of.remove(&row.id).unwrap_or_default();
                    let view = records::view(object, row, tags, &defs);
                    zip.write_all(&csv_line(&csv_io::export_row(&view, &header))?).map_err(io)?;
                    last = Some(row.id.clone());
                }
                Ok((zip, last, page.len() as u64))
            })
            .await?;
        zip = z;
        rows += n;
        match last {
            Some(id) if n as i64 == PAGE => after = Some(id),
            _ => return Ok((zip, rows)),
        }
    }
}

/// `audit_log.json`: a JSON array written entry by entry, newest first.
async fn audit_json(db: &Db, tenant: &TenantId, zip: Zip) -> Result<(Zip, u64), AppError> {
    let mut zip = zip;
    zip.start_file("audit_log.json", options()).map_err(io)?;
    zip.write_all(b"[").map_err(io)?;
    let mut before: Option<i64> = None;
    let mut written = 0u64;
    loop {
        let filter = AuditFilter { before_seq: before, limit: PAGE, ..Default::default() };
        let (z, last, n, total) = db
            .tenant(tenant.clone())
            .read(move |t| {
                let mut zip = zip;
                let page = t.audit_entries(&filter)?;
                let mut written = written;
                for e in &page {
                    let entry = json!({
                        "seq": e.seq, "occurred_at": ts(e.occurred_at),
                        "actor": {"type": e.actor_type, "id": e.actor_id}, "action": e.action,
                        "target": {"type": e.target_type, "id": e.target_id},
                        "ip": e.ip, "user_agent": e.user_agent, "request_id": e.request_id,
                        "details": serde_json::from_str::<Value>(&e.details).unwrap_or(Value::Null),
                        "prev_hash": e.prev_hash, "hash": e.hash,
                    });
                    if written > 0 {
                        zip.write_all(b",\n").map_err(io)?;
                    }
                    serde_json::to_writer(&mut zip, &entry).map_err(io)?;
                    written += 1;
                }
                Ok((zip, page.last().map(|e| e.seq), page.len() as i64, written))
            })
            .await?;
        zip = z;
        written = total;
        match last {
            Some(seq) if n == PAGE => before = Some(seq),
            _ => break,
        }
    }
    zip.write_all(b"]\n").map_err(io)?;
    Ok((zip, written))
}
