//! CSV for imports and exports. Import cells become the JSON a client would have sent (so
//! the same validation applies); export cells are neutralised so a spreadsheet never runs
//! them as formulas.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::objects::{custom_kind, Kind, Object};
use crate::db::custom_fields::CustomFieldRow;

/// Separator inside one cell for multi-valued fields (tags, multi_select, links).
pub const LIST_SEPARATOR: char = ';';

/// Where each field comes from: CSV column index and name, by field.
#[derive(Debug, Clone, Default)]
pub struct ColumnMap {
    /// field → (column index, column header)
    pub fields: Vec<(String, usize, String)>,
}

impl ColumnMap {
    /// The column a field error should name (`company_ids[1]` → its column).
    pub fn column_of(&self, field: &str) -> String {
        let base = field.split('[').next().unwrap_or(field);
        self.fields.iter().find(|(f, _, _)| f == base).map(|(_, _, h)| h.clone()).unwrap_or_else(|| base.to_string())
    }
}

/// The fields a column may map to, with their kinds: built-ins, `id`, `tags`, and
/// `custom_fields.<key>` of live custom fields.
pub fn importable_fields(object: Object, defs: &[CustomFieldRow]) -> Vec<(String, Option<Kind>)> {
    let mut out: Vec<(String, Option<Kind>)> = vec![("id".into(), None), ("tags".into(), None)];
    out.extend(object.fields().into_iter().map(|s| (s.key, Some(s.kind))));
    for d in defs {
        out.push((format!("custom_fields.{}", d.field_key), custom_kind(&d.field_type, d.option_list())));
    }
    out
}

/// Builds the column map: headers that name a field are used as that field, then the
/// optional `{column: field}` mapping adds or overrides columns. Other columns are ignored.
pub fn map_columns(
    headers: &[String],
    mapping: Option<&HashMap<String, String>>,
    known: &[(String, Option<Kind>)],
) -> Result<ColumnMap, Vec<(String, String)>> {
    let mut map = ColumnMap::default();
    let mut errors = Vec::new();
    let mapped: HashMap<&String, &String> = mapping.map(|m| m.iter().collect()).unwrap_or_default();
    for (idx, h) in headers.iter().enumerate() {
        if !mapped.contains_key(h) && known.iter().any(|(k, _)| k == h) {
            map.fields.push((h.clone(), idx, h.clone()));
        }
    }
    let mut pairs: Vec<(&String, &String)> = mapped.into_iter().collect();
    pairs.sort();
    for (column, field) in pairs {
        let Some(idx) = headers.iter().position(|h| h == column) else {
            errors.push((format!("mapping.{column}"), "no such column in the file".to_string()));
            continue;
        };
        if !known.iter().any(|(k, _)| k == field) {
            errors.push((format!("mapping.{column}"), format!("{field} is not a field you can import")));
            continue;
        }
        map.fields.retain(|(f, _, _)| f != field);
        map.fields.push((field.clone(), idx, column.clone()));
    }
    let mut seen = std::collections::HashSet::new();
    for (f, _, h) in &map.fields {
        if !seen.insert(f.clone()) {
            errors.push((format!("mapping.{h}"), format!("{f} is mapped from more than one column")));
        }
    }
    if errors.is_empty() {
        Ok(map)
    } else {
        Err(errors)
    }
}

fn cell_value(kind: Option<&Kind>, field: &str, raw: &str) -> Value {
    let list = || {
        Value::Array(
            raw.split(LIST_SEPARATOR)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.into()))
                .collect(),
        )
    };
    if field == "tags" {
        return list();
    }
    match kind {
        Some(Kind::Number) => raw
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(raw.into())),
        Some(Kind::Boolean) => match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Value::Bool(true),
            "false" | "no" | "0" => Value::Bool(false),
            _ => Value::String(raw.into()),
        },
        Some(Kind::MultiSelect(_)) | Some(Kind::Links(_)) => list(),
        _ => Value::String(raw.trim().to_string()),
    }
}

/// One CSV record as a create/update body. Empty cells are left out (nothing to set).
pub fn row_body(record: &csv::StringRecord, map: &ColumnMap, known: &[(String, Option<Kind>)]) -> Value {
    let mut body = Map::new();
    let mut custom = Map::new();
    for (field, idx, _) in &map.fields {
        let Some(raw) = record.get(*idx).filter(|c| !c.trim().is_empty()) else { continue };
        let kind = known.iter().find(|(k, _)| k == field).and_then(|(_, k)| k.as_ref());
        let v = cell_value(kind, field, raw);
        match field.strip_prefix("custom_fields.") {
            Some(key) => {
                custom.insert(key.to_string(), v);
            }
            None => {
                body.insert(field.clone(), v);
            }
        }
    }
    if !custom.is_empty() {
        body.insert("custom_fields".into(), Value::Object(custom));
    }
    Value::Object(body)
}

/// Prefixes cells a spreadsheet would evaluate (`=`, `+`, `-`, `@`, tab, carriage return)
/// with a single quote, as OWASP recommends against CSV injection.
pub fn neutralise(cell: &str) -> String {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}"),
        _ => cell.to_string(),
    }
}

/// The export header: record fields, tags, then `custom_fields.<key>` per live field.
pub fn export_header(object: Object, defs: &[CustomFieldRow]) -> Vec<String> {
    let mut h: Vec<String> = vec!["id".into(), "created_at".into(), "updated_at".into()];
    h.extend(object.fields().into_iter().map(|s| s.key));
    h.push("tags".into());
    h.extend(defs.iter().map(|d| format!("custom_fields.{}", d.field_key)));
    h
}

fn cell_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(cell_text).collect::<Vec<_>>().join(&LIST_SEPARATOR.to_string()),
        other => other.to_string(),
    }
}

/// One record (as the API returns it) as an export row, in `header` order.
pub fn export_row(view: &Value, header: &[String]) -> Vec<String> {
    header
        .iter()
        .map(|h| {
            let v = match h.strip_prefix("custom_fields.") {
                Some(key) => view["custom_fields"].get(key).cloned().unwrap_or(Value::Null),
                None => view.get(h).cloned().unwrap_or(Value::Null),
            };
            neutralise(&cell_text(&v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised() {
        for bad in ["=1+1", "+SUM(A1)", "-2", "@cmd", "\tx", "\rx"] {
            assert!(neutralise(bad).starts_with('\''), "{bad:?}");
        }
        assert_eq!(neutralise("plain"), "plain");
        assert_eq!(neutralise(""), "");
    }
}
