-- Numbers are indexed only where a value is a number. Besides being smaller, this keeps the
-- planner (PostgreSQL before statistics exist, notably) from probing text filters through
-- the number index: a text comparison does not imply num_value IS NOT NULL.
DROP INDEX record_values_num;
CREATE INDEX record_values_num ON record_values (tenant_id, object, field, num_value) WHERE num_value IS NOT NULL;
