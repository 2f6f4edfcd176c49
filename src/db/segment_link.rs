// TEMPORARY until the content branch merges: replaced by lookups on its tables.
use diesel::prelude::*;
use super::TenantDb;
impl TenantDb<'_> {
    pub fn segment_filter_groups(&mut self, _id: &str) -> QueryResult<Option<String>> {
        Ok(None)
    }
    pub fn email_exists(&mut self, _id: &str) -> QueryResult<bool> {
        Ok(false)
    }
    pub fn email_content(&mut self, _id: &str) -> QueryResult<Option<crate::campaigns::send::Content>> {
        Ok(None)
    }
}
