-- pgbench custom script: the raw-SQL limit for reading a contact by an indexed column.
\set k random(1, 100000)
SELECT * FROM bench_pg WHERE email = 'seed' || :k || '@x.example';
