//! The list screen of every object: text search (`q`), sort, the filter builder and its
//! expression (`filters.rs`), keyset paging, and the checkboxes and result line of bulk
//! changes (`bulk.rs`). The records are the API's page (`http::records::list::page`) with
//! the filter as `filter_groups`, so its 422 messages are shown as the API words them.

use actix_web::http::StatusCode;
use serde_json::{json, Value};

use super::fields::Field;
use super::filters::{self, Row};
use super::view::{self, at};
use super::{lookups, object_fields, PAGE_SIZE};
use crate::crm::objects::Object;
use crate::error::AppError;
use crate::http::records::{crud, list as listing, ListParams};
use crate::web::forms;
use crate::web::i18n::{self, Arg};
use crate::web::render::{self, WebError};
use crate::web::segments::{format_query, parse_query};
use crate::web::{Page, Visitor};

/// The list's address with these parameters (those without a value left out).
pub fn list_url(object: Object, pairs: &[(&str, &Option<String>)]) -> String {
    let present: Vec<(&str, &str)> = pairs.iter().filter_map(|(k, v)| v.as_deref().map(|v| (*k, v))).collect();
    let base = format!("/app/{}", object.plural());
    if present.is_empty() {
        return base;
    }
    format!("{base}?{}", serde_urlencoded::to_string(present).unwrap_or_default())
}

/// The last value of `key` in a query or form, trimmed, `None` when empty.
pub fn param(pairs: &[(String, String)], key: &str) -> Option<String> {
    pairs.iter().rev().find(|(k, _)| k == key).and_then(|(_, v)| forms::value(&Some(v.clone())))
}

/// The line under the title after a bulk change (`?done=tagged&n=12&missing=1…`).
fn bulk_result(v: &Visitor, object: Object, pairs: &[(String, String)]) -> Option<String> {
    let done = param(pairs, "done")?;
    let count = |k: &str| param(pairs, k).and_then(|n| n.parse::<u32>().ok()).unwrap_or(0);
    let id = match done.as_str() {
        "tagged" => "bulk-done-tagged",
        "untagged" => "bulk-done-untagged",
        "deleted" => "bulk-done-deleted",
        _ => return None,
    };
    let n = count("n");
    let records = |n: u32| {
        i18n::t(
            v.lang,
            "bulk-records",
            &[("object", Arg::Text(object.name().into())), ("count", Arg::Number(n.into()))],
        )
    };
    let tag = param(pairs, "tag").unwrap_or_default();
    let mut line = i18n::t(
        v.lang,
        id,
        &[("count", Arg::Number(n.into())), ("records", Arg::Text(records(n))), ("tag", Arg::Text(tag))],
    );
    for (key, msg) in [("same", "bulk-done-unchanged"), ("missing", "bulk-done-missing")] {
        let k = count(key);
        if k > 0 {
            let more = i18n::t(v.lang, msg, &[("count", Arg::Number(k.into())), ("records", Arg::Text(records(k)))]);
            line = format!("{line} {more}");
        }
    }
    Some(line)
}

/// The builder's rows as the template draws them, and one blank row to add a filter.
fn builder(v: &Visitor, fields: &[Field], rows: &[Row]) -> Value {
    let choices = filters::field_choices(v.lang, fields);
    let draw = |n: usize, r: &Row| {
        let ops: Vec<Value> = filters::op_menu(v.lang, &choices, &r.field)
            .into_iter()
            .map(|(value, label)| json!({"value": value, "label": label, "selected": value == r.op}))
            .collect();
        let kind = choices.iter().find(|(name, _, _)| *name == r.field).map(|(_, _, k)| k);
        let (suggest, placeholder, numeric) = filters::value_help(v.lang, kind);
        json!({"n": n, "join": r.join, "field": r.field, "op": r.op, "value": r.value, "ops": ops,
            "first": n == 0, "suggest": suggest, "placeholder": placeholder, "numeric": numeric})
    };
    let mut drawn: Vec<Value> = rows.iter().enumerate().map(|(n, r)| draw(n, r)).collect();
    drawn.push(draw(rows.len(), &Row { join: "and".into(), ..Row::default() }));
    json!({"fields": filters::field_menu(&choices), "rows": drawn, "count": rows.len()})
}

