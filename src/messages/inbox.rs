//! What an end user does with their inbox. Each change is one write transaction that
//! locks the items it changes, moves the user's counters by exactly what changed, and
//! appends one `inapp.changed` event carrying the counts after it, so every open tab on
//! every node hears of it in order.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{CHANGED, OBJECT};
use crate::db::events::NewEvent;
use crate::db::inapp::{Change, Counts};
use crate::db::TenantTx;
use crate::error::AppError;

fn announce(
    t: &mut TenantTx<'_>,
    user: &str,
    change: Change,
    ids: Option<Vec<String>>,
    counts: Counts,
    now: DateTime<Utc>,
) {
    let record = ids.as_ref().and_then(|i| i.first().cloned()).unwrap_or_default();
    let data = json!({
        "user_id": user,
        "action": change.name(),
        "ids": ids,
        "all": record.is_empty(),
        "at": now,
        "counts": counts,
    });
    t.append_event(
        NewEvent {
            event_type: CHANGED.to_string(),
            object: OBJECT,
            record_id: record,
            actor_type: "end_user",
            actor_id: None,
            data,
            diff: None,
        },
        now,
    );
}

/// Changes one item of `user`; 404 for an item that is not theirs (another user's, or
/// another portal's: both are simply not found). Returns the item and the counts.
pub fn change_one(
    t: &mut TenantTx<'_>,
    user: &str,
    id: &str,
    change: Change,
    now: DateTime<Utc>,
) -> Result<(serde_json::Value, Counts), AppError> {
    let not_found = || AppError::not_found("inbox item");
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(not_found());
    }
    let (item, message) = t.inapp_item(user, id)?.ok_or_else(not_found)?;
    let changed = t.change_inapp_item(user, &item, change, now.naive_utc())?;
    let counts = t.inapp_counts(user)?;
    if changed {
        announce(t, user, change, Some(vec![id.to_string()]), counts, now);
    }
    let (after, message) = t.inapp_item(user, id)?.unwrap_or((item, message));
    Ok((super::item_view(&after, &message), counts))
}

/// Read-all or archive-all; returns how many items changed and the counts after.
pub fn change_all(
    t: &mut TenantTx<'_>,
    user: &str,
    change: Change,
    now: DateTime<Utc>,
) -> Result<(usize, Counts), AppError> {
    let n = t.change_all_inapp_items(user, change, now.naive_utc())?;
    let counts = t.inapp_counts(user)?;
    if n > 0 {
        announce(t, user, change, None, counts, now);
    }
    Ok((n, counts))
}

/// Archives `user`'s items whose message expired (its `expires_at` passed), counters and
/// the `inapp.changed` event included, as any archive would. Called before an inbox or
/// its counts are read, so an expired message is never shown or counted. Returns whether
/// anything changed.
pub fn expire_due(t: &mut TenantTx<'_>, user: &str, now: DateTime<Utc>) -> Result<bool, AppError> {
    let ids = t.expired_inapp_items(user, now.naive_utc(), 500)?;
    let mut changed = Vec::new();
    for id in ids {
        if let Some((item, _)) = t.inapp_item(user, &id)? {
            if t.change_inapp_item(user, &item, Change::Archive, now.naive_utc())? {
                changed.push(id);
            }
        }
    }
    if changed.is_empty() {
        return Ok(false);
    }
    let counts = t.inapp_counts(user)?;
    announce(t, user, Change::Archive, Some(changed), counts, now);
    Ok(true)
}
