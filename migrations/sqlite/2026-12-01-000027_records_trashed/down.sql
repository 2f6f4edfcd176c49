DROP INDEX records_trashed;
