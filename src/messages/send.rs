//! Sending a message: the draft is checked whole (nothing is stored when any part is
//! wrong), stored as `queued` with its audience, and answered at once (202). The fan-out
//! (`jobs::inapp::step`) then stores the inbox items a batch per transaction; this module
//! also holds that batch step's audience reading, so the rules of who is reached live in
//! one place.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{ACTION_URL_MAX, BODY_MAX, CATEGORY_MAX, FANOUT_BATCH, TITLE_MAX, USER_IDS_MAX};
use crate::crm::segments;
use crate::db::inapp::MessageRow;
use crate::db::{TenantDb, TenantTx};
use crate::domain::SegmentId;
use crate::error::{AppError, FieldError};

/// Who a message is for, as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// End-user ids named inline (deduplicated, in the order given).
    UserIds(Vec<String>),
    /// The segment's members with an `external_id`.
    SegmentId(String),
    /// Every live contact with an `external_id`.
    All(bool),
}

/// A message as the portal asked for it, not yet checked.
#[derive(Debug, Clone)]
pub struct Draft {
    pub audience: serde_json::Value,
    pub title: String,
    pub body: String,
    pub action_url: Option<String>,
    pub category: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// `http` and `https` only: a `javascript:` or `data:` action would run in the host page.
pub fn check_action_url(raw: &str) -> Result<String, &'static str> {
    let raw = raw.trim();
    if raw.len() > ACTION_URL_MAX {
        return Err("is longer than 2,048 characters");
    }
    match url::Url::parse(raw) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Ok(u.to_string()),
        _ => Err("must be an absolute http or https URL"),
    }
}

fn parse_audience(raw: &serde_json::Value, errors: &mut Vec<FieldError>) -> Option<Audience> {
    let Some(obj) = raw.as_object().filter(|o| o.len() == 1) else {
        errors.push(FieldError::new("audience", "must be exactly one of {user_ids:[…]}, {segment_id} or {all:true}"));
        return None;
    };
    if let Some(ids) = obj.get("user_ids") {
        let Some(list) = ids.as_array() else {
            errors.push(FieldError::new("audience.user_ids", "must be an array of user ids"));
            return None;
        };
        if list.is_empty() {
            errors.push(FieldError::new("audience.user_ids", "names no user"));
            return None;
        }
        if list.len() > USER_IDS_MAX {
            errors.push(FieldError::new(
                "audience.user_ids",
                format!("at most {USER_IDS_MAX} ids inline; send to a segment for more"),
            ));
            return None;
        }
        let mut seen = std::collections::HashSet::with_capacity(list.len());
        let mut out = Vec::with_capacity(list.len());
        for (i, v) in list.iter().enumerate() {
            match v.as_str().filter(|s| super::identity::valid_user_id(s)) {
                Some(s) => {
                    if seen.insert(s) {
                        out.push(s.to_string());
                    }
                }
                None => {
                    errors.push(FieldError::new(
                        format!("audience.user_ids[{i}]"),
                        "must be a string of 1-255 characters without control characters",
                    ));
                    return None;
                }
            }
        }
        return Some(Audience::UserIds(out));
    }
    if let Some(id) = obj.get("segment_id") {
        return match id.as_str() {
            Some(s) => Some(Audience::SegmentId(s.to_string())),
            None => {
                errors.push(FieldError::new("audience.segment_id", "must be a segment id"));
                None
            }
        };
    }
    if obj.get("all") == Some(&serde_json::Value::Bool(true)) {
        return Some(Audience::All(true));
    }
    errors.push(FieldError::new("audience", "must be exactly one of {user_ids:[…]}, {segment_id} or {all:true}"));
    None
}

fn text(field: &str, raw: &str, max: usize, required: bool, errors: &mut Vec<FieldError>) -> String {
    let v = raw.trim().to_string();
    if (required && v.is_empty()) || v.chars().count() > max {
        errors.push(FieldError::new(field, format!("is required, at most {max} characters")));
    }
    v
}

