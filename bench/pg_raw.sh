#!/usr/bin/env bash
# The PostgreSQL limit beside crm_bench: pgbench with 16 clients inserting and selecting
# single rows in a table shaped like a contact, 10 s each. Usage: bench/pg_raw.sh [ADMIN_URL]
set -euo pipefail
admin="${1:-postgres://postgres@127.0.0.1:5432/postgres}"
db="oz_pgbench_$$"
base="${admin%/*}"
psql "$admin" -qc "CREATE DATABASE $db"
trap 'psql "$admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)"' EXIT
psql "$base/$db" -q <<'SQL'
CREATE TABLE bench_pg (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, email TEXT NOT NULL, props TEXT NOT NULL);
INSERT INTO bench_pg SELECT gen_random_uuid()::text, 't', 'seed' || g || '@x.example', '{}' FROM generate_series(1, 100000) g;
CREATE INDEX bench_pg_email ON bench_pg (email);
ANALYZE bench_pg;
SQL
here="$(dirname "$0")"
echo "# pgbench insert (16 clients, 10 s)"
pgbench -n -c 16 -j 2 -T 10 -f "$here/pg_insert.sql" "$base/$db" | grep -E 'tps|latency'
echo "# pgbench select by indexed email (16 clients, 10 s)"
pgbench -n -c 16 -j 2 -T 10 -f "$here/pg_select.sql" "$base/$db" | grep -E 'tps|latency'
