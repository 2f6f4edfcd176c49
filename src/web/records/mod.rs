//! The CRM records in the browser, one implementation for every object (contacts,
//! companies, deals, tickets, tasks, notes), driven by the object's fields as data:
//! the list (the API's text search `q`, its `sort`, keyset cursors), one record (every
//! field, custom fields, tags, the records it links to and that link to it, its timeline),
//! and the create and edit forms.
//!
//! Every read and write goes through the JSON API's own functions with the person's
//! `Principal` (`http::records::{crud, list, timeline}`, `http::custom_fields::definitions`,
//! `http::pipelines::all`, `http::users::members`), so roles (viewers read only),
//! validation (422 messages beside their fields), duplicates (409) and another portal's
//! ids (404) are exactly the API's. This module never decides a rule.
//!
//! | file | concern |
//! | --- | --- |
//! | `list.rs` | the list: search, sort, filters, paging, the bulk changes' checkboxes |
//! | `filters.rs` | the filter builder's rows ⇄ the search language (`segments::parse_query`) |
//! | `bulk.rs` | tagging, untagging and trashing the checked records (`http::records::bulk`) |
//! | `fields.rs` | an object's form from its fields; form ⇄ API body |
//! | `view.rs` | titles, values as text, list columns and sorts, related objects |
//! | `pages.rs` | per-object entry points for `web::PAGES` (`object_pages!`) |

pub mod bulk;
pub mod fields;
pub mod filters;
pub mod list;
pub mod pages;
pub mod view;

pub use list::list;

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use serde_json::{json, Value};

use self::fields::{Field, Values};
use self::view::{at, Link, Lookups};
use super::forms::{self, Refused};
use super::render::{self, see_other, WebError};
use super::{Page, Visitor};
use crate::crm::objects::{Kind, Object};
use crate::crm::search::{FilterGroupInput, FilterInput};
use crate::error::AppError;
use crate::http::principal::Access;
use crate::http::records::{crud, list as listing, timeline, ListParams, TimelineParams};

const PAGE_SIZE: &str = "25";
/// Linked records shown per field or related object on a record's page.
const LINKED: usize = 10;

/// What an object's pages need to name ids: stages for deals, people for tasks (and for
/// who changed what in a timeline).
async fn lookups(v: &Visitor, object: Object, people: bool) -> Result<Lookups, WebError> {
    let m = v.member()?;
    let mut out = Lookups::default();
    if object == Object::Deal {
        out.pipelines = crate::http::pipelines::all(&v.state, &m.principal).await.map_err(|e| v.fail(e))?;
    }
    if people || object == Object::Task {
        out.members = crate::http::users::members(&v.state, &m.principal).await.map_err(|e| v.fail(e))?;
    }
    Ok(out)
}

async fn object_fields(v: &Visitor, object: Object) -> Result<Vec<Field>, WebError> {
    let m = v.member()?;
    let defs = crate::http::custom_fields::definitions(&v.state, &m.principal, Some(object.name()))
        .await
        .map_err(|e| v.fail(e))?;
    Ok(fields::fields(object, &defs))
}

/// The titles of the records `record` links to (a few per field), for its page.
async fn link_titles(v: &Visitor, fields: &[Field], record: &Value) -> Result<BTreeMap<String, String>, WebError> {
    let m = v.member()?;
    let mut titles = BTreeMap::new();
    for f in fields {
        let Kind::Links(target) = f.kind else { continue };
        for id in f.value(record).as_array().into_iter().flatten().filter_map(Value::as_str).take(LINKED) {
            match crud::get(&v.state, &m.principal, target, id).await {
                Ok(linked) => {
                    titles.insert(id.to_string(), view::title(target, &linked).unwrap_or_else(|| id.to_string()));
                }
                // Moved to the trash since: shown by id.
                Err(AppError::NotFound { .. }) => {}
                Err(e) => return Err(v.fail(e)),
            }
        }
    }
    Ok(titles)
}

/// The records of other objects that link to this one, a few of each, and a link to add
/// one already linked.
async fn related(v: &Visitor, object: Object, id: &str) -> Result<Vec<Value>, WebError> {
    let m = v.member()?;
    let mut out = Vec::new();
    for (other, field) in view::related(object) {
        let filter = FilterInput { field: field.to_string(), op: "eq".into(), value: json!(id) };
        let params = ListParams { limit: Some(LINKED.to_string()), ..ListParams::default() };
        let page = listing::page(
            &v.state,
            &m.principal,
            *other,
            params,
            Some(vec![FilterGroupInput { filters: vec![filter] }]),
        )
        .await
        .map_err(|e| v.fail(e))?;
        let links: Vec<Link> = page
            .data
            .iter()
            .filter_map(|r| at(r, "id").as_str().map(|rid| (rid, r)))
            .map(|(rid, r)| Link {
                href: view::href(*other, rid),
                text: view::title(*other, r).unwrap_or_else(|| rid.to_string()),
            })
            .collect();
        let new_url =
            format!("/app/{}/new?{}", other.plural(), serde_urlencoded::to_string([(field, id)]).unwrap_or_default());
        out.push(
            json!({"plural": other.plural(), "links": links, "more": page.next_cursor.is_some(), "new_url": new_url}),
        );
    }
    Ok(out)
}

