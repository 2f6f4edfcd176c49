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

/// How much of a text value the value index holds. Longer values keep their whole text in
/// `full_text`, which filters read, while sorting compares these first characters.
pub const INDEXED_TEXT_CHARS: usize = 512;

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

type Mb = <super::DbConnection as diesel::Connection>::Backend;
type RecordCond = Box<dyn BoxableExpression<records::table, Mb, SqlType = diesel::sql_types::Bool>>;

/// One condition as SQL. Value conditions become `id IN (SELECT record_id FROM
/// record_values WHERE tenant, object, field, <cond>)`, which the (tenant, object, field,
/// value) indexes serve on both backends.
fn condition_sql(tid: &str, object: Object, c: &Condition) -> RecordCond {
    use record_values as rv;
    let field = match &c.field {
        FieldRef::Indexed(f) => f.clone(),
        FieldRef::CreatedAt => return time_condition(true, c),
        FieldRef::UpdatedAt => return time_condition(false, c),
        FieldRef::Tags => return tag_condition(tid, c),
    };
    // Several values, one of them too long for the index alone: OR of equalities.
    if let (Cmp::In, Operand::Texts(ts)) = (&c.cmp, &c.operand) {
        if ts.iter().any(|t| t.chars().count() >= INDEXED_TEXT_CHARS) {
            return any_of(ts.iter().map(|t| {
                let eq = Condition { field: c.field.clone(), cmp: Cmp::Eq, operand: Operand::Text(t.clone()) };
                condition_sql(tid, object, &eq)
            }));
        }
    }
    let text = rv::text_value.assume_not_null();
    let full = rv::full_text.assume_not_null();
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
        // Equality is usually selective: find the few ids through the value index. A value
        // shorter than the indexed prefix can only equal a value that was not cut.
        (Cmp::Eq, Operand::Text(t)) => match t.chars().count() {
            n if n < INDEXED_TEXT_CHARS => values!(eq_any, text.eq(t.clone())),
            n if n == INDEXED_TEXT_CHARS => values!(eq_any, text.eq(t.clone()).and(rv::full_text.is_null())),
            _ => values!(eq_any, text.eq(indexed_prefix(t)).and(full.eq(t.clone()))),
        },
        (Cmp::Eq, Operand::Num(n)) => values!(eq_any, num.eq(*n)),
        (Cmp::In, Operand::Texts(ts)) => values!(eq_any, text.eq_any(ts.clone())),
        (Cmp::In, Operand::Nums(ns)) => values!(eq_any, num.eq_any(ns.clone())),
        // The rest often match much of a portal: test each record in list order.
        (Cmp::Exists(true), _) => exists_value!(rv::ord.ge(0)),
        (Cmp::Exists(false), _) => not_exists(exists_value!(rv::ord.ge(0))),
        (Cmp::Neq, Operand::Text(_)) => {
            let eq = Condition { field: c.field.clone(), cmp: Cmp::Eq, operand: c.operand.clone() };
            not_exists(condition_sql(tid, object, &eq))
        }
        (Cmp::Neq, Operand::Num(n)) => not_exists(exists_value!(num.eq(*n))),
        (Cmp::Lt, Operand::Text(t)) => {
            exists_value!(rv::full_text.is_null().and(text.lt(t.clone())).or(full.lt(t.clone())))
        }
        (Cmp::Lt, Operand::Num(n)) => exists_value!(num.lt(*n)),
        (Cmp::Lte, Operand::Text(t)) => {
            exists_value!(rv::full_text.is_null().and(text.le(t.clone())).or(full.le(t.clone())))
        }
        (Cmp::Lte, Operand::Num(n)) => exists_value!(num.le(*n)),
        (Cmp::Gt, Operand::Text(t)) => {
            exists_value!(rv::full_text.is_null().and(text.gt(t.clone())).or(full.gt(t.clone())))
        }
        (Cmp::Gt, Operand::Num(n)) => exists_value!(num.gt(*n)),
        (Cmp::Gte, Operand::Text(t)) => {
            exists_value!(rv::full_text.is_null().and(text.ge(t.clone())).or(full.ge(t.clone())))
        }
        (Cmp::Gte, Operand::Num(n)) => exists_value!(num.ge(*n)),
        (Cmp::Contains, Operand::Text(t)) => {
            let pattern = format!("%{}%", escape_like(t));
            exists_value!(text.like(pattern.clone()).escape('\\').or(full.like(pattern).escape('\\')))
        }
        // The parser never builds other pairs; match nothing rather than everything.
        _ => values!(eq_any, rv::ord.lt(0)),
    }
}

fn not_exists(cond: RecordCond) -> RecordCond {
    Box::new(diesel::dsl::not(cond))
}

