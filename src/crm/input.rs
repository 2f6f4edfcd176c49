//! Turning a create/update body into checked values: built-in fields from the object's
//! specs, custom fields from the portal's definitions, tags. All errors are collected so a
//! client fixes everything in one round.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::objects::{custom_index_name, FieldSpec, Kind, Object};
use super::values::{check, Indexed};
use crate::db::custom_fields::CustomFieldRow;
use crate::error::FieldError;

/// Keys the API returns but clients cannot set; sent back unchanged they are ignored.
const READ_ONLY: &[&str] = &["id", "created_at", "updated_at"];
pub const MAX_TAGS: usize = 100;

/// The checked parts of a body. Maps hold only what the body mentioned.
#[derive(Debug, Default)]
pub struct Parsed {
    /// Built-in field → stored value (Null clears).
    pub props: Map<String, Value>,
    /// Custom field id → stored value (Null clears).
    pub custom: Map<String, Value>,
    /// Field name as indexed (`email`, `cf:<id>`) → values.
    pub index: BTreeMap<String, Vec<Indexed>>,
    /// Linked ids per links field, to be checked against the database.
    pub links: Vec<(String, Object, Vec<String>)>,
    pub tags: Option<Vec<String>>,
}

fn is_required_missing(spec: &FieldSpec, value: Option<&Value>) -> bool {
    spec.required && value.is_none_or(Value::is_null)
}

pub fn parse(
    object: Object,
    body: &Value,
    custom_defs: &[CustomFieldRow],
    creating: bool,
) -> Result<Parsed, Vec<FieldError>> {
    let Some(obj) = body.as_object() else {
        return Err(vec![FieldError::new("body", "must be a JSON object")]);
    };
    let specs = object.fields();
    let mut out = Parsed::default();
    let mut errors = Vec::new();
    for (key, value) in obj {
        if READ_ONLY.contains(&key.as_str()) {
            continue;
        }
        if key == "tags" {
            match parse_tags(value) {
                Ok(t) => out.tags = Some(t),
                Err(m) => errors.push(FieldError::new("tags", m)),
            }
            continue;
        }
        if key == "custom_fields" {
            parse_custom(value, custom_defs, &mut out, &mut errors);
            continue;
        }
        let Some(spec) = specs.iter().find(|s| &s.key == key) else {
            errors.push(FieldError::new(key.clone(), format!("is not a field of {}", object.name())));
            continue;
        };
        if !creating && is_required_missing(spec, Some(value)) {
            errors.push(FieldError::new(key.clone(), "is required and cannot be cleared"));
            continue;
        }
        match check(&spec.kind, value) {
            Ok(c) => {
                if let (Kind::Links(target), Value::Array(ids)) = (&spec.kind, &c.stored) {
                    let ids = ids.iter().filter_map(|v| v.as_str().map(str::to_string)).collect();
                    out.links.push((key.clone(), *target, ids));
                }
                out.index.insert(key.clone(), c.indexed);
                out.props.insert(key.clone(), c.stored);
            }
            Err(m) => errors.push(FieldError::new(key.clone(), m)),
        }
    }
    if creating {
        for spec in &specs {
            if let (Some(default), false) = (&spec.default, out.props.contains_key(&spec.key)) {
                if let Ok(c) = check(&spec.kind, default) {
                    out.index.insert(spec.key.clone(), c.indexed);
                    out.props.insert(spec.key.clone(), c.stored);
                }
            }
            if is_required_missing(spec, out.props.get(&spec.key)) {
                errors.push(FieldError::new(spec.key.clone(), "is required"));
            }
        }
        for def in custom_defs.iter().filter(|d| d.required) {
            if out.custom.get(&def.id).is_none_or(Value::is_null) {
                errors.push(FieldError::new(format!("custom_fields.{}", def.field_key), "is required"));
            }
        }
        let one_of = object.needs_one_of();
        // A field of the group that was sent but is invalid has its own error already.
        let sent_but_invalid = one_of.iter().any(|k| errors.iter().any(|e| e.field == *k));
        if !one_of.is_empty()
            && !sent_but_invalid
            && !one_of.iter().any(|k| out.props.get(*k).is_some_and(|v| !v.is_null()))
        {
            errors.push(FieldError::new(
                one_of.first().copied().unwrap_or("body"),
                format!("one of {} is required", one_of.join(", ")),
            ));
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn parse_tags(value: &Value) -> Result<Vec<String>, String> {
    let items = value.as_array().ok_or("must be an array of tag names")?;
    let mut names: Vec<String> = Vec::new();
    for item in items {
        let name = item.as_str().map(str::trim).ok_or("must be an array of tag names")?;
        if name.is_empty() || name.chars().count() > 100 {
            return Err("each tag name must be 1-100 characters".into());
        }
        if !names.iter().any(|n| n.to_lowercase() == name.to_lowercase()) {
            names.push(name.to_string());
        }
    }
    if names.len() > MAX_TAGS {
        return Err(format!("at most {MAX_TAGS} tags"));
    }
    Ok(names)
}

fn parse_custom(value: &Value, defs: &[CustomFieldRow], out: &mut Parsed, errors: &mut Vec<FieldError>) {
    let Some(map) = value.as_object() else {
        errors.push(FieldError::new("custom_fields", "must be an object of {key: value}"));
        return;
    };
    for (key, v) in map {
        let field = format!("custom_fields.{key}");
        let Some((def, spec)) = defs.iter().find(|d| &d.field_key == key).and_then(|d| d.spec().map(|s| (d, s))) else {
            errors.push(FieldError::new(field, "no such custom field; define it at /api/v1/custom-fields"));
            continue;
        };
        if spec.required && v.is_null() {
            errors.push(FieldError::new(field, "is required and cannot be cleared"));
            continue;
        }
        match check(&spec.kind, v) {
            Ok(c) => {
                out.index.insert(custom_index_name(&def.id), c.indexed);
                out.custom.insert(def.id.clone(), c.stored);
            }
            Err(m) => errors.push(FieldError::new(field, m)),
        }
    }
}
