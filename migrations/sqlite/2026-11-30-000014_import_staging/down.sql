-- Staged rows cannot become a file again: imports not finished are marked failed.
ALTER TABLE imports ADD COLUMN file BLOB NOT NULL DEFAULT '';
UPDATE imports SET status = 'failed' WHERE status IN ('staging', 'queued', 'running');
ALTER TABLE imports DROP COLUMN headers;
DROP TABLE import_files;
DROP TABLE import_rows;
