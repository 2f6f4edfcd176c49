//! The signed-in person's notification inbox in this portal: newest first, cursor pages,
//! exact counts, seen / read / archived. The same notifications arrive live on the
//! `notifications` websocket topic as `notification.created`.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::paging::{encode_cursor, finish_page, Page};
use super::principal::Principal;
use super::AppState;
use crate::db::features::{Mark, NotificationRow, Shelf, Unmark};
use crate::error::{AppError, FieldError};

#[derive(Debug, Serialize, ToSchema)]
pub struct Notification {
    pub id: String,
    /// `announcement` (product news), later more kinds.
    pub kind: String,
    pub title: String,
    pub body: String,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub seen_at: Option<DateTime<Utc>>,
    pub read_at: Option<DateTime<Utc>>,
    pub archived_at: Option<DateTime<Utc>>,
}

impl From<NotificationRow> for Notification {
    fn from(r: NotificationRow) -> Self {
        Self {
            data: serde_json::from_str(&r.data).unwrap_or_default(),
            id: r.id,
            kind: r.kind,
            title: r.title,
            body: r.body,
            created_at: r.created_at.and_utc(),
            seen_at: r.seen_at.map(|t| t.and_utc()),
            read_at: r.read_at.map(|t| t.and_utc()),
            archived_at: r.archived_at.map(|t| t.and_utc()),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationPage {
    pub data: Vec<Notification>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationCounts {
    /// Not read and not archived.
    pub unread: i64,
    /// Not seen (the panel was not opened since they came) and not archived.
    pub unseen: i64,
    /// Not archived.
    pub total: i64,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct InboxQuery {
    /// `inbox` (default: not archived), `unread`, or `archived`.
    pub status: Option<String>,
    /// 1-100, default 25.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    pub after: Option<String>,
}

/// The person's notifications, newest first.
#[utoipa::path(get, path = "/api/v1/me/notifications", tag = "notifications", security(("bearer" = [])),
    params(InboxQuery),
    responses((status = 200, body = NotificationPage),
        (status = 422, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn list(
    state: web::Data<AppState>,
    p: Principal,
    query: web::Query<InboxQuery>,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(page_of(&state, &p, query.into_inner()).await?))
}

/// A page of the person's notifications (the web app's inbox too).
pub async fn page_of(state: &AppState, p: &Principal, q: InboxQuery) -> Result<NotificationPage, AppError> {
    let user = p.user()?.user_id.to_string();
    let mut errors = Vec::new();
    let shelf = match q.status.as_deref() {
        None | Some("inbox") => Shelf::Inbox,
        Some("unread") => Shelf::Unread,
        Some("archived") => Shelf::Archived,
        Some(_) => {
            errors.push(FieldError::new("status", "must be inbox, unread or archived"));
            Shelf::Inbox
        }
    };
    let page = Page::parse(q.limit.as_deref(), q.after.as_deref(), &mut errors);
    let after = page.after_id(&mut errors);
    if !errors.is_empty() {
        return Err(AppError::invalid(errors));
    }
    let limit = page.limit;
    let rows = state
        .db
        .tenant(p.tenant_id.clone())
        .read(move |t| Ok(t.notifications_of(&user, shelf, after.as_deref(), limit + 1)?))
        .await?;
    let (rows, next_cursor) = finish_page(rows, limit, |r| encode_cursor(&r.id));
    Ok(NotificationPage { data: rows.into_iter().map(Notification::from).collect(), next_cursor })
}

/// Exact counts for the bell.
#[utoipa::path(get, path = "/api/v1/me/notifications/counts", tag = "notifications", security(("bearer" = [])),
    responses((status = 200, body = NotificationCounts)))]
pub async fn counts(state: web::Data<AppState>, p: Principal) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(counts_of(&state, &p).await?))
}

/// The person's exact counts (the bell).
pub async fn counts_of(state: &AppState, p: &Principal) -> Result<NotificationCounts, AppError> {
    let user = p.user()?.user_id.to_string();
    let (unread, unseen, total) =
        state.db.tenant(p.tenant_id.clone()).read(move |t| Ok(t.notification_counts(&user)?)).await?;
    Ok(NotificationCounts { unread, unseen, total })
}

/// Marks one notification of the person's (`id`) or all of them; the counts after.
pub async fn mark(
    state: &AppState,
    p: &Principal,
    id: Option<String>,
    m: Mark,
) -> Result<NotificationCounts, AppError> {
    let user = p.user()?.user_id.to_string();
    if let Some(i) = &id {
        if uuid::Uuid::parse_str(i).is_err() {
            return Err(AppError::not_found("notification"));
        }
    }
    let now = state.clock.now().naive_utc();
    let (unread, unseen, total) = state
        .db
        .tenant(p.tenant_id.clone())
        .write(move |t| {
            if let Some(i) = &id {
                t.notification(&user, i)?.ok_or_else(|| AppError::not_found("notification"))?;
            }
            t.mark_notifications(&user, id.as_deref(), m, now)?;
            Ok(t.notification_counts(&user)?)
        })
        .await?;
    Ok(NotificationCounts { unread, unseen, total })
}

pub async fn unmark(
    state: &AppState,
    p: &Principal,
    id: String,
    field: Unmark,
) -> Result<NotificationCounts, AppError> {
    let user = p.user()?.user_id.to_string();
    if uuid::Uuid::parse_str(&id).is_err() {
        return Err(AppError::not_found("notification"));
    }
    let (unread, unseen, total) = state
        .db
        .tenant(p.tenant_id.clone())
        .write(move |t| {
            t.notification(&user, &id)?.ok_or_else(|| AppError::not_found("notification"))?;
            t.unmark_notification(&user, &id, field)?;
            Ok(t.notification_counts(&user)?)
        })
        .await?;
    Ok(NotificationCounts { unread, unseen, total })
}

macro_rules! mark_route {
    ($name:ident, $path:literal, $mark:expr, $doc:literal) => {
        #[doc = $doc]
        #[utoipa::path(post, path = $path, tag = "notifications", security(("bearer" = [])),
            params(("id" = String, Path, description = "Notification id")),
            responses((status = 200, description = "The counts after the change", body = NotificationCounts),
                (status = 404, description = "No such notification of yours", body = crate::error::Problem, content_type = "application/problem+json")))]
        pub async fn $name(
            state: web::Data<AppState>,
            p: Principal,
            id: web::Path<String>,
        ) -> Result<HttpResponse, AppError> {
            Ok(HttpResponse::Ok().json(mark(&state, &p, Some(id.into_inner()), $mark).await?))
        }
    };
}