/// `/app/{plural}?q=&sort=&filter=&after=` (or the builder's rows): 25 at a time.
pub async fn list(v: Visitor, object: Object) -> Page {
    let m = v.member()?;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(v.req.query_string())
        .map_err(|_| WebError::status(v.lang, StatusCode::BAD_REQUEST))?;
    let (q, sort, after) = (param(&pairs, "q"), param(&pairs, "sort"), param(&pairs, "after"));
    let remove = param(&pairs, "remove").and_then(|n| n.parse::<usize>().ok());
    let from_rows = param(&pairs, "apply").as_deref() == Some("rows") || remove.is_some();
    let (text, typed) = if from_rows {
        let rows = filters::rows_from_pairs(&pairs, remove);
        (filters::rows_to_text(&rows), rows)
    } else {
        (pairs.iter().rev().find(|(k, _)| k == "filter").map(|(_, v)| v.clone()).unwrap_or_default(), Vec::new())
    };
    let mut status = StatusCode::OK;
    let mut errors: Vec<String> = Vec::new();
    let (groups, rows, expression) = match parse_query(&text) {
        Ok(groups) => {
            let rows = filters::rows_from_groups(&groups);
            let expression = format_query(&groups);
            (Some(groups), rows, expression)
        }
        Err(lines) => {
            status = StatusCode::UNPROCESSABLE_ENTITY;
            errors = lines
                .iter()
                .map(|n| i18n::t(v.lang, "segment-query-line", &[("line", Arg::Number(*n as f64))]))
                .collect();
            (None, typed, text.clone())
        }
    };
    let filter = Some(expression.clone()).filter(|e| !e.trim().is_empty());
    let mut records = Vec::new();
    let mut next = None;
    if let Some(groups) = &groups {
        let params = ListParams {
            limit: Some(PAGE_SIZE.into()),
            after: after.clone(),
            q: q.clone(),
            tag: None,
            sort: sort.clone(),
        };
        let search = Some(groups.clone()).filter(|g| !g.is_empty());
        match listing::page(&v.state, &m.principal, object, params, search).await {
            Ok(page) => (records, next) = (page.data, page.next_cursor),
            Err(AppError::Validation { errors: e, .. }) => {
                status = StatusCode::UNPROCESSABLE_ENTITY;
                errors.extend(
                    e.into_iter()
                        .map(|e| format!("{}: {}", e.field, crate::web::api_text::message(v.lang, &e.message))),
                );
            }
            Err(e) => return Err(v.fail(e)),
        }
    }
    let lookups = lookups(&v, object, false).await?;
    let all = object_fields(&v, object).await?;
    let columns: Vec<(&Field, bool)> = view::columns(object)
        .iter()
        .filter_map(|(key, wide)| all.iter().find(|f| f.name == *key).map(|f| (f, *wide)))
        .collect();
    let rows_out: Vec<Value> = records
        .iter()
        .map(|r| {
            let cells: Vec<Value> = columns
                .iter()
                .map(|(f, wide)| json!({"shown": view::shown(v.lang, f, r, &lookups), "wide": wide}))
                .collect();
            json!({"id": at(r, "id"), "title": view::title(object, r), "cells": cells, "tags": at(r, "tags"),
                "created_at": at(r, "created_at")})
        })
        .collect();
    let headers: Vec<Value> = columns.iter().map(|(f, wide)| json!({"label": f.label(v.lang), "wide": wide})).collect();
    let next_url = next
        .map(|cursor| list_url(object, &[("q", &q), ("sort", &sort), ("filter", &filter), ("after", &Some(cursor))]));
    let can_write = m.role().can_write();
    let segment_url = filter
        .as_ref()
        .filter(|_| object == Object::Contact && can_write && groups.is_some())
        .filter(|_| crate::web::features::page_on(&v.state.realtime.flags(), m.tenant().as_str(), "/app/segments/new"))
        .map(|f| format!("/app/segments/new?{}", serde_urlencoded::to_string([("query", f)]).unwrap_or_default()));
    let ctx = json!({
        "object": {"name": object.name(), "plural": object.plural()},
        "rows": rows_out,
        "headers": headers,
        "sorts": view::sort_choices(v.lang, object, sort.as_deref()),
        "first_url": list_url(object, &[("q", &q), ("sort", &sort), ("filter", &filter)]),
        "clear_url": list_url(object, &[("sort", &sort)]),
        "q": q,
        "sort": sort,
        "after": after,
        "filter": filter,
        "filtered": filter.is_some() || q.is_some(),
        "expression": expression,
        "builder": builder(&v, &all, &rows),
        "segment_url": segment_url,
        "next_url": next_url,
        "paged": after.is_some(),
        "errors": errors,
        "done": bulk_result(&v, object, &pairs),
        "can_write": can_write,
        "can_trash": crud::may_trash(m.role(), object),
        "bulk_max": crate::http::records::batch::BATCH_MAX,
    });
    let title = format!("{}-title", object.plural());
    render::page(status, "records/list.html", v.frame(&title, object.plural()), ctx).map_err(|e| v.fail(e))
}

const RECORDS_JS: &str = include_str!("../../../static/records.js");

/// `/app/static/records.js`: the list's progressive enhancement (adding and removing
/// filter rows in place, operators narrowed to the chosen field, "select all").
pub async fn script() -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((actix_web::http::header::CACHE_CONTROL, "public, max-age=3600"))
        .body(RECORDS_JS)
}
