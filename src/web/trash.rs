//! The trash in the browser: what was deleted, by type, with when it goes for good, and
//! bringing an item back; and moving a record to the trash from its page. Both are the
//! API's (`http::trash::{page, restore_item}`, `http::records::crud::trash`), so who may
//! delete and restore is decided there; the pages only hide the buttons the same rules
//! would refuse (`crud::may_trash`, `trash::restore_needs_manager`).

use actix_web::http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

use super::records::view::{self, at};
use super::render::{self, see_other, WebError};
use super::{forms, Page, Visitor};
use crate::crm::objects::Object;
use crate::http::records::crud;
use crate::http::trash::{self, TrashQuery};

/// The types the trash page offers, in its tabs' order.
pub const TYPES: &[&str] =
    &["contact", "company", "deal", "ticket", "task", "note", "tag", "custom_field", "custom_value", "email"];

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Query {
    #[serde(rename = "type")]
    kind: Option<String>,
    after: Option<String>,
}

fn trash_url(kind: &str) -> String {
    format!("/app/trash?{}", serde_urlencoded::to_string([("type", kind)]).unwrap_or_default())
}

/// What an item is called on the page.
fn item_title(kind: &str, item: &Value) -> Option<String> {
    let text = |k: &str| at(item, k).as_str().map(str::to_string);
    match kind {
        "tag" | "email" => text("name"),
        "custom_field" => Some(format!("{} ({}.{})", text("label")?, text("object")?, text("key")?)),
        "custom_value" => text("key"),
        other => Object::parse(other).and_then(|o| view::title(o, item)),
    }
}

/// `/app/trash?type=contact&after=`: 25 at a time, newest deletions last.
pub async fn list(v: Visitor) -> Page {
    let m = v.member()?;
    let query: Query = serde_urlencoded::from_str(v.req.query_string())
        .map_err(|_| WebError::status(v.lang, StatusCode::BAD_REQUEST))?;
    let kind = forms::value(&query.kind).unwrap_or_else(|| "contact".into());
    if !TYPES.contains(&kind.as_str()) {
        return Err(WebError::status(v.lang, StatusCode::NOT_FOUND));
    }
    let q = TrashQuery { kind: Some(kind.clone()), limit: Some("25".into()), after: forms::value(&query.after) };
    let page = trash::page(&v.state, &m.principal, q).await.map_err(|e| v.fail(e))?;
    let items: Vec<Value> = page
        .data
        .iter()
        .map(|i| {
            json!({"id": i.id, "title": item_title(&kind, &i.item), "deleted_at": i.deleted_at,
            "purge_at": i.purge_at})
        })
        .collect();
    let role = m.role();
    let can_restore = if trash::restore_needs_manager(&kind) { role.can_manage() } else { role.can_write() };
    let next_url = page.next_cursor.map(|c| {
        format!(
            "/app/trash?{}",
            serde_urlencoded::to_string([("type", kind.as_str()), ("after", &c)]).unwrap_or_default()
        )
    });
    let tabs: Vec<Value> =
        TYPES.iter().map(|t| json!({"type": t, "href": trash_url(t), "current": *t == kind})).collect();
    let ctx = json!({"kind": kind, "tabs": tabs, "items": items, "can_restore": can_restore, "next_url": next_url,
        "paged": query.after.is_some(), "first_url": trash_url(&kind)});
    render::page(StatusCode::OK, "trash.html", v.frame("trash-title", "settings"), ctx).map_err(|e| v.fail(e))
}

/// `POST /app/trash/{type}/{id}/restore`: back whole; a record opens its page again.
pub async fn restore(v: Visitor, path: actix_web::web::Path<(String, String)>) -> Page {
    let m = v.member()?;
    let (kind, id) = path.into_inner();
    let item = trash::restore_item(&v.state, &m.principal, &kind, &id).await.map_err(|e| v.fail(e))?;
    let to = match (Object::parse(&kind), at(&item, "id").as_str()) {
        (Some(o), Some(rid)) if o.name() == kind => view::href(o, rid),
        _ => trash_url(&kind),
    };
    Ok(see_other(&to))
}

/// `POST /app/{plural}/{id}/delete`: into the trash, then back to the list.
pub async fn delete(v: Visitor, object: Object, id: String) -> Page {
    let m = v.member()?;
    crud::trash(&v.state, &m.principal, object, &id).await.map_err(|e| v.fail(e))?;
    Ok(see_other(&format!("/app/{}", object.plural())))
}
