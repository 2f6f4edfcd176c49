//! CRM record storage: the `records` row, its mirrored `record_values` (what filters and
//! sorting use) and its tags. Every function is a `TenantDb` method, so every query is
//! filtered by portal; a record of another portal is simply not found.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{record_tags, record_values, records, tags};
use super::TenantDb;
use crate::crm::objects::Object;
use crate::crm::search::{Cmp, Condition, FieldRef, Operand, Search};
use crate::crm::values::Indexed;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = records)]
pub struct RecordRow {
    pub id: String,
    pub tenant_id: String,
    pub object: String,
    pub props: String,
    pub custom: String,
    pub search_text: String,
    pub email_lower: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub deleted_at: Option<NaiveDateTime>,
    pub purge_at: Option<NaiveDateTime>,
}

/// One field's indexed values, ready to mirror.
#[derive(Debug, Clone)]
pub struct FieldIndex {
    pub field: String,
    pub values: Vec<Indexed>,
}

/// Where a list starts and how it is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Oldest first (ids are time-ordered).
    CreatedAsc,
    CreatedDesc,
}

#[derive(Debug, Clone)]
pub struct ListSpec {
    pub object: Object,
    pub order: Order,
    /// Only records after this id in `order`.
    pub after_id: Option<String>,
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

type Mb = <super::DbConnection as diesel::Connection>::Backend;
type RecordCond = Box<dyn BoxableExpression<records::table, Mb, SqlType = diesel::sql_types::Bool>>;

/// One condition as SQL. Value conditions become `id IN (SELECT record_id FROM
/// record_values WHERE tenant, object, field, <cond>)`, which the (tenant, object, field,
/// value) indexes serve on both backends.
fn condition_sql(tid: &str, object: Object, c: &Condition) -> RecordCond {
    use record_values as rv;
    let (field, time_col) = match &c.field {
        FieldRef::Indexed(f) => (f.clone(), None),
        FieldRef::CreatedAt => (String::new(), Some(true)),
        FieldRef::UpdatedAt => (String::new(), Some(false)),
    };
    if let Some(created) = time_col {
        return time_condition(created, c);
    }
    let text = rv::text_value.assume_not_null();
    let num = rv::num_value.assume_not_null();
    // Each arm builds a concrete subquery: boxed subqueries cannot be rendered for both
    // backends through `MultiConnection`.
    macro_rules! values {
        ($op:ident, $cond:expr) => {{
            let sub = rv::table
                .filter(rv::tenant_id.eq(tid.to_string()))
                .filter(rv::object.eq(object.name()))
                .filter(rv::field.eq(field.clone()))
                .filter($cond)
                .select(rv::record_id);
            let cond: RecordCond = Box::new(records::id.$op(sub));
            cond
        }};
    }
    // Range and substring filters often match much of a portal: a correlated EXISTS lets
    // the database walk records in list order and stop at the page size, where IN would
    // first collect every matching id.
    macro_rules! exists_value {
        ($cond:expr) => {{
            let sub = rv::table.filter(rv::record_id.eq(records::id)).filter(rv::field.eq(field.clone())).filter($cond);
            let cond: RecordCond = Box::new(diesel::dsl::exists(sub));
            cond
        }};
    }
    match (&c.cmp, &c.operand) {
        // Equality is usually selective: find the few ids through the value index.
        (Cmp::Eq, Operand::Text(t)) => values!(eq_any, text.eq(t.clone())),
        (Cmp::Eq, Operand::Num(n)) => values!(eq_any, num.eq(*n)),
        (Cmp::In, Operand::Texts(ts)) => values!(eq_any, text.eq_any(ts.clone())),
        (Cmp::In, Operand::Nums(ns)) => values!(eq_any, num.eq_any(ns.clone())),
        // The rest often match much of a portal: test each record in list order.
        (Cmp::Exists(true), _) => exists_value!(rv::ord.ge(0)),
        (Cmp::Exists(false), _) => not_exists(exists_value!(rv::ord.ge(0))),
        (Cmp::Neq, Operand::Text(t)) => not_exists(exists_value!(text.eq(t.clone()))),
        (Cmp::Neq, Operand::Num(n)) => not_exists(exists_value!(num.eq(*n))),
        (Cmp::Lt, Operand::Text(t)) => exists_value!(text.lt(t.clone())),
        (Cmp::Lt, Operand::Num(n)) => exists_value!(num.lt(*n)),
        (Cmp::Lte, Operand::Text(t)) => exists_value!(text.le(t.clone())),
        (Cmp::Lte, Operand::Num(n)) => exists_value!(num.le(*n)),
        (Cmp::Gt, Operand::Text(t)) => exists_value!(text.gt(t.clone())),
        (Cmp::Gt, Operand::Num(n)) => exists_value!(num.gt(*n)),
        (Cmp::Gte, Operand::Text(t)) => exists_value!(text.ge(t.clone())),
        (Cmp::Gte, Operand::Num(n)) => exists_value!(num.ge(*n)),
        (Cmp::Contains, Operand::Text(t)) => {
            exists_value!(text.like(format!("%{}%", escape_like(t))).escape('\\'))
        }
        // The parser never builds other pairs; match nothing rather than everything.
        _ => values!(eq_any, rv::ord.lt(0)),
    }
}

fn not_exists(cond: RecordCond) -> RecordCond {
    Box::new(diesel::dsl::not(cond))
}

fn time_condition(created: bool, c: &Condition) -> RecordCond {
    let at = |n: f64| chrono::DateTime::from_timestamp(n as i64, 0).unwrap_or_default().naive_utc();
    macro_rules! on {
        ($col:expr) => {{
            let col = $col;
            let cond: RecordCond = match (&c.cmp, &c.operand) {
                (Cmp::Eq, Operand::Num(n)) => Box::new(col.ge(at(*n)).and(col.lt(at(*n + 1.0)))),
                (Cmp::Neq, Operand::Num(n)) => Box::new(col.lt(at(*n)).or(col.ge(at(*n + 1.0)))),
                (Cmp::Lt, Operand::Num(n)) => Box::new(col.lt(at(*n))),
                (Cmp::Lte, Operand::Num(n)) => Box::new(col.lt(at(*n + 1.0))),
                (Cmp::Gt, Operand::Num(n)) => Box::new(col.ge(at(*n + 1.0))),
                (Cmp::Gte, Operand::Num(n)) => Box::new(col.ge(at(*n))),
                (Cmp::Exists(true), _) => Box::new(col.is_not_null()),
                (Cmp::In, Operand::Nums(ns)) => Box::new(col.eq_any(ns.iter().map(|n| at(*n)).collect::<Vec<_>>())),
                _ => Box::new(col.is_null()),
            };
            cond
        }};
    }
    if created {
        on!(records::created_at)
    } else {
        on!(records::updated_at)
    }
}

/// OR of ANDs, as one boolean expression.
fn search_sql(tid: &str, object: Object, search: &Search) -> Option<RecordCond> {
    let mut any: Option<RecordCond> = None;
    for group in &search.groups {
        let mut all: Option<RecordCond> = None;
        for c in group {
            let next = condition_sql(tid, object, c);
            all = Some(match all {
                None => next,
                Some(acc) => Box::new(acc.and(next)),
            });
        }
        if let Some(all) = all {
            any = Some(match any {
                None => all,
                Some(acc) => Box::new(acc.or(all)),
            });
        }
    }
    any
}

impl TenantDb<'_> {
    /// A live (or, with `trashed`, a trashed) record of `object` by id.
    pub fn record(&mut self, object: Object, id: &str, trashed: bool) -> QueryResult<Option<RecordRow>> {
        let (conn, tid) = self.parts();
        let q = records::table
            .filter(records::tenant_id.eq(tid))
            .filter(records::object.eq(object.name()))
            .filter(records::id.eq(id))
            .select(RecordRow::as_select());
        if trashed {
            q.filter(records::deleted_at.is_not_null()).first(conn).optional()
        } else {
            q.filter(records::deleted_at.is_null()).first(conn).optional()
        }
    }

