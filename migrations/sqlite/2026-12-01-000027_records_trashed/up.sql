-- Trashed records of a portal, found without walking its live ones: the tag list counts
-- live records per tag as (links) − (links to trashed records), and this partial index
-- holds only the trashed rows, so live writes do not maintain it.
CREATE INDEX records_trashed ON records (tenant_id, id) WHERE deleted_at IS NOT NULL;
