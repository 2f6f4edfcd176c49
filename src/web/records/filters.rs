//! The list screens' filter builder: rows of (field, operator, value) that a person picks
//! from menus instead of writing the search language. A row becomes a line of the
//! language as the segment form writes it (`field op value`, a line `or` between groups;
//! `segments::parse_query`), and that text becomes the API's `filter_groups`, which the
//! API's list checks (`crm::search::parse`, through `http::records::list::page`). So there
//! is one reading of the language and one set of rules; this file only arranges menus.
//!
//! The page's GET form carries rows as `field.N`, `op.N`, `value.N` and `join.N` (`and`
//! or `or`: `or` starts a new group); the expression box carries the text as `filter`.
//! Links (next page, sorting, the result of a bulk change) carry only `filter`, the
//! canonical text. Operators the builder names beyond the language: `not_exists`
//! (`exists false`); `in` takes its values comma separated.

use serde::Serialize;
use serde_json::Value;

use super::fields::Field;
use crate::crm::objects::Kind;
use crate::crm::search::{ops_for, FilterGroupInput};
use crate::web::i18n::{self, Lang};

/// Every operator a row may name, in the menu's order.
pub const OPS: &[&str] = &["eq", "neq", "contains", "gt", "gte", "lt", "lte", "in", "exists", "not_exists"];

/// One row of the builder.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Row {
    /// `or` starts a new group (ignored on the first row).
    pub join: String,
    pub field: String,
    pub op: String,
    pub value: String,
}

/// A field the builder offers, with the operators valid for it.
#[derive(Debug, Clone, Serialize)]
pub struct FieldChoice {
    pub value: String,
    pub label: String,
    /// Space separated, for the page's script.
    pub ops: String,
}

/// The builder's operators for a field: the language's, with `not_exists` after `exists`.
fn builder_ops(name: &str, kind: &Kind) -> Vec<&'static str> {
    let valid = ops_for(name, kind);
    OPS.iter().copied().filter(|op| valid.contains(op) || (*op == "not_exists" && valid.contains(&"exists"))).collect()
}

/// The fields a list can be filtered on: the object's (built-in then custom), when it was
/// added and changed, and its tags.
pub fn field_choices(lang: Lang, fields: &[Field]) -> Vec<(String, String, Kind)> {
    let mut out: Vec<(String, String, Kind)> =
        fields.iter().map(|f| (f.name.clone(), f.label(lang), f.kind.clone())).collect();
    out.push(("tags".into(), i18n::t(lang, "field-tags", &[]), Kind::Text { max: 0 }));
    out.push(("created_at".into(), i18n::t(lang, "filter-field-created-at", &[]), Kind::DateTime));
    out.push(("updated_at".into(), i18n::t(lang, "filter-field-updated-at", &[]), Kind::DateTime));
    out
}

/// What helps typing a row's value for a field of `kind`: suggested values (a select's
/// options, true/false), a placeholder showing the format (dates), and whether the value
/// is a number (a numeric keyboard on phones). The value stays free text: `in` takes a
/// comma list and the API's 422 names a bad value.
pub fn value_help(lang: Lang, kind: Option<&Kind>) -> (Vec<String>, String, bool) {
    match kind {
        Some(Kind::Select(options) | Kind::MultiSelect(options)) => (options.clone(), String::new(), false),
        Some(Kind::Boolean) => (vec!["true".into(), "false".into()], String::new(), false),
        Some(Kind::Date) => (Vec::new(), i18n::t(lang, "filter-value-date", &[]), false),
        Some(Kind::DateTime) => (Vec::new(), i18n::t(lang, "filter-value-datetime", &[]), false),
        Some(Kind::Number | Kind::Decimal) => (Vec::new(), String::new(), true),
        _ => (Vec::new(), String::new(), false),
    }
}

/// The field menu: every field with its operators.
pub fn field_menu(choices: &[(String, String, Kind)]) -> Vec<FieldChoice> {
    choices
        .iter()
        .map(|(name, label, kind)| FieldChoice {
            value: name.clone(),
            label: label.clone(),
            ops: builder_ops(name, kind).join(" "),
        })
        .collect()
}

/// The operator menu of a row: those valid for its field (all for a field not known).
pub fn op_menu(lang: Lang, choices: &[(String, String, Kind)], field: &str) -> Vec<(String, String)> {
    let ops = match choices.iter().find(|(name, _, _)| name == field) {
        Some((name, _, kind)) => builder_ops(name, kind),
        None => OPS.to_vec(),
    };
    ops.into_iter().map(|op| (op.to_string(), op_label(lang, op))).collect()
}

pub fn op_label(lang: Lang, op: &str) -> String {
    i18n::t(lang, &format!("filter-op-{}", op.replace('_', "-")), &[])
}

