//! Content rows: the revision store (`content_revisions`, one table for every kind of
//! content) and emails. Revisions are only ever inserted, read, and deleted with their
//! entity when it is purged: there is no update of a revision here.

use chrono::NaiveDateTime;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};

use super::schema::{content_revisions as cr, emails};
use super::tenant_db::first_locked;
use super::{DbConnection, TenantDb};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = cr, treat_none_as_default_value = false)]
pub struct RevisionRow {
    pub tenant_id: String,
    pub kind: String,
    pub entity_id: String,
    pub revision: i32,
    /// The whole content as JSON.
    pub snapshot: String,
    /// The user or key id that made it (none for the system).
    pub author: Option<String>,
    pub created_at: NaiveDateTime,
}

/// A revision without its snapshot: what a history list shows.
#[derive(Debug, Clone)]
pub struct RevisionSummary {
    pub revision: i32,
    pub created_at: NaiveDateTime,
    pub author: Option<String>,
    /// One top-level string of the snapshot (an email's subject), read by the database so
    /// a list never loads whole snapshots.
    pub label: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = emails, treat_none_as_default_value = false)]
pub struct EmailRow {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub subject: String,
    pub preheader: String,
    pub html: String,
    pub text: String,
    pub revision: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub deleted_at: Option<NaiveDateTime>,
}

