DROP INDEX record_tags_by_record;
DROP INDEX records_by_updated;
DROP INDEX record_values_num;
CREATE INDEX record_values_num ON record_values (tenant_id, object, field, num_value) WHERE num_value IS NOT NULL;
DROP INDEX record_values_text;
UPDATE record_values SET text_value = full_text WHERE full_text IS NOT NULL;
ALTER TABLE record_values DROP COLUMN full_text;
CREATE INDEX record_values_text ON record_values (tenant_id, object, field, text_value);
