//! What a campaign reads of the emails and segments it names: whether they exist (live)
//! in this portal, an email's current content to freeze at send, and a segment's filter.

use diesel::prelude::*;

use super::TenantDb;
use crate::campaigns::send::Content;

impl TenantDb<'_> {
    /// The filter groups (JSON) of segment `id`, if it exists here.
    pub fn segment_filter_groups(&mut self, id: &str) -> QueryResult<Option<String>> {
        Ok(self.segment(id)?.map(|s| s.filter_groups))
    }

    /// Whether email `id` exists here and is not in the trash.
    pub fn email_exists(&mut self, id: &str) -> QueryResult<bool> {
        Ok(self.email(id, false)?.is_some())
    }

    /// The current content of email `id` (live), to render or freeze.
    pub fn email_content(&mut self, id: &str) -> QueryResult<Option<Content>> {
        Ok(self.email(id, false)?.map(|e| Content {
            subject: e.subject,
            preheader: e.preheader,
            html: e.html,
            text: e.text,
            revision: e.revision,
        }))
    }
}
