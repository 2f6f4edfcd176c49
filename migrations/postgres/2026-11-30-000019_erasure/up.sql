-- Erasure on request. `suppressions` keeps, per portal, only a keyed hash (HMAC-SHA-256)
-- of each erased person's email address, so a later campaign can skip the address
-- without the address being stored. The HMAC key is a random secret kept in
-- `platform_secrets`, sealed with the keyring like any secret column (so `keys rotate`
-- re-seals it and the hashes stay the same across key rotations).
CREATE TABLE platform_secrets (
    name TEXT PRIMARY KEY NOT NULL,
    secret TEXT NOT NULL,
    key_id TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE suppressions (
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    email_hash TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, email_hash)
);
ALTER TABLE suppressions ENABLE ROW LEVEL SECURITY;
ALTER TABLE suppressions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON suppressions
    USING (tenant_id = (SELECT current_setting('organizeo.tenant_id', true))
           OR (SELECT current_setting('organizeo.system', true)) = 'on')
    WITH CHECK (tenant_id = (SELECT current_setting('organizeo.tenant_id', true))
           OR (SELECT current_setting('organizeo.system', true)) = 'on');