    /// Which of `ids` are live records of `object` here.
    pub fn live_ids(&mut self, object: Object, ids: &[String]) -> QueryResult<Vec<String>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let (conn, tid) = self.parts();
        records::table
            .filter(records::tenant_id.eq(tid))
            .filter(records::object.eq(object.name()))
            .filter(records::id.eq_any(ids))
            .filter(records::deleted_at.is_null())
            .select(records::id)
            .load(conn)
    }

    /// The live contact with this lower-cased email, if any.
    pub fn contact_by_email(&mut self, email_lower: &str) -> QueryResult<Option<String>> {
        let (conn, tid) = self.parts();
        records::table
            .filter(records::tenant_id.eq(tid))
            .filter(records::email_lower.eq(email_lower))
            .filter(records::deleted_at.is_null())
            .select(records::id)
            .first(conn)
            .optional()
    }

    pub fn insert_record(&mut self, row: &RecordRow) -> QueryResult<()> {
        diesel::insert_into(records::table).values(row).execute(self.conn())?;
        Ok(())
    }

    pub fn update_record(&mut self, row: &RecordRow) -> QueryResult<()> {
        let (conn, tid) = self.parts();
        diesel::update(records::table.filter(records::tenant_id.eq(tid)).filter(records::id.eq(&row.id)))
            .set((
                records::props.eq(&row.props),
                records::custom.eq(&row.custom),
                records::search_text.eq(&row.search_text),
                records::email_lower.eq(&row.email_lower),
                records::updated_at.eq(row.updated_at),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// Moves a record to the trash (or back with `None`).
    pub fn set_trashed(
        &mut self,
        id: &str,
        deleted_at: Option<NaiveDateTime>,
        purge_at: Option<NaiveDateTime>,
    ) -> QueryResult<()> {
        let (conn, tid) = self.parts();
        diesel::update(records::table.filter(records::tenant_id.eq(tid)).filter(records::id.eq(id)))
            .set((records::deleted_at.eq(deleted_at), records::purge_at.eq(purge_at)))
            .execute(conn)?;
        Ok(())
    }

    /// Replaces the mirrored values of the given fields: one DELETE (skipped for a new
    /// record, which has none) and multi-row INSERTs.
    pub fn index_fields(
        &mut self,
        object: Object,
        record_id: &str,
        fields: &[FieldIndex],
        is_new: bool,
    ) -> QueryResult<()> {
        let (conn, tid) = self.parts();
        let tid = tid.to_string();
        if !is_new && !fields.is_empty() {
            diesel::delete(
                record_values::table
                    .filter(record_values::tenant_id.eq(&tid))
                    .filter(record_values::record_id.eq(record_id))
                    .filter(record_values::field.eq_any(fields.iter().map(|f| f.field.as_str()))),
            )
            .execute(conn)?;
        }
        let rows: Vec<_> = fields
            .iter()
            .flat_map(|f| f.values.iter().enumerate().map(move |(ord, v)| (f, ord, v)))
            .map(|(f, ord, v)| {
                (
                    record_values::tenant_id.eq(tid.as_str()),
                    record_values::record_id.eq(record_id),
                    record_values::object.eq(object.name()),
                    record_values::field.eq(f.field.as_str()),
                    record_values::ord.eq(ord as i32),
                    record_values::text_value.eq(v.text.as_deref()),
                    record_values::num_value.eq(v.num),
                )
            })
            .collect();
        // 7 binds per row: 500 rows stay below either backend's bind limit.
        for chunk in rows.chunks(500) {
            crate::each_backend!(&mut *conn, c => diesel::insert_into(record_values::table).values(chunk).execute(c))?;
        }
        Ok(())
    }

    /// The tag names of a record, sorted.
    pub fn record_tag_names(&mut self, record_id: &str) -> QueryResult<Vec<String>> {
        let (conn, tid) = self.parts();
        tags::table
            .inner_join(record_tags::table)
            .filter(record_tags::tenant_id.eq(tid))
            .filter(record_tags::record_id.eq(record_id))
            .filter(tags::deleted_at.is_null())
            .order(tags::name_lower.asc())
            .select(tags::name)
            .load(conn)
    }

    /// Sets a record's tags to exactly `names`, creating tags that do not exist yet.
    pub fn set_record_tags(&mut self, record_id: &str, names: &[String], now: NaiveDateTime) -> QueryResult<()> {
        let (conn, tid) = self.parts();
        let tid = tid.to_string();
        diesel::delete(
            record_tags::table.filter(record_tags::tenant_id.eq(&tid)).filter(record_tags::record_id.eq(record_id)),
        )
        .execute(conn)?;
        for name in names {
            let lower = name.to_lowercase();
            let existing: Option<String> = tags::table
                .filter(tags::tenant_id.eq(&tid))
                .filter(tags::name_lower.eq(&lower))
                .filter(tags::deleted_at.is_null())
                .select(tags::id)
                .first(conn)
                .optional()?;
            let tag_id = match existing {
                Some(id) => id,
                None => {
                    let id = uuid::Uuid::now_v7().to_string();
                    diesel::insert_into(tags::table)
                        .values((
                            tags::id.eq(&id),
                            tags::tenant_id.eq(&tid),
                            tags::name.eq(name),
                            tags::name_lower.eq(&lower),
                            tags::created_at.eq(now),
                        ))
                        .execute(conn)?;
                    id
                }
            };
            diesel::insert_into(record_tags::table)
                .values((
                    record_tags::tenant_id.eq(&tid),
                    record_tags::record_id.eq(record_id),
                    record_tags::tag_id.eq(&tag_id),
                ))
                .execute(conn)?;
        }
        Ok(())
    }

    /// One page of records. Keyset pagination on the time-ordered id: rows inserted while
    /// a client pages never shift what it has not seen yet.
    pub fn list_records(&mut self, spec: &ListSpec) -> QueryResult<Vec<RecordRow>> {
        let (conn, tid) = self.parts();
        let mut q = records::table
            .filter(records::tenant_id.eq(tid))
            .filter(records::object.eq(spec.object.name()))
            .select(RecordRow::as_select())
            .into_boxed();
        q = if spec.trashed {
            q.filter(records::deleted_at.is_not_null())
        } else {
            q.filter(records::deleted_at.is_null())
        };
        if let Some(text) = &spec.q {
            let pattern = format!("%{}%", escape_like(text));
            q = q.filter(records::search_text.like(pattern).escape('\\'));
        }
        if let Some(tag) = &spec.tag {
            let tagged = record_tags::table
                .inner_join(tags::table)
                .filter(record_tags::tenant_id.eq(tid.to_string()))
                .filter(tags::name_lower.eq(tag.clone()))
                .filter(tags::deleted_at.is_null())
                .select(record_tags::record_id);
            q = q.filter(records::id.eq_any(tagged));
        }
        if let Some(cond) = spec.search.as_ref().and_then(|s| search_sql(tid, spec.object, s)) {
            q = q.filter(cond);
        }
        match (spec.order, &spec.after_id) {
            (Order::CreatedAsc, Some(after)) => q = q.filter(records::id.gt(after.clone())),
            (Order::CreatedDesc, Some(after)) => q = q.filter(records::id.lt(after.clone())),
            _ => {}
        }
        q = match spec.order {
            Order::CreatedAsc => q.order(records::id.asc()),
            Order::CreatedDesc => q.order(records::id.desc()),
        };
        q.limit(spec.limit).load(conn)
    }
}

/// What the purge job found due: `(tenant, object, id)`. This read spans portals on purpose:
/// it is the system scheduler's, and each purge then runs through that portal's `TenantDb`.
pub fn due_for_purge(
    conn: &mut super::DbConnection,
    now: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<(String, String, String)>> {
    records::table
        .filter(records::deleted_at.is_not_null())
        .filter(records::purge_at.le(now))
        .order(records::purge_at.asc())
        .limit(limit)
        .select((records::tenant_id, records::object, records::id))
        .load(conn)
}

impl TenantDb<'_> {
    /// Deletes a trashed record for good (values and tag links cascade). Returns whether it
    /// was still there, so concurrent purgers announce it once.
    pub fn purge_record(&mut self, id: &str) -> QueryResult<bool> {
        let (conn, tid) = self.parts();
        let n = diesel::delete(
            records::table
                .filter(records::tenant_id.eq(tid))
                .filter(records::id.eq(id))
                .filter(records::deleted_at.is_not_null()),
        )
        .execute(conn)?;
        Ok(n == 1)
    }
}

/// Escapes LIKE wildcards so `?q=50%` finds "50%" literally.
fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}