/// Checks a draft and stores it as a queued message; returns the row and how many end
/// users it reaches now (inline ids, or the members with an `external_id` counted
/// exactly; the fan-out reaches the members as they are when it runs).
pub fn create(
    t: &mut TenantTx<'_>,
    draft: Draft,
    created_by: Option<String>,
    now: DateTime<Utc>,
) -> Result<(MessageRow, i64), AppError> {
    let mut errors = Vec::new();
    let audience = parse_audience(&draft.audience, &mut errors);
    let title = text("title", &draft.title, TITLE_MAX, true, &mut errors);
    let body = text("body", &draft.body, BODY_MAX, false, &mut errors);
    let action_url = match draft.action_url.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(u) => match check_action_url(u) {
            Ok(u) => Some(u),
            Err(m) => {
                errors.push(FieldError::new("action_url", m));
                None
            }
        },
    };
    let category = draft.category.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
    if let Some(c) = &category {
        let ok = c.len() <= CATEGORY_MAX && c.chars().all(|ch| ch.is_ascii_alphanumeric() || "_-.".contains(ch));
        if !ok {
            errors.push(FieldError::new("category", "at most 64 characters of a-z, 0-9, _ - ."));
        }
    }
    if draft.expires_at.is_some_and(|e| e <= now) {
        errors.push(FieldError::new("expires_at", "must be in the future"));
    }
    let recipients = match &audience {
        Some(Audience::UserIds(ids)) => ids.len() as i64,
        Some(Audience::SegmentId(id)) => {
            let row = match SegmentId::parse(id) {
                Some(sid) => t.segment(sid.as_str())?,
                None => None,
            };
            match row {
                Some(row) => {
                    let search = segments::end_user_search(t, Some(&row))?;
                    t.segment_member_count(&search)?
                }
                None => {
                    errors.push(FieldError::new("audience.segment_id", "names no segment of this portal"));
                    0
                }
            }
        }
        Some(Audience::All(_)) => {
            let search = segments::end_user_search(t, None)?;
            t.segment_member_count(&search)?
        }
        None => 0,
    };
    if !errors.is_empty() {
        return Err(AppError::invalid(errors));
    }
    let Some(audience) = audience else { return Err(AppError::validation("audience", "is required")) };
    let row = MessageRow {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: t.tenant_id().to_string(),
        title,
        body,
        action_url,
        category,
        expires_at: draft.expires_at.map(|e| e.naive_utc()),
        audience: serde_json::to_string(&audience).map_err(AppError::internal)?,
        status: "queued".into(),
        recipients: 0,
        cursor: None,
        lease_owner: None,
        lease_until: None,
        created_by,
        created_at: now.naive_utc(),
        completed_at: None,
    };
    t.insert_inapp_message(&row)?;
    Ok((row, recipients))
}

/// The next batch of a message's audience after `cursor`: the end-user ids and the cursor
/// after them (`None` when this batch is the last).
pub fn next_batch(t: &mut TenantDb<'_>, m: &MessageRow) -> Result<(Vec<String>, Option<String>), AppError> {
    let audience: Audience = serde_json::from_str(&m.audience).map_err(AppError::internal)?;
    match audience {
        Audience::UserIds(ids) => {
            let start: usize = m.cursor.as_deref().and_then(|c| c.parse().ok()).unwrap_or(0);
            let end = (start + FANOUT_BATCH).min(ids.len());
            let batch = ids.get(start..end).map(<[String]>::to_vec).unwrap_or_default();
            Ok((batch, (end < ids.len()).then(|| end.to_string())))
        }
        Audience::SegmentId(_) | Audience::All(_) => {
            let segment = match &audience {
                Audience::SegmentId(id) => {
                    // A segment deleted since the message was sent reaches no one more.
                    let Some(row) = t.segment(id)? else { return Ok((Vec::new(), None)) };
                    Some(row)
                }
                _ => None,
            };
            let search = segments::end_user_search(t, segment.as_ref())?;
            let page = t.segment_member_page(&search, m.cursor.as_deref(), FANOUT_BATCH as i64)?;
            let last = page.last().map(|r| r.id.clone());
            let full = page.len() == FANOUT_BATCH;
            let mut seen = std::collections::HashSet::new();
            let users: Vec<String> =
                page.into_iter().filter_map(|r| r.external_id).filter(|u| seen.insert(u.clone())).collect();
            Ok((users, if full { last } else { None }))
        }
    }
}

/// The stored audience as the API shows it.
pub fn audience_view(m: &MessageRow) -> serde_json::Value {
    match serde_json::from_str::<Audience>(&m.audience) {
        Ok(Audience::UserIds(ids)) => json!({"user_ids_count": ids.len()}),
        Ok(Audience::SegmentId(id)) => json!({"segment_id": id}),
        Ok(Audience::All(_)) => json!({"all": true}),
        Err(_) => serde_json::Value::Null,
    }
}
