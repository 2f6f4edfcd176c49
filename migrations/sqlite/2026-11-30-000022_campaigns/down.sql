DROP TABLE email_settings;
DROP TABLE email_suppressions;
DROP TABLE campaign_recipients;
DROP TABLE campaign_runs;
DROP TABLE campaigns;
