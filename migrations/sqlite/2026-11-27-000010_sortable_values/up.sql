-- Sorting and long text.
-- 1. B-tree entries are bounded (PostgreSQL refuses an index row over ~2.7 kB), so
--    text_value keeps the first 512 characters of a value and full_text the whole
--    (lower-cased) value when it is longer; filters compare the whole value exactly.
ALTER TABLE record_values ADD COLUMN full_text TEXT NULL;
UPDATE record_values SET full_text = text_value, text_value = substr(text_value, 1, 512)
    WHERE length(text_value) > 512;
-- 2. Sorting by a field walks its values in (value, record_id) order, the keyset of the
--    cursor; record_id in the index also lets value filters answer from the index alone.
DROP INDEX record_values_text;
CREATE INDEX record_values_text ON record_values (tenant_id, object, field, text_value, record_id);
DROP INDEX record_values_num;
CREATE INDEX record_values_num ON record_values (tenant_id, object, field, num_value, record_id)
    WHERE num_value IS NOT NULL;
-- 3. ?sort=updated_at pages on (updated_at, id).
CREATE INDEX records_by_updated ON records (tenant_id, object, updated_at, id);
-- 4. A record's tags: (tenant_id, record_id) beats the (tenant_id, tag_id) index for the
--    per-record lookup every record view makes (SQLite picked the latter and read every
--    tag link of the portal).
CREATE INDEX record_tags_by_record ON record_tags (tenant_id, record_id, tag_id);
-- 5. Records with a tag, answered from the index alone (tag filters, ?tag=).
DROP INDEX record_tags_by_tag;
CREATE INDEX record_tags_by_tag ON record_tags (tenant_id, tag_id, record_id);
