//! The record form of every object, built from data: the object's field specs
//! (`crm::objects`) and the portal's custom field definitions. What a person types becomes
//! the API's JSON body, and a record becomes what the form shows; the checks are the API's
//! (`crm::input`), whose 422 messages come back beside the field they name
//! (`email`, `custom_fields.<key>`, `tags`).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{json, Map, Value};

use super::view::{at, Lookups};
use crate::crm::objects::{custom_kind, Kind, Object};
use crate::http::custom_fields::CustomField;
use crate::web::i18n::{self, Lang};

/// What a form holds, by field name; a multiple choice holds several values.
pub type Values = BTreeMap<String, Vec<String>>;

/// The form name of the tags field (names, comma separated).
pub const TAGS: &str = "tags";
const CUSTOM: &str = "custom_fields.";

/// One field of an object's form and detail page.
#[derive(Debug, Clone)]
pub struct Field {
    /// The API's field name (`email`, `custom_fields.tier`), also the form name.
    pub name: String,
    pub kind: Kind,
    pub required: bool,
    /// A built-in field (its label and choice values come from the catalogs) or a
    /// custom one (its label is the portal's).
    pub label: Label,
}

#[derive(Debug, Clone)]
pub enum Label {
    Builtin,
    Custom(String),
}

impl Field {
    pub fn is_custom(&self) -> bool {
        matches!(self.label, Label::Custom(_))
    }

    pub fn label(&self, lang: Lang) -> String {
        match &self.label {
            Label::Builtin => i18n::t(lang, &label_id(&self.name), &[]),
            Label::Custom(label) => label.clone(),
        }
    }

    /// The value in an API record.
    pub fn value<'a>(&self, record: &'a Value) -> &'a Value {
        match self.name.strip_prefix(CUSTOM) {
            Some(key) => at(at(record, "custom_fields"), key),
            None => &record[self.name.as_str()],
        }
    }
}

/// The catalog id of a built-in field's label: `field-first-name`.
pub fn label_id(key: &str) -> String {
    format!("field-{}", key.replace('_', "-"))
}

/// The catalog id of a built-in choice value: `choice-won`.
pub fn choice_id(value: &str) -> String {
    format!("choice-{}", value.replace('_', "-"))
}

/// The object's fields: built-in ones in the API's order, then the portal's custom fields.
pub fn fields(object: Object, defs: &[CustomField]) -> Vec<Field> {
    let mut out: Vec<Field> = object
        .fields()
        .into_iter()
        .map(|s| Field { name: s.key, kind: s.kind, required: s.required, label: Label::Builtin })
        .collect();
    for d in defs.iter().filter(|d| d.object == object.name()) {
        if let Some(kind) = custom_kind(&d.field_type, d.options.clone()) {
            out.push(Field {
                name: format!("{CUSTOM}{}", d.key),
                kind,
                required: d.required,
                label: Label::Custom(d.label.clone()),
            });
        }
    }
    out
}

/// Every name a form posts, for placing the API's errors beside their fields.
pub fn names(fields: &[Field]) -> Vec<String> {
    fields.iter().map(|f| f.name.clone()).chain([TAGS.to_string()]).collect()
}

/// A form body's pairs as values (the CSRF token is not a field).
pub fn from_pairs(pairs: Vec<(String, String)>) -> Values {
    let mut out = Values::new();
    for (k, v) in pairs.into_iter().filter(|(k, _)| k != "csrf") {
        out.entry(k).or_default().push(v);
    }
    out
}

