DROP TABLE realtime_tickets;
