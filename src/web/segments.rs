//! Segments in the browser: the list, the form (a name and the contact search language
//! written one filter a line), and a segment's page with its exact member count and its
//! members, 25 at a time. Reads and writes are the API's (`http::segments`): which fields
//! and operators exist, and what a value must be, is decided by `crm::search` there.
//!
//! The query box is the search language as text: a line is `field op value` (the value
//! is the rest of the line: JSON when it reads as JSON — `12`, `true`, `["a","b"]`,
//! `"12"` — else the text itself); a line `or` starts the next group; blank lines and
//! lines starting with `#` are skipped. It turns into the API's `filter_groups` and back
//! without loss.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use serde::Deserialize;
use serde_json::{json, Value};

use super::forms::{self, Refused};
use super::i18n::{self, Arg, Lang};
use super::mail::{self, url};
use super::records::view;
use super::render::{self, see_other};
use super::{Page, Visitor};
use crate::crm::objects::Object;
use crate::crm::search::{FilterGroupInput, FilterInput};
use crate::http::segments::{self, SegmentInput};

type Errors = BTreeMap<String, Vec<String>>;

/// The query box's text as filter groups, or the lines that cannot be read (1-based).
pub fn parse_query(text: &str) -> Result<Vec<FilterGroupInput>, Vec<usize>> {
    let mut groups = vec![FilterGroupInput { filters: Vec::new() }];
    let mut bad = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.eq_ignore_ascii_case("or") {
            groups.push(FilterGroupInput { filters: Vec::new() });
            continue;
        }
        let mut parts = line.splitn(3, char::is_whitespace);
        let (Some(field), Some(op)) = (parts.next(), parts.next()) else {
            bad.push(i + 1);
            continue;
        };
        let rest = parts.next().unwrap_or_default().trim();
        let value = match rest {
            "" => Value::Null,
            _ => serde_json::from_str(rest).unwrap_or_else(|_| Value::String(rest.to_string())),
        };
        if let Some(group) = groups.last_mut() {
            group.filters.push(FilterInput { field: field.to_string(), op: op.to_string(), value });
        }
    }
    if !bad.is_empty() {
        return Err(bad);
    }
    // `or` with nothing after it (or before it) adds no group.
    groups.retain(|g| !g.filters.is_empty());
    Ok(groups)
}