/// The latest changes of a record (the API's timeline), as lines of text.
async fn history(
    v: &Visitor,
    object: Object,
    id: &str,
    lookups: &Lookups,
    fields: &[Field],
) -> Result<Vec<Value>, WebError> {
    let m = v.member()?;
    let params = TimelineParams { limit: Some("20".into()), after: None };
    let page = timeline::entries(&v.state, &m.principal, object, id, params).await.map_err(|e| v.fail(e))?;
    let entries = page
        .data
        .iter()
        .map(|e| {
            let (kind, verb) = e.kind.split_once('.').unwrap_or((e.kind.as_str(), ""));
            let about = Object::parse(kind);
            let what = match verb {
                "created" | "updated" | "deleted" | "restored" | "stage_changed" => {
                    i18n_t(v, &format!("timeline-{}", verb.replace('_', "-")))
                }
                _ => e.kind.clone(),
            };
            // A linked note or task names itself.
            let other = about.filter(|o| *o != object).map(|o| {
                json!({"object": i18n_t(v, &format!("{}-title", o.name())),
                    "title": view::title(o, &e.record), "href": at(&e.record, "id").as_str().map(|rid| view::href(o, rid))})
            });
            let who = match (at(&e.actor, "type").as_str(), at(&e.actor, "id").as_str()) {
                (Some("user"), Some(uid)) => lookups.members.iter().find(|m| m.id == uid).map(|m| m.name.clone()),
                (Some("api_key"), _) => Some(i18n_t(v, "timeline-by-key")),
                _ => None,
            };
            let changes: Vec<Value> = e
                .changes
                .as_ref()
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .map(|(key, change)| {
                    let field = fields.iter().find(|f| f.name == *key || f.name == format!("custom_fields.{key}"));
                    let label = field.map(|f| f.label(v.lang)).unwrap_or_else(|| key.clone());
                    let show = |side: &str| match field {
                        Some(f) => {
                            let value = at(change, side).clone();
                            let shaped = if f.is_custom() {
                                json!({"custom_fields": {key.as_str(): value}})
                            } else {
                                json!({f.name.as_str(): value})
                            };
                            let s = view::shown(v.lang, f, &shaped, lookups);
                            if s.links.is_empty() {
                                s.text
                            } else {
                                s.links.into_iter().map(|l| l.text).collect::<Vec<_>>().join(", ")
                            }
                        }
                        None => at(change, side).to_string(),
                    };
                    json!({"field": label, "from": show("from"), "to": show("to")})
                })
                .collect();
            json!({"at": e.occurred_at, "what": what, "other": other, "who": who, "changes": changes})
        })
        .collect();
    Ok(entries)
}

fn i18n_t(v: &Visitor, id: &str) -> String {
    super::i18n::t(v.lang, id, &[])
}

pub async fn show(v: Visitor, object: Object, id: String) -> Page {
    let m = v.member()?;
    let record = crud::get(&v.state, &m.principal, object, &id).await.map_err(|e| v.fail(e))?;
    let fields = object_fields(&v, object).await?;
    let mut lookups = lookups(&v, object, true).await?;
    lookups.titles = link_titles(&v, &fields, &record).await?;
    let rows: Vec<Value> = fields
        .iter()
        .map(|f| json!({"label": f.label(v.lang), "shown": view::shown(v.lang, f, &record, &lookups), "custom": f.is_custom()}))
        .collect();
    let ctx = json!({
        "object": {"name": object.name(), "plural": object.plural()},
        "record": {"id": at(&record, "id"), "tags": at(&record, "tags"), "created_at": at(&record, "created_at"),
            "updated_at": at(&record, "updated_at")},
        "heading": view::title(object, &record),
        "rows": rows,
        "related": related(&v, object, &id).await?,
        "history": history(&v, object, &id, &lookups, &fields).await?,
        "can_write": m.role().can_write(),
        "can_trash": crud::may_trash(m.role(), object),
    });
    let title = format!("{}-title", object.name());
    render::page(StatusCode::OK, "records/show.html", v.frame(&title, object.plural()), ctx).map_err(|e| v.fail(e))
}

/// Only people who may write see the forms (the same rule the API applies to the write).
async fn may_write(v: &Visitor, object: Object) -> Result<(), WebError> {
    let m = v.member()?;
    m.principal.require(&v.state, object.plural(), Access::Write).await.map_err(|e| v.fail(e))
}

