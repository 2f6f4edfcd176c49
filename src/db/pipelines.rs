//! Deal pipelines and their ordered stages.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::schema::{pipelines, records};
use super::tenant_db::first_locked;
use super::TenantDb;
use crate::domain::PipelineId;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = pipelines, treat_none_as_default_value = false)]
pub struct PipelineRow {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub stages: String,
    pub display_order: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Stage {
    pub id: String,
    pub name: String,
}

impl PipelineRow {
    pub fn stage_list(&self) -> Vec<Stage> {
        serde_json::from_str(&self.stages).unwrap_or_default()
    }
}

impl TenantDb<'_> {
    pub fn pipelines(&mut self) -> QueryResult<Vec<PipelineRow>> {
        let (conn, tid) = self.parts();
        pipelines::table
            .filter(pipelines::tenant_id.eq(tid))
            .order((pipelines::display_order.asc(), pipelines::id.asc()))
            .select(PipelineRow::as_select())
            .load(conn)
    }

    pub fn pipeline(&mut self, id: &PipelineId) -> QueryResult<Option<PipelineRow>> {
        let id = id.as_str();
        first_locked!(self, tid => pipelines::table
            .filter(pipelines::tenant_id.eq(tid.to_string()))
            .filter(pipelines::id.eq(id.to_string()))
            .select(PipelineRow::as_select()))
    }

    pub fn insert_pipeline(&mut self, row: &PipelineRow) -> QueryResult<()> {
        diesel::insert_into(pipelines::table).values(row).execute(self.conn())?;
        Ok(())
    }

    pub fn update_pipeline(&mut self, row: &PipelineRow) -> QueryResult<()> {
        let (conn, tid) = self.parts();
        diesel::update(pipelines::table.filter(pipelines::tenant_id.eq(tid)).filter(pipelines::id.eq(&row.id)))
            .set((
                pipelines::name.eq(&row.name),
                pipelines::stages.eq(&row.stages),
                pipelines::display_order.eq(row.display_order),
                pipelines::updated_at.eq(row.updated_at),
            ))
            .execute(conn)?;
        Ok(())
    }

    pub fn delete_pipeline(&mut self, id: &PipelineId) -> QueryResult<bool> {
        let id = id.as_str();
        let (conn, tid) = self.parts();
        let n = diesel::delete(pipelines::table.filter(pipelines::tenant_id.eq(tid)).filter(pipelines::id.eq(id)))
            .execute(conn)?;
        Ok(n == 1)
    }

    /// How many deals (live or in the trash) use a pipeline, or one of `stage_ids`.
    pub fn deals_using(&mut self, field: &str, ids: &[String]) -> QueryResult<i64> {
        use super::schema::record_values;
        if ids.is_empty() {
            return Ok(0);
        }
        let (conn, tid) = self.parts();
        record_values::table
            .inner_join(records::table)
            .filter(record_values::tenant_id.eq(tid))
            .filter(record_values::object.eq("deal"))
            .filter(record_values::field.eq(field))
            .filter(record_values::text_value.eq_any(ids))
            .count()
            .get_result(conn)
    }
}
