//! The portal's custom values in the browser (`{{ custom_values.<key> }}` in emails):
//! everyone reads the list; owners and admins add, edit and move them to the trash. The
//! rules are the API's (`http::custom_values::{page_of, define, read_value, change,
//! trash_value}`).

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use serde::Deserialize;
use serde_json::{json, Value};

use super::forms::{self, Refused};
use super::mail;
use super::render::{self, see_other};
use super::{Page, Visitor};
use crate::http::custom_values::{self, CustomValueInput};

type Errors = BTreeMap<String, Vec<String>>;

const FIELDS: &[&str] = &["key", "value"];

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct After {
    after: Option<String>,
}

async fn list_page(v: &Visitor, status: StatusCode, form: Value, errors: Errors) -> Page {
    let m = v.member()?;
    let query: After = mail::query(v)?;
    let page =
        custom_values::page_of(&v.state, &m.principal, mail::page_after(&query.after)).await.map_err(|e| v.fail(e))?;
    let next_url = page.next_cursor.as_deref().map(|c| mail::url("/app/custom-values", &[("after", c)]));
    let ctx = json!({"values": page.data, "next_url": next_url, "paged": query.after.is_some(), "form": form,
        "errors": errors, "can_manage": m.role().can_manage()});
    render::page(status, "custom_values.html", v.frame("cv-title", "settings"), ctx).map_err(|e| v.fail(e))
}

/// `/app/custom-values`: the list, and for owners and admins the form to add one.
pub async fn list(v: Visitor) -> Page {
    list_page(&v, StatusCode::OK, json!({}), Errors::new()).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ValueForm {
    key: String,
    value: String,
}

impl ValueForm {
    /// The API's body; a textarea's CRLF (HTML form rules) is stored as LF.
    fn input(&self) -> CustomValueInput {
        CustomValueInput { key: Some(self.key.clone()), value: Some(self.value.replace("\r\n", "\n")) }
    }
}

/// `POST /app/custom-values`.
pub async fn create(v: Visitor, body: Bytes) -> Page {
    let m = v.member()?;
    m.principal
        .manager_or_scope(&v.state, "custom_values", crate::http::principal::Access::Write)
        .await
        .map_err(|e| v.fail(e))?;
    let form: ValueForm = forms::parse(v.lang, &body)?;
    match custom_values::define(&v.state, &m.principal, form.input()).await {
        Ok(_) => Ok(see_other("/app/custom-values")),
        Err(e) => match forms::refused(v.lang, e, FIELDS, "key") {
            Refused::Form { status, errors } => {
                list_page(&v, status, json!({"key": form.key, "value": form.value}), errors).await
            }
            Refused::Page(p) => Err(p),
        },
    }
}

async fn edit_page(v: &Visitor, id: &str, status: StatusCode, form: Option<Value>, errors: Errors) -> Page {
    let m = v.member()?;
    let current = custom_values::read_value(&v.state, &m.principal, id).await.map_err(|e| v.fail(e))?;
    let form = form.unwrap_or_else(|| json!({"key": current.key, "value": current.value}));
    let ctx = json!({"value": current, "form": form, "errors": errors, "can_manage": m.role().can_manage()});
    render::page(status, "custom_value.html", v.frame("cv-edit-title", "settings"), ctx).map_err(|e| v.fail(e))
}

/// `/app/custom-values/{id}`: one value, as a form for owners and admins.
pub async fn show(v: Visitor, id: web::Path<String>) -> Page {
    edit_page(&v, &id, StatusCode::OK, None, Errors::new()).await
}

/// `POST /app/custom-values/{id}`: a new key or value.
pub async fn update(v: Visitor, id: web::Path<String>, body: Bytes) -> Page {
    let m = v.member()?;
    m.principal
        .manager_or_scope(&v.state, "custom_values", crate::http::principal::Access::Write)
        .await
        .map_err(|e| v.fail(e))?;
    let form: ValueForm = forms::parse(v.lang, &body)?;
    match custom_values::change(&v.state, &m.principal, &id, form.input()).await {
        Ok(_) => Ok(see_other("/app/custom-values")),
        Err(e) => match forms::refused(v.lang, e, FIELDS, "key") {
            Refused::Form { status, errors } => {
                edit_page(&v, &id, status, Some(json!({"key": form.key, "value": form.value})), errors).await
            }
            Refused::Page(p) => Err(p),
        },
    }
}

/// `POST /app/custom-values/{id}/delete`: to the trash (restored from there for 30 days).
pub async fn delete(v: Visitor, id: web::Path<String>) -> Page {
    let m = v.member()?;
    custom_values::trash_value(&v.state, &m.principal, &id).await.map_err(|e| v.fail(e))?;
    Ok(see_other("/app/custom-values"))
}
