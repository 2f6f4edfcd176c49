-- SQLite has no row-level security: the tenant filter of every query (db::TenantDb) is the
-- only wall there. This migration exists so both backends share one migration history.
SELECT 1;
