//! Changes to records chosen by id, for the web app's list screens (checkboxes on a page):
//! add a tag, remove a tag, move to the trash. No rule lives here: tagging is the batch
//! endpoint's update of one item (`crm::item::apply` in `Mode::Update` with the record's
//! new `tags`, so `crm::input` checks the tag and `crm::records::update` writes the same
//! event and audit entry as `PATCH /{plural}/{id}`), and deleting is `crud::trash`, the
//! `DELETE /{plural}/{id}` of each id (with its role check).
//!
//! Ids that name no live record of this portal (another portal's, a trashed one, a
//! malformed one) change nothing and are counted as `not_found`: the answer does not say
//! which, so it is no oracle. An input error (a tag the API refuses) changes nothing at
//! all: tagging runs in one transaction.

use serde_json::json;

use super::batch::{item_problem, BATCH_MAX};
use super::{change_actor, crud};
use crate::crm::item::{self, Mode};
use crate::crm::objects::Object;
use crate::domain::RecordId;
use crate::error::AppError;
use crate::http::principal::{Access, Principal};
use crate::http::AppState;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BulkAction {
    AddTag(String),
    RemoveTag(String),
    Trash,
}

/// What a bulk change did, id by id.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BulkOutcome {
    /// Records changed (tagged, untagged, moved to the trash).
    pub changed: usize,
    /// Records that already were as asked (had the tag, or did not).
    pub unchanged: usize,
    /// Ids that name no live record of this portal.
    pub not_found: usize,
}

/// Applies `action` to the records `ids` names (1-100 of them, duplicates once).
pub async fn apply(
    state: &AppState,
    p: &Principal,
    object: Object,
    action: BulkAction,
    ids: &[String],
) -> Result<BulkOutcome, AppError> {
    p.require(state, object.plural(), Access::Write).await?;
    let mut unique: Vec<String> = Vec::with_capacity(ids.len());
    for id in ids.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        if !unique.iter().any(|u| u == id) {
            unique.push(id.to_string());
        }
    }
    if unique.is_empty() || unique.len() > BATCH_MAX {
        return Err(AppError::validation("ids", format!("needs 1-{BATCH_MAX} records")));
    }
    match action {
        BulkAction::Trash => trash_all(state, p, object, &unique).await,
        BulkAction::AddTag(tag) => retag(state, p, object, unique, tag, true).await,
        BulkAction::RemoveTag(tag) => retag(state, p, object, unique, tag, false).await,
    }
}

async fn trash_all(state: &AppState, p: &Principal, object: Object, ids: &[String]) -> Result<BulkOutcome, AppError> {
    let mut out = BulkOutcome::default();
    for id in ids {
        match crud::trash(state, p, object, id).await {
            Ok(()) => out.changed += 1,
            Err(AppError::NotFound { .. }) => out.not_found += 1,
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

async fn retag(
    state: &AppState,
    p: &Principal,
    object: Object,
    ids: Vec<String>,
    tag: String,
    add: bool,
) -> Result<BulkOutcome, AppError> {
    let tag = tag.trim().to_string();
    if tag.is_empty() {
        return Err(AppError::validation("tag", "is required"));
    }
    let actor = change_actor(p);
    let now = state.clock.now();
    state
        .db
        .tenant(p.tenant_id.clone())
        .write(move |t| {
            let defs = t.custom_fields(Some(object))?;
            let mut out = BulkOutcome::default();
            for raw in &ids {
                let Some(id) = RecordId::parse(raw) else {
                    out.not_found += 1;
                    continue;
                };
                let Some(row) = t.record(object, &id, false)? else {
                    out.not_found += 1;
                    continue;
                };
                let mut tags = t.record_tag_names(&row.id)?;
                let has = tags.iter().any(|x| x.eq_ignore_ascii_case(&tag));
                if has == add {
                    out.unchanged += 1;
                    continue;
                }
                if add {
                    tags.push(tag.clone());
                } else {
                    tags.retain(|x| !x.eq_ignore_ascii_case(&tag));
                }
                let body = json!({"id": id.as_str(), "tags": tags});
                item::apply(t, object, Mode::Update, &body, &defs, &actor, now).map_err(|e| item_problem(object, e))?;
                out.changed += 1;
            }
            Ok(out)
        })
        .await
}
