DROP TABLE notifications;
DROP TABLE feature_flag_portals;
DROP TABLE feature_flags;
