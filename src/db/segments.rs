//! Segments: saved contact searches (`filter_groups` as JSON), and the member queries the
//! API and the campaign sender page through. Members are always live contacts of the
//! segment's own portal, found with the same SQL as `POST /api/v1/contacts/search`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::records::RecordRow;
use super::schema::segments;
use super::tenant_db::first_locked;
use super::TenantDb;
use crate::crm::objects::Object;
use crate::crm::query::{ListSpec, Order, Position};
use crate::crm::search::Search;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = segments, treat_none_as_default_value = false)]
pub struct SegmentRow {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    /// The filter groups as the client sent them (JSON), parsed again when used, so a
    /// custom field renamed or deleted since shows up as a 422 naming it, not a silent
    /// change of audience.
    pub filter_groups: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// The list of a segment's members: live contacts in creation order.
fn members_spec(search: &Search, after: Option<&str>, limit: i64) -> ListSpec {
    ListSpec {
        object: Object::Contact,
        order: Order::Created { desc: false },
        after: after.map(|a| Position::Id(a.to_string())),
        q: None,
        tag: None,
        limit,
        trashed: false,
        search: Some(search.clone()),
    }
}

impl TenantDb<'_> {
    pub fn segments(&mut self, after_id: Option<&str>, limit: i64) -> QueryResult<Vec<SegmentRow>> {
        let (conn, tid) = self.parts();
        let mut q = segments::table.filter(segments::tenant_id.eq(tid)).select(SegmentRow::as_select()).into_boxed();
        if let Some(a) = after_id {
            q = q.filter(segments::id.gt(a.to_string()));
        }
        q.order(segments::id.asc()).limit(limit).load(conn)
    }

    /// One segment of this portal (locked inside a write transaction).
    pub fn segment(&mut self, id: &str) -> QueryResult<Option<SegmentRow>> {
        first_locked!(self, tid => segments::table
            .filter(segments::tenant_id.eq(tid.to_string()))
            .filter(segments::id.eq(id.to_string()))
            .select(SegmentRow::as_select()))
    }

    pub fn insert_segment(&mut self, row: &SegmentRow) -> QueryResult<()> {
        diesel::insert_into(segments::table).values(row).execute(self.conn())?;
        Ok(())
    }

    pub fn save_segment(&mut self, row: &SegmentRow) -> QueryResult<()> {
        let (conn, tid) = self.parts();
        diesel::update(segments::table.filter(segments::tenant_id.eq(tid)).filter(segments::id.eq(&row.id)))
            .set((
                segments::name.eq(&row.name),
                segments::filter_groups.eq(&row.filter_groups),
                segments::updated_at.eq(row.updated_at),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// Deletes a segment; true if it was there.
    pub fn delete_segment(&mut self, id: &str) -> QueryResult<bool> {
        let (conn, tid) = self.parts();
        let n = diesel::delete(segments::table.filter(segments::tenant_id.eq(tid)).filter(segments::id.eq(id)))
            .execute(conn)?;
        Ok(n == 1)
    }

    /// One page of a segment's live member contacts in creation order, after the contact
    /// id `after`: the campaign sender materialises an audience with it, batch by batch
    /// (the keyset on the time-ordered id means contacts created meanwhile land at the
    /// end, and none is skipped or repeated).
    pub fn segment_member_page(
        &mut self,
        search: &Search,
        after: Option<&str>,
        limit: i64,
    ) -> QueryResult<Vec<RecordRow>> {
        Ok(self.list_records(&members_spec(search, after, limit))?.into_iter().map(|(row, _)| row).collect())
    }

    /// How many live contacts match `search`, exactly.
    pub fn segment_member_count(&mut self, search: &Search) -> QueryResult<i64> {
        self.count_records(&members_spec(search, None, 0))
    }
}
