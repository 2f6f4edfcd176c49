DROP INDEX tags_purge;
DROP TABLE custom_values;
