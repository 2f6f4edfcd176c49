//! Audience materialisation: a sending campaign's segment becomes recipient rows, one
//! batch of contacts per step, in creation order behind a cursor kept in the campaign's
//! run. A batch is one transaction (its rows, its skipped counts and the cursor commit
//! together), so a crash redoes at most the batch it was in, and nothing twice.
//!
//! Members without an email are skipped and counted; addresses already taken by an
//! earlier member (case-insensitively) are counted as duplicates and not inserted (the
//! primary key decides); suppressed addresses — the suppression list, and the keyed hashes
//! of erased people — become rows with status `suppressed`, so they show in the stats and
//! the recipient list but are never mailed.

use super::message::Sender;
use crate::crm::objects::Object;
use crate::crm::query::{ListSpec, Order, Position};
use crate::db::campaign_recipients::RecipientRow;
use crate::db::TenantTx;
use crate::domain::TenantId;
use crate::error::AppError;

/// The one property of a contact an audience needs (the rest of the JSON is skipped, not
/// built into a map).
#[derive(serde::Deserialize)]
struct Address {
    #[serde(default)]
    email: Option<String>,
}

/// Contacts read per step.
pub const BATCH: i64 = 1000;

/// What one step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Built {
    /// More contacts remain.
    More,
    /// The whole audience is materialised.
    Done,
    /// The segment is gone or no longer valid: the campaign cannot be sent.
    Unusable(String),
}

/// Materialises the next batch of campaign `campaign_id`'s audience.
pub fn step(
    t: &mut TenantTx<'_>,
    tenant: &TenantId,
    campaign_id: &str,
    segment_id: &str,
    sender: &Sender,
    erased_key: Option<&[u8]>,
) -> Result<Built, AppError> {
    let Some(run) = t.run(campaign_id)? else {
        return Ok(Built::Unusable("the campaign has no run".into()));
    };
    if run.materialised {
        return Ok(Built::Done);
    }
    let Some(groups) = t.segment_filter_groups(segment_id)? else {
        return Ok(Built::Unusable("the segment was deleted".into()));
    };
    let groups: Vec<crate::crm::search::FilterGroupInput> = match serde_json::from_str(&groups) {
        Ok(g) => g,
        Err(_) => return Ok(Built::Unusable("the segment's filter is not readable".into())),
    };
    let defs = t.custom_fields(Some(Object::Contact))?;
    let search = match crate::crm::search::parse(Object::Contact, &groups, &defs) {
        Ok(s) => s,
        Err(errors) => {
            let why = errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; ");
            return Ok(Built::Unusable(format!("the segment's filter is no longer valid ({why})")));
        }
    };
    let spec = ListSpec {
        object: Object::Contact,
        order: Order::Created { desc: false },
        after: run.audience_after.clone().map(Position::Id),
        q: None,
        tag: None,
        limit: BATCH,
        trashed: false,
        search: Some(search),
    };
    let started = std::time::Instant::now();
    let rows = t.list_ids_and_props(&spec)?;
    let list_ms = started.elapsed().as_millis();
    let last = rows.last().map(|(id, _)| id.clone()).or(run.audience_after);
    let done = (rows.len() as i64) < BATCH;
    let mut skipped = 0i64;
    let mut candidates = Vec::with_capacity(rows.len());
    for (id, props) in rows {
        let email = serde_json::from_str::<Address>(&props).ok().and_then(|a| a.email);
        let email = email.as_deref().map(str::trim).unwrap_or_default();
        if email.is_empty() {
            skipped += 1;
            continue;
        }
        candidates.push((id, email.to_string()));
    }
    let lowers: Vec<String> = candidates.iter().map(|(_, e)| e.to_lowercase()).collect();
    let mut suppressed: std::collections::HashSet<String> = t.suppressed_among(&lowers)?.into_iter().collect();
    if let Some(key) = erased_key {
        let hashed: Vec<(String, String)> = lowers
            .iter()
            .filter_map(|l| crate::erasure::suppression::hash(key, tenant, l).ok().map(|h| (h, l.clone())))
            .collect();
        let hashes: Vec<String> = hashed.iter().map(|(h, _)| h.clone()).collect();
        let erased: std::collections::HashSet<String> = t.suppressed_hashes_among(&hashes)?.into_iter().collect();
        suppressed.extend(hashed.into_iter().filter(|(h, _)| erased.contains(h)).map(|(_, l)| l));
    }
    let recipients: Vec<RecipientRow> = candidates
        .into_iter()
        .zip(lowers)
        .map(|((contact_id, email), lower)| {
            let id = uuid::Uuid::now_v7().to_string();
            RecipientRow {
                tenant_id: tenant.to_string(),
                campaign_id: campaign_id.to_string(),
                status: if suppressed.contains(&lower) { "suppressed" } else { "queued" }.into(),
                email_lower: lower,
                message_id: sender.message_id(&id),
                id,
                contact_id: Some(contact_id),
                email,
                attempts: 0,
                lease_owner: None,
                lease_until: None,
                sent_at: None,
                error: None,
                opened_at: None,
                clicked_at: None,
            }
        })
        .collect();
    let offered = recipients.len();
    let mut inserted = 0;
    for chunk in recipients.chunks(BATCH as usize) {
        inserted += t.insert_recipients(chunk)?;
    }
    t.advance_audience(campaign_id, last.as_deref(), done, skipped, (offered - inserted) as i64)?;
    tracing::debug!(campaign = %campaign_id, offered, list_ms, total_ms = started.elapsed().as_millis(), "campaign audience batch");
    Ok(if done { Built::Done } else { Built::More })
}