fn any_of(conds: impl Iterator<Item = RecordCond>) -> RecordCond {
    conds.reduce(|acc, next| Box::new(acc.or(next))).unwrap_or_else(|| Box::new(records::id.is_null()))
}

/// The first characters of a value that the value index holds.
pub fn indexed_prefix(text: &str) -> String {
    text.chars().take(INDEXED_TEXT_CHARS).collect()
}

/// `tags` in a filter: the record's live tags by lower-cased name.
fn tag_condition(tid: &str, c: &Condition) -> RecordCond {
    let tagged = |names: Vec<String>| {
        let sub = record_tags::table
            .inner_join(tags::table)
            .filter(record_tags::tenant_id.eq(tid.to_string()))
            // Lets the (tenant_id, name_lower) index find the tags first.
            .filter(tags::tenant_id.eq(tid.to_string()))
            .filter(tags::name_lower.eq_any(names))
            .filter(tags::deleted_at.is_null())
            .select(record_tags::record_id);
        let cond: RecordCond = Box::new(records::id.eq_any(sub));
        cond
    };
    match (&c.cmp, &c.operand) {
        (Cmp::Eq, Operand::Text(t)) => tagged(vec![t.clone()]),
        (Cmp::In, Operand::Texts(ts)) => tagged(ts.clone()),
        (Cmp::Neq, Operand::Text(t)) => not_exists(tagged(vec![t.clone()])),
        (Cmp::Exists(has), _) => {
            let sub = record_tags::table
                .inner_join(tags::table)
                .filter(record_tags::record_id.eq(records::id))
                .filter(tags::deleted_at.is_null())
                .select(record_tags::record_id);
            let cond: RecordCond = Box::new(diesel::dsl::exists(sub));
            if *has {
                cond
            } else {
                not_exists(cond)
            }
        }
        (Cmp::Contains, Operand::Text(t)) => {
            let sub = record_tags::table
                .inner_join(tags::table)
                .filter(record_tags::record_id.eq(records::id))
                .filter(tags::deleted_at.is_null())
                .filter(tags::name_lower.like(format!("%{}%", escape_like(t))).escape('\\'))
                .select(record_tags::record_id);
            Box::new(diesel::dsl::exists(sub))
        }
        // The parser never builds other pairs; match nothing rather than everything.
        _ => Box::new(records::id.is_null()),
    }
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
                    record_values::text_value.eq(v.text.as_deref().map(indexed_prefix)),
                    record_values::num_value.eq(v.num),
                    record_values::full_text.eq(v.text.as_deref().filter(|t| t.chars().count() > INDEXED_TEXT_CHARS)),
                )
            })
            .collect();
        // 8 binds per row: 500 rows stay below either backend's bind limit.
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

    /// One page of records with each row's position. Keyset pagination: rows inserted
    /// while a client pages never shift what it has not seen yet.
    pub fn list_records(&mut self, spec: &ListSpec) -> QueryResult<Vec<(RecordRow, Position)>> {
        let (conn, tid) = self.parts();
        match &spec.order {
            Order::Created { desc } => {
                let mut q =
                    records::table.filter(list_condition(tid, spec)).select(RecordRow::as_select()).into_boxed();
                if let Some(after) = &spec.after {
                    let id = after.id().to_string();
                    q = if *desc { q.filter(records::id.lt(id)) } else { q.filter(records::id.gt(id)) };
                }
                q = if *desc { q.order(records::id.desc()) } else { q.order(records::id.asc()) };
                let rows: Vec<RecordRow> = q.limit(spec.limit).load(conn)?;
                Ok(rows
                    .into_iter()
                    .map(|r| {
                        let p = Position::Id(r.id.clone());
                        (r, p)
                    })
                    .collect())
            }
            Order::Updated { desc } => {
                let mut q =
                    records::table.filter(list_condition(tid, spec)).select(RecordRow::as_select()).into_boxed();
                let (at, id) = (records::updated_at, records::id);
                if let Some(Position::Updated(t, after)) = &spec.after {
                    q = if *desc {
                        q.filter(at.le(*t).and(at.lt(*t).or(id.lt(after.clone()))))
                    } else {
                        q.filter(at.ge(*t).and(at.gt(*t).or(id.gt(after.clone()))))
                    };
                }
                q = if *desc { q.order((at.desc(), id.desc())) } else { q.order((at.asc(), id.asc())) };
                let rows: Vec<RecordRow> = q.limit(spec.limit).load(conn)?;
                Ok(rows
                    .into_iter()
                    .map(|r| {
                        let p = Position::Updated(r.updated_at, r.id.clone());
                        (r, p)
                    })
                    .collect())
            }
            Order::Field { field, numeric, desc } => self.list_by_field(spec, field, *numeric, *desc),
        }
    }

    /// A page sorted by a field: first the records with a value, in (value, id) order,
    /// then, once those run out, the records without one, by id.
    ///
    /// The records holding a value come from the value index after the cursor's position.
    /// A first pass looks only at the next few of them (a window four pages wide), which
    /// answers an unfiltered or loosely filtered list in time proportional to the page. When
    /// the filters leave the page short, a second pass takes every value after the position,
    /// costing what the filters match.
    fn list_by_field(
        &mut self,
        spec: &ListSpec,
        field: &str,
        numeric: bool,
        desc: bool,
    ) -> QueryResult<Vec<(RecordRow, Position)>> {
        let mut out = Vec::new();
        if !matches!(spec.after, Some(Position::Missing(_))) {
            out = self.field_values_page(spec, field, numeric, desc, Some(4 * spec.limit))?;
            if (out.len() as i64) < spec.limit {
                out = self.field_values_page(spec, field, numeric, desc, None)?;
            }
        }
        let room = spec.limit - out.len() as i64;
        if room > 0 {
            use record_values as rv;
            let (conn, tid) = self.parts();
            let has_value = rv::table
                .filter(rv::record_id.eq(records::id))
                .filter(rv::field.eq(field.to_string()))
                .filter(rv::ord.eq(0));
            let mut q = records::table.filter(list_condition(tid, spec)).select(RecordRow::as_select()).into_boxed();
            q = if numeric {
                q.filter(diesel::dsl::not(diesel::dsl::exists(has_value.filter(rv::num_value.is_not_null()))))
            } else {
                q.filter(diesel::dsl::not(diesel::dsl::exists(has_value.filter(rv::text_value.is_not_null()))))
            };
            if let Some(Position::Missing(after)) = &spec.after {
                q = if desc {
                    q.filter(records::id.lt(after.clone()))
                } else {
                    q.filter(records::id.gt(after.clone()))
                };
            }
            q = if desc { q.order(records::id.desc()) } else { q.order(records::id.asc()) };
            for row in q.limit(room).load::<RecordRow>(conn)? {
                let position = Position::Missing(row.id.clone());
                out.push((row, position));
            }
        }
        Ok(out)
    }

    /// Records holding a value for `field` after the list's position, in sort order: among
    /// the next `window` values only, or all of them.
    fn field_values_page(
        &mut self,
        spec: &ListSpec,
        field: &str,
        numeric: bool,
        desc: bool,
        window: Option<i64>,
    ) -> QueryResult<Vec<(RecordRow, Position)>> {
        use diesel::dsl::sql;
        use diesel::sql_types::{Double, Nullable, Text};
        use record_values as rv;
        let (conn, tid) = self.parts();
        // The record's first value of the field, read beside each row and sorted on.
        let key_sql = |column: &str| {
            format!("(SELECT sv.{column} FROM record_values sv WHERE sv.record_id = records.id AND sv.ord = 0 AND sv.field = ")
        };
        let num_key = sql::<Nullable<Double>>(&key_sql("num_value")).bind::<Text, _>(field.to_string()).sql(")");
        let text_key = sql::<Nullable<Text>>(&key_sql("text_value")).bind::<Text, _>(field.to_string()).sql(")");
        let mut q = records::table
            .filter(list_condition(tid, spec))
            .select((RecordRow::as_select(), num_key.clone(), text_key.clone()))
            .into_boxed();
        let (num, text, id) = (rv::num_value.assume_not_null(), rv::text_value.assume_not_null(), rv::record_id);
        // A range the search puts on the sorted number itself starts the walk at its bound.
        let (lo, hi) = numeric_range(spec, field);
        let in_range = num.ge(lo).and(num.le(hi));
        // Each arm names one concrete subquery: a boxed one cannot be rendered for both
        // backends through `MultiConnection`.
        // With a window: `id IN (the next values, in order, limited)`, walked on the value
        // index. Without: each record the filters match is checked for a value after the
        // position, so nothing is gathered that the filters would throw away.
        macro_rules! values_after {
            ($present:expr, $order:expr) => {{
                values_after!($present, rv::ord.eq(0), $order)
            }};
            ($present:expr, $extra:expr, $order:expr) => {{
                match window {
                    Some(window) => {
                        let sub = rv::table
                            .filter(rv::tenant_id.eq(tid.to_string()))
                            .filter(rv::object.eq(spec.object.name()))
                            .filter(rv::field.eq(field.to_string()))
                            .filter(rv::ord.eq(0))
                            .filter($present)
                            .filter($extra)
                            .order($order)
                            .limit(window)
                            .select(rv::record_id);
                        q.filter(records::id.eq_any(sub))
                    }
                    None => {
                        let sub = rv::table
                            .filter(rv::record_id.eq(records::id))
                            .filter(rv::field.eq(field.to_string()))
                            .filter(rv::ord.eq(0))
                            .filter($present)
                            .filter($extra)
                            .select(rv::record_id);
                        q.filter(diesel::dsl::exists(sub))
                    }
                }
            }};
        }
        q = match (&spec.after, numeric, desc) {
            (Some(Position::Num(v, after)), true, false) => {
                values_after!(num.ge(*v).and(num.gt(*v).or(id.gt(after.clone()))), in_range, (num.asc(), id.asc()))
            }
            (Some(Position::Num(v, after)), true, true) => {
                values_after!(num.le(*v).and(num.lt(*v).or(id.lt(after.clone()))), in_range, (num.desc(), id.desc()))
            }
            (Some(Position::Text(v, after)), false, false) => values_after!(
                text.ge(v.clone()).and(text.gt(v.clone()).or(id.gt(after.clone()))),
                (text.asc(), id.asc())
            ),
            (Some(Position::Text(v, after)), false, true) => values_after!(
                text.le(v.clone()).and(text.lt(v.clone()).or(id.lt(after.clone()))),
                (text.desc(), id.desc())
            ),
            (_, true, false) => values_after!(rv::num_value.is_not_null(), in_range, (num.asc(), id.asc())),
            (_, true, true) => values_after!(rv::num_value.is_not_null(), in_range, (num.desc(), id.desc())),
            (_, false, false) => values_after!(rv::text_value.is_not_null(), (text.asc(), id.asc())),
            (_, false, true) => values_after!(rv::text_value.is_not_null(), (text.desc(), id.desc())),
        };
        q = match (numeric, desc) {
            (true, false) => q.order((num_key.asc(), records::id.asc())),
            (true, true) => q.order((num_key.desc(), records::id.desc())),
            (false, false) => q.order((text_key.asc(), records::id.asc())),
            (false, true) => q.order((text_key.desc(), records::id.desc())),
        };
        let rows: Vec<(RecordRow, Option<f64>, Option<String>)> = q.limit(spec.limit).load(conn)?;
        Ok(rows
            .into_iter()
            .filter_map(|(row, n, t)| {
                let position = match (numeric, n, t) {
                    (true, Some(n), _) => Position::Num(n, row.id.clone()),
                    (false, _, Some(t)) => Position::Text(t, row.id.clone()),
                    // A value removed between the two reads: the row is listed elsewhere.
                    _ => return None,
                };
                Some((row, position))
            })
            .collect())
    }
}

