//! `POST /app/{plural}/bulk`: the checked records of a list page tagged, untagged or moved
//! to the trash, by `http::records::bulk::apply` (the batch endpoint's update of each
//! record, and `DELETE /{plural}/{id}` of each), so roles, checks, events and the audit
//! log are the API's. Behind the CSRF guard like every POST; a viewer is refused (403)
//! before anything is read; the owner/admin rule for trashing contacts, companies, deals
//! and tickets is checked before the confirmation is even shown.
//!
//! The form posts `action` (`tag`, `untag`, `delete`), `tag`, the checked `id`s, or
//! `all=1` with every `page` id ("select all on this page", without JavaScript), and the
//! list's `q`, `sort`, `filter` and `after` to come back to. Deleting asks first (a page
//! with one button that posts again with `confirm=yes`). Ids of another portal (or
//! trashed, or made up) change nothing and are reported as "not found" in the result
//! line, never told apart. The result comes back as the list's `done`, `n`, `same` and
//! `missing` parameters (303, so reloading does not repeat the change).

use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use serde_json::json;

use super::list::{list_url, param};
use crate::crm::objects::Object;
use crate::error::AppError;
use crate::http::principal::Access;
use crate::http::records::bulk::{self, BulkAction};
use crate::http::records::crud;
use crate::web::i18n;
use crate::web::render::{self, see_other, WebError};
use crate::web::{forms, Page, Visitor};

fn refused(v: &Visitor, id: &str) -> WebError {
    WebError::Page { lang: v.lang, status: StatusCode::UNPROCESSABLE_ENTITY, detail: Some(i18n::t(v.lang, id, &[])) }
}

pub async fn submit(v: Visitor, object: Object, body: Bytes) -> Page {
    let m = v.member()?;
    m.principal.require(&v.state, object.plural(), Access::Write).await.map_err(|e| v.fail(e))?;
    let pairs: Vec<(String, String)> = forms::parse(v.lang, &body)?;
    let values = |key: &str| -> Vec<String> {
        pairs.iter().filter(|(k, _)| k == key).map(|(_, v)| v.trim().to_string()).filter(|v| !v.is_empty()).collect()
    };
    let ids = if param(&pairs, "all").as_deref() == Some("1") { values("page") } else { values("id") };
    let tag = param(&pairs, "tag").unwrap_or_default();
    let (action, done) = match param(&pairs, "action").as_deref() {
        Some("tag") => (BulkAction::AddTag(tag.clone()), "tagged"),
        Some("untag") => (BulkAction::RemoveTag(tag.clone()), "untagged"),
        Some("delete") => (BulkAction::Trash, "deleted"),
        _ => return Err(refused(&v, "bulk-no-action")),
    };
    if action == BulkAction::Trash && !crud::may_trash(m.role(), object) {
        return Err(v.fail(AppError::forbidden(format!("deleting {} needs the owner or admin role", object.plural()))));
    }
    if ids.is_empty() {
        return Err(refused(&v, "bulk-none-selected"));
    }
    if done != "deleted" && tag.is_empty() {
        return Err(refused(&v, "bulk-tag-required"));
    }
    let back = ["q", "sort", "filter", "after"].map(|k| (k, param(&pairs, k)));
    if action == BulkAction::Trash && param(&pairs, "confirm").as_deref() != Some("yes") {
        let keep: Vec<_> =
            back.iter().filter_map(|(k, v)| v.as_ref().map(|v| json!({"name": k, "value": v}))).collect();
        let cancel = list_url(object, &back.iter().map(|(k, v)| (*k, v)).collect::<Vec<_>>());
        let ctx = json!({"object": {"name": object.name(), "plural": object.plural()}, "ids": ids, "keep": keep,
            "count": ids.len(), "cancel": cancel});
        let title = format!("{}-title", object.plural());
        return render::page(StatusCode::OK, "records/bulk_confirm.html", v.frame(&title, object.plural()), ctx)
            .map_err(|e| v.fail(e));
    }
    let outcome = bulk::apply(&v.state, &m.principal, object, action, &ids).await.map_err(|e| v.fail(e))?;
    let (n, same, missing) =
        (outcome.changed.to_string(), outcome.unchanged.to_string(), outcome.not_found.to_string());
    let tag_shown = Some(tag).filter(|t| !t.is_empty() && done != "deleted");
    let (done, n, same, missing) = (Some(done.to_string()), Some(n), Some(same), Some(missing));
    let mut pairs: Vec<(&str, &Option<String>)> = back.iter().map(|(k, v)| (*k, v)).collect();
    pairs.extend([("done", &done), ("n", &n), ("same", &same), ("missing", &missing), ("tag", &tag_shown)]);
    Ok(see_other(&list_url(object, &pairs)))
}