/// Filter groups as the query box shows them (`parse_query` reads it back the same).
pub fn format_query(groups: &[FilterGroupInput]) -> String {
    let mut lines = Vec::new();
    for (i, g) in groups.iter().enumerate() {
        if i > 0 {
            lines.push("or".to_string());
        }
        for f in &g.filters {
            let value = match &f.value {
                Value::Null => String::new(),
                // Text that would read as JSON (`12`, `true`) keeps its quotes.
                Value::String(s) if serde_json::from_str::<Value>(s).is_ok() || s.trim() != s || s.is_empty() => {
                    Value::String(s.clone()).to_string()
                }
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            lines.push(format!("{} {} {value}", f.field, f.op).trim_end().to_string());
        }
    }
    lines.join("\n")
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct After {
    after: Option<String>,
}

pub async fn list(v: Visitor) -> Page {
    let m = v.member()?;
    let q: After = mail::query(&v)?;
    let page = segments::page_of(&v.state, &m.principal, mail::page_after(&q.after)).await.map_err(|e| v.fail(e))?;
    let next_url = page.next_cursor.map(|c| url("/app/segments", &[("after", &c)]));
    let rows: Vec<Value> = page
        .data
        .iter()
        .map(|s| {
            let filters: usize = s.filter_groups.iter().map(|g| g.filters.len()).sum();
            json!({"id": s.id, "name": s.name, "updated_at": s.updated_at, "filters": filters})
        })
        .collect();
    let ctx =
        json!({"segments": rows, "next_url": next_url, "paged": q.after.is_some(), "can_write": m.role().can_write()});
    render::page(StatusCode::OK, "mail/segments.html", mail::frame(&v, "segments-title", "segments"), ctx)
        .map_err(|e| v.fail(e))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SegmentForm {
    name: String,
    query: String,
}

fn form_page(v: &Visitor, status: StatusCode, id: Option<&str>, form: &SegmentForm, errors: Errors) -> Page {
    let (title, action, cancel) = match id {
        Some(id) => ("segment-edit-title", format!("/app/segments/{id}"), format!("/app/segments/{id}")),
        None => ("segment-new-title", "/app/segments".to_string(), "/app/segments".to_string()),
    };
    let ctx = json!({"form": {"name": form.name, "query": form.query}, "errors": errors, "action": action,
        "cancel": cancel, "heading": title});
    render::page(status, "mail/segment_form.html", mail::frame(v, title, "segments"), ctx).map_err(|e| v.fail(e))
}

/// The new segment's form; `?query=` (from a contact list's filters) fills the query box.
pub async fn new(v: Visitor) -> Page {
    mail::may_write(&v).await?;
    let prefill: Prefill = mail::query(&v)?;
    let form = SegmentForm { name: String::new(), query: prefill.query.unwrap_or_default() };
    form_page(&v, StatusCode::OK, None, &form, Errors::new())
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Prefill {
    query: Option<String>,
}

pub async fn edit(v: Visitor, id: web::Path<String>) -> Page {
    let m = v.member()?;
    let s = segments::get_segment(&v.state, &m.principal, &id).await.map_err(|e| v.fail(e))?;
    mail::may_write(&v).await?;
    let form = SegmentForm { name: s.name.clone(), query: format_query(&s.filter_groups) };
    form_page(&v, StatusCode::OK, Some(&s.id), &form, Errors::new())
}

fn unreadable(lang: Lang, lines: &[usize]) -> Errors {
    let messages =
        lines.iter().map(|n| i18n::t(lang, "segment-query-line", &[("line", Arg::Number(*n as f64))])).collect();
    Errors::from([("query".to_string(), messages)])
}

async fn save(v: Visitor, id: Option<String>, body: Bytes) -> Page {
    let m = v.member()?;
    mail::may_write(&v).await?;
    let form: SegmentForm = forms::parse(v.lang, &body)?;
    let groups = match parse_query(&form.query) {
        Ok(g) => g,
        Err(lines) => {
            return form_page(&v, StatusCode::UNPROCESSABLE_ENTITY, id.as_deref(), &form, unreadable(v.lang, &lines))
        }
    };
    let input = SegmentInput { name: Some(form.name.clone()), filter_groups: Some(groups) };
    let saved = match &id {
        None => segments::create_segment(&v.state, &m.principal, input).await,
        Some(id) => segments::update_segment(&v.state, &m.principal, id, input).await,
    };
    match saved {
        Ok(s) => Ok(see_other(&format!("/app/segments/{}", s.id))),
        Err(e) => match forms::refused(v.lang, e, &["name"], "name") {
            Refused::Form { status, mut errors } => {
                // The API names a filter (`filter_groups[0].filters[1].op`): the query box's.
                if let Some(other) = errors.remove("_form") {
                    errors.entry("query".into()).or_default().extend(other);
                }
                form_page(&v, status, id.as_deref(), &form, errors)
            }
            Refused::Page(p) => Err(p),
        },
    }
}

pub async fn create(v: Visitor, body: Bytes) -> Page {
    save(v, None, body).await
}

pub async fn update(v: Visitor, id: web::Path<String>, body: Bytes) -> Page {
    save(v, Some(id.into_inner()), body).await
}

/// `/app/segments/{id}`: the query, the exact count now, and the members after `after`.
pub async fn show(v: Visitor, id: web::Path<String>) -> Page {
    let m = v.member()?;
    let q: After = mail::query(&v)?;
    let s = segments::get_segment(&v.state, &m.principal, &id).await.map_err(|e| v.fail(e))?;
    let members =
        segments::members_of(&v.state, &m.principal, &s.id, mail::page_after(&q.after)).await.map_err(|e| v.fail(e))?;
    let rows: Vec<Value> = members
        .data
        .iter()
        .map(|c| {
            let cid = view::at(c, "id").as_str().unwrap_or_default();
            json!({"id": cid, "href": view::href(Object::Contact, cid), "title": view::title(Object::Contact, c),
                "email": view::at(c, "email")})
        })
        .collect();
    let here = format!("/app/segments/{}", s.id);
    let next_url = members.next_cursor.map(|c| url(&here, &[("after", &c)]));
    let ctx = json!({"segment": s, "query": format_query(&s.filter_groups), "members": rows, "next_url": next_url,
        "paged": q.after.is_some(), "first_url": here,
        "can_write": m.role().can_write()});
    render::page(StatusCode::OK, "mail/segment.html", mail::frame(&v, "segment-title", "segments"), ctx)
        .map_err(|e| v.fail(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_box_reads_groups_and_values_and_writes_them_back() {
        let text = "tags eq news\n# a comment\nemail contains @acme.example\n\nor\ncustom_fields.score gte 12\n\
            tags in [\"a\",\"b\"]\nfirst_name eq \"12\"\nemail exists";
        let groups = parse_query(text).unwrap();
        assert_eq!(groups.len(), 2);
        let g = serde_json::to_value(&groups).unwrap();
        assert_eq!(g[0]["filters"][1]["value"], "@acme.example");
        assert_eq!(g[1]["filters"][0]["value"], 12);
        assert_eq!(g[1]["filters"][1]["value"], json!(["a", "b"]));
        assert_eq!(g[1]["filters"][2]["value"], "12", "quoted: text");
        assert_eq!(g[1]["filters"][3]["value"], Value::Null);
        let again = parse_query(&format_query(&groups)).unwrap();
        assert_eq!(serde_json::to_value(&again).unwrap(), g, "{}", format_query(&groups));
        assert_eq!(parse_query("").unwrap().len(), 0, "no filters: every contact");
        assert_eq!(parse_query("or\n\nor").unwrap().len(), 0);
        assert_eq!(parse_query("tags eq a\nlonely\nok").unwrap_err(), vec![2, 3]);
        let spaced = vec![FilterGroupInput {
            filters: vec![FilterInput { field: "last_name".into(), op: "eq".into(), value: json!(" van ") }],
        }];
        let back = parse_query(&format_query(&spaced)).unwrap();
        assert_eq!(serde_json::to_value(back).unwrap(), serde_json::to_value(spaced).unwrap());
    }
}
