//! The archive's content entries: `emails.json` (every live email with its whole history,
//! oldest revision first) and `segments.json`. Emails can be large (html up to 512 KiB a
//! revision), so they are written one revision at a time straight into the deflate
//! stream, a few emails per database read; nothing here holds a portal's content whole.

use std::io::Write;

use serde_json::{json, Value};

use super::{io, json_entry, ts, Zip, PAGE};
use crate::content::EMAIL;
use crate::db::Db;
use crate::domain::TenantId;
use crate::error::AppError;

/// Emails per database read (each carries its revisions).
const EMAILS_PER_READ: i64 = 10;

/// `emails.json`: `[{"email": {…}, "revisions": [{revision, created_at, author, content}]}]`.
pub(super) async fn emails_json(db: &Db, tenant: &TenantId, zip: Zip) -> Result<(Zip, u64), AppError> {
    let mut zip = zip;
    zip.start_file("emails.json", super::options()).map_err(io)?;
    zip.write_all(b"[").map_err(io)?;
    let mut after: Option<String> = None;
    let mut written = 0u64;
    loop {
        let (z, last, n, total) = db
            .tenant(tenant.clone())
            .read(move |t| {
                let mut zip = zip;
                let mut written = written;
                let page = t.emails(false, after.as_deref(), EMAILS_PER_READ)?;
                for e in &page {
                    if written > 0 {
                        zip.write_all(b",\n").map_err(io)?;
                    }
                    let email = json!({"id": e.id, "name": e.name, "subject": e.subject, "preheader": e.preheader,
                                       "html": e.html, "text": e.text, "revision": e.revision,
                                       "created_at": ts(e.created_at), "updated_at": ts(e.updated_at)});
                    zip.write_all(b"{\"email\":").map_err(io)?;
                    serde_json::to_writer(&mut zip, &email).map_err(io)?;
                    zip.write_all(b",\"revisions\":[").map_err(io)?;
                    let mut first = true;
                    for n in 1..=e.revision {
                        let Some(r) = crate::content::get(t, EMAIL, &e.id, n)? else { continue };
                        if !first {
                            zip.write_all(b",").map_err(io)?;
                        }
                        first = false;
                        let rev = json!({"revision": r.revision, "created_at": r.created_at, "author": r.author,
                                         "content": r.snapshot});
                        serde_json::to_writer(&mut zip, &rev).map_err(io)?;
                    }
                    zip.write_all(b"]}").map_err(io)?;
                    written += 1;
                }
                Ok((zip, page.last().map(|e| e.id.clone()), page.len() as i64, written))
            })
            .await?;
        zip = z;
        written = total;
        match last {
            Some(id) if n == EMAILS_PER_READ => after = Some(id),
            _ => break,
        }
    }
    zip.write_all(b"]\n").map_err(io)?;
    Ok((zip, written))
}

/// `segments.json`: every segment with its filter groups.
pub(super) async fn segments_json(db: &Db, tenant: &TenantId, zip: Zip) -> Result<(Zip, u64), AppError> {
    db.tenant(tenant.clone())
        .read(move |t| {
            let mut zip = zip;
            let mut all: Vec<Value> = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let page = t.segments(after.as_deref(), PAGE)?;
                let full = page.len() as i64 == PAGE;
                after = page.last().map(|s| s.id.clone());
                all.extend(page.iter().map(crate::crm::segments::view));
                if !full {
                    break;
                }
            }
            let n = all.len() as u64;
            json_entry(&mut zip, "segments.json", &Value::Array(all))?;
            Ok((zip, n))
        })
        .await
}

/// `campaigns.json`: every campaign with its exact stats, and `suppressions.json`: the
/// suppression list (addresses, reasons, campaigns). Recipient rows stay out: their stats
/// are here, and a 100,000-row list belongs in its own CSV (not yet written).
pub(super) async fn campaigns_json(db: &Db, tenant: &TenantId, zip: Zip) -> Result<(Zip, u64, u64), AppError> {
    db.tenant(tenant.clone())
        .read(move |t| {
            let mut zip = zip;
            let mut all: Vec<Value> = Vec::new();
            let mut before: Option<String> = None;
            loop {
                let page = t.campaigns_page(None, before.as_deref(), PAGE)?;
                let full = page.len() as i64 == PAGE;
                before = page.last().map(|c| c.id.clone());
                for row in page {
                    let v = crate::http::campaigns::view(t, row)?;
                    all.push(serde_json::to_value(v).map_err(io)?);
                }
                if !full {
                    break;
                }
            }
            let campaigns = all.len() as u64;
            json_entry(&mut zip, "campaigns.json", &Value::Array(all))?;
            let mut list: Vec<Value> = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let page = t.suppressions_page(None, after.as_deref(), PAGE)?;
                let full = page.len() as i64 == PAGE;
                after = page.last().map(|s| s.email_lower.clone());
                list.extend(page.into_iter().map(|s| {
                    json!({"email": s.email, "reason": s.reason, "campaign_id": s.campaign_id, "created_at": ts(s.created_at)})
                }));
                if !full {
                    break;
                }
            }
            let suppressions = list.len() as u64;
            json_entry(&mut zip, "suppressions.json", &Value::Array(list))?;
            Ok((zip, campaigns, suppressions))
        })
        .await
}

/// `inapp_messages.json`: every in-app message with its audience and delivery figures
/// (the per-recipient inbox items stay out: their numbers are in the figures).
pub(super) async fn inapp_json(db: &Db, tenant: &TenantId, zip: Zip) -> Result<(Zip, u64), AppError> {
    db.tenant(tenant.clone())
        .read(move |t| {
            let mut zip = zip;
            let mut all: Vec<Value> = Vec::new();
            let mut before: Option<String> = None;
            loop {
                let page = t.inapp_messages(before.as_deref(), PAGE)?;
                let full = page.len() as i64 == PAGE;
                before = page.last().map(|m| m.id.clone());
                for m in &page {
                    let (delivered, seen, read, archived) = t.inapp_message_stats(&m.id)?;
                    all.push(serde_json::json!({
                        "id": m.id, "title": m.title, "body": m.body, "action_url": m.action_url,
                        "category": m.category, "expires_at": m.expires_at.map(|e| e.and_utc()),
                        "audience": crate::messages::send::audience_view(m), "status": m.status,
                        "recipients": m.recipients, "delivered": delivered, "seen": seen, "read": read,
                        "archived": archived, "created_at": m.created_at.and_utc(),
                    }));
                }
                if !full {
                    break;
                }
            }
            let n = all.len() as u64;
            json_entry(&mut zip, "inapp_messages.json", &Value::Array(all))?;
            Ok((zip, n))
        })
        .await
}
