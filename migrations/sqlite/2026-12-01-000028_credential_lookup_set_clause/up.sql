-- PostgreSQL only (credential lookup functions); kept so both databases share one
-- migration history.
SELECT 1;
