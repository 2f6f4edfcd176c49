//! Keyset paging in every sort order: creation (the time-ordered id), `updated_at`, or a
//! mirrored field's first value. The cursor holds the last row's place, so rows added or
//! changed while a client pages never repeat or go missing.

use diesel::prelude::*;

use super::filters::{list_condition, list_condition_for, Plan};
use super::RecordRow;
use crate::crm::query::{ListSpec, Order, Position};
use crate::crm::search::{Cmp, FieldRef, Operand};
use crate::db::schema::{record_values, records};
use crate::db::TenantDb;

impl TenantDb<'_> {
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

    /// The next `spec.limit` records in creation order after `spec.after` that the list's
    /// filters match, as `(id, props)` only: a campaign's audience reads nothing else.
    pub fn list_ids_and_props(&mut self, spec: &ListSpec) -> QueryResult<Vec<(String, String)>> {
        let (conn, tid) = self.parts();
        let cond = list_condition_for(tid, spec, Plan::Walk);
        let mut q = records::table.filter(cond).select((records::id, records::props)).into_boxed();
        if let Some(after) = &spec.after {
            q = q.filter(records::id.gt(after.id().to_string()));
        }
        q.order(records::id.asc()).limit(spec.limit).load(conn)
    }

    /// How many records the list's filters match (`q`, `tag`, the search, live or trashed),
    /// exactly: the same condition as [`Self::list_records`], counted.
    pub fn count_records(&mut self, spec: &ListSpec) -> QueryResult<i64> {
        let (conn, tid) = self.parts();
        records::table.filter(list_condition(tid, spec)).count().get_result(conn)
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
        use record_values as rv;
        let (conn, tid) = self.parts();
        // The record's first value of the field, read beside each row and sorted on. Typed
        // subqueries, not SQL text: diesel never keeps a query holding an `sql()` literal
        // prepared, and PostgreSQL planned both passes of every sorted page again.
        let sv = diesel::alias!(record_values as sv);
        let first_value = sv
            .filter(sv.field(rv::record_id).eq(records::id))
            .filter(sv.field(rv::ord).eq(0))
            .filter(sv.field(rv::field).eq(field.to_string()));
        let num_key = first_value.clone().select(sv.field(rv::num_value)).single_value();
        let text_key = first_value.select(sv.field(rv::text_value)).single_value();
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
        let FieldRef::Indexed(f) = &c.field else { continue };
        if f != field {
            continue;
        }
        // The interval a bound allows (a time's span in the index's seconds).
        let (from, to) = match c.operand {
            Operand::Num(n) => (n, n),
            Operand::Span(a, b) => (a as f64 / 1_000_000.0, b as f64 / 1_000_000.0),
            _ => continue,
        };
        // Inclusive even for lt/gt: the filters themselves still drop the bound.
        match c.cmp {
            Cmp::Eq => (lo, hi) = (lo.max(from), hi.min(to)),
            Cmp::Lt | Cmp::Lte => hi = hi.min(to),
            Cmp::Gt | Cmp::Gte => lo = lo.max(from),
            _ => {}
        }
    }
    (lo, hi)
}
