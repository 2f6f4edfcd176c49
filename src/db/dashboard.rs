//! The reads behind the live dashboard: counts and the open deals of one portal, served by
//! the `records_by_object` and `record_values_*` indexes.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{record_values as rv, records};
use super::TenantDb;

type Mb = <super::DbConnection as diesel::Connection>::Backend;

/// A condition on one mirrored field value.
pub enum ValueIs<'a> {
    TextIn(&'a [&'a str]),
    NumEq(f64),
    NumAtMost(f64),
}

impl TenantDb<'_> {
    /// Live records of `object` (optionally created at or after `since`) whose mirrored
    /// values meet every condition.
    pub fn count_live(
        &mut self,
        object: &str,
        created_since: Option<NaiveDateTime>,
        conds: &[(&str, ValueIs<'_>)],
    ) -> QueryResult<i64> {
        let (conn, tid) = self.parts();
        let mut q = records::table
            .filter(records::tenant_id.eq(tid))
            .filter(records::object.eq(object))
            .filter(records::deleted_at.is_null())
            .into_boxed::<Mb>();
        if let Some(since) = created_since {
            q = q.filter(records::created_at.ge(since));
        }
        for (field, cond) in conds {
            let of_field = rv::tenant_id.eq(tid).and(rv::object.eq(object)).and(rv::field.eq(*field));
            q = match cond {
                ValueIs::TextIn(texts) => q.filter(records::id.eq_any(
                    rv::table.filter(of_field.and(rv::text_value.eq_any(texts.iter().copied()))).select(rv::record_id),
                )),
                ValueIs::NumEq(n) => q.filter(
                    records::id.eq_any(rv::table.filter(of_field.and(rv::num_value.eq(*n))).select(rv::record_id)),
                ),
                ValueIs::NumAtMost(n) => q.filter(
                    records::id.eq_any(rv::table.filter(of_field.and(rv::num_value.le(*n))).select(rv::record_id)),
                ),
            };
        }
        q.count().get_result(conn)
    }

    /// The stored fields (`props` JSON) of live records of `object` whose `field` has one of
    /// the given texts (the open deals, for amounts by stage).
    pub fn live_props_with(&mut self, object: &str, field: &str, texts: &[&str]) -> QueryResult<Vec<String>> {
        let (conn, tid) = self.parts();
        let ids = rv::table
            .filter(rv::tenant_id.eq(tid))
            .filter(rv::object.eq(object))
            .filter(rv::field.eq(field))
            .filter(rv::text_value.eq_any(texts.iter().copied()))
            .select(rv::record_id);
        records::table
            .filter(records::tenant_id.eq(tid))
            .filter(records::object.eq(object))
            .filter(records::deleted_at.is_null())
            .filter(records::id.eq_any(ids))
            .select(records::props)
            .load(conn)
    }

    /// The portal's current event number.
    pub fn event_head(&mut self) -> QueryResult<i64> {
        use super::schema::event_heads;
        let (conn, tid) = self.parts();
        event_heads::table.find(tid).select(event_heads::seq).first(conn).optional().map(|h| h.unwrap_or(0))
    }
}
