//! The search language as SQL: each filter becomes a condition on `records`, value
//! filters through the `record_values` mirror (`id IN (SELECT record_id …)` or a
//! correlated EXISTS), served by the `(tenant, object, field, value)` indexes on both
//! backends.

use diesel::prelude::*;

use super::{indexed_prefix, INDEXED_TEXT_CHARS};
use crate::crm::objects::Object;
use crate::crm::query::ListSpec;
use crate::crm::search::{Cmp, Condition, FieldRef, Operand, Search};
use crate::db::schema::{record_tags, record_values, records, tags};
use crate::db::strpos;

type Mb = <crate::db::DbConnection as diesel::Connection>::Backend;
pub(super) type RecordCond = Box<dyn BoxableExpression<records::table, Mb, SqlType = diesel::sql_types::Bool>>;

/// How a query will read what a condition matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Plan {
    /// One page: selective conditions collect their ids first (`id IN (SELECT …)`), which
    /// answers a rare value in time proportional to its matches.
    Page,
    /// Every match, page after page behind an id cursor (a campaign's audience): each
    /// condition is a correlated EXISTS tested per record in id order. SQLite builds an
    /// `IN (SELECT …)` list in full on every call, so walking M matches that way costs
    /// M²/page; tested per record it costs what the walk reads, once.
    Walk,
}