macro_rules! mark_all_route {
    ($name:ident, $path:literal, $mark:expr, $doc:literal) => {
        #[doc = $doc]
        #[utoipa::path(post, path = $path, tag = "notifications", security(("bearer" = [])),
                    responses((status = 200, description = "The counts after the change", body = NotificationCounts)))]
        pub async fn $name(state: web::Data<AppState>, p: Principal) -> Result<HttpResponse, AppError> {
            Ok(HttpResponse::Ok().json(mark(&state, &p, None, $mark).await?))
        }
    };
}

mark_route!(read, "/api/v1/me/notifications/{id}/read", Mark::Read, "Marks one notification read (and seen).");
mark_route!(seen, "/api/v1/me/notifications/{id}/seen", Mark::Seen, "Marks one notification seen.");

macro_rules! unmark_route {
    ($name:ident, $path:literal, $field:expr, $doc:literal) => {
        #[doc = $doc]
        #[utoipa::path(post, path = $path, tag = "notifications", security(("bearer" = [])),
            params(("id" = String, Path, description = "Notification id")),
            responses((status = 200, description = "The counts after the change", body = NotificationCounts),
                (status = 404, description = "No such notification of yours", body = crate::error::Problem, content_type = "application/problem+json")))]
        pub async fn $name(
            state: web::Data<AppState>,
            p: Principal,
            id: web::Path<String>,
        ) -> Result<HttpResponse, AppError> {
            Ok(HttpResponse::Ok().json(unmark(&state, &p, id.into_inner(), $field).await?))
        }
    };
}

unmark_route!(unread, "/api/v1/me/notifications/{id}/unread", Unmark::Read, "Marks one notification unread again.");
unmark_route!(
    unarchive,
    "/api/v1/me/notifications/{id}/unarchive",
    Unmark::Archived,
    "Brings an archived notification back to the inbox."
);
mark_route!(
    archive,
    "/api/v1/me/notifications/{id}/archive",
    Mark::Archived,
    "Archives one notification (and marks it read)."
);
mark_all_route!(
    seen_all,
    "/api/v1/me/notifications/seen",
    Mark::Seen,
    "Marks every notification seen (the panel opened)."
);
mark_all_route!(read_all, "/api/v1/me/notifications/read-all", Mark::Read, "Marks every notification read.");
mark_all_route!(archive_all, "/api/v1/me/notifications/archive-all", Mark::Archived, "Archives every notification.");
