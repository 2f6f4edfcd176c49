//! The CRM model: which objects exist, which fields each has, and how a field value is
//! validated and indexed. Data, not I/O: storage is `db::records`, HTTP is `http::records`.
//!
//! Every object (contact, company, …) is a list of [`objects::FieldSpec`]s; custom fields
//! are the same specs read from the database. One validation path serves both, so a rule
//! holds for every object and every custom field alike.

pub mod csv_io;
pub mod csv_read;
pub mod import;
pub mod input;
pub mod item;
pub mod objects;
pub mod query;
pub mod records;
pub mod search;
pub mod segments;
pub mod values;
