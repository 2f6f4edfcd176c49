-- Row-level security: the second wall behind the tenant filter of every query.
--
-- Each tenant table gets one policy: a row is visible (and may be written) only when its
-- tenant_id is the transaction's `organizeo.tenant_id` (set with SET LOCAL by the
-- application's tenant handle), or when the transaction declared itself cross-tenant with
-- `organizeo.system = on` (the application's db::system module, and nothing else).
-- FORCE makes the policies bind the tables' owner too. Superusers and BYPASSRLS roles are
-- never bound by policies, so a serving connection made as one switches to the role
-- `organizeo_app` created here (when the migrating role may create roles).

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'organizeo_app') THEN
        CREATE ROLE organizeo_app NOLOGIN NOSUPERUSER NOBYPASSRLS;
    END IF;
EXCEPTION
    WHEN duplicate_object OR unique_violation THEN NULL;
    WHEN insufficient_privilege THEN
        RAISE NOTICE 'organizeo: cannot create role organizeo_app; connect as a role without BYPASSRLS for row-level security to apply';
END $$;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'organizeo_app') THEN
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO organizeo_app', current_schema());
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO organizeo_app', current_schema());
        EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO organizeo_app', current_schema());
        IF NOT pg_has_role(current_user, 'organizeo_app', 'MEMBER') THEN
            EXECUTE format('GRANT organizeo_app TO %I', current_user);
        END IF;
    END IF;
EXCEPTION
    WHEN insufficient_privilege THEN
        RAISE NOTICE 'organizeo: cannot grant to organizeo_app; row-level security applies only to roles without BYPASSRLS';
END $$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY[
        'memberships', 'sessions', 'mfa_challenges', 'api_keys', 'audit_heads', 'audit_log',
        'records', 'record_values', 'tags', 'record_tags', 'custom_fields', 'event_heads',
        'events', 'pipelines', 'custom_values', 'realtime_tickets', 'imports'
    ] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        -- The sub-selects are evaluated once per statement (an InitPlan), not per row.
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I
                USING (tenant_id = (SELECT current_setting(''organizeo.tenant_id'', true))
                       OR (SELECT current_setting(''organizeo.system'', true)) = ''on'')
                WITH CHECK (tenant_id = (SELECT current_setting(''organizeo.tenant_id'', true))
                       OR (SELECT current_setting(''organizeo.system'', true)) = ''on'')',
            t);
    END LOOP;
END $$;
