//! The one integration test binary (compile time matters on two cores): every module here
//! drives the real server over real HTTP. Database tests run on SQLite and, when
//! ORGANIZEO_TEST_POSTGRES_URL is set, on PostgreSQL too.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod helpers;
mod smtp_sink;
mod ws;

mod access;
mod access_loss;
mod api_keys;
mod audit;
mod backup;
mod batch;
mod browser;
mod campaign_resilience;
mod campaign_rules;
mod campaigns;
mod cli;
mod cluster;
mod concurrency;
mod crm;
mod crm_objects;
mod emails;
mod erasure;
mod features;
mod http_conventions;
mod imports;
mod inapp;
mod inbox;
mod jita;
mod keys;
mod login;
mod mfa;
mod operations;
mod rate_limits;
mod realtime;
mod realtime_bounds;
mod search;
mod segments;
mod signup;
mod sorting;
mod staff;
mod tags;
mod tenancy;
mod tenant;
mod tenant_export;
mod throttle;
mod tls;
mod users;
mod web;
mod web_a11y;
mod web_board;
mod web_browser;
mod web_bulk;
mod web_campaigns;
mod web_engage;
mod web_live;
mod web_records;
mod web_screens;
mod web_settings;
mod web_settings2;
mod widget;
