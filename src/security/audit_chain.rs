//! The audit log's hash chain. Each entry's hash covers the previous entry's hash and every
//! field of the entry, so changing, removing or reordering any entry breaks every link
//! after it. Pure functions; storage is in `db::audit`.

use sha2::{Digest, Sha256};

/// The `prev_hash` of a portal's first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The fields that are hashed, in a fixed order.
#[derive(Debug, Clone)]
pub struct EntryFields<'a> {
    pub tenant_id: &'a str,
    pub seq: i64,
    /// RFC 3339 with microseconds, UTC (`2026-11-26T21:07:29.123456Z`).
    pub occurred_at: &'a str,
    pub actor_type: &'a str,
    pub actor_id: Option<&'a str>,
    pub action: &'a str,
    pub target_type: Option<&'a str>,
    pub target_id: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub request_id: Option<&'a str>,
    pub details: &'a str,
}

/// `hex(sha256(json([prev_hash, fields…])))`: JSON arrays make the encoding unambiguous.
pub fn entry_hash(prev_hash: &str, e: &EntryFields<'_>) -> String {
    let canonical = serde_json::json!([
        prev_hash,
        e.tenant_id,
        e.seq,
        e.occurred_at,
        e.actor_type,
        e.actor_id,
        e.action,
        e.target_type,
        e.target_id,
        e.ip,
        e.user_agent,
        e.request_id,
        e.details,
    ]);
    let digest = Sha256::digest(canonical.to_string().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: i64, action: &'static str) -> EntryFields<'static> {
        EntryFields {
            tenant_id: "t",
            seq,
            occurred_at: "2026-11-26T21:07:29.123456Z",
            actor_type: "user",
            actor_id: Some("u"),
            action,
            target_type: None,
            target_id: None,
            ip: Some("127.0.0.1"),
            user_agent: None,
            request_id: None,
            details: "{}",
        }
    }

    #[test]
    fn any_change_changes_the_hash() {
        let h = entry_hash(GENESIS, &entry(1, "auth.login.succeeded"));
        assert_eq!(h.len(), 64);
        assert_eq!(h, entry_hash(GENESIS, &entry(1, "auth.login.succeeded")));
        assert_ne!(h, entry_hash(GENESIS, &entry(1, "auth.login.failed")));
        assert_ne!(h, entry_hash(GENESIS, &entry(2, "auth.login.succeeded")));
        assert_ne!(h, entry_hash(&h, &entry(1, "auth.login.succeeded")));
    }
}
