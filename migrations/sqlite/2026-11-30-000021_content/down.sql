DROP TABLE segments;
DROP TABLE emails;
DROP TABLE content_revisions;
