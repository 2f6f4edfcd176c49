//! Feature flags by stage: `off` (the kill switch), `private_beta` (listed portals),
//! `public_beta` (portals that opt in, and listed ones), `ga` (every portal).
//!
//! The capabilities the code gates are registered here ([`FEATURES`]) with the routes and
//! websocket topics they cover; release managers may add flags of their own (the web app
//! reads them from `GET /api/v1/features`), which gate nothing on the server. The running
//! table ([`FlagTable`]) is held by the real-time supervisor and consulted by the route
//! guard (`http::principal`) and by tenant actors (topic subscriptions).

pub mod manage;

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A rollout stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Off,
    PrivateBeta,
    PublicBeta,
    Ga,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Off => "off",
            Stage::PrivateBeta => "private_beta",
            Stage::PublicBeta => "public_beta",
            Stage::Ga => "ga",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "off" => Some(Stage::Off),
            "private_beta" => Some(Stage::PrivateBeta),
            "public_beta" => Some(Stage::PublicBeta),
            "ga" => Some(Stage::Ga),
            _ => None,
        }
    }
}

/// A capability the server gates.
#[derive(Debug)]
pub struct Feature {
    pub key: &'static str,
    /// Path prefixes of the routes it covers (`/api/v1/imports` covers `/api/v1/imports/{id}`).
    pub routes: &'static [&'static str],
    /// Websocket topics it covers.
    pub topics: &'static [&'static str],
}

/// Every gated capability (seeded as `ga` by migration `000017`).
pub const FEATURES: &[Feature] = &[
    Feature {
        key: "campaigns",
        routes: &[
            "/api/v1/emails",
            "/api/v1/segments",
            "/api/v1/campaigns",
            "/api/v1/suppressions",
            "/api/v1/email-events",
        ],
        topics: &["campaigns"],
    },
    // The end-user inbox (`/api/v1/inbox`) takes no bearer token: its extractor checks
    // this flag itself (`http::inbox::FEATURE`), and the prefix is listed so the gate is
    // documented in one place.
    Feature { key: "in_app_messages", routes: &["/api/v1/inapp", "/api/v1/inbox"], topics: &["inbox"] },
    Feature { key: "csv_import_export", routes: &["/api/v1/imports", "/api/v1/exports"], topics: &[] },
    Feature { key: "live_dashboard", routes: &[], topics: &["dashboard"] },
];

fn covers(prefix: &str, path: &str) -> bool {
    path == prefix || path.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('/'))
}

/// The flag that gates a route pattern, if any.
pub fn gate_for_route(pattern: &str) -> Option<&'static str> {
    FEATURES.iter().find(|f| f.routes.iter().any(|p| covers(p, pattern))).map(|f| f.key)
}

/// The flag that gates a websocket topic, if any.
pub fn gate_for_topic(topic: &str) -> Option<&'static str> {
    FEATURES.iter().find(|f| f.topics.contains(&topic)).map(|f| f.key)
}

/// One flag as stored.
#[derive(Debug, Clone)]
pub struct Flag {
    pub key: String,
    pub name: String,
    pub description: String,
    pub stage: Stage,
    /// Portals of the private beta.
    pub listed: HashSet<String>,
    /// Portals that opted in to the public beta.
    pub opted_in: HashSet<String>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl Flag {
    /// Whether the flag is on for `tenant`.
    pub fn enabled_for(&self, tenant: &str) -> bool {
        match self.stage {
            Stage::Off => false,
            Stage::PrivateBeta => self.listed.contains(tenant),
            Stage::PublicBeta => self.listed.contains(tenant) || self.opted_in.contains(tenant),
            Stage::Ga => true,
        }
    }
}

/// The flag table of the running server.
#[derive(Debug, Clone, Default)]
pub struct FlagTable {
    pub flags: BTreeMap<String, Flag>,
}

impl FlagTable {
    /// Whether `key` is on for `tenant`. A gated capability without a row (a database older
    /// than its flag) is on: rows are what turn things off.
    pub fn enabled(&self, key: &str, tenant: &str) -> bool {
        self.flags.get(key).is_none_or(|f| f.enabled_for(tenant))
    }

    /// The gated flags that are off for `tenant` (what a tenant actor refuses).
    pub fn disabled_for(&self, tenant: &str) -> HashSet<String> {
        FEATURES.iter().filter(|f| !self.enabled(f.key, tenant)).map(|f| f.key.to_string()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flag(stage: Stage) -> Flag {
        Flag {
            key: "x".into(),
            name: "X".into(),
            description: String::new(),
            stage,
            listed: ["a".to_string()].into(),
            opted_in: ["b".to_string()].into(),
            updated_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn stages_decide_per_portal() {
        let on = |s: Stage| ["a", "b", "c"].map(|t| flag(s).enabled_for(t));
        assert_eq!(on(Stage::Off), [false, false, false]);
        assert_eq!(on(Stage::PrivateBeta), [true, false, false]);
        assert_eq!(on(Stage::PublicBeta), [true, true, false]);
        assert_eq!(on(Stage::Ga), [true, true, true]);
    }

    #[test]
    fn routes_and_topics_map_to_their_flag() {
        assert_eq!(gate_for_route("/api/v1/imports"), Some("csv_import_export"));
        assert_eq!(gate_for_route("/api/v1/imports/{id}/errors.csv"), Some("csv_import_export"));
        assert_eq!(gate_for_route("/api/v1/importsx"), None);
        assert_eq!(gate_for_route("/api/v1/contacts"), None);
        assert_eq!(gate_for_topic("dashboard"), Some("live_dashboard"));
        assert_eq!(gate_for_topic("crm"), None);
        let keys: HashSet<&str> = FEATURES.iter().map(|f| f.key).collect();
        assert_eq!(keys.len(), FEATURES.len(), "keys are unique");
    }
}
