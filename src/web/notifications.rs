//! The person's notification inbox in the browser (the bell): the layout links every page to
//! it and `static/live.js` shows the unread count from `/app/notifications/counts`, again at
//! each `notifications` event on the page's websocket; the
//! inbox lists by shelf (inbox, unread, archived) with read, unread, archive and read-all.
//! Every read and mark is `http::notifications` (`page_of`, `counts_of`, `mark`, `unmark`):
//! only the person's own notifications, exactly as `/api/v1/me/notifications`.

use actix_web::http::{header, StatusCode};
use actix_web::web::{self, Bytes};
use actix_web::HttpResponse;
use serde::Deserialize;
use serde_json::json;

use super::forms;
use super::mail::{self, url};
use super::render::{self, see_other};
use super::{Page, Visitor};
use crate::db::features::{Mark, Unmark};
use crate::http::notifications::{self, InboxQuery};

/// The live pages' script (the bell, a sending campaign), served at `/app/static/live.js`.
const LIVE_JS: &str = include_str!("../../static/live.js");

/// The shelves of the inbox, in order (`notifications-shelf-<name>` in the catalogs).
pub const SHELVES: &[&str] = &["inbox", "unread", "archived"];

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ListQuery {
    status: Option<String>,
    after: Option<String>,
}

/// `/app/notifications?status=`.
pub async fn list(v: Visitor) -> Page {
    let m = v.member()?;
    let q: ListQuery = mail::query(&v)?;
    let shelf = forms::value(&q.status).unwrap_or_else(|| "inbox".into());
    let query = InboxQuery { status: Some(shelf.clone()), limit: None, after: forms::value(&q.after) };
    let page = notifications::page_of(&v.state, &m.principal, query).await.map_err(|e| v.fail(e))?;
    let counts = notifications::counts_of(&v.state, &m.principal).await.map_err(|e| v.fail(e))?;
    let next_url = page.next_cursor.map(|c| url("/app/notifications", &[("status", &shelf), ("after", &c)]));
    let shelves: Vec<_> = SHELVES
        .iter()
        .map(|s| json!({"name": s, "href": url("/app/notifications", &[("status", s)]), "current": *s == shelf}))
        .collect();
    let back = url("/app/notifications", &[("status", &shelf)]);
    let ctx = json!({"items": page.data, "counts": counts, "shelves": shelves, "next_url": next_url,
        "paged": q.after.is_some(), "first_url": back, "back": back});
    render::page(StatusCode::OK, "engage/notifications.html", v.frame("notifications-title", "notifications"), ctx)
        .map_err(|e| v.fail(e))
}

/// `/app/notifications/counts`: the bell's numbers as JSON, for `live.js`.
pub async fn counts(v: Visitor) -> Page {
    let m = v.member()?;
    let counts = notifications::counts_of(&v.state, &m.principal).await.map_err(|e| v.fail(e))?;
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(counts))
}

/// `/app/static/live.js`.
pub async fn script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(LIVE_JS)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct BackForm {
    back: String,
}

/// Where to go after a mark: the inbox shelf the form came from (this page only).
fn back_to(v: &Visitor, body: &Bytes) -> Result<String, super::render::WebError> {
    let form: BackForm = forms::parse(v.lang, body)?;
    Ok(if form.back.starts_with("/app/notifications") { form.back } else { "/app/notifications".into() })
}

async fn marked(v: Visitor, id: Option<String>, how: Mark, body: Bytes) -> Page {
    let m = v.member()?;
    let back = back_to(&v, &body)?;
    notifications::mark(&v.state, &m.principal, id, how).await.map_err(|e| v.fail(e))?;
    Ok(see_other(&back))
}

/// `POST /app/notifications/{id}/read`.
pub async fn read(v: Visitor, id: web::Path<String>, body: Bytes) -> Page {
    marked(v, Some(id.into_inner()), Mark::Read, body).await
}

/// `POST /app/notifications/{id}/archive`.
pub async fn archive(v: Visitor, id: web::Path<String>, body: Bytes) -> Page {
    marked(v, Some(id.into_inner()), Mark::Archived, body).await
}

/// `POST /app/notifications/read-all`.
pub async fn read_all(v: Visitor, body: Bytes) -> Page {
    marked(v, None, Mark::Read, body).await
}

/// `POST /app/notifications/{id}/unread`.
pub async fn unread(v: Visitor, id: web::Path<String>, body: Bytes) -> Page {
    let m = v.member()?;
    let back = back_to(&v, &body)?;
    notifications::unmark(&v.state, &m.principal, id.into_inner(), Unmark::Read).await.map_err(|e| v.fail(e))?;
    Ok(see_other(&back))
}
