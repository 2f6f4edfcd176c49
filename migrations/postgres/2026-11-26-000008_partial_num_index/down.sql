DROP INDEX record_values_num;
CREATE INDEX record_values_num ON record_values (tenant_id, object, field, num_value);
