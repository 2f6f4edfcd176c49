//! Websocket tickets: issued to an authenticated caller, redeemed once within 30 seconds
//! by the upgrade request (browsers cannot set headers on a websocket). Redeeming is one
//! conditional UPDATE, so two nodes racing for the same ticket cannot both win.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{api_keys, realtime_tickets as rt, sessions};
use super::{DbConnection, TenantDb};

/// Who a ticket was issued to: a sign-in session or a private app key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    Session(String),
    ApiKey(String),
}

impl TenantDb<'_> {
    pub fn issue_ticket(&mut self, hash: &str, subject: &Subject, expires_at: NaiveDateTime) -> QueryResult<()> {
        let (conn, tid) = self.parts();
        let (kind, id) = match subject {
            Subject::Session(id) => ("session", id),
            Subject::ApiKey(id) => ("api_key", id),
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

/// Marks the ticket used if it is unused and unexpired; returns the credential hash of its
/// subject (to be resolved like a bearer token, so revocations and role changes since the
/// ticket was issued apply) and whether it is a key.
pub fn redeem(conn: &mut DbConnection, hash: &str, now: NaiveDateTime) -> QueryResult<Option<(String, bool)>> {
    let won = diesel::update(
        rt::table.filter(rt::ticket_hash.eq(hash)).filter(rt::used_at.is_null()).filter(rt::expires_at.gt(now)),
    )
    .set(rt::used_at.eq(now))
    .execute(conn)?;
    if won != 1 {
        return Ok(None);
    }
    let (tenant, kind, id): (String, String, String) =
        rt::table.find(hash).select((rt::tenant_id, rt::subject_kind, rt::subject_id)).first(conn)?;
    let credential = if kind == "api_key" {
        api_keys::table
            .filter(api_keys::tenant_id.eq(&tenant))
            .filter(api_keys::id.eq(&id))
            .select(api_keys::key_hash)
            .first::<String>(conn)
            .optional()?
            .map(|h| (h, true))
    } else {
        sessions::table
            .filter(sessions::tenant_id.eq(&tenant))
            .filter(sessions::id.eq(&id))
            .select(sessions::token_hash)
            .first::<String>(conn)
            .optional()?
            .map(|h| (h, false))
    };
    Ok(credential)
}

/// Deletes tickets that expired before `before` (used or not); they are worthless.
pub fn delete_expired(conn: &mut DbConnection, before: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(rt::table.filter(rt::expires_at.lt(before))).execute(conn)
}
