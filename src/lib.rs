//! Organizeo: a multi-tenant real-time engagement server. See `docs/ARCHITECTURE.md` for
//! where each concern lives.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing))]

mod alloc;
pub mod backup;
pub mod blocking;
pub mod campaigns;
pub mod cli;
pub mod clock;
pub mod config;
pub mod content;
pub mod crm;
pub mod db;
pub mod domain;
pub mod email;
pub mod erasure;
pub mod error;
pub mod features;
pub mod http;
pub mod identity;
pub mod jobs;
pub mod keys;
pub mod messages;
pub mod metrics;
pub mod notifications;
pub mod realtime;
pub mod security;
pub mod startup;
pub mod telemetry;
pub mod tenant_export;
pub mod web;