/// What the form shows for a stored record.
pub fn from_record(fields: &[Field], record: &Value) -> Values {
    let mut out = Values::new();
    for f in fields {
        let shown = match (&f.kind, f.value(record)) {
            (_, Value::Null) => vec![],
            (Kind::DateTime, Value::String(s)) => vec![datetime_local(s)],
            (Kind::Links(_), Value::Array(ids)) => {
                vec![ids.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", ")]
            }
            (_, Value::Array(items)) => items.iter().map(text_of).collect(),
            (Kind::Boolean, Value::Bool(b)) => {
                if *b {
                    vec!["true".into()]
                } else {
                    vec![]
                }
            }
            (_, v) => vec![text_of(v)],
        };
        out.insert(f.name.clone(), shown);
    }
    let tags = at(record, TAGS).as_array().map(|t| t.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "));
    out.insert(TAGS.into(), tags.into_iter().collect());
    out
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `2026-11-26T15:00:00Z` as a `datetime-local` input holds it (UTC, as pages show times).
fn datetime_local(s: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(s) {
        Ok(t) => t.with_timezone(&chrono::Utc).format("%Y-%m-%dT%H:%M").to_string(),
        Err(_) => s.to_string(),
    }
}

fn first(values: &Values, name: &str) -> Option<String> {
    values.get(name).and_then(|v| v.first()).map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// One field's JSON value from the form; `None` when left empty.
fn to_json(kind: &Kind, values: &Values, name: &str, creating: bool) -> Option<Value> {
    match kind {
        Kind::Boolean => {
            let on = values.get(name).is_some_and(|v| v.iter().any(|s| s == "true"));
            (on || !creating).then_some(Value::Bool(on))
        }
        Kind::MultiSelect(_) => {
            let chosen: Vec<&String> =
                values.get(name).into_iter().flatten().filter(|s| !s.trim().is_empty()).collect();
            (!chosen.is_empty()).then(|| json!(chosen))
        }
        Kind::Links(_) => first(values, name)
            .map(|raw| json!(raw.split([',', ' ', '\n']).map(str::trim).filter(|s| !s.is_empty()).collect::<Vec<_>>())),
        // Anything but a number goes as typed, so the API's message names the problem.
        Kind::Number => first(values, name).map(|s| match s.parse::<f64>() {
            Ok(n) if n.is_finite() => json!(n),
            _ => Value::String(s),
        }),
        // A `datetime-local` input sends minutes without a zone: the page's times are UTC.
        Kind::DateTime => first(values, name).map(|s| {
            let minutes = chrono::NaiveDateTime::parse_from_str(&s, "%Y-%m-%dT%H:%M").is_ok();
            Value::String(if minutes { format!("{s}:00Z") } else { s })
        }),
        _ => first(values, name).map(Value::String),
    }
}

/// The name of the hidden inputs that list the form's checkbox fields: an unticked box
/// sends nothing, so without them "unticked" and "not in this form" look the same.
pub const PRESENT: &str = "_present";

/// The API body: on create only what was filled in; on edit every field the form sent, an
/// emptied one as `null` (cleared) — a field the POST does not carry (nor list in
/// [`PRESENT`]) is left as it is, so a partial or stale form clears nothing it did not
/// show. Tags are comma-separated names.
pub fn body(fields: &[Field], values: &Values, creating: bool) -> Value {
    let listed = |name: &str| values.get(PRESENT).is_some_and(|v| v.iter().any(|s| s == name));
    let mut body = Map::new();
    let mut custom = Map::new();
    for f in fields {
        if !creating && !values.contains_key(&f.name) && !listed(&f.name) {
            continue;
        }
        let value = match to_json(&f.kind, values, &f.name, creating) {
            Some(v) => v,
            None if !creating => Value::Null,
            None => continue,
        };
        match f.name.strip_prefix(CUSTOM) {
            Some(key) => custom.insert(key.to_string(), value),
            None => body.insert(f.name.clone(), value),
        };
    }
    if !custom.is_empty() {
        body.insert("custom_fields".into(), Value::Object(custom));
    }
    let tags: Vec<String> = first(values, TAGS)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect();
    if (creating && !tags.is_empty()) || (!creating && values.contains_key(TAGS)) {
        body.insert(TAGS.into(), json!(tags));
    }
    Value::Object(body)
}

/// A field as the form template draws it.
#[derive(Debug, Serialize)]
pub struct FormField {
    pub name: String,
    /// The element id (`custom_fields-tier`).
    pub id: String,
    pub label: String,
    /// text, textarea, email, tel, url, date, datetime-local, decimal, checkbox, select,
    /// multi, ids, tags.
    pub input: &'static str,
    pub value: String,
    pub values: Vec<String>,
    pub groups: Vec<Group>,
    pub hint: Option<String>,
    pub required: bool,
    pub maxlength: Option<usize>,
}

#[derive(Debug, Serialize)]
pub struct Group {
    pub label: Option<String>,
    pub options: Vec<Choice>,
}

#[derive(Debug, Serialize)]
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

fn choices(options: &[(String, String)], chosen: &[String]) -> Vec<Choice> {
    options
        .iter()
        .map(|(value, label)| Choice { value: value.clone(), label: label.clone(), selected: chosen.contains(value) })
        .collect()
}

fn blank(lang: Lang) -> (String, String) {
    (String::new(), i18n::t(lang, "form-none", &[]))
}

/// The form's fields with their values, options and hints.
pub fn form(lang: Lang, fields: &[Field], values: &Values, lookups: &Lookups) -> Vec<FormField> {
    let mut out = Vec::with_capacity(fields.len() + 1);
    for f in fields {
        let chosen = values.get(&f.name).cloned().unwrap_or_default();
        let mut groups = Vec::new();
        let mut hint = None;
        let mut maxlength = None;
        let input = match &f.kind {
            Kind::Text { max } if *max > 255 => "textarea",
            Kind::Text { max } => {
                maxlength = Some(*max);
                "text"
            }
            Kind::Email => "email",
            Kind::Phone => "tel",
            Kind::Url => "url",
            Kind::Domain => "text",
            Kind::Currency => {
                maxlength = Some(3);
                hint = Some(i18n::t(lang, "field-currency-hint", &[]));
                "text"
            }
            Kind::Number | Kind::Decimal => "decimal",
            Kind::Date => "date",
            Kind::DateTime => {
                hint = Some(i18n::t(lang, "field-utc-hint", &[]));
                "datetime-local"
            }
            Kind::Boolean => "checkbox",
            Kind::Select(options) => {
                let labelled: Vec<(String, String)> = options
                    .iter()
                    .map(|o| {
                        let label = if f.is_custom() { o.clone() } else { i18n::t(lang, &choice_id(o), &[]) };
                        (o.clone(), label)
                    })
                    .collect();
                let has_default = f.name == "status" || f.name == "priority";
                let mut all = if has_default && !f.is_custom() { vec![] } else { vec![blank(lang)] };
                all.extend(labelled);
                groups.push(Group { label: None, options: choices(&all, &chosen) });
                "select"
            }
            Kind::MultiSelect(options) => {
                let all: Vec<(String, String)> = options.iter().map(|o| (o.clone(), o.clone())).collect();
                groups.push(Group { label: None, options: choices(&all, &chosen) });
                "multi"
            }
            Kind::Links(target) => {
                hint = Some(i18n::t(lang, "field-ids-hint", &[("object", i18n::Arg::Text(target.plural().into()))]));
                "ids"
            }
            Kind::Member => {
                let mut all = vec![blank(lang)];
                all.extend(lookups.members.iter().map(|m| (m.id.clone(), m.name.clone())));
                groups.push(Group { label: None, options: choices(&all, &chosen) });
                "select"
            }
            Kind::Pipeline => {
                let mut all = vec![blank(lang)];
                all.extend(lookups.pipelines.iter().map(|p| (p.id.clone(), p.name.clone())));
                groups.push(Group { label: None, options: choices(&all, &chosen) });
                "select"
            }
            Kind::Stage => {
                groups.push(Group { label: None, options: choices(&[blank(lang)], &chosen) });
                for p in &lookups.pipelines {
                    let stages: Vec<(String, String)> =
                        p.stages.iter().map(|s| (s.id.clone(), s.name.clone())).collect();
                    groups.push(Group { label: Some(p.name.clone()), options: choices(&stages, &chosen) });
                }
                "select"
            }
        };
        out.push(FormField {
            id: f.name.replace('.', "-"),
            name: f.name.clone(),
            label: f.label(lang),
            input,
            value: chosen.first().cloned().unwrap_or_default(),
            values: chosen,
            groups,
            hint,
            required: f.required,
            maxlength,
        });
    }
    out.push(FormField {
        id: TAGS.into(),
        name: TAGS.into(),
        label: i18n::t(lang, "field-tags", &[]),
        input: "tags",
        value: first(values, TAGS).unwrap_or_default(),
        values: vec![],
        groups: vec![],
        hint: Some(i18n::t(lang, "field-tags-hint", &[])),
        required: false,
        maxlength: None,
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pairs: &[(&str, &str)]) -> Values {
        from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    #[test]
    fn forms_become_api_bodies() {
        let fields = fields(Object::Contact, &[]);
        let form =
            values(&[("email", " ada@example.com "), ("first_name", ""), ("tags", "vip, , lead "), ("csrf", "x")]);
        assert_eq!(body(&fields, &form, true), json!({"email": "ada@example.com", "tags": ["vip", "lead"]}));
        let edit = body(&fields, &form, false);
        assert_eq!(edit["first_name"], Value::Null, "emptied fields are cleared on edit");
        assert!(edit.get("company_ids").is_none(), "a field the POST does not carry is left alone");
        assert!(edit.get("csrf").is_none());
        let back = from_record(&fields, &json!({"email": "a@b.c", "tags": ["x", "y"], "company_ids": ["1", "2"]}));
        assert_eq!(back[TAGS], vec!["x, y".to_string()]);
        assert_eq!(back["company_ids"], vec!["1, 2".to_string()]);
    }

    #[test]
    fn typed_values_reach_the_api_as_its_types() {
        let fields = fields(Object::Task, &[]);
        let form =
            values(&[("title", "Call"), ("due_at", "2026-03-12T14:05"), ("completed", "true"), ("deal_ids", "a, b")]);
        let b = body(&fields, &form, true);
        assert_eq!(b["due_at"], "2026-03-12T14:05:00Z");
        assert_eq!(b["completed"], true);
        assert_eq!(b["deal_ids"], json!(["a", "b"]));
        let unticked = body(&fields, &values(&[("title", "Call"), (PRESENT, "completed")]), false);
        assert_eq!(unticked["completed"], false, "an unticked box the form showed is false on edit");
        let partial = body(&fields, &values(&[("title", "Call")]), false);
        assert_eq!(partial, json!({"title": "Call"}), "what the POST does not carry is left alone");
        let back = from_record(&fields, &json!({"due_at": "2026-03-12T14:05:00Z", "completed": true}));
        assert_eq!(back["due_at"], vec!["2026-03-12T14:05".to_string()]);
        assert_eq!(back["completed"], vec!["true".to_string()]);
        let number = Field {
            name: "custom_fields.score".into(),
            kind: Kind::Number,
            required: false,
            label: Label::Custom("Score".into()),
        };
        let b = body(std::slice::from_ref(&number), &values(&[("custom_fields.score", "12.5")]), true);
        assert_eq!(b["custom_fields"]["score"], json!(12.5));
        let b = body(&[number], &values(&[("custom_fields.score", "lots")]), true);
        assert_eq!(b["custom_fields"]["score"], "lots", "sent as typed: the API names the problem");
    }
}
