//! The portal's tags and custom fields in the browser: lists, a form to add one, and
//! moving one to the trash. The rules are the API's (`http::tags::{page_of, create_tag,
//! trash_tag}`, `http::custom_fields::{definitions, define, trash_field}`): anyone reads,
//! writers add tags, owners and admins delete tags and define or delete fields.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use serde::Deserialize;
use serde_json::{json, Value};

use super::forms::{self, Refused};
use super::render::{self, see_other, WebError};
use super::{Page, Visitor};
use crate::crm::objects::{Object, CUSTOM_TYPES};
use crate::http::custom_fields::{self, NewCustomField};
use crate::http::paging;
use crate::http::tags;

type Errors = BTreeMap<String, Vec<String>>;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct After {
    after: Option<String>,
}

async fn tags_page(v: &Visitor, status: StatusCode, form: Value, errors: Errors) -> Page {
    let m = v.member()?;
    let query: After = serde_urlencoded::from_str(v.req.query_string())
        .map_err(|_| WebError::status(v.lang, StatusCode::BAD_REQUEST))?;
    let mut bad = Vec::new();
    let page = paging::Page::parse(None, forms::value(&query.after).as_deref(), &mut bad);
    if !bad.is_empty() {
        return Err(v.fail(crate::error::AppError::invalid(bad)));
    }
    let list = tags::page_of(&v.state, &m.principal, page).await.map_err(|e| v.fail(e))?;
    let next_url = list
        .next_cursor
        .map(|c| format!("/app/tags?{}", serde_urlencoded::to_string([("after", c)]).unwrap_or_default()));
    let ctx = json!({"tags": list.data, "next_url": next_url, "paged": query.after.is_some(), "form": form,
        "errors": errors, "can_write": m.role().can_write(), "can_manage": m.role().can_manage()});
    render::page(status, "tags.html", v.frame("tags-title", "settings"), ctx).map_err(|e| v.fail(e))
}

pub async fn tag_list(v: Visitor) -> Page {
    tags_page(&v, StatusCode::OK, json!({}), Errors::new()).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TagForm {
    name: String,
}

pub async fn tag_create(v: Visitor, body: Bytes) -> Page {
    let m = v.member()?;
    let form: TagForm = forms::parse(v.lang, &body)?;
    match tags::create_tag(&v.state, &m.principal, &form.name).await {
        Ok(_) => Ok(see_other("/app/tags")),
        Err(e) => match forms::refused(v.lang, e, &["name"], "name") {
            Refused::Form { status, errors } => tags_page(&v, status, json!({"name": form.name}), errors).await,
            Refused::Page(p) => Err(p),
        },
    }
}

pub async fn tag_delete(v: Visitor, id: web::Path<String>) -> Page {
    let m = v.member()?;
    tags::trash_tag(&v.state, &m.principal, &id).await.map_err(|e| v.fail(e))?;
    Ok(see_other("/app/tags"))
}

async fn fields_page(v: &Visitor, status: StatusCode, form: Value, errors: Errors) -> Page {
    let m = v.member()?;
    let defs = custom_fields::definitions(&v.state, &m.principal, None).await.map_err(|e| v.fail(e))?;
    let objects: Vec<Value> = Object::ALL
        .iter()
        .map(|o| {
            let fields: Vec<&custom_fields::CustomField> = defs.iter().filter(|d| d.object == o.name()).collect();
            json!({"name": o.name(), "plural": o.plural(), "fields": fields})
        })
        .collect();
    let ctx = json!({"objects": objects, "types": CUSTOM_TYPES, "form": form, "errors": errors,
        "can_manage": m.role().can_manage()});
    render::page(status, "custom_fields.html", v.frame("custom-fields-title", "settings"), ctx).map_err(|e| v.fail(e))
}

pub async fn field_list(v: Visitor) -> Page {
    let empty = json!({"object": "contact", "key": "", "label": "", "type": "text", "options": "", "required": false});
    fields_page(&v, StatusCode::OK, empty, Errors::new()).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct FieldForm {
    object: String,
    key: String,
    label: String,
    #[serde(rename = "type")]
    field_type: String,
    options: String,
    required: Option<String>,
}

pub async fn field_create(v: Visitor, body: Bytes) -> Page {
    let m = v.member()?;
    let form: FieldForm = forms::parse(v.lang, &body)?;
    let input = NewCustomField {
        object: form.object.clone(),
        key: form.key.clone(),
        label: form.label.clone(),
        field_type: form.field_type.clone(),
        options: form.options.lines().map(str::trim).filter(|o| !o.is_empty()).map(str::to_string).collect(),
        required: form.required.as_deref() == Some("true"),
    };
    match custom_fields::define(&v.state, &m.principal, input).await {
        Ok(_) => Ok(see_other("/app/custom-fields")),
        Err(e) => match forms::refused(v.lang, e, &["object", "key", "label", "type", "options"], "key") {
            Refused::Form { status, errors } => {
                let values = json!({"object": form.object, "key": form.key, "label": form.label,
                    "type": form.field_type, "options": form.options, "required": form.required.is_some()});
                fields_page(&v, status, values, errors).await
            }
            Refused::Page(p) => Err(p),
        },
    }
}

pub async fn field_delete(v: Visitor, id: web::Path<String>) -> Page {
    let m = v.member()?;
    custom_fields::trash_field(&v.state, &m.principal, &id).await.map_err(|e| v.fail(e))?;
    Ok(see_other("/app/custom-fields"))
}
