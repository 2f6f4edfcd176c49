-- Portal JITA: a staff member enters one portal for a bounded time, for a stated reason,
-- under the portal's own rule (`tenants.staff_access`). Grants are the portal's rows: its
-- owners and admins list, approve and revoke them.
ALTER TABLE tenants ADD COLUMN staff_access TEXT NOT NULL DEFAULT 'approval_required'
    CHECK (staff_access IN ('allowed', 'approval_required', 'denied'));
CREATE TABLE jita_grants (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    staff_id TEXT NOT NULL REFERENCES staff_members (id),
    reason TEXT NOT NULL,
    ticket_ref TEXT NOT NULL,
    duration_minutes INTEGER NOT NULL,
    -- pending_approval → active → (revoked | suspended); expiry is judged by the clock.
    status TEXT NOT NULL CHECK (status IN ('pending_approval', 'active', 'revoked', 'suspended')),
    token_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    approved_at TIMESTAMP NULL,
    approved_by TEXT NULL,
    expires_at TIMESTAMP NULL,
    ended_at TIMESTAMP NULL,
    ended_by TEXT NULL,
    requests BIGINT NOT NULL DEFAULT 0,
    refusals BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX jita_grants_by_tenant ON jita_grants (tenant_id, created_at);
CREATE INDEX jita_grants_by_staff ON jita_grants (staff_id, created_at);
ALTER TABLE jita_grants ENABLE ROW LEVEL SECURITY;
ALTER TABLE jita_grants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON jita_grants
    USING (tenant_id = (SELECT current_setting('organizeo.tenant_id', true))
           OR (SELECT current_setting('organizeo.system', true)) = 'on')
    WITH CHECK (tenant_id = (SELECT current_setting('organizeo.tenant_id', true))
           OR (SELECT current_setting('organizeo.system', true)) = 'on');
