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
    // field → the column the mapping names for it: a mapping overrides a column that only
    // happens to be named like the field, never another mapped column.
    let mut explicit: HashMap<&String, &String> = HashMap::new();
    for (column, field) in pairs {
        let Some(idx) = headers.iter().position(|h| h == column) else {
            errors.push((format!("mapping.{column}"), "no such column in the file".to_string()));
            continue;
        };
        if !known.iter().any(|(k, _)| k == field) {
            errors.push((format!("mapping.{column}"), format!("{field} is not a field you can import")));
            continue;
        }
        if let Some(first) = explicit.insert(field, column) {
            errors.push((
                format!("mapping.{column}"),
                format!("{field} is mapped from more than one column ({first} and {column})"),
            ));
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
    let list = || Value::Array(split_list(raw).into_iter().map(Value::String).collect());
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

/// The values of a multi-valued cell: split on `;` not preceded by a backslash, with `\;`
/// and `\\` unescaped, each trimmed; empty values dropped.
pub fn split_list(raw: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(next @ ('\\' | LIST_SEPARATOR)) => current.push(next),
                Some(other) => {
                    current.push('\\');
                    current.push(other);
                }
                None => current.push('\\'),
            },
            LIST_SEPARATOR => out.push(std::mem::take(&mut current)),
            other => current.push(other),
        }
    }
    out.push(current);
    out.into_iter().map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).collect()
}

/// One value of a multi-valued cell, with `\` and `;` escaped so [`split_list`] gives it
/// back whole.
fn escape_list_item(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        if c == '\\' || c == LIST_SEPARATOR {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// One CSV record as a create/update body. Empty cells are left out (nothing to set).
/// A cell that carries the formula guard [`neutralise`] adds has it removed first.
pub fn row_body(record: &[String], map: &ColumnMap, known: &[(String, Option<Kind>)]) -> Value {
    let mut body = Map::new();
    let mut custom = Map::new();
    for (field, idx, _) in &map.fields {
        let Some(raw) = record.get(*idx).filter(|c| !c.trim().is_empty()) else { continue };
        let kind = known.iter().find(|(k, _)| k == field).and_then(|(_, k)| k.as_ref());
        let v = cell_value(kind, field, strip_guard(raw));
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

/// Characters that make a spreadsheet evaluate a cell (OWASP, CSV injection).
const FORMULA_START: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];
/// The guard put before such a cell; spreadsheets show the rest as text.
const GUARD: char = '\'';

/// A plain decimal number (`-50.00`, `+3`, `1e6`): spreadsheets read it as a number, not
/// a formula, so it is exported as it is.
fn is_plain_number(cell: &str) -> bool {
    let digits = cell.strip_prefix(['+', '-']).unwrap_or(cell);
    let (mantissa, exponent) = match digits.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e.strip_prefix(['+', '-']).unwrap_or(e))),
        None => (digits, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    (!int.is_empty() || !frac.is_empty())
        && all_digits(int)
        && all_digits(frac)
        && exponent.is_none_or(|e| !e.is_empty() && all_digits(e))
}

/// Whether a leading quote before `rest` is a guard ([`strip_guard`] takes it off).
fn guard_applies(rest: &str) -> bool {
    rest.starts_with(FORMULA_START) || rest.starts_with(GUARD)
}

/// Makes a cell safe to open in a spreadsheet without changing what it says: a cell a
/// spreadsheet would run as a formula (starting `=`, `+`, `-`, `@`, tab or carriage
/// return) gets a leading `'`, unless it is a plain number (`-50.00` stays a number). A
/// cell that already starts with `'` before such a character gets one more, so
/// [`strip_guard`] on import gives back exactly what was exported: `-Ann` → `'-Ann` →
/// `-Ann`, `'=x` → `''=x` → `'=x`.
pub fn neutralise(cell: &str) -> String {
    let risky = cell.starts_with(FORMULA_START) && !is_plain_number(cell);
    let quoted = cell.strip_prefix(GUARD).is_some_and(guard_applies);
    if risky || quoted {
        format!("{GUARD}{cell}")
    } else {
        cell.to_string()
    }
}

/// Undoes [`neutralise`]: a leading `'` before a formula character or another `'` is the
/// guard (as spreadsheet users also type it to keep `+31 6…` as text), and is removed.
pub fn strip_guard(cell: &str) -> &str {
    match cell.strip_prefix(GUARD) {
        Some(rest) if guard_applies(rest) => rest,
        _ => cell,
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
        Value::Array(items) => {
            items.iter().map(|i| escape_list_item(&cell_text(i))).collect::<Vec<_>>().join(&LIST_SEPARATOR.to_string())
        }
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
    fn two_columns_mapped_to_one_field_are_refused_whatever_the_order() {
        let headers: Vec<String> = ["E-mail", "Mail", "email", "Name"].iter().map(|s| s.to_string()).collect();
        let known = vec![("email".to_string(), None), ("first_name".to_string(), None)];
        let mapping: HashMap<String, String> =
            [("E-mail", "email"), ("Mail", "email")].iter().map(|(c, f)| (c.to_string(), f.to_string())).collect();
        let Err(errors) = map_columns(&headers, Some(&mapping), &known) else {
            panic!("two columns for email were accepted")
        };
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].0, "mapping.Mail");
        assert!(errors[0].1.contains("E-mail and Mail"), "{errors:?}");
        // One mapping overrides the column that is merely named like the field.
        let one: HashMap<String, String> = [("Mail".to_string(), "email".to_string())].into_iter().collect();
        let map = map_columns(&headers, Some(&one), &known).expect("mapped");
        assert_eq!(map.fields, vec![("email".to_string(), 1, "Mail".to_string())]);
    }

    #[test]
    fn formulas_are_neutralised() {
        for bad in ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tx", "\rx", "-Ann", "+1 (555) 010-2030", "-cmd|' /C calc'!A0"]
        {
            assert!(neutralise(bad).starts_with('\''), "{bad:?}");
        }
        assert_eq!(neutralise("plain"), "plain");
        assert_eq!(neutralise(""), "");
    }

    #[test]
    fn numbers_stay_numbers() {
        for n in ["-50.00", "+3", "-0.000001", "1e6", "-1.5E-3", ".5", "-7."] {
            assert_eq!(neutralise(n), n);
        }
        for not in ["-", "+", "-e5", "-1e", "-1.2.3", "--1", "-1,5", "-."] {
            assert!(neutralise(not).starts_with('\''), "{not:?}");
        }
    }

    #[test]
    fn the_guard_round_trips_every_cell() {
        for cell in [
            "-Ann",
            "'-Ann",
            "''-Ann",
            "'",
            "''",
            "'''",
            "'hello",
            "=x",
            "'=x",
            "-50.00",
            "'-50.00",
            "+31 6 1234 5678",
            "@",
            "plain",
            "",
        ] {
            assert_eq!(strip_guard(&neutralise(cell)), cell, "{cell:?}");
        }
    }

    #[test]
    fn list_values_keep_separators_and_backslashes() {
        for items in [vec!["north;south", "east"], vec!["a\\b", "c\\"], vec!["x\\;y"], vec![";", "\\"]] {
            let cell = cell_text(&Value::Array(items.iter().map(|s| Value::String(s.to_string())).collect()));
            assert_eq!(split_list(&cell), items, "{cell:?}");
        }
        assert_eq!(split_list("vip; speaker ;;"), ["vip", "speaker"]);
        assert_eq!(split_list("C:\\path"), ["C:\\path"], "a lone backslash is kept");
    }
}
