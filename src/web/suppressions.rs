//! The suppression list in the browser: addresses never mailed again, by reason, with a
//! form to add one by hand and a button to remove one. The API's use cases
//! (`http::suppressions::{page_of, suppress, unsuppress}`) decide: everyone who may read
//! campaigns sees the list, owners and admins change it, every change is audited masked.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use serde::Deserialize;
use serde_json::json;

use super::forms::{self, Refused};
use super::mail::{self, url};
use super::render::{self, see_other};
use super::{Page, Visitor};
use crate::http::suppressions::{self, SuppressionInput, SuppressionQuery, REASONS};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Query {
    reason: Option<String>,
    after: Option<String>,
}

async fn list_page(v: &Visitor, status: StatusCode, email: &str, errors: BTreeMap<String, Vec<String>>) -> Page {
    let m = v.member()?;
    let q: Query = mail::query(v)?;
    let reason = forms::value(&q.reason);
    let query = SuppressionQuery { reason: reason.clone(), limit: None, after: forms::value(&q.after) };
    let page = suppressions::page_of(&v.state, &m.principal, query).await.map_err(|e| v.fail(e))?;
    let kind = reason.clone().unwrap_or_default();
    let next_url = page.next_cursor.map(|c| url("/app/suppressions", &[("reason", &kind), ("after", &c)]));
    let filters: Vec<_> = std::iter::once(("", "all"))
        .chain(REASONS.iter().map(|r| (*r, *r)))
        .map(|(r, label)| {
            json!({"label": label.replace('_', "-"), "href": url("/app/suppressions", &[("reason", r)]),
                "current": r == kind})
        })
        .collect();
    let ctx = json!({"items": page.data, "filters": filters, "next_url": next_url, "paged": q.after.is_some(),
        "first_url": url("/app/suppressions", &[("reason", &kind)]), "form": {"email": email}, "errors": errors, "can_manage": m.role().can_manage()});
    render::page(status, "mail/suppressions.html", mail::frame(v, "suppressions-title", "suppressions"), ctx)
        .map_err(|e| v.fail(e))
}

pub async fn list(v: Visitor) -> Page {
    list_page(&v, StatusCode::OK, "", BTreeMap::new()).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct EmailForm {
    email: String,
}

/// `POST /app/suppressions`: a manual entry (already listed: nothing changes).
pub async fn add(v: Visitor, body: Bytes) -> Page {
    let m = v.member()?;
    mail::may_manage(&v).await?;
    let form: EmailForm = forms::parse(v.lang, &body)?;
    let input = SuppressionInput { email: form.email.clone(), reason: Some("manual".into()) };
    match suppressions::suppress(&v.state, &m.principal, input).await {
        Ok(_) => Ok(see_other("/app/suppressions")),
        Err(e) => match forms::refused(v.lang, e, &["email"], "email") {
            Refused::Form { status, errors } => list_page(&v, status, &form.email, errors).await,
            Refused::Page(p) => Err(p),
        },
    }
}

/// `POST /app/suppressions/remove`: the address may be mailed again. The address is a
/// form field, not part of the path: an address may hold `/`, `?` or `%`.
pub async fn remove(v: Visitor, body: Bytes) -> Page {
    let m = v.member()?;
    mail::may_manage(&v).await?;
    let form: EmailForm = forms::parse(v.lang, &body)?;
    suppressions::unsuppress(&v.state, &m.principal, &form.email).await.map_err(|e| v.fail(e))?;
    Ok(see_other("/app/suppressions"))
}
