//! Bearer-credential lookups outside any transaction: the first database work of nearly
//! every request, so they cost one round trip. On PostgreSQL each is one statement calling
//! a function (migration `000025_credential_lookup`) that lifts the row-level security
//! policy for its own query only; on SQLite (no policies) it is the plain query.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Nullable, Text, Timestamp};

use super::super::api_keys::ApiKeyRow;
use super::super::sessions::{ResolvedSession, SessionRow};
use super::super::tenants::MembershipRow;
use super::super::{Db, DbConnection};
use super::System;
use crate::error::AppError;

/// A stored credential found by its digest.
pub enum Found {
    Session(ResolvedSession),
    Key(ApiKeyRow),
}

/// Which table a digest is looked up in.
#[derive(Debug, Clone, Copy)]
pub enum Lookup {
    Session,
    Key,
}

#[derive(QueryableByName)]
struct SessionLookupRow {
    #[diesel(embed)]
    session: SessionRow,
    #[diesel(sql_type = Text)]
    role: String,
    #[diesel(sql_type = Timestamp)]
    member_since: NaiveDateTime,
    #[diesel(sql_type = Bool)]
    require_mfa: bool,
    #[diesel(sql_type = Nullable<Timestamp>)]
    totp_enabled_at: Option<NaiveDateTime>,
}

/// The credential with this digest, if one is stored (revoked and expired ones included:
/// the caller judges them).
pub async fn find(db: &Db, digest: String, what: Lookup) -> Result<Option<Found>, AppError> {
    db.read_once(move |conn| find_on(conn, &digest, what)).await
}

fn find_on(conn: &mut DbConnection, digest: &str, what: Lookup) -> QueryResult<Option<Found>> {
    match conn {
        DbConnection::Postgresql(pg) => match what {
            Lookup::Session => {
                let row: Option<SessionLookupRow> = diesel::sql_query("SELECT * FROM organizeo_session_by_token($1)")
                    .bind::<Text, _>(digest)
                    .get_result(pg)
                    .optional()?;
                Ok(row.map(|r| {
                    let membership = MembershipRow {
                        tenant_id: r.session.tenant_id.clone(),
                        user_id: r.session.user_id.clone(),
                        role: r.role,
                        created_at: r.member_since,
                    };
                    Found::Session(ResolvedSession {
                        session: r.session,
                        membership,
                        require_mfa: r.require_mfa,
                        mfa_enabled: r.totp_enabled_at.is_some(),
                    })
                }))
            }
            Lookup::Key => Ok(diesel::sql_query("SELECT * FROM organizeo_key_by_hash($1)")
                .bind::<Text, _>(digest)
                .get_result::<ApiKeyRow>(pg)
                .optional()?
                .map(Found::Key)),
        },
        DbConnection::Sqlite(_) => {
            let mut s = System { conn };
            Ok(match what {
                Lookup::Session => s.session_by_token(digest)?.map(Found::Session),
                Lookup::Key => s.key_by_hash(digest)?.map(Found::Key),
            })
        }
    }
}
