-- The backup schedule of `organizeo serve`: one row. Time is cut into slots of
-- ORGANIZEO_BACKUP_INTERVAL_HOURS; a node takes the next slot's backup by one conditional
-- UPDATE (status idle and an older slot, or a running lease that expired), so on several
-- nodes exactly one takes each scheduled backup, and a node that died mid-run is replaced
-- once its lease ends. The outcome of the last run is kept for every node's metrics.
CREATE TABLE backup_schedule (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    slot BIGINT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('idle', 'running')),
    lease_owner TEXT NULL,
    lease_until TIMESTAMP NULL,
    last_success_at TIMESTAMP NULL,
    last_file TEXT NULL,
    last_bytes BIGINT NULL,
    failures BIGINT NOT NULL DEFAULT 0,
    last_failure_at TIMESTAMP NULL,
    last_error TEXT NULL
);
INSERT INTO backup_schedule (id, slot, status, failures) VALUES (1, 0, 'idle', 0);
