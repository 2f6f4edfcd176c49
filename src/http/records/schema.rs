//! The OpenAPI schemas of CRM records, generated from `crm::objects` (where each object's
//! fields are data), so the document says exactly what the API reads and answers for each
//! object and cannot drift from it: `<Object>Record` (as answered), `<Object>Page` (a list
//! or a search), `<Object>Create` and `<Object>Patch` (request bodies).
//!
//! Answers are described as they are rendered (`crm::records::view`): every built-in field
//! is present, `null` when unset, link lists are arrays. Request bodies carry the rules a
//! client can act on (types, options, lengths, formats); the server checks more (links must
//! name live records, a contact needs one of email or a name) and answers 422 for those.

use utoipa::openapi::schema::{AdditionalProperties, ArrayBuilder, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::{KnownFormat, Ref, RefOr, SchemaFormat};
use utoipa::{PartialSchema, ToSchema};

use crate::crm::objects::{Kind, Object};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Usage {
    Answer,
    Create,
    Patch,
}

fn string(format: Option<KnownFormat>, usage: Usage) -> ObjectBuilder {
    string_formatted(format.map(SchemaFormat::KnownFormat), usage)
}

fn string_formatted(format: Option<SchemaFormat>, usage: Usage) -> ObjectBuilder {
    let builder = ObjectBuilder::new().schema_type(Type::String);
    // Formats say what a request should hold; answers are not held to them.
    match usage {
        Usage::Create | Usage::Patch => builder.format(format),
        Usage::Answer => builder,
    }
}

fn with_null(builder: ObjectBuilder, kind: Type) -> ObjectBuilder {
    builder.schema_type(SchemaType::from_iter([kind, Type::Null]))
}

/// A built-in field's value: on answers `null` when unset (link lists are arrays), on
/// requests `null` clears it.
fn field(kind: &Kind, usage: Usage) -> Schema {
    let id_list = || ArrayBuilder::new().items(string(Some(KnownFormat::Uuid), usage)).build().into();
    let (builder, base) = match kind {
        Kind::Links(_) => return id_list(),
        Kind::MultiSelect(options) => {
            let item = ObjectBuilder::new().schema_type(Type::String).enum_values(Some(options.clone()));
            return ArrayBuilder::new().items(item).build().into();
        }
        Kind::Text { max } => (string(None, usage).max_length(Some(*max)), Type::String),
        Kind::Email => (string(Some(KnownFormat::Email), usage), Type::String),
        Kind::Url => (string_formatted(Some(SchemaFormat::Custom("uri".into())), usage), Type::String),
        Kind::Date => (string(Some(KnownFormat::Date), usage), Type::String),
        Kind::DateTime => (string(Some(KnownFormat::DateTime), usage), Type::String),
        Kind::Member | Kind::Pipeline | Kind::Stage => (string(Some(KnownFormat::Uuid), usage), Type::String),
        Kind::Phone | Kind::Domain => (string(None, usage), Type::String),
        Kind::Currency => {
            let b = string(None, usage);
            let b = if usage == Usage::Answer { b } else { b.pattern(Some("^[A-Za-z]{3}$")) };
            (b, Type::String)
        }
        // Exact decimals are answered as strings; requests may send a JSON number too.
        Kind::Decimal if usage == Usage::Answer => (string(None, usage), Type::String),
        Kind::Decimal => {
            let b = ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::String, Type::Number, Type::Null]));
            return b.build().into();
        }
        Kind::Number => (ObjectBuilder::new().schema_type(Type::Number), Type::Number),
        Kind::Boolean => (ObjectBuilder::new().schema_type(Type::Boolean), Type::Boolean),
        Kind::Select(options) => {
            let mut values: Vec<serde_json::Value> = options.iter().map(|o| o.clone().into()).collect();
            values.push(serde_json::Value::Null);
            let b = ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::String, Type::Null]));
            return b.enum_values(Some(values)).build().into();
        }
    };
    with_null(builder, base).build().into()
}

fn timestamp() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String).description(Some("RFC 3339, UTC"))
}

fn tags() -> ArrayBuilder {
    ArrayBuilder::new()
        .items(ObjectBuilder::new().schema_type(Type::String))
        .description(Some("Tag names (a new name creates the tag)"))
}

