//! How records read on a page: a record's title, each field's value as text in the page's
//! language (money, dates, choices, people, stages, links to other records), the list
//! columns and sort orders of each object, and which other objects link to it.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::fields::{choice_id, Field};
use crate::crm::objects::{Kind, Object};
use crate::http::pipelines::Pipeline;
use crate::http::users::Member;
use crate::web::format;
use crate::web::i18n::{self, Lang};

/// `value[key]`, or null: records are JSON objects from the API.
pub fn at<'a>(value: &'a Value, key: &str) -> &'a Value {
    value.get(key).unwrap_or(&Value::Null)
}

/// Names for ids a record holds: the portal's pipelines and people, and the titles of the
/// records it links to.
#[derive(Default)]
pub struct Lookups {
    pub pipelines: Vec<Pipeline>,
    pub members: Vec<Member>,
    /// Record id → title.
    pub titles: BTreeMap<String, String>,
}

impl Lookups {
    fn member(&self, id: &str) -> Option<&str> {
        self.members.iter().find(|m| m.id == id).map(|m| m.name.as_str())
    }

    fn pipeline(&self, id: &str) -> Option<&str> {
        self.pipelines.iter().find(|p| p.id == id).map(|p| p.name.as_str())
    }

    pub fn stage(&self, id: &str) -> Option<&str> {
        self.pipelines.iter().flat_map(|p| &p.stages).find(|s| s.id == id).map(|s| s.name.as_str())
    }
}

/// A value as a page shows it: text, or links to records. Templates escape both.
#[derive(Debug, Default, Serialize)]
pub struct Shown {
    pub text: String,
    pub links: Vec<Link>,
}

#[derive(Debug, Serialize)]
pub struct Link {
    pub href: String,
    pub text: String,
}

const EXCERPT: usize = 80;

fn excerpt(s: &str) -> String {
    let line = s.lines().find(|l| !l.trim().is_empty()).unwrap_or_default().trim();
    if line.chars().count() > EXCERPT || s.trim().lines().nth(1).is_some() {
        format!("{}…", line.chars().take(EXCERPT).collect::<String>())
    } else {
        line.to_string()
    }
}

/// What a record is called: a contact's name (else its email), a company's or deal's
/// name, a ticket's subject, a task's title, the start of a note.
pub fn title(object: Object, record: &Value) -> Option<String> {
    let text = |k: &str| at(record, k).as_str().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
    match object {
        Object::Contact => {
            let name = [text("first_name"), text("last_name")].into_iter().flatten().collect::<Vec<_>>().join(" ");
            if name.is_empty() {
                text("email")
            } else {
                Some(name)
            }
        }
        Object::Company | Object::Deal => text("name"),
        Object::Ticket => text("subject"),
        Object::Task => text("title"),
        Object::Note => text("body").map(|b| excerpt(&b)),
    }
}

/// The page of a record.
pub fn href(object: Object, id: &str) -> String {
    format!("/app/{}/{id}", object.plural())
}

/// One field's value in `record`, in `lang`.
pub fn shown(lang: Lang, field: &Field, record: &Value, lookups: &Lookups) -> Shown {
    let value = field.value(record);
    let text = |s: String| Shown { text: s, links: vec![] };
    match (&field.kind, value) {
        (_, Value::Null) => Shown::default(),
        (Kind::Decimal, Value::String(s)) => {
            text(format::money(lang, s, at(record, "currency").as_str().unwrap_or("")))
        }
        (Kind::DateTime, Value::String(s)) => text(format::datetime_text(lang, s)),
        (Kind::Date, Value::String(s)) => text(match chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            Ok(d) => d.and_hms_opt(0, 0, 0).map(|t| format::date(lang, t.and_utc())).unwrap_or_else(|| s.clone()),
            Err(_) => s.clone(),
        }),
        (Kind::Boolean, Value::Bool(b)) => text(i18n::t(lang, if *b { "value-yes" } else { "value-no" }, &[])),
        (Kind::Number, Value::Number(n)) => {
            text(format::decimal(lang, &n.to_string(), None).unwrap_or_else(|| n.to_string()))
        }
        (Kind::Select(_), Value::String(s)) if !field.is_custom() => text(i18n::t(lang, &choice_id(s), &[])),
        (Kind::Member, Value::String(id)) => text(lookups.member(id).unwrap_or(id).to_string()),
        (Kind::Pipeline, Value::String(id)) => text(lookups.pipeline(id).unwrap_or(id).to_string()),
        (Kind::Stage, Value::String(id)) => text(lookups.stage(id).unwrap_or(id).to_string()),
        (Kind::Links(target), Value::Array(ids)) => Shown {
            text: String::new(),
            links: ids
                .iter()
                .filter_map(Value::as_str)
                .map(|id| Link {
                    href: href(*target, id),
                    text: lookups.titles.get(id).cloned().unwrap_or_else(|| id.to_string()),
                })
                .collect(),
        },
        (_, Value::Array(items)) => text(
            items
                .iter()
                .map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        (_, Value::String(s)) => text(s.clone()),
        (_, other) => text(other.to_string()),
    }
}

