//! CRM object types and their built-in fields.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Object {
    Contact,
    Company,
    Deal,
    Ticket,
    Task,
    Note,
}

/// What a field holds, and so how its values are validated and indexed.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Text {
        max: usize,
    },
    Email,
    Phone,
    Url,
    /// A web domain such as `acme.example` (lower-cased, no scheme).
    Domain,
    Number,
    /// `YYYY-MM-DD`.
    Date,
    Boolean,
    Select(Vec<String>),
    MultiSelect(Vec<String>),
    /// Ids of live records of another object in the same portal.
    Links(Object),
    /// An exact decimal (money): stored as a canonical string, never a float.
    Decimal,
    /// ISO 4217 code, upper-case (`EUR`).
    Currency,
    /// RFC 3339 date and time, stored in UTC.
    DateTime,
    /// The id of a person in this portal.
    Member,
    /// A deal pipeline id (checked with `stage_id` against the portal's pipelines).
    Pipeline,
    /// A stage id of the record's pipeline.
    Stage,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FieldSpec {
    pub key: String,
    pub kind: Kind,
    pub required: bool,
    /// Set on create when the body leaves the field out.
    pub default: Option<serde_json::Value>,
}

fn field(key: &str, kind: Kind) -> FieldSpec {
    FieldSpec { key: key.to_string(), kind, required: false, default: None }
}

fn required(key: &str, kind: Kind) -> FieldSpec {
    FieldSpec { required: true, ..field(key, kind) }
}

fn choice(key: &str, options: &[&str], default: &str) -> FieldSpec {
    FieldSpec {
        default: Some(serde_json::Value::String(default.to_string())),
        ..field(key, Kind::Select(options.iter().map(|s| s.to_string()).collect()))
    }
}

fn links(key: &str, to: Object) -> FieldSpec {
    field(key, Kind::Links(to))
}

const LONG_TEXT: usize = 65_535;

const NAME_MAX: usize = 255;

impl Object {
    pub const ALL: [Object; 6] =
        [Object::Contact, Object::Company, Object::Deal, Object::Ticket, Object::Task, Object::Note];

    /// The singular name used in events and the trash (`contact`).
    pub fn name(self) -> &'static str {
        match self {
            Object::Contact => "contact",
            Object::Company => "company",
            Object::Deal => "deal",
            Object::Ticket => "ticket",
            Object::Task => "task",
            Object::Note => "note",
        }
    }

    /// The plural used in paths and key scopes (`contacts`).
    pub fn plural(self) -> &'static str {
        match self {
            Object::Contact => "contacts",
            Object::Company => "companies",
            Object::Deal => "deals",
            Object::Ticket => "tickets",
            Object::Task => "tasks",
            Object::Note => "notes",
        }
    }

    pub fn parse(name: &str) -> Option<Object> {
        Object::ALL.into_iter().find(|o| o.name() == name || o.plural() == name)
    }

    /// The built-in fields, in the order the API shows them.
    pub fn fields(self) -> Vec<FieldSpec> {
        match self {
            Object::Contact => vec![
                field("email", Kind::Email),
                field("first_name", Kind::Text { max: NAME_MAX }),
                field("last_name", Kind::Text { max: NAME_MAX }),
                field("phone", Kind::Phone),
                field("company_ids", Kind::Links(Object::Company)),
                // The person's user id in the portal's own product: in-app messages reach
                // contacts by it (unique per portal, case-sensitive).
                field("external_id", Kind::Text { max: EXTERNAL_ID_MAX }),
            ],
            Object::Company => vec![
                required("name", Kind::Text { max: NAME_MAX }),
                field("domain", Kind::Domain),
                field("phone", Kind::Phone),
            ],
            Object::Deal => vec![
                required("name", Kind::Text { max: NAME_MAX }),
                field("amount", Kind::Decimal),
                field("currency", Kind::Currency),
                field("pipeline_id", Kind::Pipeline),
                field("stage_id", Kind::Stage),
                choice("status", &["open", "won", "lost"], "open"),
                field("close_date", Kind::Date),
                links("contact_ids", Object::Contact),
                links("company_ids", Object::Company),
            ],
            Object::Ticket => vec![
                required("subject", Kind::Text { max: NAME_MAX }),
                field("description", Kind::Text { max: LONG_TEXT }),
                choice("status", &["open", "pending", "closed"], "open"),
                choice("priority", &["low", "normal", "high", "urgent"], "normal"),
                links("contact_ids", Object::Contact),
                links("company_ids", Object::Company),
            ],
            Object::Task => vec![
                required("title", Kind::Text { max: NAME_MAX }),
                field("due_at", Kind::DateTime),
                FieldSpec { default: Some(serde_json::Value::Bool(false)), ..field("completed", Kind::Boolean) },
                field("assignee_id", Kind::Member),
                links("contact_ids", Object::Contact),
                links("company_ids", Object::Company),
                links("deal_ids", Object::Deal),
                links("ticket_ids", Object::Ticket),
            ],
            Object::Note => vec![
                required("body", Kind::Text { max: LONG_TEXT }),
                links("contact_ids", Object::Contact),
                links("company_ids", Object::Company),
                links("deal_ids", Object::Deal),
                links("ticket_ids", Object::Ticket),
            ],
        }
    }

    /// Deleting these is a high-risk action: owners and admins only (and never staff).
    pub fn delete_needs_admin(self) -> bool {
        matches!(self, Object::Contact | Object::Company | Object::Deal | Object::Ticket)
    }

    /// Fields of which at least one must have a value (a contact needs something to be
    /// found by).
    pub fn needs_one_of(self) -> &'static [&'static str] {
        match self {
            Object::Contact => &["email", "first_name", "last_name"],
            _ => &[],
        }
    }

    /// Fields whose text goes into the `?q=` search.
    pub fn searchable(self) -> &'static [&'static str] {
        match self {
            Object::Contact => &["email", "first_name", "last_name", "phone"],
            Object::Company => &["name", "domain", "phone"],
            Object::Deal => &["name"],
            Object::Ticket => &["subject", "description"],
            Object::Task => &["title"],
            Object::Note => &["body"],
        }
    }
}

/// The longest external id (an end user's id in the portal's product).
pub const EXTERNAL_ID_MAX: usize = 255;

/// Keys of custom fields and custom values: `[a-z][a-z0-9_]*`, at most 64 characters.
pub fn is_valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 64
        && key.starts_with(|c: char| c.is_ascii_lowercase())
        && key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// The custom field types a portal can define.
pub const CUSTOM_TYPES: &[&str] =
    &["text", "number", "date", "boolean", "select", "multi_select", "email", "phone", "url"];

/// The kind of a custom field from its stored type and options.
pub fn custom_kind(field_type: &str, options: Vec<String>) -> Option<Kind> {
    Some(match field_type {
        "text" => Kind::Text { max: 65_535 },
        "number" => Kind::Number,
        "date" => Kind::Date,
        "boolean" => Kind::Boolean,
        "select" => Kind::Select(options),
        "multi_select" => Kind::MultiSelect(options),
        "email" => Kind::Email,
        "phone" => Kind::Phone,
        "url" => Kind::Url,
        _ => return None,
    })
}

/// The index name of a custom field: by id, so a later field reusing the key starts empty.
pub fn custom_index_name(field_id: &str) -> String {
    format!("cf:{field_id}")
}
