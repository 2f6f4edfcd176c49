DROP TABLE events;
DROP TABLE event_heads;
DROP TABLE custom_fields;
DROP TABLE record_tags;
DROP TABLE tags;
DROP TABLE record_values;
DROP TABLE records;
