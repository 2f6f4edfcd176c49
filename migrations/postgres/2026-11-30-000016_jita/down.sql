DROP TABLE jita_grants;
ALTER TABLE tenants DROP COLUMN staff_access;
