-- PostgreSQL adds one-statement credential lookups (row-level security); SQLite has no
-- policies and needs nothing. Kept so both databases share one migration history.
SELECT 1;
