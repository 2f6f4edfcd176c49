//! The platform handle: tables that belong to no portal — people (`users`), their second
//! factor and recovery codes, sign-in throttles, idempotency keys. Query methods live
//! beside their rows (`users.rs`, `mfa.rs`, `throttle.rs`, `idempotency.rs`) as
//! `impl Platform<'_>`; tenant tables are not reachable from here (on PostgreSQL their
//! row-level security hides every row from an unscoped transaction).

use super::DbConnection;

pub struct Platform<'c> {
    conn: &'c mut DbConnection,
}

impl<'c> Platform<'c> {
    pub(super) fn new(conn: &'c mut DbConnection) -> Self {
        Self { conn }
    }

    pub(super) fn conn(&mut self) -> &mut DbConnection {
        self.conn
    }
}
