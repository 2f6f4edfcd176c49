//! What the email-marketing screens share (`emails.rs`, `segments.rs`, `campaigns.rs`,
//! `suppressions.rs`): their tabs, reading a page's query string, the API's paging from an
//! `after` parameter, access checked before a form body is read, and the contact picker of
//! the previews. Rules stay in the API's use cases; this module only shapes pages.

use actix_web::http::{header, StatusCode};
use actix_web::HttpResponse;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use super::forms;
use super::records::view;
use super::render::{self, WebError};
use super::Visitor;
use crate::crm::objects::Object;
use crate::error::AppError;
use crate::http::paging;
use crate::http::principal::Access;
use crate::http::records::list::{self, ListParams};

/// The key scope resource emails, segments and campaigns share (`http::emails::RESOURCE`).
pub use crate::http::emails::RESOURCE;

/// The tabs above every email-marketing page, in order (`mail-tab-<name>` in the catalogs).
pub const TABS: &[(&str, &str)] = &[
    ("campaigns", "/app/campaigns"),
    ("emails", "/app/emails"),
    ("segments", "/app/segments"),
    ("suppressions", "/app/suppressions"),
];

/// The tabs with the current one marked, for `mail/tabs.html`.
pub fn tabs(current: &str) -> Value {
    json!(TABS
        .iter()
        .map(|(name, href)| json!({"name": name, "href": href, "current": *name == current}))
        .collect::<Vec<_>>())
}

/// The layout's frame for an email-marketing page: the navigation's Campaigns entry, and
/// the tabs with `tab` current (the layout draws them above the page, so the tabs are in
/// one template).
pub fn frame(v: &Visitor, title_id: &str, tab: &str) -> Value {
    let mut frame = v.frame(title_id, "campaigns");
    if let Some(f) = frame.as_object_mut() {
        f.insert("tabs".into(), tabs(tab));
    }
    frame
}

/// The page's query string as `T`; one that does not parse is a 400 page.
pub fn query<T: DeserializeOwned>(v: &Visitor) -> Result<T, WebError> {
    serde_urlencoded::from_str(v.req.query_string()).map_err(|_| WebError::status(v.lang, StatusCode::BAD_REQUEST))
}

/// A page of 25 after `after` (the API's `after`, checked by each list itself).
pub fn page_after(after: &Option<String>) -> paging::Page {
    let mut ignored = Vec::new();
    paging::Page::parse(None, forms::value(after).as_deref(), &mut ignored)
}

/// `path?name=value…`, each value encoded.
pub fn url(path: &str, params: &[(&str, &str)]) -> String {
    let kept: Vec<&(&str, &str)> = params.iter().filter(|(_, v)| !v.is_empty()).collect();
    if kept.is_empty() {
        return path.to_string();
    }
    format!("{path}?{}", serde_urlencoded::to_string(kept).unwrap_or_default())
}

/// Refuses a form before its body is read when the API would refuse the write: the same
/// `Principal::require` (people who may write) the use case applies first.
pub async fn may_write(v: &Visitor) -> Result<(), WebError> {
    let m = v.member()?;
    m.principal.require(&v.state, RESOURCE, Access::Write).await.map_err(|e| v.fail(e))
}

/// As [`may_write`] for what needs the owner or admin role (sending, suppressions).
pub async fn may_manage(v: &Visitor) -> Result<(), WebError> {
    let m = v.member()?;
    m.principal.manager_or_scope(&v.state, RESOURCE, Access::Write).await.map_err(|e| v.fail(e))
}

/// Up to ten contacts matching `q` (the contact list's own search), to preview as: each
/// with its id, what it is called and the preview page `base` for it.
pub async fn contact_choices(v: &Visitor, base: &str, q: &Option<String>) -> Result<Vec<Value>, WebError> {
    let m = v.member()?;
    let params = ListParams { limit: Some("10".into()), q: forms::value(q), ..ListParams::default() };
    let found = list::page(&v.state, &m.principal, Object::Contact, params, None).await.map_err(|e| v.fail(e))?;
    Ok(found
        .data
        .iter()
        .map(|c| {
            let id = view::at(c, "id").as_str().unwrap_or_default();
            let search = q.as_deref().unwrap_or_default();
            json!({"id": id, "title": view::title(Object::Contact, c), "email": view::at(c, "email"),
                "href": url(base, &[("contact_id", id), ("q", search)])})
        })
        .collect())
}

/// A rendered email as its own document, for the preview page's `<iframe sandbox>`.
pub fn email_document(html: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, render::CSP_EMAIL))
        // The API's default is DENY; only this origin's preview page frames it.
        .insert_header((header::X_FRAME_OPTIONS, "SAMEORIGIN"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .body(html)
}

/// Lets a preview page frame its email (the app's CSP forbids frames everywhere else).
pub fn allow_preview_frame(mut res: HttpResponse) -> HttpResponse {
    res.headers_mut()
        .insert(header::CONTENT_SECURITY_POLICY, header::HeaderValue::from_static(render::CSP_FRAMING_PREVIEWS));
    res
}

/// A field's messages for the templates, from an error that is not a form's (a preview
/// of a contact that does not exist, an email that cannot be rendered).
pub fn messages(v: &Visitor, e: AppError) -> Result<(StatusCode, Vec<String>), WebError> {
    match e {
        AppError::Validation { errors, .. } => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            errors.into_iter().map(|f| super::api_text::message(v.lang, &f.message)).collect(),
        )),
        other => Err(v.fail(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::i18n::{ids, Lang};

    /// Ids the email-marketing templates build from data (`t('campaign-status-' ~ status)`)
    /// must be in the catalogs; literal ids are checked in `render`.
    #[test]
    fn every_message_id_built_from_data_is_in_the_catalogs() {
        let known = ids(Lang::En);
        let dashed = |s: &str| s.replace('_', "-");
        let mut wanted: Vec<String> = TABS.iter().map(|(t, _)| format!("mail-tab-{t}")).collect();
        for s in std::iter::once(&"all").chain(crate::campaigns::STATUSES) {
            wanted.push(format!("campaign-status-{s}"));
        }
        for s in std::iter::once(&"all").chain(crate::http::campaign_recipients::STATUSES) {
            wanted.push(format!("recipient-status-{s}"));
        }
        for r in std::iter::once(&"all").chain(crate::http::suppressions::REASONS) {
            wanted.push(format!("suppression-reason-{}", dashed(r)));
        }
        let stats = ["recipients", "queued", "sent", "failed", "bounced", "suppressed", "opened", "clicked"];
        wanted.extend(stats.iter().chain(&["unsubscribed"]).map(|s| format!("stat-{s}")));
        wanted.extend(["sent", "failed"].iter().map(|s| format!("test-{s}")));
        wanted.extend(["pause", "resume", "cancel"].iter().map(|s| format!("campaign-{s}")));
        wanted.extend(["name", "subject", "preheader", "html", "text"].iter().map(|f| format!("email-{f}")));
        let fields = ["name", "email_id", "segment_id", "from_name", "from_email", "reply_to"];
        wanted.extend(fields.iter().map(|f| format!("campaign-{}", dashed(f))));
        let missing: Vec<&String> = wanted.iter().filter(|id| !known.contains(id)).collect();
        assert!(missing.is_empty(), "missing from the catalogs: {missing:?}");
    }
}