/// The list's columns after the title: built-in field names, and whether the column is
/// hidden on a phone's width.
pub fn columns(object: Object) -> &'static [(&'static str, bool)] {
    match object {
        Object::Contact => &[("email", false), ("phone", true)],
        Object::Company => &[("domain", false), ("phone", true)],
        Object::Deal => &[("amount", false), ("stage_id", true), ("status", false), ("close_date", true)],
        Object::Ticket => &[("status", false), ("priority", true)],
        Object::Task => &[("due_at", false), ("completed", false), ("assignee_id", true)],
        Object::Note => &[],
    }
}

/// The sort orders a list offers (the API's `sort`), beyond oldest and newest first.
pub fn sorts(object: Object) -> &'static [&'static str] {
    match object {
        Object::Contact => &["last_name", "email"],
        Object::Company => &["name", "domain"],
        Object::Deal => &["name", "-amount", "close_date"],
        Object::Ticket => &["subject", "priority"],
        Object::Task => &["due_at", "title"],
        Object::Note => &[],
    }
}

/// The sort choices with their labels, the current one selected.
pub fn sort_choices(lang: Lang, object: Object, current: Option<&str>) -> Vec<super::fields::Choice> {
    let mut all = vec![
        (String::new(), i18n::t(lang, "sort-oldest", &[])),
        ("-created_at".to_string(), i18n::t(lang, "sort-newest", &[])),
        ("-updated_at".to_string(), i18n::t(lang, "sort-updated", &[])),
    ];
    for key in sorts(object) {
        let (desc, bare) = match key.strip_prefix('-') {
            Some(k) => (true, k),
            None => (false, *key),
        };
        let field = i18n::t(lang, &super::fields::label_id(bare), &[]);
        let id = if desc { "sort-by-desc" } else { "sort-by" };
        all.push((key.to_string(), i18n::t(lang, id, &[("field", i18n::Arg::Text(field))])));
    }
    let current = current.unwrap_or("");
    all.into_iter().map(|(value, label)| super::fields::Choice { selected: value == current, value, label }).collect()
}

/// The objects whose records link to one of `object`, by their link field: a company's
/// contacts, deals, tickets, tasks and notes; a contact's deals, tickets, tasks, notes…
pub fn related(object: Object) -> &'static [(Object, &'static str)] {
    match object {
        Object::Contact => &[
            (Object::Deal, "contact_ids"),
            (Object::Ticket, "contact_ids"),
            (Object::Task, "contact_ids"),
            (Object::Note, "contact_ids"),
        ],
        Object::Company => &[
            (Object::Contact, "company_ids"),
            (Object::Deal, "company_ids"),
            (Object::Ticket, "company_ids"),
            (Object::Task, "company_ids"),
            (Object::Note, "company_ids"),
        ],
        Object::Deal => &[(Object::Task, "deal_ids"), (Object::Note, "deal_ids")],
        Object::Ticket => &[(Object::Task, "ticket_ids"), (Object::Note, "ticket_ids")],
        Object::Task | Object::Note => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn records_are_called_by_their_main_field() {
        assert_eq!(title(Object::Contact, &json!({"first_name": "Ada", "last_name": null})).as_deref(), Some("Ada"));
        assert_eq!(title(Object::Contact, &json!({"email": "a@b.c"})).as_deref(), Some("a@b.c"));
        assert_eq!(title(Object::Deal, &json!({"name": " Big "})).as_deref(), Some("Big"));
        let long = "x".repeat(100);
        assert_eq!(title(Object::Note, &json!({"body": long})).unwrap().chars().count(), EXCERPT + 1);
        assert_eq!(title(Object::Note, &json!({"body": "first\nsecond"})).as_deref(), Some("first…"));
        assert_eq!(title(Object::Task, &json!({})), None);
    }
}
