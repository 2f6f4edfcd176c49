//! Portal users' notification inbox: rows per person (`db::features::NotificationRow`),
//! each announced on the outbox as a `notification.created` event so the `notifications`
//! websocket topic delivers it to its person live, in order, with resume. Sources today:
//! feature announcements, task assignments (`crm::records`: created with or moved to an
//! assignee, unless they assigned it themselves), imports finished or failed (to the
//! owners and admins, `jobs::imports`), and campaign completion.

use chrono::{DateTime, Utc};

use crate::db::events::NewEvent;
use crate::db::features::NotificationRow;
use crate::db::TenantTx;

/// The outbox object of notification events (never on the `crm` topic).
pub const OBJECT: &str = "notification";
pub const CREATED: &str = "notification.created";

/// What to tell people.
#[derive(Debug, Clone)]
pub struct Notice {
    pub kind: &'static str,
    pub title: String,
    pub body: String,
    pub data: serde_json::Value,
}

/// Puts `notice` in the inbox of each of `users` of this portal and announces each one.
pub fn deliver(t: &mut TenantTx<'_>, users: &[String], notice: &Notice, now: DateTime<Utc>) -> diesel::QueryResult<()> {
    let tenant = t.tenant_id().to_string();
    let at = now.naive_utc();
    let rows: Vec<NotificationRow> = users
        .iter()
        .map(|u| NotificationRow {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: tenant.clone(),
            user_id: u.clone(),
            kind: notice.kind.to_string(),
            title: notice.title.clone(),
            body: notice.body.clone(),
            data: notice.data.to_string(),
            created_at: at,
            seen_at: None,
            read_at: None,
            archived_at: None,
        })
        .collect();
    t.insert_notifications(&rows)?;
    for r in rows {
        let data = serde_json::json!({
            "id": r.id, "user_id": r.user_id, "kind": r.kind, "title": r.title, "body": r.body,
            "data": notice.data, "created_at": now,
        });
        t.append_event(
            NewEvent {
                event_type: CREATED.to_string(),
                object: OBJECT,
                record_id: r.id,
                actor_type: "system",
                actor_id: None,
                data,
                diff: None,
            },
            now,
        );
    }
    Ok(())
}

/// Every member of this portal.
pub fn everyone(t: &mut TenantTx<'_>) -> diesel::QueryResult<Vec<String>> {
    Ok(t.members()?.into_iter().map(|(u, _)| u.id).collect())
}

/// The owners and admins of this portal (who hear about staff access).
pub fn managers(t: &mut TenantTx<'_>) -> diesel::QueryResult<Vec<String>> {
    Ok(t.members()?.into_iter().filter(|(_, m)| m.role().can_manage()).map(|(u, _)| u.id).collect())
}
