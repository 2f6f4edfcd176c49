//! The change-event outbox. Each committed change to a record writes one event in the same
//! transaction, numbered per portal without gaps and in commit order: a write transaction
//! carries its events ([`super::scope::Outbox`]) and numbers them just before COMMIT under
//! the portal's `event_heads` row lock. Real-time push, webhooks and timelines read here.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{event_heads, events};
use super::{DbConnection, TenantDb};
use crate::domain::TenantId;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = events, treat_none_as_default_value = false)]
pub struct EventRow {
    pub tenant_id: String,
    pub seq: i64,
    pub id: String,
    pub event_type: String,
    pub object: String,
    pub record_id: String,
    pub actor_type: String,
    pub actor_id: Option<String>,
    pub data: String,
    pub diff: Option<String>,
    pub occurred_at: NaiveDateTime,
}

/// Who made a change, for events: `user`, `api_key` or `system`, and its id.
#[derive(Debug, Clone)]
pub struct ChangeActor {
    pub kind: &'static str,
    pub id: Option<String>,
}

/// An event to append; `event_type` is `<object>.<verb>` (`contact.created`).
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub event_type: String,
    pub object: &'static str,
    pub record_id: String,
    pub actor_type: &'static str,
    pub actor_id: Option<String>,
    pub data: serde_json::Value,
    pub diff: Option<serde_json::Value>,
}

/// Numbers `evs` after the portal's head and inserts them; returns the new head. Called by
/// the write transaction just before COMMIT (see [`super::scope::Outbox`]), with the
/// transaction already scoped to the portal.
pub(super) fn write_numbered(
    conn: &mut DbConnection,
    tenant: &TenantId,
    evs: Vec<(NewEvent, NaiveDateTime)>,
) -> QueryResult<i64> {
    let tid = tenant.as_str();
    let n = evs.len() as i64;
    let head = advance_head(conn, tid, n)?;
    let rows: Vec<EventRow> = evs
        .into_iter()
        .enumerate()
        .map(|(i, (e, at))| EventRow {
            tenant_id: tid.to_string(),
            seq: head - n + 1 + i as i64,
            id: uuid::Uuid::now_v7().to_string(),
            event_type: e.event_type,
            object: e.object.to_string(),
            record_id: e.record_id,
            actor_type: e.actor_type.to_string(),
            actor_id: e.actor_id,
            data: e.data.to_string(),
            diff: e.diff.map(|d| d.to_string()),
            occurred_at: at,
        })
        .collect();
    // One event (most writes) as a single-row INSERT, which both backends keep prepared;
    // a batch's SQL varies with its length, so it is planned each time. 11 binds per row:
    // 200 rows stay far below either backend's bind limit.
    if let [row] = rows.as_slice() {
        crate::each_backend!(&mut *conn, c => diesel::insert_into(events::table).values(row).execute(c))?;
        return Ok(head);
    }
    for chunk in rows.chunks(200) {
        crate::each_backend!(&mut *conn, c => diesel::insert_into(events::table).values(chunk).execute(c))?;
    }
    Ok(head)
}

/// Moves the portal's head `n` on and returns it. On PostgreSQL one prepared
/// `UPDATE … RETURNING` (diesel neither caches UPDATEs nor, without a static query id,
/// keeps them prepared: each was parsed and planned again, then read back in a second
/// round trip); SQLite keeps the two local statements.
fn advance_head(conn: &mut DbConnection, tid: &str, n: i64) -> QueryResult<i64> {
    match conn {
        DbConnection::Postgresql(pg) => AdvanceHead { tenant: tid, by: n }.get_result(pg),
        DbConnection::Sqlite(_) => {
            diesel::update(event_heads::table.find(tid))
                .set(event_heads::seq.eq(event_heads::seq + n))
                .execute(conn)?;
            event_heads::table.find(tid).select(event_heads::seq).first(conn)
        }
    }
}

/// `UPDATE event_heads SET seq = seq + $1 WHERE tenant_id = $2 RETURNING seq`, with a
/// static query id so each connection prepares it once.
struct AdvanceHead<'a> {
    tenant: &'a str,
    by: i64,
}

impl diesel::query_builder::QueryId for AdvanceHead<'_> {
    type QueryId = AdvanceHead<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for AdvanceHead<'_> {
    fn walk_ast<'b>(&'b self, mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>) -> QueryResult<()> {
        out.push_sql("UPDATE event_heads SET seq = seq + ");
        out.push_bind_param::<diesel::sql_types::BigInt, _>(&self.by)?;
        out.push_sql(" WHERE tenant_id = ");
        out.push_bind_param::<diesel::sql_types::Text, _>(&self.tenant)?;
        out.push_sql(" RETURNING seq");
        Ok(())
    }
}

impl diesel::query_builder::Query for AdvanceHead<'_> {
    type SqlType = diesel::sql_types::BigInt;
}

impl<C> RunQueryDsl<C> for AdvanceHead<'_> {}

impl TenantDb<'_> {
    /// Starts this (new) portal's event sequence.
    pub(super) fn start_sequence(&mut self) -> QueryResult<()> {
        let (conn, tid) = self.parts();
        diesel::insert_into(event_heads::table)
            .values((event_heads::tenant_id.eq(tid), event_heads::seq.eq(0i64)))
            .execute(conn)?;
        Ok(())
    }

    /// A record's history, newest first: its own events, and those of the records of
    /// `linked` objects (notes, tasks) that link to it (`link_field` is how they name it,
    /// e.g. `contact_ids`).
    pub fn timeline(
        &mut self,
        record_id: &str,
        link_field: &str,
        linked: &[&'static str],
        before_seq: Option<i64>,
        limit: i64,
    ) -> QueryResult<Vec<EventRow>> {
        use super::schema::record_values as rv;
        let (conn, tid) = self.parts();
        let linked_ids: Vec<String> = rv::table
            .filter(rv::tenant_id.eq(tid.to_string()))
            .filter(rv::object.eq_any(linked.to_vec()))
            .filter(rv::field.eq(link_field.to_string()))
            .filter(rv::text_value.eq(record_id.to_string()))
            .select(rv::record_id)
            .load(conn)?;
        // One index walk (`events_by_record`) per record, merged here. As one query
        // (`record_id = ? OR record_id IN (…)`, or even `record_id IN (…)` alone) both
        // databases walked the portal's whole event log by `seq` until they found `limit`
        // matches — 30 ms for a contact with two events in a portal of 100,000 contacts.
        let before = before_seq.unwrap_or(i64::MAX);
        let mut own: Vec<EventRow> = Vec::new();
        for rid in std::iter::once(record_id.to_string()).chain(linked_ids) {
            let rows: Vec<EventRow> = events::table
                .filter(events::tenant_id.eq(tid.to_string()))
                .filter(events::record_id.eq(rid))
                .filter(events::seq.lt(before))
                .order(events::seq.desc())
                .limit(limit)
                .select(EventRow::as_select())
                .load(conn)?;
            own.extend(rows);
        }
        own.sort_by_key(|e| std::cmp::Reverse(e.seq));
        own.dedup_by_key(|e| e.seq);
        own.truncate(usize::try_from(limit).unwrap_or(0));
        Ok(own)
    }

    /// Events after `since`, in order (for replay and tests).
    pub fn events_after(&mut self, since: i64, limit: i64) -> QueryResult<Vec<EventRow>> {
        let (conn, tid) = self.parts();
        events::table
            .filter(events::tenant_id.eq(tid))
            .filter(events::seq.gt(since))
            .order(events::seq.asc())
            .limit(limit)
            .select(EventRow::as_select())
            .load(conn)
    }
}