/// The rows of a submitted builder, in order of their numbers; rows without a field, and
/// the row `remove` names, are left out.
pub fn rows_from_pairs(pairs: &[(String, String)], remove: Option<usize>) -> Vec<Row> {
    let mut rows: std::collections::BTreeMap<usize, Row> = std::collections::BTreeMap::new();
    for (key, value) in pairs {
        let Some((name, n)) = key.split_once('.') else { continue };
        let Ok(n) = n.parse::<usize>() else { continue };
        let row = match name {
            "join" | "field" | "op" | "value" => rows.entry(n).or_default(),
            _ => continue,
        };
        // One line per row: a line break would start another filter.
        let value = value.replace(['\r', '\n'], " ").trim().to_string();
        match name {
            "join" => row.join = value,
            "field" => row.field = value,
            "op" => row.op = value,
            _ => row.value = value,
        }
    }
    rows.into_iter().filter(|(n, r)| Some(*n) != remove && !r.field.is_empty()).map(|(_, r)| r).collect()
}

/// The rows as the search language's text (what `segments::parse_query` reads).
pub fn rows_to_text(rows: &[Row]) -> String {
    let mut lines = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        if i > 0 && r.join == "or" {
            lines.push("or".to_string());
        }
        let line = match r.op.as_str() {
            "exists" => format!("{} exists", r.field),
            "not_exists" => format!("{} exists false", r.field),
            "in" => {
                let items: Vec<&str> = r.value.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
                format!("{} in {}", r.field, Value::from(items))
            }
            op => format!("{} {op} {}", r.field, r.value),
        };
        lines.push(line.trim_end().to_string());
    }
    lines.join("\n")
}

fn text_of(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(text_of).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// Filter groups as builder rows (so an expression typed by hand shows as rows too).
pub fn rows_from_groups(groups: &[FilterGroupInput]) -> Vec<Row> {
    let mut rows = Vec::new();
    for (g, group) in groups.iter().enumerate() {
        for (i, f) in group.filters.iter().enumerate() {
            let join = if g > 0 && i == 0 { "or" } else { "and" };
            let (op, value) = match (f.op.as_str(), &f.value) {
                ("exists", Value::Bool(false)) => ("not_exists".to_string(), String::new()),
                ("exists", _) => ("exists".to_string(), String::new()),
                (op, v) => (op.to_string(), text_of(v)),
            };
            rows.push(Row { join: join.into(), field: f.field.clone(), op, value });
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::segments::{format_query, parse_query};
    use serde_json::json;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn rows_become_the_language_and_come_back() {
        let form = pairs(&[
            ("field.0", "tags"),
            ("op.0", "eq"),
            ("value.0", " vip "),
            ("join.1", "and"),
            ("field.1", "custom_fields.score"),
            ("op.1", "gte"),
            ("value.1", "10"),
            ("join.2", "or"),
            ("field.2", "email"),
            ("op.2", "not_exists"),
            ("value.2", "ignored"),
            ("field.3", "tags"),
            ("op.3", "in"),
            ("value.3", "a, b,,"),
            ("field.4", ""),
            ("op.4", "eq"),
            ("field.9", "phone"),
            ("op.9", "eq"),
            ("value.9", "x\ny"),
        ]);
        let rows = rows_from_pairs(&form, Some(9));
        assert_eq!(rows.len(), 4, "the blank row and the removed one are left out");
        let text = rows_to_text(&rows);
        assert_eq!(text, "tags eq vip\ncustom_fields.score gte 10\nor\nemail exists false\ntags in [\"a\",\"b\"]");
        let groups = parse_query(&text).unwrap();
        assert_eq!(groups.len(), 2);
        assert_eq!(serde_json::to_value(&groups[1].filters[1].value).unwrap(), json!(["a", "b"]));
        let back = rows_from_groups(&groups);
        assert_eq!(rows_to_text(&back), text, "rows from the groups write the same text");
        assert_eq!(format_query(&parse_query(&rows_to_text(&back)).unwrap()), format_query(&groups));
        let broken = rows_from_pairs(&pairs(&[("field.0", "phone"), ("op.0", "eq"), ("value.0", "x\ny")]), None);
        assert_eq!(rows_to_text(&broken), "phone eq x y", "one row is one line");
    }

    #[test]
    fn every_operator_and_filter_field_has_a_label() {
        let known = crate::web::i18n::ids(Lang::En);
        for op in OPS {
            let id = format!("filter-op-{}", op.replace('_', "-"));
            assert!(known.contains(&id), "{id}");
        }
        for id in ["filter-field-created-at", "filter-field-updated-at", "field-tags"] {
            assert!(known.contains(&id.to_string()), "{id}");
        }
    }

    #[test]
    fn each_field_offers_the_operators_the_language_accepts() {
        assert_eq!(
            builder_ops("tags", &Kind::Text { max: 0 }),
            ["eq", "neq", "contains", "in", "exists", "not_exists"]
        );
        assert_eq!(builder_ops("completed", &Kind::Boolean), ["eq", "neq", "exists", "not_exists"]);
        assert!(builder_ops("amount", &Kind::Decimal).contains(&"gte"));
        assert!(!builder_ops("amount", &Kind::Decimal).contains(&"contains"));
    }
}
