//! Contacts in the browser: the list (the API's text search `q`, keyset cursors), one
//! contact, and the create and edit forms. Every read and write goes through the JSON API's
//! own functions with the person's `Principal`, so the role rules (viewers read only), the
//! validation (422 messages shown beside their fields), duplicate emails (409) and
//! another portal's ids (404) are exactly the API's.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use serde::Deserialize;
use serde_json::{json, Value};

use super::forms::{self, Refused};
use super::render::{self, see_other, WebError};
use super::{Page, Visitor};
use crate::crm::objects::Object;
use crate::error::AppError;
use crate::http::principal::Access;
use crate::http::records::{crud, list as listing, ListParams};

const PAGE_SIZE: &str = "25";
const FIELDS: &[&str] = &["email", "first_name", "last_name", "phone", "tags"];

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ListQuery {
    q: Option<String>,
    after: Option<String>,
}

/// `/app/contacts?q=&after=`: 25 at a time, oldest first, with a link to the next page.
pub async fn list(v: Visitor) -> Page {
    let m = v.member()?;
    let query: ListQuery = serde_urlencoded::from_str(v.req.query_string())
        .map_err(|_| WebError::status(v.lang, StatusCode::BAD_REQUEST))?;
    let q = forms::value(&query.q);
    let params = ListParams {
        limit: Some(PAGE_SIZE.into()),
        after: forms::value(&query.after),
        q: q.clone(),
        tag: None,
        sort: None,
    };
    let (status, rows, next, errors) = match listing::page(&v.state, &m.principal, Object::Contact, params, None).await
    {
        Ok(page) => (StatusCode::OK, page.data, page.next_cursor, Vec::new()),
        Err(AppError::Validation { errors, .. }) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Vec::new(),
            None,
            errors.into_iter().map(|e| format!("{}: {}", e.field, e.message)).collect(),
        ),
        Err(e) => return Err(v.fail(e)),
    };
    let next_url = next.map(|cursor| {
        let mut pairs = vec![("after", cursor)];
        if let Some(q) = &q {
            pairs.insert(0, ("q", q.clone()));
        }
        format!("/app/contacts?{}", serde_urlencoded::to_string(pairs).unwrap_or_default())
    });
    let first_url = match &q {
        Some(q) => format!("/app/contacts?{}", serde_urlencoded::to_string([("q", q)]).unwrap_or_default()),
        None => "/app/contacts".to_string(),
    };
    let ctx = json!({
        "contacts": rows,
        "first_url": first_url,
        "q": q,
        "next_url": next_url,
        "paged": query.after.is_some(),
        "errors": errors,
        "can_write": m.role().can_write(),
    });
    render::page(status, "contacts/list.html", v.frame("contacts-title", "contacts"), ctx).map_err(|e| v.fail(e))
}

pub async fn show(v: Visitor, id: web::Path<String>) -> Page {
    let m = v.member()?;
    let contact = crud::get(&v.state, &m.principal, Object::Contact, &id).await.map_err(|e| v.fail(e))?;
    let ctx = json!({"contact": contact, "can_write": m.role().can_write()});
    render::page(StatusCode::OK, "contacts/show.html", v.frame("contact-title", "contacts"), ctx).map_err(|e| v.fail(e))
}

/// The form's values as the template shows them.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ContactForm {
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    phone: Option<String>,
    tags: Option<String>,
}

