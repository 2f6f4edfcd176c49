-- Invitations: adding a person to a portal asks for their consent. One row per portal and
-- invited email; the person accepts or declines from any of their sessions, or at sign-in.
CREATE TABLE invitations (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    email TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    invited_by TEXT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'accepted', 'declined', 'revoked')),
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    responded_at TIMESTAMP NULL
);
-- At most one pending invitation per portal and email.
CREATE UNIQUE INDEX invitations_pending ON invitations (tenant_id, email) WHERE status = 'pending';
CREATE INDEX invitations_by_email ON invitations (email, status);
-- A sign-in that accepts an invitation carries it through the second factor.
ALTER TABLE mfa_challenges ADD COLUMN invitation_id TEXT NULL;
-- Row-level security, as on every tenant table (see 000011).
ALTER TABLE invitations ENABLE ROW LEVEL SECURITY;
ALTER TABLE invitations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON invitations
    USING (tenant_id = (SELECT current_setting('organizeo.tenant_id', true))
           OR (SELECT current_setting('organizeo.system', true)) = 'on')
    WITH CHECK (tenant_id = (SELECT current_setting('organizeo.tenant_id', true))
           OR (SELECT current_setting('organizeo.system', true)) = 'on');
