//! Losing access reaches live connections. Every way a credential stops being valid in a
//! portal — signing out, a session revoked, a password changed, a person removed, a key
//! deleted or rotated, the portal starting to require 2FA — appends an `access.revoked`
//! event to the portal's outbox in the same transaction. The portal's tenant actors (on
//! every node: the outbox is the shared path) close the matching websockets with close
//! code 4003 and the reason. An expired session's sockets close on their own (the session
//! actor checks the clock at every heartbeat).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::db::events::{ChangeActor, NewEvent};
use crate::db::TenantTx;
use crate::domain::{ApiKeyId, SessionId, UserId};

/// The outbox event type.
pub const EVENT: &str = "access.revoked";
/// Its object: not a record, so no topic ever carries it to a client.
pub const OBJECT: &str = "access";

/// Whose access ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "who", rename_all = "snake_case")]
pub enum Revoked {
    /// These sign-in sessions.
    Sessions { ids: Vec<String> },
    /// Every session of this person in the portal.
    User { id: String },
    /// Every connection made with this private app key.
    Key { id: String },
    /// Every person without 2FA (the portal now requires it).
    UsersWithoutMfa,
    /// Every connection made with this Portal JITA grant.
    Grant { id: String },
}

/// Why, as the close reason says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    SignedOut,
    SessionRevoked,
    PasswordChanged,
    RemovedFromPortal,
    KeyDeleted,
    KeyRotated,
    MfaRequired,
    Expired,
    GrantRevoked,
    GrantSuspended,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::SignedOut => "signed_out",
            Reason::SessionRevoked => "session_revoked",
            Reason::PasswordChanged => "password_changed",
            Reason::RemovedFromPortal => "removed_from_portal",
            Reason::KeyDeleted => "key_deleted",
            Reason::KeyRotated => "key_rotated",
            Reason::MfaRequired => "mfa_required",
            Reason::Expired => "expired",
            Reason::GrantRevoked => "grant_revoked",
            Reason::GrantSuspended => "grant_suspended",
        }
    }
}

/// The event's payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    #[serde(flatten)]
    pub revoked: Revoked,
    pub reason: Reason,
}

impl Revocation {
    pub fn sessions(ids: &[SessionId], reason: Reason) -> Self {
        Self { revoked: Revoked::Sessions { ids: ids.iter().map(|s| s.to_string()).collect() }, reason }
    }

    pub fn user(id: &UserId, reason: Reason) -> Self {
        Self { revoked: Revoked::User { id: id.to_string() }, reason }
    }

    pub fn key(id: &ApiKeyId, reason: Reason) -> Self {
        Self { revoked: Revoked::Key { id: id.to_string() }, reason }
    }

    pub fn grant(id: &str, reason: Reason) -> Self {
        Self { revoked: Revoked::Grant { id: id.to_string() }, reason }
    }

    pub fn users_without_mfa() -> Self {
        Self { revoked: Revoked::UsersWithoutMfa, reason: Reason::MfaRequired }
    }

    /// Reads the payload of an `access.revoked` event.
    pub fn parse(data: &str) -> Option<Self> {
        serde_json::from_str(data).ok()
    }
}

/// Appends the revocation to the transaction that ends the access, so the sockets close
/// exactly when (and only if) it commits.
pub fn announce(t: &mut TenantTx<'_>, revocation: Revocation, actor: &ChangeActor, now: DateTime<Utc>) {
    let record_id = match &revocation.revoked {
        Revoked::Sessions { ids } => ids.first().cloned().unwrap_or_default(),
        Revoked::User { id } | Revoked::Key { id } | Revoked::Grant { id } => id.clone(),
        Revoked::UsersWithoutMfa => t.tenant_id().to_string(),
    };
    let data = serde_json::to_value(&revocation).unwrap_or_default();
    t.append_event(
        NewEvent {
            event_type: EVENT.to_string(),
            object: OBJECT,
            record_id,
            actor_type: actor.kind,
            actor_id: actor.id.clone(),
            data,
            diff: None,
        },
        now,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revocations_read_back_as_written() {
        for r in [
            Revocation::sessions(&[SessionId::from_db("s1".into())], Reason::SignedOut),
            Revocation::user(&UserId::from_db("u1".into()), Reason::RemovedFromPortal),
            Revocation::key(&ApiKeyId::from_db("k1".into()), Reason::KeyRotated),
            Revocation::users_without_mfa(),
        ] {
            let text = serde_json::to_string(&r).unwrap();
            assert_eq!(Revocation::parse(&text), Some(r), "{text}");
        }
        let text = serde_json::to_string(&Revocation::key(&ApiKeyId::from_db("k".into()), Reason::KeyDeleted)).unwrap();
        assert_eq!(text, r#"{"who":"key","id":"k","reason":"key_deleted"}"#);
    }
}
