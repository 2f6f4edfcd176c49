//! What a record list asks for: which object, which records (text, tag, filter groups,
//! live or trashed), in which order, and from which position. Storage turns it into SQL
//! (`db::records`); HTTP turns positions into opaque cursors.

use chrono::NaiveDateTime;

use super::objects::Object;
use super::search::Search;

/// How a list is ordered.
#[derive(Debug, Clone, PartialEq)]
pub enum Order {
    /// By creation (ids are time-ordered), oldest first unless `desc`.
    Created { desc: bool },
    /// By last change, then id.
    Updated { desc: bool },
    /// By a mirrored field's first value, then id; records without a value come last in
    /// either direction, by id.
    Field { field: String, numeric: bool, desc: bool },
}

/// A row's place in its list: where the next page starts when it is a page's last row.
#[derive(Debug, Clone, PartialEq)]
pub enum Position {
    /// In creation order.
    Id(String),
    Updated(NaiveDateTime, String),
    Text(String, String),
    Num(f64, String),
    /// Among the records without a value for the sorted field.
    Missing(String),
}

impl Position {
    pub fn id(&self) -> &str {
        match self {
            Position::Id(id) | Position::Missing(id) => id,
            Position::Updated(_, id) | Position::Text(_, id) | Position::Num(_, id) => id,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ListSpec {
    pub object: Object,
    pub order: Order,
    /// Only records after this position in `order`.
    pub after: Option<Position>,
    /// Lower-cased text to find in the searchable fields.
    pub q: Option<String>,
    /// Lower-cased tag name.
    pub tag: Option<String>,
    pub limit: i64,
    /// The trash instead of live records.
    pub trashed: bool,
    /// Filter groups from the search endpoint.
    pub search: Option<Search>,
}