async fn show_form(
    v: &Visitor,
    object: Object,
    status: StatusCode,
    id: Option<&str>,
    fields: &[Field],
    values: &Values,
    errors: BTreeMap<String, Vec<String>>,
) -> Page {
    let lookups = lookups(v, object, object == Object::Task).await?;
    let title = match id {
        Some(_) => format!("{}-edit-title", object.name()),
        None => format!("{}-new-title", object.name()),
    };
    let action = match id {
        Some(id) => view::href(object, id),
        None => format!("/app/{}", object.plural()),
    };
    let cancel = id.map(|id| view::href(object, id)).unwrap_or_else(|| format!("/app/{}", object.plural()));
    let ctx = json!({
        "object": {"name": object.name(), "plural": object.plural()},
        "fields": fields::form(v.lang, fields, values, &lookups),
        "errors": errors,
        "action": action,
        "cancel": cancel,
    });
    render::page(status, "records/form.html", v.frame(&title, object.plural()), ctx).map_err(|e| v.fail(e))
}

/// A new record's form; links given in the query (`?contact_ids=…`, from a record's page)
/// are filled in.
pub async fn new(v: Visitor, object: Object) -> Page {
    may_write(&v, object).await?;
    let fields = object_fields(&v, object).await?;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(v.req.query_string())
        .map_err(|_| WebError::status(v.lang, StatusCode::BAD_REQUEST))?;
    let known = fields::names(&fields);
    let values = fields::from_pairs(pairs.into_iter().filter(|(k, _)| known.contains(k)).collect());
    show_form(&v, object, StatusCode::OK, None, &fields, &values, BTreeMap::new()).await
}

pub async fn edit(v: Visitor, object: Object, id: String) -> Page {
    let m = v.member()?;
    let record = crud::get(&v.state, &m.principal, object, &id).await.map_err(|e| v.fail(e))?;
    may_write(&v, object).await?;
    let fields = object_fields(&v, object).await?;
    let values = fields::from_record(&fields, &record);
    show_form(&v, object, StatusCode::OK, Some(&id), &fields, &values, BTreeMap::new()).await
}

async fn write(v: Visitor, object: Object, id: Option<String>, body: Bytes) -> Page {
    let m = v.member()?;
    let pairs: Vec<(String, String)> = forms::parse(v.lang, &body)?;
    let values = fields::from_pairs(pairs);
    let fields = object_fields(&v, object).await?;
    let api_body = fields::body(&fields, &values, id.is_none());
    let result = match &id {
        None => crud::create(&v.state, &m.principal, object, api_body).await,
        Some(id) => crud::update(&v.state, &m.principal, object, id, api_body).await,
    };
    match result {
        Ok(record) => Ok(see_other(&view::href(object, at(&record, "id").as_str().unwrap_or_default()))),
        Err(e) => {
            let names = fields::names(&fields);
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            let conflict = if object == Object::Contact { "email" } else { "_form" };
            match forms::refused(v.lang, e, &names, conflict) {
                Refused::Form { status, errors } => {
                    show_form(&v, object, status, id.as_deref(), &fields, &values, errors).await
                }
                Refused::Page(p) => Err(p),
            }
        }
    }
}

pub async fn create(v: Visitor, object: Object, body: Bytes) -> Page {
    write(v, object, None, body).await
}

pub async fn update(v: Visitor, object: Object, id: String, body: Bytes) -> Page {
    write(v, object, Some(id), body).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::i18n::{ids, Lang};

    /// Ids the screens build from an object's name and fields must all be in the catalogs
    /// (a missing one would show the id itself); `i18n` checks both catalogs agree.
    #[test]
    fn every_generated_message_id_is_in_the_catalog() {
        let known = ids(Lang::En);
        let mut wanted = vec!["field-tags".to_string()];
        for object in Object::ALL {
            for suffix in ["title", "search", "new", "empty", "back"] {
                wanted.push(format!("{}-{suffix}", object.plural()));
            }
            for suffix in ["title", "new-title", "edit-title"] {
                wanted.push(format!("{}-{suffix}", object.name()));
            }
            wanted.push(format!("nav-{}", object.plural()));
            for spec in object.fields() {
                wanted.push(fields::label_id(&spec.key));
                if let Kind::Select(options) = spec.kind {
                    wanted.extend(options.iter().map(|o| fields::choice_id(o)));
                }
            }
            for sort in view::sorts(object) {
                wanted.push(fields::label_id(sort.trim_start_matches('-')));
            }
        }
        for kind in crate::web::trash::TYPES {
            wanted.push(format!("trash-type-{}", kind.replace('_', "-")));
        }
        for kind in crate::crm::objects::CUSTOM_TYPES {
            wanted.push(format!("cf-type-{}", kind.replace('_', "-")));
        }
        for verb in ["created", "updated", "deleted", "restored", "stage-changed"] {
            wanted.push(format!("timeline-{verb}"));
        }
        let missing: Vec<&String> = wanted.iter().filter(|id| !known.contains(id)).collect();
        assert!(missing.is_empty(), "missing from the catalogs: {missing:?}");
    }
}
