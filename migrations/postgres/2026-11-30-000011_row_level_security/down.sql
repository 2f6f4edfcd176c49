DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY[
        'memberships', 'sessions', 'mfa_challenges', 'api_keys', 'audit_heads', 'audit_log',
        'records', 'record_values', 'tags', 'record_tags', 'custom_fields', 'event_heads',
        'events', 'pipelines', 'custom_values', 'realtime_tickets', 'imports'
    ] LOOP
        EXECUTE format('DROP POLICY IF EXISTS tenant_isolation ON %I', t);
        EXECUTE format('ALTER TABLE %I NO FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I DISABLE ROW LEVEL SECURITY', t);
    END LOOP;
END $$;
-- The role organizeo_app is cluster-wide and may serve other databases: it stays.
