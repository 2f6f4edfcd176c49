-- pgbench custom script: the raw-SQL limit for creating a contact (one row, one index).
INSERT INTO bench_pg (id, tenant_id, email, props)
VALUES (gen_random_uuid()::text, 't', 'c' || gen_random_uuid()::text || '@x.example', '{"first_name":"F"}');
