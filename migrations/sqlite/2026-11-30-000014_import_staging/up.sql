-- An upload is parsed once, as it arrives, into staged rows; the worker reads a chunk of
-- them at a time and deletes each chunk in the transaction that applies it. Memory stays
-- flat whatever the file's size, and a restart resumes at the first staged row left.
CREATE TABLE import_rows (
    import_id TEXT NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    -- The data row in the file, from 1 (blank rows are skipped but counted).
    row_no BIGINT NOT NULL,
    -- JSON array of the row's cells, decoded to UTF-8.
    cells TEXT NOT NULL,
    PRIMARY KEY (import_id, row_no)
);
-- JSON array of the header row's column names.
ALTER TABLE imports ADD COLUMN headers TEXT NOT NULL DEFAULT '[]';
-- Files of imports not yet finished move aside; the application stages their rows when it
-- starts (`System::stage_legacy_imports`) and deletes them. Uploads are never kept whole.
CREATE TABLE import_files (
    import_id TEXT PRIMARY KEY NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    file BLOB NOT NULL
);
INSERT INTO import_files (import_id, tenant_id, file)
    SELECT id, tenant_id, file FROM imports WHERE status IN ('queued', 'running');
ALTER TABLE imports DROP COLUMN file;
