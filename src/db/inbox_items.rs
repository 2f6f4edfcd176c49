//! The end users' inbox items (`inapp_items`) and their exact counters (`inapp_counters`,
//! changed in the same transaction as every item).
//!
//! Counter rules (archived items count in nothing): `total` = not archived, `unread` =
//! not read and not archived, `unseen` = not seen and not archived. Every change first
//! locks the items it changes (`FOR UPDATE` on PostgreSQL; SQLite writes one at a time)
//! and moves the counters by exactly what it changed, so concurrent changes and new
//! messages can never make them drift.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::inapp::MessageRow;
use super::schema::{inapp_counters, inapp_items, inapp_messages};
use super::{DbConnection, TenantDb};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = inapp_items, treat_none_as_default_value = false)]
pub struct ItemRow {
    pub id: String,
    pub tenant_id: String,
    pub message_id: String,
    pub user_id: String,
    pub created_at: NaiveDateTime,
    pub seen_at: Option<NaiveDateTime>,
    pub read_at: Option<NaiveDateTime>,
    pub archived_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub unread: i64,
    pub unseen: i64,
    pub total: i64,
}

/// Which items a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shelf {
    /// Not archived (read or not).
    All,
    Unread,
    Read,
    Archived,
}

/// A change to items, as the end user asks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Seen,
    Read,
    Unread,
    /// Archiving also marks read and seen.
    Archive,
    Unarchive,
}

impl Change {
    pub fn name(self) -> &'static str {
        match self {
            Change::Seen => "seen",
            Change::Read => "read",
            Change::Unread => "unread",
            Change::Archive => "archive",
            Change::Unarchive => "unarchive",
        }
    }
}

/// An item's state before a change, and the counter delta the change makes.
fn delta(seen: bool, read: bool, archived: bool, change: Change) -> (Counts, bool) {
    let mut d = Counts::default();
    let live = !archived;
    let changed = match change {
        Change::Seen => {
            if live && !seen {
                d.unseen -= 1;
            }
            !seen
        }
        Change::Read => {
            if live && !seen {
                d.unseen -= 1;
            }
            if live && !read {
                d.unread -= 1;
            }
            !seen || !read
        }
        Change::Unread => {
            if live && read {
                d.unread += 1;
            }
            read
        }
        Change::Archive => {
            if live {
                d.total -= 1;
                if !read {
                    d.unread -= 1;
                }
                if !seen {
                    d.unseen -= 1;
                }
            }
            live || !seen || !read
        }
        Change::Unarchive => {
            if archived {
                d.total += 1;
                // Archiving marked it read and seen; what it is now decides.
                if !read {
                    d.unread += 1;
                }
                if !seen {
                    d.unseen += 1;
                }
            }
            archived
        }
    };
    (d, changed)
}

/// Items changed per statement by read-all and archive-all.
const BULK_CHUNK: i64 = 1_000;

