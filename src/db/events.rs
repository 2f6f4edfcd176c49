//! The change-event outbox. Each committed change to a record writes one event in the same
//! transaction, numbered per portal without gaps and in commit order (the buffer below is
//! numbered just before COMMIT under the portal's `event_heads` row lock). Real-time push,
//! webhooks and timelines read from here.

use std::cell::RefCell;

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};
use diesel::prelude::*;

use super::schema::{event_heads, events};
use super::{DbConnection, TenantDb};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = events)]
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

/// Starts a new portal's event sequence (called when the portal is created).
pub fn start_sequence(conn: &mut DbConnection, tenant_id: &str) -> QueryResult<()> {
    diesel::insert_into(event_heads::table)
        .values((event_heads::tenant_id.eq(tenant_id), event_heads::seq.eq(0i64)))
        .execute(conn)?;
    Ok(())
}

/// Events appended inside the running write transaction of this thread, numbered and
/// written just before it commits. Writing them last keeps the portal's `event_heads` row
/// locked only for the commit itself (one bump per transaction, one multi-row insert),
/// instead of from the first change to the commit, which serialised every writer.
///
/// A write transaction runs on one blocking thread from begin to commit, so a thread-local
/// buffer is exactly as wide as the transaction. [`savepoint`] trims what a rolled-back
/// savepoint appended.
struct Pending {
    events: Vec<(String, NewEvent, NaiveDateTime)>,
}

thread_local! {
    static PENDING: RefCell<Option<Pending>> = const { RefCell::new(None) };
    static COMMITTED: RefCell<Vec<(String, i64)>> = const { RefCell::new(Vec::new()) };
}

/// Opens this thread's event buffer (the start of a write transaction).
pub(crate) fn begin_buffer() {
    PENDING.with(|p| *p.borrow_mut() = Some(Pending { events: Vec::new() }));
}

/// Drops what was buffered (a rollback).
pub(crate) fn discard_buffer() {
    PENDING.with(|p| *p.borrow_mut() = None);
}

/// Numbers and writes the buffered events (just before commit). Returns the new head of
/// each portal that got events, remembered until [`take_committed`] once the commit is done.
pub(crate) fn flush_buffer(conn: &mut DbConnection) -> QueryResult<Vec<(String, i64)>> {
    let pending = PENDING.with(|p| p.borrow_mut().take()).map(|p| p.events).unwrap_or_default();
    let mut by_tenant: Vec<(String, Vec<(NewEvent, NaiveDateTime)>)> = Vec::new();
    for (tid, e, at) in pending {
        match by_tenant.iter_mut().find(|(t, _)| *t == tid) {
            Some((_, v)) => v.push((e, at)),
            None => by_tenant.push((tid, vec![(e, at)])),
        }
    }
    let mut heads = Vec::new();
    for (tid, evs) in by_tenant {
        let n = evs.len() as i64;
        diesel::update(event_heads::table.find(&tid)).set(event_heads::seq.eq(event_heads::seq + n)).execute(conn)?;
        let head: i64 = event_heads::table.find(&tid).select(event_heads::seq).first(conn)?;
        let rows: Vec<EventRow> = evs
            .into_iter()
            .enumerate()
            .map(|(i, (e, at))| EventRow {
                tenant_id: tid.clone(),
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
        // 11 binds per row: 200 rows stay far below either backend's bind limit.
        for chunk in rows.chunks(200) {
            crate::each_backend!(&mut *conn, c => diesel::insert_into(events::table).values(chunk).execute(c))?;
        }
        heads.push((tid, head));
    }
    Ok(heads)
}

/// Records the heads of a transaction that has just committed.
pub(crate) fn mark_committed(heads: Vec<(String, i64)>) {
    if !heads.is_empty() {
        COMMITTED.with(|c| c.borrow_mut().extend(heads));
    }
}

/// The portal heads committed on this thread since the last call (read by [`super::Db`] to
/// wake the real-time dispatcher after the work returns).
pub(crate) fn take_committed() -> Vec<(String, i64)> {
    COMMITTED.with(|c| std::mem::take(&mut *c.borrow_mut()))
}

/// A savepoint inside a write transaction: on error it rolls back and forgets the events the
/// closure appended, so a failed batch item or import row leaves no event behind.
pub fn savepoint<T, E, F>(conn: &mut DbConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    let mark = PENDING.with(|p| p.borrow().as_ref().map(|p| p.events.len()));
    let out = diesel::Connection::transaction(conn, f);
    if out.is_err() {
        if let Some(mark) = mark {
            PENDING.with(|p| {
                if let Some(p) = p.borrow_mut().as_mut() {
                    p.events.truncate(mark);
                }
            });
        }
    }
    out
}

impl TenantDb<'_> {
    /// Appends an event to the running write transaction; it is numbered and written when
    /// the transaction commits, and never if it rolls back. Outside a write transaction
    /// this is an error: an event must not exist without its change.
    pub fn append_event(&mut self, e: NewEvent, now: DateTime<Utc>) -> QueryResult<()> {
        let tid = self.tenant_id().to_string();
        let at = now.naive_utc().trunc_subsecs(6);
        PENDING.with(|p| match p.borrow_mut().as_mut() {
            Some(p) => {
                p.events.push((tid, e, at));
                Ok(())
            }
            None => Err(diesel::result::Error::QueryBuilderError("event appended outside a write transaction".into())),
        })
    }

    /// A record's history, newest first: its own events, and those of the notes and tasks
    /// linked to it (`link_field` is how notes and tasks name it, e.g. `contact_ids`).
    pub fn timeline(
        &mut self,
        record_id: &str,
        link_field: &str,
        before_seq: Option<i64>,
        limit: i64,
    ) -> QueryResult<Vec<EventRow>> {
        use super::schema::record_values as rv;
        let (conn, tid) = self.parts();
        let linked = rv::table
            .filter(rv::tenant_id.eq(tid.to_string()))
            .filter(rv::object.eq_any(["note", "task"]))
            .filter(rv::field.eq(link_field.to_string()))
            .filter(rv::text_value.eq(record_id.to_string()))
            .select(rv::record_id);
        let mut q = events::table
            .filter(events::tenant_id.eq(tid))
            .filter(events::record_id.eq(record_id).or(events::record_id.eq_any(linked)))
            .select(EventRow::as_select())
            .into_boxed();
        if let Some(b) = before_seq {
            q = q.filter(events::seq.lt(b));
        }
        q.order(events::seq.desc()).limit(limit).load(conn)
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
