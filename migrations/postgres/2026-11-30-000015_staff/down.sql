DROP TABLE platform_audit_log;
DROP TABLE platform_audit_head;
DROP TABLE staff_sessions;
DROP TABLE staff_challenges;
DROP TABLE staff_recovery_codes;
DROP TABLE staff_members;
DROP FUNCTION platform_audit_log_append_only();
