//! The search language of `POST /api/v1/{plural}/search`: filter groups (AND inside a
//! group, OR across groups) over built-in and custom fields, typed by each field's kind.
//! Parsing only; `db::records` turns a [`Search`] into indexed SQL.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::objects::{custom_kind, Kind, Object};
use super::query::Order;
use crate::db::custom_fields::CustomFieldRow;
use crate::error::FieldError;

pub const MAX_GROUPS: usize = 5;
pub const MAX_FILTERS: usize = 10;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FilterInput {
    /// A built-in field, `created_at`, `updated_at`, `tags` (names: eq, neq, in, contains,
    /// exists), or `custom_fields.<key>`.
    pub field: String,
    /// eq, neq, lt, lte, gt, gte, in, contains, exists.
    pub op: String,
    /// A value of the field's type; an array for `in`; true/false for `exists` (default true).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub value: Value,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FilterGroupInput {
    pub filters: Vec<FilterInput>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Neq,
    Lt,
    Lte,
    Gt,
    Gte,
    In,
    Contains,
    Exists(bool),
}

/// What a condition compares against, already in the index's representation.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Text(String),
    Num(f64),
    Texts(Vec<String>),
    Nums(Vec<f64>),
    /// A time as the interval its precision names, in microseconds since the epoch:
    /// `…T10:00:00Z` is that whole second, `…T10:00:00.123456Z` that microsecond (the
    /// stored precision), so `eq` and `in` agree with what the API returns.
    Span(i64, i64),
    Spans(Vec<(i64, i64)>),
    None,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FieldRef {
    /// A field mirrored in `record_values` under this name.
    Indexed(String),
    CreatedAt,
    UpdatedAt,
    /// The record's live tags, by lower-cased name.
    Tags,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub field: FieldRef,
    pub cmp: Cmp,
    pub operand: Operand,
}

/// OR of ANDs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Search {
    pub groups: Vec<Vec<Condition>>,
}

/// How a field's values are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Domain {
    Text,
    Num,
    /// Exact money: compared through its sort key (text order is numeric order).
    Money,
    Bool,
    Date,
    DateTime,
}

fn domain(kind: &Kind) -> Domain {
    match kind {
        Kind::Number => Domain::Num,
        Kind::Decimal => Domain::Money,
        Kind::Boolean => Domain::Bool,
        Kind::Date => Domain::Date,
        Kind::DateTime => Domain::DateTime,
        _ => Domain::Text,
    }
}

/// The operators `parse` accepts on a field (`name` is the filter's field, `kind` its
/// kind; `created_at`/`updated_at` are [`Kind::DateTime`]), for screens that offer a
/// choice instead of asking for the language. The rules stay those of `parse`.
pub fn ops_for(name: &str, kind: &Kind) -> &'static [&'static str] {
    const TEXT: &[&str] = &["eq", "neq", "in", "contains", "exists"];
    const ORDERED: &[&str] = &["eq", "neq", "lt", "lte", "gt", "gte", "in", "exists"];
    const BOOL: &[&str] = &["eq", "neq", "exists"];
    if name == "tags" {
        return TEXT;
    }
    match domain(kind) {
        Domain::Text => TEXT,
        Domain::Bool => BOOL,
        Domain::Num | Domain::Money | Domain::Date | Domain::DateTime => ORDERED,
    }
}

fn operand_one(d: Domain, v: &Value) -> Result<Operand, String> {
    match d {
        Domain::Text => match v {
            Value::String(s) => Ok(Operand::Text(s.trim().to_lowercase())),
            Value::Number(n) => Ok(Operand::Text(n.to_string())),
            _ => Err("needs a string value".into()),
        },
        Domain::Num => match v {
            Value::Number(n) => n.as_f64().map(Operand::Num).ok_or_else(|| "needs a number".into()),
            Value::String(s) => s.trim().parse::<f64>().map(Operand::Num).map_err(|_| "needs a number".into()),
            _ => Err("needs a number".into()),
        },
        Domain::Bool => {
            v.as_bool().map(|b| Operand::Num(if b { 1.0 } else { 0.0 })).ok_or_else(|| "needs true or false".into())
        }
        Domain::Date => {
            let s = v.as_str().ok_or("needs a date YYYY-MM-DD")?;
            let d = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| "needs a date YYYY-MM-DD")?;
            let secs = d.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp()).unwrap_or_default();
            Ok(Operand::Num(secs as f64))
        }
        Domain::Money => super::values::money(v).map(|m| Operand::Text(m.sort_key())),
        Domain::DateTime => {
            let s = v.as_str().ok_or("needs an RFC 3339 time")?.trim();
            let t = DateTime::parse_from_rfc3339(s).map_err(|_| "needs an RFC 3339 time")?.with_timezone(&Utc);
            // The fraction's digits (at most microseconds: finer is the same microsecond).
            let digits = s
                .split_once('.')
                .map(|(_, rest)| rest.chars().take_while(char::is_ascii_digit).count().min(6))
                .unwrap_or(0);
            let width = 10i64.pow(6 - digits as u32);
            let start = t.timestamp_micros() / width * width;
            Ok(Operand::Span(start, start + width))
        }
    }
}

fn parse_cmp(op: &str, value: &Value) -> Result<Cmp, String> {
    Ok(match op {
        "eq" => Cmp::Eq,
        "neq" => Cmp::Neq,
        "lt" => Cmp::Lt,
        "lte" => Cmp::Lte,
        "gt" => Cmp::Gt,
        "gte" => Cmp::Gte,
        "in" => Cmp::In,
        "contains" => Cmp::Contains,
        "exists" => Cmp::Exists(match value {
            Value::Null => true,
            Value::Bool(b) => *b,
            _ => return Err("exists takes true, false or no value".into()),
        }),
        _ => return Err("op must be one of eq, neq, lt, lte, gt, gte, in, contains, exists".into()),
    })
}

