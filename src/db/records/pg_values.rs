//! The value mirror's INSERT on PostgreSQL: one prepared statement for any number of
//! values. A multi-row `INSERT … VALUES (…), (…)` has different SQL for every row count,
//! so PostgreSQL parsed and planned it again on every record write; this one binds the
//! rows as arrays and unnests them, so each connection prepares it once.

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Array, Double, Integer, Nullable, Text};

use super::{indexed_prefix, FieldIndex, INDEXED_TEXT_CHARS};
use crate::crm::objects::Object;

/// Inserts `fields`' values of one record (the same rows the SQLite path inserts).
pub(super) fn insert(
    pg: &mut diesel::PgConnection,
    tenant: &str,
    record_id: &str,
    object: Object,
    fields: &[FieldIndex],
) -> QueryResult<()> {
    let mut rows = Unnest { tenant, record_id, object: object.name(), ..Unnest::default() };
    for f in fields {
        for (ord, v) in f.values.iter().enumerate() {
            rows.field.push(f.field.as_str());
            rows.ord.push(ord as i32);
            rows.text.push(v.text.as_deref().map(indexed_prefix));
            rows.num.push(v.num);
            rows.full.push(v.text.as_deref().filter(|t| t.chars().count() > INDEXED_TEXT_CHARS));
        }
    }
    if rows.field.is_empty() {
        return Ok(());
    }
    rows.execute(pg)?;
    Ok(())
}

#[derive(Default)]
struct Unnest<'a> {
    tenant: &'a str,
    record_id: &'a str,
    object: &'a str,
    field: Vec<&'a str>,
    ord: Vec<i32>,
    text: Vec<Option<String>>,
    num: Vec<Option<f64>>,
    full: Vec<Option<&'a str>>,
}

impl QueryId for Unnest<'_> {
    type QueryId = Unnest<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl QueryFragment<Pg> for Unnest<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(
            "INSERT INTO record_values \
             (tenant_id, record_id, object, field, ord, text_value, num_value, full_text) SELECT ",
        );
        out.push_bind_param::<Text, _>(&self.tenant)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&self.record_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&self.object)?;
        out.push_sql(", u.* FROM unnest(");
        out.push_bind_param::<Array<Text>, _>(&self.field)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Integer>, _>(&self.ord)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.text)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Double>>, _>(&self.num)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.full)?;
        out.push_sql(") AS u");
        Ok(())
    }
}

impl Query for Unnest<'_> {
    type SqlType = diesel::sql_types::Untyped;
}

impl<C> RunQueryDsl<C> for Unnest<'_> {}
