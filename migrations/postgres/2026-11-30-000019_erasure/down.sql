DROP TABLE suppressions;
DROP TABLE platform_secrets;