fn custom_fields() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(AdditionalProperties::FreeForm(true)))
        .description(Some("`{key: value}` of the portal's custom fields for this object"))
}

/// A record as the API answers it.
fn record(object: Object) -> Schema {
    let mut b = ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(format!("A {} as answered; unset fields are null.", object.name())))
        .property("id", ObjectBuilder::new().schema_type(Type::String))
        .required("id")
        .property("created_at", timestamp())
        .required("created_at")
        .property("updated_at", timestamp())
        .required("updated_at");
    for spec in object.fields() {
        let schema = match &spec.kind {
            // A required text is never cleared.
            Kind::Text { max } if spec.required => {
                ObjectBuilder::new().schema_type(Type::String).max_length(Some(*max)).into()
            }
            kind => field(kind, Usage::Answer),
        };
        b = b.property(spec.key.clone(), schema).required(spec.key);
    }
    b.property("tags", tags())
        .required("tags")
        .property("custom_fields", custom_fields())
        .required("custom_fields")
        .property("deleted_at", timestamp().description(Some("In the trash since (RFC 3339); absent when live")))
        .build()
        .into()
}

/// A request body: create (required fields required) or patch (only the fields sent change).
fn input(object: Object, usage: Usage) -> Schema {
    let what = if usage == Usage::Create {
        format!("A new {}.", object.name())
    } else {
        format!("The fields of a {} to change; `null` clears one.", object.name())
    };
    let mut b = ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(what))
        .additional_properties(Some(AdditionalProperties::FreeForm(false)));
    for spec in object.fields() {
        let required = spec.required && usage == Usage::Create;
        let schema = match (&spec.kind, required) {
            // A required text cannot be null or blank.
            (Kind::Text { max }, true) => {
                ObjectBuilder::new().schema_type(Type::String).min_length(Some(1)).max_length(Some(*max)).into()
            }
            (kind, _) => field(kind, usage),
        };
        b = b.property(spec.key.clone(), schema);
        if required {
            b = b.required(spec.key);
        }
    }
    b.property("tags", tags()).property("custom_fields", custom_fields()).build().into()
}

fn page(object: Object, record: &str) -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(format!("A page of {}.", object.plural())))
        .property("data", ArrayBuilder::new().items(Ref::from_schema_name(record)))
        .required("data")
        .property(
            "next_cursor",
            ObjectBuilder::new()
                .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
                .description(Some("Pass as `after` for the next page; null at the end")),
        )
        .required("next_cursor")
        .build()
        .into()
}

/// Declares the four schema types of each object.
macro_rules! object_schemas {
    ($($object:ident: $record:ident, $page:ident, $create:ident, $patch:ident;)*) => {$(
        #[doc = concat!("The `", stringify!($record), "` schema.")]
        pub struct $record;
        impl PartialSchema for $record {
            fn schema() -> RefOr<Schema> {
                record(Object::$object).into()
            }
        }
        impl ToSchema for $record {}

        #[doc = concat!("The `", stringify!($page), "` schema.")]
        pub struct $page;
        impl PartialSchema for $page {
            fn schema() -> RefOr<Schema> {
                page(Object::$object, stringify!($record)).into()
            }
        }
        impl ToSchema for $page {
            fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
                schemas.push(($record::name().into(), $record::schema()));
            }
        }

        #[doc = concat!("The `", stringify!($create), "` schema.")]
        pub struct $create;
        impl PartialSchema for $create {
            fn schema() -> RefOr<Schema> {
                input(Object::$object, Usage::Create).into()
            }
        }
        impl ToSchema for $create {}

        #[doc = concat!("The `", stringify!($patch), "` schema.")]
        pub struct $patch;
        impl PartialSchema for $patch {
            fn schema() -> RefOr<Schema> {
                input(Object::$object, Usage::Patch).into()
            }
        }
        impl ToSchema for $patch {}
    )*};
}

object_schemas! {
    Contact: ContactRecord, ContactPage, ContactCreate, ContactPatch;
    Company: CompanyRecord, CompanyPage, CompanyCreate, CompanyPatch;
    Deal: DealRecord, DealPage, DealCreate, DealPatch;
    Ticket: TicketRecord, TicketPage, TicketCreate, TicketPatch;
    Task: TaskRecord, TaskPage, TaskCreate, TaskPatch;
    Note: NoteRecord, NotePage, NoteCreate, NotePatch;
}
