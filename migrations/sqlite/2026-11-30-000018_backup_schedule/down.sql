DROP TABLE backup_schedule;
