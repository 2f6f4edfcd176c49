DROP INDEX records_contact_external_id;
ALTER TABLE records DROP COLUMN external_id;
DROP TABLE inapp_counters;
DROP TABLE inapp_items;
DROP TABLE inapp_messages;
DROP TABLE inapp_apps;