/// The bounds a search with one filter group (all ANDed) sets on a numeric `field`, or
/// the whole line. Records outside them fail the filters anyway, so the sorted walk over
/// the value index may start and stop there.
fn numeric_range(spec: &ListSpec, field: &str) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::NEG_INFINITY, f64::INFINITY);
    let Some([group]) = spec.search.as_ref().map(|s| s.groups.as_slice()) else {
        return (lo, hi);
    };
    for c in group {
        let (FieldRef::Indexed(f), Operand::Num(n)) = (&c.field, &c.operand) else { continue };
        if f != field {
            continue;
        }
        // Inclusive even for lt/gt: the filters themselves still drop the bound.
        match c.cmp {
            Cmp::Eq => (lo, hi) = (lo.max(*n), hi.min(*n)),
            Cmp::Lt | Cmp::Lte => hi = hi.min(*n),
            Cmp::Gt | Cmp::Gte => lo = lo.max(*n),
            _ => {}
        }
    }
    (lo, hi)
}

/// Everything a list filters on, as one condition: portal, object, live or trashed, `q`,
/// `tag` and the search's filter groups.
fn list_condition(tid: &str, spec: &ListSpec) -> RecordCond {
    let mut cond: RecordCond =
        Box::new(records::tenant_id.eq(tid.to_string()).and(records::object.eq(spec.object.name())));
    let and = |acc: RecordCond, next: RecordCond| -> RecordCond { Box::new(acc.and(next)) };
    cond = if spec.trashed {
        and(cond, Box::new(records::deleted_at.is_not_null()))
    } else {
        and(cond, Box::new(records::deleted_at.is_null()))
    };
    if let Some(text) = &spec.q {
        let pattern = format!("%{}%", escape_like(text));
        cond = and(cond, Box::new(records::search_text.like(pattern).escape('\\')));
    }
    if let Some(tag) = &spec.tag {
        let c = Condition { field: FieldRef::Tags, cmp: Cmp::Eq, operand: Operand::Text(tag.clone()) };
        cond = and(cond, tag_condition(tid, &c));
    }
    if let Some(search) = spec.search.as_ref().and_then(|s| search_sql(tid, spec.object, s)) {
        cond = and(cond, search);
    }
    cond
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
