//! Websocket tickets: issued to an authenticated caller, redeemed once within 30 seconds
//! by the upgrade request (browsers cannot set headers on a websocket). Redeeming is one
//! conditional UPDATE, so two nodes racing for the same ticket cannot both win.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::realtime_tickets as rt;
use super::TenantDb;

/// Who a ticket was issued to: a sign-in session or a private app key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    Session(String),
    ApiKey(String),
    /// A Portal JITA grant.
    Jita(String),
    /// An end user of the portal's product (in-app inbox), by their user id.
    EndUser(String),
}

/// The `subject_kind` of end users' inbox tickets.
pub const END_USER: &str = "end_user";

impl TenantDb<'_> {
    pub fn issue_ticket(&mut self, hash: &str, subject: &Subject, expires_at: NaiveDateTime) -> QueryResult<()> {
        let (conn, tid) = self.parts();
        let (kind, id) = match subject {
            Subject::Session(id) => ("session", id),
            Subject::ApiKey(id) => ("api_key", id),
            Subject::Jita(id) => ("jita_grant", id),
            Subject::EndUser(id) => (END_USER, id),
        };
        diesel::insert_into(rt::table)
            .values((
                rt::ticket_hash.eq(hash),
                rt::tenant_id.eq(tid),
                rt::subject_kind.eq(kind),
                rt::subject_id.eq(id),
                rt::expires_at.eq(expires_at),
            ))
            .execute(conn)?;
        Ok(())
    }
}