impl ContactForm {
    fn from_record(r: &Value) -> ContactForm {
        let text = |k: &str| r.get(k).and_then(Value::as_str).map(str::to_string);
        let tags = r
            .get("tags")
            .and_then(Value::as_array)
            .map(|tags| tags.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "));
        ContactForm {
            email: text("email"),
            first_name: text("first_name"),
            last_name: text("last_name"),
            phone: text("phone"),
            tags,
        }
    }

    fn values(&self) -> Value {
        json!({"email": self.email, "first_name": self.first_name, "last_name": self.last_name,
            "phone": self.phone, "tags": self.tags})
    }

    /// The API body: on create only the fields filled in; on edit every field, an empty
    /// one as `null` (cleared). Tags are comma-separated names.
    fn body(&self, creating: bool) -> Value {
        let mut body = serde_json::Map::new();
        for (key, raw) in [
            ("email", &self.email),
            ("first_name", &self.first_name),
            ("last_name", &self.last_name),
            ("phone", &self.phone),
        ] {
            match forms::value(raw) {
                Some(v) => {
                    body.insert(key.into(), json!(v));
                }
                None if !creating => {
                    body.insert(key.into(), Value::Null);
                }
                None => {}
            }
        }
        let tags: Vec<String> = self
            .tags
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect();
        if !creating || !tags.is_empty() {
            body.insert("tags".into(), json!(tags));
        }
        Value::Object(body)
    }
}

fn show_form(
    v: &Visitor,
    status: StatusCode,
    id: Option<&str>,
    form: &ContactForm,
    errors: BTreeMap<String, Vec<String>>,
) -> Page {
    let title = if id.is_some() { "contact-edit-title" } else { "contact-new-title" };
    let action = match id {
        Some(id) => format!("/app/contacts/{id}"),
        None => "/app/contacts".to_string(),
    };
    let ctx = json!({"form": form.values(), "errors": errors, "action": action, "id": id});
    render::page(status, "contacts/form.html", v.frame(title, "contacts"), ctx).map_err(|e| v.fail(e))
}

/// Only people who may write see the forms (the same rule the API applies to the write).
async fn may_write(v: &Visitor) -> Result<(), WebError> {
    let m = v.member()?;
    m.principal.require(&v.state, Object::Contact.plural(), Access::Write).await.map_err(|e| v.fail(e))
}

pub async fn new(v: Visitor) -> Page {
    may_write(&v).await?;
    show_form(&v, StatusCode::OK, None, &ContactForm::default(), BTreeMap::new())
}

pub async fn edit(v: Visitor, id: web::Path<String>) -> Page {
    let m = v.member()?;
    let contact = crud::get(&v.state, &m.principal, Object::Contact, &id).await.map_err(|e| v.fail(e))?;
    may_write(&v).await?;
    show_form(&v, StatusCode::OK, Some(&id), &ContactForm::from_record(&contact), BTreeMap::new())
}

fn after_write(v: &Visitor, id: Option<&str>, form: &ContactForm, result: Result<Value, AppError>) -> Page {
    match result {
        Ok(record) => {
            let id = record.get("id").and_then(Value::as_str).unwrap_or_default();
            Ok(see_other(&format!("/app/contacts/{id}")))
        }
        Err(e) => match forms::refused(v.lang, e, FIELDS, "email") {
            Refused::Form { status, errors } => show_form(v, status, id, form, errors),
            Refused::Page(p) => Err(p),
        },
    }
}

pub async fn create(v: Visitor, body: Bytes) -> Page {
    let m = v.member()?;
    let form: ContactForm = forms::parse(v.lang, &body)?;
    let result = crud::create(&v.state, &m.principal, Object::Contact, form.body(true)).await;
    after_write(&v, None, &form, result)
}

pub async fn update(v: Visitor, id: web::Path<String>, body: Bytes) -> Page {
    let m = v.member()?;
    let form: ContactForm = forms::parse(v.lang, &body)?;
    let result = crud::update(&v.state, &m.principal, Object::Contact, &id, form.body(false)).await;
    after_write(&v, Some(&id), &form, result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_become_api_bodies() {
        let form = ContactForm {
            email: Some(" ada@example.com ".into()),
            first_name: Some("".into()),
            tags: Some("vip, , lead ".into()),
            ..ContactForm::default()
        };
        assert_eq!(form.body(true), json!({"email": "ada@example.com", "tags": ["vip", "lead"]}));
        assert_eq!(
            form.body(false),
            json!({"email": "ada@example.com", "first_name": null, "last_name": null, "phone": null,
                "tags": ["vip", "lead"]})
        );
        let back = ContactForm::from_record(&json!({"email": "a@b.c", "tags": ["x", "y"]}));
        assert_eq!(back.tags.as_deref(), Some("x, y"));
    }
}
