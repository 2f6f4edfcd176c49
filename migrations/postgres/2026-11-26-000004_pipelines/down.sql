DROP TABLE pipelines;
