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
                let row: Option<SessionLookupRow> =
                    ByDigest::<SessionByToken>::new(digest).get_result(pg).optional()?;
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
            Lookup::Key => {
                Ok(ByDigest::<KeyByHash>::new(digest).get_result::<ApiKeyRow>(pg).optional()?.map(Found::Key))
            }
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

/// A lookup function of migration `000025`.
trait LookupFunction: 'static {
    /// `SELECT * FROM <function>(`: the digest and `)` follow.
    const SELECT: &'static str;
}

struct SessionByToken;
impl LookupFunction for SessionByToken {
    const SELECT: &'static str = "SELECT * FROM organizeo_session_by_token(";
}

struct KeyByHash;
impl LookupFunction for KeyByHash {
    const SELECT: &'static str = "SELECT * FROM organizeo_key_by_hash(";
}

/// `SELECT * FROM <function>($1)` as a statement diesel prepares once per connection and
/// then only binds: its static query id puts it in the connection's statement cache. (A
/// `sql_query` has none, so PostgreSQL parsed and analysed the call again on every request:
/// measured with `perf` on the backends, ~12 µs of their CPU per request.)
struct ByDigest<'a, F> {
    digest: &'a str,
    function: std::marker::PhantomData<F>,
}

impl<'a, F> ByDigest<'a, F> {
    fn new(digest: &'a str) -> Self {
        ByDigest { digest, function: std::marker::PhantomData }
    }
}

impl<F: LookupFunction> diesel::query_builder::QueryId for ByDigest<'_, F> {
    type QueryId = F;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<F: LookupFunction> diesel::query_builder::QueryFragment<diesel::pg::Pg> for ByDigest<'_, F> {
    fn walk_ast<'b>(&'b self, mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>) -> QueryResult<()> {
        out.push_sql(F::SELECT);
        out.push_bind_param::<Text, _>(&self.digest)?;
        out.push_sql(")");
        Ok(())
    }
}

impl<F> diesel::query_builder::Query for ByDigest<'_, F> {
    type SqlType = diesel::sql_types::Untyped;
}

impl<F, C> RunQueryDsl<C> for ByDigest<'_, F> {}