impl TenantDb<'_> {
    /// Stores one item per user of `users` (deduplicated by the caller) and counts each
    /// in its user's counters. Returns each user's item id and counters after the batch.
    pub fn deliver_inapp_items(
        &mut self,
        message_id: &str,
        users: &[String],
        now: NaiveDateTime,
    ) -> QueryResult<Vec<(String, String, Counts)>> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let tid = self.tid().to_string();
        let already: Vec<String> = inapp_items::table
            .filter(inapp_items::tenant_id.eq(&tid))
            .filter(inapp_items::message_id.eq(message_id))
            .filter(inapp_items::user_id.eq_any(users))
            .select(inapp_items::user_id)
            .load(self.conn())?;
        let fresh: Vec<&String> = users.iter().filter(|u| !already.contains(u)).collect();
        let rows: Vec<ItemRow> = fresh
            .iter()
            .map(|u| ItemRow {
                id: uuid::Uuid::now_v7().to_string(),
                tenant_id: tid.clone(),
                message_id: message_id.to_string(),
                user_id: (*u).clone(),
                created_at: now,
                seen_at: None,
                read_at: None,
                archived_at: None,
            })
            .collect();
        for chunk in rows.chunks(500) {
            crate::each_backend!(self.conn(), c => diesel::insert_into(inapp_items::table).values(chunk).execute(c))?;
        }
        let fresh_ids: Vec<String> = rows.iter().map(|r| r.user_id.clone()).collect();
        let zero = |u: &String| {
            (
                inapp_counters::tenant_id.eq(tid.clone()),
                inapp_counters::user_id.eq(u.clone()),
                inapp_counters::unread.eq(0i64),
                inapp_counters::unseen.eq(0i64),
                inapp_counters::total.eq(0i64),
                inapp_counters::updated_at.eq(now),
            )
        };
        match self.conn() {
            DbConnection::Postgresql(c) => {
                for chunk in fresh_ids.chunks(500) {
                    let values: Vec<_> = chunk.iter().map(zero).collect();
                    diesel::insert_into(inapp_counters::table).values(values).on_conflict_do_nothing().execute(c)?;
                }
            }
            // Diesel builds no multi-row INSERT … ON CONFLICT for SQLite; one row at a time
            // inside the one transaction is cheap there.
            DbConnection::Sqlite(c) => {
                for u in &fresh_ids {
                    diesel::insert_into(inapp_counters::table).values(zero(u)).on_conflict_do_nothing().execute(c)?;
                }
            }
        }
        for chunk in fresh_ids.chunks(500) {
            diesel::update(
                inapp_counters::table
                    .filter(inapp_counters::tenant_id.eq(&tid))
                    .filter(inapp_counters::user_id.eq_any(chunk)),
            )
            .set((
                inapp_counters::unread.eq(inapp_counters::unread + 1),
                inapp_counters::unseen.eq(inapp_counters::unseen + 1),
                inapp_counters::total.eq(inapp_counters::total + 1),
                inapp_counters::updated_at.eq(now),
            ))
            .execute(self.conn())?;
        }
        let mut counts: HashMap<String, Counts> = HashMap::with_capacity(fresh_ids.len());
        for chunk in fresh_ids.chunks(500) {
            let got: Vec<(String, i64, i64, i64)> = inapp_counters::table
                .filter(inapp_counters::tenant_id.eq(&tid))
                .filter(inapp_counters::user_id.eq_any(chunk))
                .select((
                    inapp_counters::user_id,
                    inapp_counters::unread,
                    inapp_counters::unseen,
                    inapp_counters::total,
                ))
                .load(self.conn())?;
            counts.extend(got.into_iter().map(|(u, unread, unseen, total)| (u, Counts { unread, unseen, total })));
        }
        Ok(rows
            .into_iter()
            .map(|r| {
                let c = counts.get(&r.user_id).copied().unwrap_or_default();
                (r.user_id, r.id, c)
            })
            .collect())
    }

    /// An end user's counters (zero for someone who never got a message).
    pub fn inapp_counts(&mut self, user: &str) -> QueryResult<Counts> {
        let (conn, tid) = self.parts();
        let got: Option<(i64, i64, i64)> = inapp_counters::table
            .filter(inapp_counters::tenant_id.eq(tid))
            .filter(inapp_counters::user_id.eq(user))
            .select((inapp_counters::unread, inapp_counters::unseen, inapp_counters::total))
            .first(conn)
            .optional()?;
        Ok(got.map(|(unread, unseen, total)| Counts { unread, unseen, total }).unwrap_or_default())
    }

    /// The same numbers by plain indexed COUNTs over the items (the benchmark compares
    /// them with the counter row; tests check both agree).
    pub fn inapp_counts_by_scan(&mut self, user: &str) -> QueryResult<Counts> {
        let (conn, tid) = self.parts();
        let base = || {
            inapp_items::table
                .filter(inapp_items::tenant_id.eq(tid))
                .filter(inapp_items::user_id.eq(user))
                .filter(inapp_items::archived_at.is_null())
        };
        Ok(Counts {
            total: base().count().get_result(conn)?,
            unread: base().filter(inapp_items::read_at.is_null()).count().get_result(conn)?,
            unseen: base().filter(inapp_items::seen_at.is_null()).count().get_result(conn)?,
        })
    }

    /// An end user's items on `shelf` with their messages, newest first, before the
    /// cursor item id.
    pub fn inapp_inbox(
        &mut self,
        user: &str,
        shelf: Shelf,
        before: Option<&str>,
        limit: i64,
    ) -> QueryResult<Vec<(ItemRow, MessageRow)>> {
        let (conn, tid) = self.parts();
        let mut q = inapp_items::table
            .inner_join(inapp_messages::table)
            .filter(inapp_items::tenant_id.eq(tid))
            .filter(inapp_items::user_id.eq(user))
            .select((ItemRow::as_select(), MessageRow::as_select()))
            .into_boxed();
        q = match shelf {
            Shelf::All => q.filter(inapp_items::archived_at.is_null()),
            Shelf::Unread => q.filter(inapp_items::archived_at.is_null()).filter(inapp_items::read_at.is_null()),
            Shelf::Read => q.filter(inapp_items::archived_at.is_null()).filter(inapp_items::read_at.is_not_null()),
            Shelf::Archived => q.filter(inapp_items::archived_at.is_not_null()),
        };
        if let Some(b) = before {
            q = q.filter(inapp_items::id.lt(b.to_string()));
        }
        q.order(inapp_items::id.desc()).limit(limit).load(conn)
    }

    /// Ids of `user`'s items not archived whose message expired by `now` (at most `limit`).
    pub fn expired_inapp_items(&mut self, user: &str, now: NaiveDateTime, limit: i64) -> QueryResult<Vec<String>> {
        let (conn, tid) = self.parts();
        inapp_items::table
            .inner_join(inapp_messages::table)
            .filter(inapp_items::tenant_id.eq(tid))
            .filter(inapp_items::user_id.eq(user))
            .filter(inapp_items::archived_at.is_null())
            .filter(inapp_messages::expires_at.le(now))
            .select(inapp_items::id)
            .limit(limit)
            .load(conn)
    }

    /// One item of an end user with its message (locked inside a write).
    pub fn inapp_item(&mut self, user: &str, id: &str) -> QueryResult<Option<(ItemRow, MessageRow)>> {
        let item = super::tenant_db::first_locked!(self, tid => inapp_items::table
            .filter(inapp_items::tenant_id.eq(tid))
            .filter(inapp_items::user_id.eq(user))
            .filter(inapp_items::id.eq(id))
            .select(ItemRow::as_select()))?;
        let Some(item) = item else { return Ok(None) };
        let message = self.inapp_message(&item.message_id)?;
        Ok(message.map(|m| (item, m)))
    }

    fn move_counters(&mut self, user: &str, d: Counts, now: NaiveDateTime) -> QueryResult<()> {
        if d == Counts::default() {
            return Ok(());
        }
        let (conn, tid) = self.parts();
        diesel::update(
            inapp_counters::table.filter(inapp_counters::tenant_id.eq(tid)).filter(inapp_counters::user_id.eq(user)),
        )
        .set((
            inapp_counters::unread.eq(inapp_counters::unread + d.unread),
            inapp_counters::unseen.eq(inapp_counters::unseen + d.unseen),
            inapp_counters::total.eq(inapp_counters::total + d.total),
            inapp_counters::updated_at.eq(now),
        ))
        .execute(conn)?;
        Ok(())
    }

    /// Applies `change` to the given (locked) items and moves the counters by exactly
    /// what changed; returns the ids that changed.
    fn apply_change(
        &mut self,
        user: &str,
        items: &[(String, bool, bool, bool)],
        change: Change,
        now: NaiveDateTime,
    ) -> QueryResult<Vec<String>> {
        let mut total = Counts::default();
        let mut changed = Vec::new();
        for (id, seen, read, archived) in items {
            let (d, did) = delta(*seen, *read, *archived, change);
            total.unread += d.unread;
            total.unseen += d.unseen;
            total.total += d.total;
            if did {
                changed.push(id.clone());
            }
        }
        if changed.is_empty() {
            return Ok(changed);
        }
        let (conn, tid) = self.parts();
        let scope = || {
            inapp_items::table
                .filter(inapp_items::tenant_id.eq(tid))
                .filter(inapp_items::user_id.eq(user))
                .filter(inapp_items::id.eq_any(&changed))
        };
        let set_seen =
            || diesel::update(scope().filter(inapp_items::seen_at.is_null())).set(inapp_items::seen_at.eq(Some(now)));
        let set_read =
            || diesel::update(scope().filter(inapp_items::read_at.is_null())).set(inapp_items::read_at.eq(Some(now)));
        match change {
            Change::Seen => {
                set_seen().execute(conn)?;
            }
            Change::Read => {
                set_seen().execute(conn)?;
                set_read().execute(conn)?;
            }
            Change::Unread => {
                diesel::update(scope()).set(inapp_items::read_at.eq(None::<NaiveDateTime>)).execute(conn)?;
            }
            Change::Archive => {
                set_seen().execute(conn)?;
                set_read().execute(conn)?;
                diesel::update(scope().filter(inapp_items::archived_at.is_null()))
                    .set(inapp_items::archived_at.eq(Some(now)))
                    .execute(conn)?;
            }
            Change::Unarchive => {
                diesel::update(scope()).set(inapp_items::archived_at.eq(None::<NaiveDateTime>)).execute(conn)?;
            }
        }
        self.move_counters(user, total, now)?;
        Ok(changed)
    }

    /// Changes one item (already found and locked by [`Self::inapp_item`]).
    pub fn change_inapp_item(
        &mut self,
        user: &str,
        item: &ItemRow,
        change: Change,
        now: NaiveDateTime,
    ) -> QueryResult<bool> {
        let state = [(item.id.clone(), item.seen_at.is_some(), item.read_at.is_some(), item.archived_at.is_some())];
        Ok(!self.apply_change(user, &state, change, now)?.is_empty())
    }

    /// Read-all (`Change::Read`) or archive-all (`Change::Archive`) over every item not
    /// archived, a locked chunk at a time. Returns how many items changed.
    pub fn change_all_inapp_items(&mut self, user: &str, change: Change, now: NaiveDateTime) -> QueryResult<usize> {
        let mut changed = 0;
        let mut after = String::new();
        loop {
            let lock = self.locks_rows();
            let (conn, tid) = self.parts();
            let base = inapp_items::table
                .filter(inapp_items::tenant_id.eq(tid))
                .filter(inapp_items::user_id.eq(user))
                .filter(inapp_items::archived_at.is_null())
                .filter(inapp_items::id.gt(&after))
                .order(inapp_items::id.asc())
                .limit(BULK_CHUNK)
                .select((inapp_items::id, inapp_items::seen_at, inapp_items::read_at));
            let rows: Vec<(String, Option<NaiveDateTime>, Option<NaiveDateTime>)> = match conn {
                DbConnection::Postgresql(c) if lock => base.for_update().load(c)?,
                DbConnection::Postgresql(c) => base.load(c)?,
                DbConnection::Sqlite(c) => base.load(c)?,
            };
            let Some(last) = rows.last().map(|r| r.0.clone()) else { break };
            let state: Vec<(String, bool, bool, bool)> =
                rows.into_iter().map(|(id, s, r)| (id, s.is_some(), r.is_some(), false)).collect();
            changed += self.apply_change(user, &state, change, now)?.len();
            after = last;
        }
        Ok(changed)
    }

    /// Deletes the inbox items of end user `user` (erasure) and their counter row.
    pub fn erase_inapp_user(&mut self, user: &str) -> QueryResult<usize> {
        let (conn, tid) = self.parts();
        let n = diesel::delete(
            inapp_items::table.filter(inapp_items::tenant_id.eq(tid)).filter(inapp_items::user_id.eq(user)),
        )
        .execute(conn)?;
        diesel::delete(
            inapp_counters::table.filter(inapp_counters::tenant_id.eq(tid)).filter(inapp_counters::user_id.eq(user)),
        )
        .execute(conn)?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_follow_the_counting_rules() {
        let c = |unread, unseen, total| Counts { unread, unseen, total };
        assert_eq!(delta(false, false, false, Change::Seen), (c(0, -1, 0), true));
        assert_eq!(delta(true, false, false, Change::Seen), (c(0, 0, 0), false));
        assert_eq!(delta(false, false, false, Change::Read), (c(-1, -1, 0), true));
        assert_eq!(delta(true, true, false, Change::Unread), (c(1, 0, 0), true));
        assert_eq!(delta(true, false, false, Change::Unread), (c(0, 0, 0), false));
        assert_eq!(delta(false, false, false, Change::Archive), (c(-1, -1, -1), true));
        assert_eq!(delta(true, true, true, Change::Archive), (c(0, 0, 0), false));
        assert_eq!(delta(true, true, true, Change::Unarchive), (c(0, 0, 1), true));
        assert_eq!(delta(true, false, true, Change::Unarchive), (c(1, 0, 1), true));
        // Changes to an archived item move nothing: it counts in nothing.
        assert_eq!(delta(false, false, true, Change::Read), (c(0, 0, 0), true));
    }
}