/// A built-in field name or `custom_fields.<key>` → its index name and kind.
fn resolve(specs: &[super::objects::FieldSpec], name: &str, defs: &[CustomFieldRow]) -> Option<(String, Kind)> {
    if let Some(key) = name.strip_prefix("custom_fields.") {
        defs.iter()
            .find(|d| d.field_key == key)
            .and_then(|d| custom_kind(&d.field_type, vec![]).map(|k| (super::objects::custom_index_name(&d.id), k)))
    } else {
        specs.iter().find(|s| s.key == name).map(|s| (s.key.clone(), s.kind.clone()))
    }
}

/// Parses `sort`: `created_at` (the default), `updated_at`, a built-in field or
/// `custom_fields.<key>`, with a leading `-` for descending. List fields (links,
/// multi-select) have no single value to sort by.
pub fn parse_sort(object: Object, raw: Option<&str>, defs: &[CustomFieldRow]) -> Result<Order, String> {
    let raw = raw.map(str::trim).unwrap_or_default();
    let (desc, name) = match raw.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, raw),
    };
    Ok(match name {
        "" if !desc => Order::Created { desc },
        "created_at" => Order::Created { desc },
        "updated_at" => Order::Updated { desc },
        name => match resolve(&object.fields(), name, defs) {
            Some((_, Kind::Links(_) | Kind::MultiSelect(_))) => {
                return Err(format!("{name} holds a list and cannot be sorted by"))
            }
            Some((field, kind)) => {
                Order::Field { field, numeric: !matches!(domain(&kind), Domain::Text | Domain::Money), desc }
            }
            None => {
                return Err(format!(
                    "must be created_at, updated_at, a field of {} or custom_fields.<key>, with - for descending",
                    object.name()
                ))
            }
        },
    })
}

/// Checks and types the filter groups for `object`.
pub fn parse(object: Object, groups: &[FilterGroupInput], defs: &[CustomFieldRow]) -> Result<Search, Vec<FieldError>> {
    let mut errors = Vec::new();
    if groups.len() > MAX_GROUPS {
        errors.push(FieldError::new("filter_groups", format!("at most {MAX_GROUPS} groups")));
    }
    let specs = object.fields();
    let mut search = Search::default();
    for (g, group) in groups.iter().enumerate() {
        if group.filters.is_empty() || group.filters.len() > MAX_FILTERS {
            errors
                .push(FieldError::new(format!("filter_groups[{g}].filters"), format!("needs 1-{MAX_FILTERS} filters")));
            continue;
        }
        let mut conds = Vec::new();
        for (i, f) in group.filters.iter().enumerate() {
            let at = format!("filter_groups[{g}].filters[{i}]");
            let (field, dom) = match f.field.as_str() {
                "created_at" => (FieldRef::CreatedAt, Domain::DateTime),
                "updated_at" => (FieldRef::UpdatedAt, Domain::DateTime),
                "tags" => (FieldRef::Tags, Domain::Text),
                name => match resolve(&specs, name, defs) {
                    Some((index, kind)) => (FieldRef::Indexed(index), domain(&kind)),
                    None => {
                        errors.push(FieldError::new(
                            format!("{at}.field"),
                            format!("{name} is not a field of {}", object.name()),
                        ));
                        continue;
                    }
                },
            };
            let cmp = match parse_cmp(&f.op, &f.value) {
                Ok(c) => c,
                Err(m) => {
                    errors.push(FieldError::new(format!("{at}.op"), m));
                    continue;
                }
            };
            let operand = match cmp {
                Cmp::Exists(_) => Ok(Operand::None),
                Cmp::In => match f.value.as_array() {
                    Some(items) if !items.is_empty() && items.len() <= 100 => {
                        let ops: Result<Vec<Operand>, String> = items.iter().map(|v| operand_one(dom, v)).collect();
                        ops.map(|ops| {
                            if matches!(dom, Domain::Text | Domain::Money) {
                                Operand::Texts(
                                    ops.into_iter()
                                        .filter_map(|o| if let Operand::Text(t) = o { Some(t) } else { None })
                                        .collect(),
                                )
                            } else if dom == Domain::DateTime {
                                Operand::Spans(
                                    ops.into_iter()
                                        .filter_map(|o| if let Operand::Span(a, b) = o { Some((a, b)) } else { None })
                                        .collect(),
                                )
                            } else {
                                Operand::Nums(
                                    ops.into_iter()
                                        .filter_map(|o| if let Operand::Num(n) = o { Some(n) } else { None })
                                        .collect(),
                                )
                            }
                        })
                    }
                    _ => Err("in needs an array of 1-100 values".into()),
                },
                Cmp::Contains if dom != Domain::Text => Err("contains works on text fields".into()),
                Cmp::Lt | Cmp::Lte | Cmp::Gt | Cmp::Gte if field == FieldRef::Tags => {
                    Err("tags compare with eq, neq, in, contains or exists".into())
                }
                Cmp::Lt | Cmp::Lte | Cmp::Gt | Cmp::Gte if dom == Domain::Bool => {
                    Err("true/false fields compare with eq, neq or exists".into())
                }
                _ => operand_one(dom, &f.value),
            };
            match operand {
                Ok(operand) => conds.push(Condition { field, cmp, operand }),
                Err(m) => errors.push(FieldError::new(format!("{at}.value"), m)),
            }
        }
        search.groups.push(conds);
    }
    if errors.is_empty() {
        Ok(search)
    } else {
        Err(errors)
    }
}
