//! CRM object types and their built-in fields.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Object {
    Contact,
    Company,
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
}

#[derive(Debug, Clone, PartialEq)]
pub struct FieldSpec {
    pub key: String,
    pub kind: Kind,
    pub required: bool,
}

fn field(key: &str, kind: Kind) -> FieldSpec {
    FieldSpec {
        key: key.to_string(),
        kind,
        required: false,
    }
}

const NAME_MAX: usize = 255;

impl Object {
    pub const ALL: [Object; 2] = [Object::Contact, Object::Company];

    /// The singular name used in events and the trash (`contact`).
    pub fn name(self) -> &'static str {
        match self {
            Object::Contact => "contact",
            Object::Company => "company",
        }
    }

    /// The plural used in paths and key scopes (`contacts`).
    pub fn plural(self) -> &'static str {
        match self {
            Object::Contact => "contacts",
            Object::Company => "companies",
        }
    }

    pub fn parse(name: &str) -> Option<Object> {
        Object::ALL
            .into_iter()
            .find(|o| o.name() == name || o.plural() == name)
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
            ],
            Object::Company => vec![
                FieldSpec {
                    required: true,
                    ..field("name", Kind::Text { max: NAME_MAX })
                },
                field("domain", Kind::Domain),
                field("phone", Kind::Phone),
            ],
        }
    }

    /// Fields of which at least one must have a value (a contact needs something to be
    /// found by).
    pub fn needs_one_of(self) -> &'static [&'static str] {
        match self {
            Object::Contact => &["email", "first_name", "last_name"],
            Object::Company => &[],
        }
    }

    /// Fields whose text goes into the `?q=` search.
    pub fn searchable(self) -> &'static [&'static str] {
        match self {
            Object::Contact => &["email", "first_name", "last_name", "phone"],
            Object::Company => &["name", "domain", "phone"],
        }
    }
}

/// The custom field types a portal can define.
pub const CUSTOM_TYPES: &[&str] = &[
    "text",
    "number",
    "date",
    "boolean",
    "select",
    "multi_select",
    "email",
    "phone",
    "url",
];

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