impl TenantDb<'_> {
    /// Appends a revision of `(kind, entity_id)` numbered after the last one, and returns
    /// its number. The caller holds the entity's row (a write transaction that read it
    /// locked, or just inserted it), so the number cannot be taken twice; the unique index
    /// is the backstop.
    pub fn append_revision(
        &mut self,
        kind: &str,
        entity_id: &str,
        snapshot: &str,
        author: Option<&str>,
        at: NaiveDateTime,
    ) -> QueryResult<i32> {
        let (conn, tid) = self.parts();
        let last: Option<i32> = cr::table
            .filter(cr::tenant_id.eq(tid))
            .filter(cr::kind.eq(kind))
            .filter(cr::entity_id.eq(entity_id))
            .select(diesel::dsl::max(cr::revision))
            .first(conn)?;
        let row = RevisionRow {
            tenant_id: tid.to_string(),
            kind: kind.to_string(),
            entity_id: entity_id.to_string(),
            revision: last.unwrap_or(0) + 1,
            snapshot: snapshot.to_string(),
            author: author.map(str::to_string),
            created_at: at,
        };
        diesel::insert_into(cr::table).values(&row).execute(conn)?;
        Ok(row.revision)
    }

    /// A page of an entity's revisions, newest first, before revision `before`, each with
    /// the snapshot's top-level string `label_key`.
    pub fn revisions(
        &mut self,
        kind: &str,
        entity_id: &str,
        label_key: &str,
        before: Option<i32>,
        limit: i64,
    ) -> QueryResult<Vec<RevisionSummary>> {
        let (conn, tid) = self.parts();
        let label = match &*conn {
            DbConnection::Sqlite(_) => {
                sql::<Nullable<Text>>("json_extract(snapshot, '$.' || ").bind::<Text, _>(label_key.to_string()).sql(")")
            }
            DbConnection::Postgresql(_) => {
                sql::<Nullable<Text>>("(snapshot::jsonb ->> ").bind::<Text, _>(label_key.to_string()).sql(")")
            }
        };
        let mut q = cr::table
            .filter(cr::tenant_id.eq(tid))
            .filter(cr::kind.eq(kind))
            .filter(cr::entity_id.eq(entity_id))
            .select((cr::revision, cr::created_at, cr::author, label))
            .into_boxed();
        if let Some(b) = before {
            q = q.filter(cr::revision.lt(b));
        }
        let rows: Vec<(i32, NaiveDateTime, Option<String>, Option<String>)> =
            q.order(cr::revision.desc()).limit(limit).load(conn)?;
        Ok(rows
            .into_iter()
            .map(|(revision, created_at, author, label)| RevisionSummary { revision, created_at, author, label })
            .collect())
    }

    /// One revision, whole.
    pub fn revision(&mut self, kind: &str, entity_id: &str, revision: i32) -> QueryResult<Option<RevisionRow>> {
        let (conn, tid) = self.parts();
        cr::table
            .filter(cr::tenant_id.eq(tid))
            .filter(cr::kind.eq(kind))
            .filter(cr::entity_id.eq(entity_id))
            .filter(cr::revision.eq(revision))
            .select(RevisionRow::as_select())
            .first(conn)
            .optional()
    }

    /// Deletes an entity's whole history (when the entity itself is purged).
    pub fn delete_revisions(&mut self, kind: &str, entity_id: &str) -> QueryResult<usize> {
        let (conn, tid) = self.parts();
        diesel::delete(
            cr::table.filter(cr::tenant_id.eq(tid)).filter(cr::kind.eq(kind)).filter(cr::entity_id.eq(entity_id)),
        )
        .execute(conn)
    }

    /// A page of live (or trashed) emails in creation order, after `after_id`.
    pub fn emails(&mut self, trashed: bool, after_id: Option<&str>, limit: i64) -> QueryResult<Vec<EmailRow>> {
        let (conn, tid) = self.parts();
        let mut q = emails::table.filter(emails::tenant_id.eq(tid)).select(EmailRow::as_select()).into_boxed();
        q = if trashed { q.filter(emails::deleted_at.is_not_null()) } else { q.filter(emails::deleted_at.is_null()) };
        if let Some(a) = after_id {
            q = q.filter(emails::id.gt(a.to_string()));
        }
        q.order(emails::id.asc()).limit(limit).load(conn)
    }

    /// One email of this portal, live or in the trash (locked inside a write transaction).
    pub fn email(&mut self, id: &str, trashed: bool) -> QueryResult<Option<EmailRow>> {
        if trashed {
            first_locked!(self, tid => emails::table
                .filter(emails::tenant_id.eq(tid.to_string()))
                .filter(emails::id.eq(id.to_string()))
                .filter(emails::deleted_at.is_not_null())
                .select(EmailRow::as_select()))
        } else {
            first_locked!(self, tid => emails::table
                .filter(emails::tenant_id.eq(tid.to_string()))
                .filter(emails::id.eq(id.to_string()))
                .filter(emails::deleted_at.is_null())
                .select(EmailRow::as_select()))
        }
    }

    pub fn insert_email(&mut self, row: &EmailRow) -> QueryResult<()> {
        diesel::insert_into(emails::table).values(row).execute(self.conn())?;
        Ok(())
    }

    /// Writes every mutable column of `row`.
    pub fn save_email(&mut self, row: &EmailRow) -> QueryResult<()> {
        let (conn, tid) = self.parts();
        diesel::update(emails::table.filter(emails::tenant_id.eq(tid)).filter(emails::id.eq(&row.id)))
            .set((
                emails::name.eq(&row.name),
                emails::subject.eq(&row.subject),
                emails::preheader.eq(&row.preheader),
                emails::html.eq(&row.html),
                emails::text.eq(&row.text),
                emails::revision.eq(row.revision),
                emails::updated_at.eq(row.updated_at),
                emails::deleted_at.eq(row.deleted_at),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// Deletes a trashed email for good, with its history. True if it was there.
    pub fn purge_email(&mut self, id: &str) -> QueryResult<bool> {
        let n = {
            let (conn, tid) = self.parts();
            diesel::delete(
                emails::table
                    .filter(emails::tenant_id.eq(tid))
                    .filter(emails::id.eq(id))
                    .filter(emails::deleted_at.is_not_null()),
            )
            .execute(conn)?
        };
        if n == 1 {
            self.delete_revisions(crate::content::EMAIL, id)?;
        }
        Ok(n == 1)
    }
}