/// One condition as SQL. Value conditions become `id IN (SELECT record_id FROM
/// record_values WHERE tenant, object, field, <cond>)`, which the (tenant, object, field,
/// value) indexes serve on both backends; in a [`Plan::Walk`] a correlated EXISTS.
fn condition_sql(tid: &str, object: Object, c: &Condition, plan: Plan) -> RecordCond {
    use record_values as rv;
    let field = match &c.field {
        FieldRef::Indexed(f) => f.clone(),
        FieldRef::CreatedAt => return time_condition(true, c),
        FieldRef::UpdatedAt => return time_condition(false, c),
        FieldRef::Tags => return tag_condition(tid, c, plan),
    };
    // Several values, one of them too long for the index alone: OR of equalities.
    if let (Cmp::In, Operand::Texts(ts)) = (&c.cmp, &c.operand) {
        if ts.iter().any(|t| t.chars().count() >= INDEXED_TEXT_CHARS) {
            return any_of(ts.iter().map(|t| {
                let eq = Condition { field: c.field.clone(), cmp: Cmp::Eq, operand: Operand::Text(t.clone()) };
                condition_sql(tid, object, &eq, plan)
            }));
        }
    }
    let text = rv::text_value.assume_not_null();
    let full = rv::full_text.assume_not_null();
    let num = rv::num_value.assume_not_null();
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
    // Each arm builds a concrete subquery: boxed subqueries cannot be rendered for both
    // backends through `MultiConnection`.
    macro_rules! values {
        ($op:ident, $cond:expr) => {{
            if plan == Plan::Walk {
                return exists_value!($cond);
            }
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
    match (&c.cmp, &c.operand) {
        // Equality is usually selective: find the few ids through the value index. A value
        // shorter than the indexed prefix can only equal a value that was not cut.
        (Cmp::Eq, Operand::Text(t)) => match t.chars().count() {
            n if n < INDEXED_TEXT_CHARS => values!(eq_any, text.eq(t.clone())),
            n if n == INDEXED_TEXT_CHARS => values!(eq_any, text.eq(t.clone()).and(rv::full_text.is_null())),
            _ => values!(eq_any, text.eq(indexed_prefix(t)).and(full.eq(t.clone()))),
        },
        (Cmp::Eq, Operand::Num(n)) => values!(eq_any, num.eq(*n)),
        // Times: the interval the operand's precision names (seconds in the index).
        (Cmp::Eq, Operand::Span(a, b)) => values!(eq_any, num.ge(secs(*a)).and(num.lt(secs(*b)))),
        (Cmp::In, Operand::Spans(spans)) => any_of(spans.iter().map(|(a, b)| {
            let one = Condition { field: c.field.clone(), cmp: Cmp::Eq, operand: Operand::Span(*a, *b) };
            condition_sql(tid, object, &one, plan)
        })),
        (Cmp::Neq, Operand::Span(a, b)) => not_exists(exists_value!(num.ge(secs(*a)).and(num.lt(secs(*b))))),
        (Cmp::Lt, Operand::Span(a, _)) => exists_value!(num.lt(secs(*a))),
        (Cmp::Lte, Operand::Span(_, b)) => exists_value!(num.lt(secs(*b))),
        (Cmp::Gt, Operand::Span(_, b)) => exists_value!(num.ge(secs(*b))),
        (Cmp::Gte, Operand::Span(a, _)) => exists_value!(num.ge(secs(*a))),
        (Cmp::In, Operand::Texts(ts)) => values!(eq_any, text.eq_any(ts.clone())),
        (Cmp::In, Operand::Nums(ns)) => values!(eq_any, num.eq_any(ns.clone())),
        // The rest often match much of a portal: test each record in list order.
        (Cmp::Exists(true), _) => exists_value!(rv::ord.ge(0)),
        (Cmp::Exists(false), _) => not_exists(exists_value!(rv::ord.ge(0))),
        (Cmp::Neq, Operand::Text(_)) => {
            let eq = Condition { field: c.field.clone(), cmp: Cmp::Eq, operand: c.operand.clone() };
            not_exists(condition_sql(tid, object, &eq, plan))
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
        (Cmp::Contains, Operand::Text(t)) if !like_fits(t) => exists_value!(strpos(rv::text_value, t.clone())
            .assume_not_null()
            .gt(0)
            .or(strpos(rv::full_text, t.clone()).assume_not_null().gt(0))),
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

/// `tags` in a filter: the record's live tags by lower-cased name.
fn tag_condition(tid: &str, c: &Condition, plan: Plan) -> RecordCond {
    let tagged = |names: Vec<String>| {
        if plan == Plan::Walk {
            let sub = record_tags::table
                .inner_join(tags::table)
                .filter(record_tags::record_id.eq(records::id))
                .filter(tags::name_lower.eq_any(names))
                .filter(tags::deleted_at.is_null())
                .select(record_tags::record_id);
            let cond: RecordCond = Box::new(diesel::dsl::exists(sub));
            return cond;
        }
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
        (Cmp::Contains, Operand::Text(t)) if !like_fits(t) => {
            let sub = record_tags::table
                .inner_join(tags::table)
                .filter(record_tags::record_id.eq(records::id))
                .filter(tags::deleted_at.is_null())
                .filter(strpos(tags::name_lower.nullable(), t.clone()).assume_not_null().gt(0))
                .select(record_tags::record_id);
            Box::new(diesel::dsl::exists(sub))
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

/// `created_at` / `updated_at` (stored to the microsecond) against the interval the
/// operand's precision names: `eq` and `in` agree, whole seconds cover the second.
fn time_condition(created: bool, c: &Condition) -> RecordCond {
    let at = |micros: i64| chrono::DateTime::from_timestamp_micros(micros).unwrap_or_default().naive_utc();
    macro_rules! on {
        ($col:expr) => {{
            let col = $col;
            let cond: RecordCond = match (&c.cmp, &c.operand) {
                (Cmp::Eq, Operand::Span(a, b)) => Box::new(col.ge(at(*a)).and(col.lt(at(*b)))),
                (Cmp::Neq, Operand::Span(a, b)) => Box::new(col.lt(at(*a)).or(col.ge(at(*b)))),
                (Cmp::Lt, Operand::Span(a, _)) => Box::new(col.lt(at(*a))),
                (Cmp::Lte, Operand::Span(_, b)) => Box::new(col.lt(at(*b))),
                (Cmp::Gt, Operand::Span(_, b)) => Box::new(col.ge(at(*b))),
                (Cmp::Gte, Operand::Span(a, _)) => Box::new(col.ge(at(*a))),
                (Cmp::Exists(true), _) => Box::new(col.is_not_null()),
                (Cmp::In, Operand::Spans(spans)) => spans
                    .iter()
                    .map(|(a, b)| -> RecordCond { Box::new(col.ge(at(*a)).and(col.lt(at(*b)))) })
                    .reduce(|x, y| -> RecordCond { Box::new(x.or(y)) })
                    .unwrap_or_else(|| Box::new(col.is_null())),
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
fn search_sql(tid: &str, object: Object, search: &Search, plan: Plan) -> Option<RecordCond> {
    let mut any: Option<RecordCond> = None;
    for group in &search.groups {
        let mut all: Option<RecordCond> = None;
        for c in group {
            let next = condition_sql(tid, object, c, plan);
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

/// Everything a list filters on, as one condition: portal, object, live or trashed, `q`,
/// `tag` and the search's filter groups.
pub(super) fn list_condition(tid: &str, spec: &ListSpec) -> RecordCond {
    list_condition_for(tid, spec, Plan::Page)
}

/// [`list_condition`] for the given [`Plan`].
pub(super) fn list_condition_for(tid: &str, spec: &ListSpec, plan: Plan) -> RecordCond {
    let mut cond: RecordCond =
        Box::new(records::tenant_id.eq(tid.to_string()).and(records::object.eq(spec.object.name())));
    let and = |acc: RecordCond, next: RecordCond| -> RecordCond { Box::new(acc.and(next)) };
    cond = if spec.trashed {
        and(cond, Box::new(records::deleted_at.is_not_null()))
    } else {
        and(cond, Box::new(records::deleted_at.is_null()))
    };
    if let Some(text) = &spec.q {
        let found: RecordCond = if like_fits(text) {
            Box::new(records::search_text.like(format!("%{}%", escape_like(text))).escape('\\'))
        } else {
            Box::new(strpos(records::search_text.nullable(), text.clone()).assume_not_null().gt(0))
        };
        cond = and(cond, found);
    }
    if let Some(tag) = &spec.tag {
        let c = Condition { field: FieldRef::Tags, cmp: Cmp::Eq, operand: Operand::Text(tag.clone()) };
        cond = and(cond, tag_condition(tid, &c, plan));
    }
    if let Some(search) = spec.search.as_ref().and_then(|s| search_sql(tid, spec.object, s, plan)) {
        cond = and(cond, search);
    }
    cond
}

/// Microseconds as the index's seconds.
fn secs(micros: i64) -> f64 {
    micros as f64 / 1_000_000.0
}

/// Whether `%text%` stays within SQLite's LIKE pattern limit (50,000 bytes, counted after
/// escaping). Longer text is found with `strpos`, exactly, on both backends.
fn like_fits(text: &str) -> bool {
    escape_like(text).len() + 2 <= LIKE_PATTERN_MAX
}

const LIKE_PATTERN_MAX: usize = 40_000;

/// Escapes LIKE wildcards so `?q=50%` finds "50%" literally.
fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}
