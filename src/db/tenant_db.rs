//! The tenant-scoped handle. Every query on tenant-owned rows is a method on [`TenantDb`],
//! which filters by its own tenant id; handlers never see a bare connection to tenant data.
//! A row of another tenant is simply not found, so callers answer 404 (no oracle).

use super::DbConnection;
use crate::domain::TenantId;

pub struct TenantDb<'c> {
    conn: &'c mut DbConnection,
    tenant: TenantId,
}

impl<'c> TenantDb<'c> {
    pub fn new(conn: &'c mut DbConnection, tenant: TenantId) -> Self {
        Self { conn, tenant }
    }

    pub fn tenant_id(&self) -> &TenantId {
        &self.tenant
    }

    /// The tenant id as the text stored in `tenant_id` columns.
    pub(super) fn tid(&self) -> &str {
        self.tenant.as_str()
    }

    /// The connection, for query methods in `db::*` that apply the tenant filter themselves.
    pub(super) fn conn(&mut self) -> &mut DbConnection {
        self.conn
    }

    /// Both at once, for query methods that need the filter value while holding the connection.
    pub(super) fn parts(&mut self) -> (&mut DbConnection, &str) {
        (self.conn, self.tenant.as_str())
    }
}
