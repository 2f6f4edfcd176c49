//! Signed link tokens for the public endpoints a recipient reaches from a message:
//! `/u/{token}` (unsubscribe), `/t/o/{token}` (open pixel), `/t/c/{token}` (a tracked link).
//!
//! A token names the portal, the campaign and the recipient (and, for a link, the original
//! URL) and carries an HMAC-SHA-256 tag (128 bits) under a platform secret
//! (`platform_secrets.email_links`, random, sealed with the keyring, so key rotation keeps
//! old messages' links working). Anything altered — one character of the URL, another
//! recipient's id — fails verification and the endpoint answers 404: no open redirect,
//! no guessing. This module has no I/O.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The platform secret's name.
pub const SECRET_NAME: &str = "email_links";

/// What a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Unsubscribe,
    Open,
    Click,
}

impl Kind {
    fn tag(self) -> &'static str {
        match self {
            Kind::Unsubscribe => "u",
            Kind::Open => "o",
            Kind::Click => "c",
        }
    }
}

/// The verified content of a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub tenant_id: String,
    pub campaign_id: String,
    pub recipient_id: String,
    /// The original URL (click tokens only).
    pub url: Option<String>,
}

fn mac(key: &[u8], payload: &str) -> Option<Vec<u8>> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).ok()?;
    m.update(payload.as_bytes());
    Some(m.finalize().into_bytes().get(..16)?.to_vec())
}

/// Signs a token of `kind` for one recipient (and `url`, for a click).
pub fn sign(key: &[u8], kind: Kind, tenant: &str, campaign: &str, recipient: &str, url: Option<&str>) -> String {
    let mut payload = format!("{}\n{tenant}\n{campaign}\n{recipient}", kind.tag());
    if let Some(u) = url {
        payload.push('\n');
        payload.push_str(u);
    }
    let tag = mac(key, &payload).unwrap_or_default();
    let body = URL_SAFE_NO_PAD.encode(payload.as_bytes());
    format!("{body}.{}", URL_SAFE_NO_PAD.encode(tag))
}

/// Verifies a token of `kind`; `None` for anything not signed by us for that use.
pub fn verify(key: &[u8], kind: Kind, token: &str) -> Option<Link> {
    if token.len() > 8192 {
        return None;
    }
    let (body, tag) = token.split_once('.')?;
    let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(body).ok()?).ok()?;
    let given = URL_SAFE_NO_PAD.decode(tag).ok()?;
    let mut m = Hmac::<Sha256>::new_from_slice(key).ok()?;
    m.update(payload.as_bytes());
    m.verify_truncated_left(&given).ok()?;
    if given.len() != 16 {
        return None;
    }
    let mut parts = payload.splitn(5, '\n');
    if parts.next()? != kind.tag() {
        return None;
    }
    let (tenant_id, campaign_id, recipient_id) = (parts.next()?, parts.next()?, parts.next()?);
    let url = parts.next().map(str::to_string);
    if (kind == Kind::Click) != url.is_some() {
        return None;
    }
    Some(Link {
        tenant_id: tenant_id.to_string(),
        campaign_id: campaign_id.to_string(),
        recipient_id: recipient_id.to_string(),
        url,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = &[7; 32];

    #[test]
    fn tokens_round_trip_and_name_the_portal() {
        let t = sign(KEY, Kind::Click, "t1", "c1", "r1", Some("https://example.com/a?b=1"));
        let link = verify(KEY, Kind::Click, &t).unwrap();
        assert_eq!(link.tenant_id, "t1");
        assert_eq!(link.url.as_deref(), Some("https://example.com/a?b=1"));
        let u = sign(KEY, Kind::Unsubscribe, "t1", "c1", "r1", None);
        assert_eq!(verify(KEY, Kind::Unsubscribe, &u).unwrap().recipient_id, "r1");
    }

    #[test]
    fn tampered_reused_or_foreign_tokens_fail() {
        let t = sign(KEY, Kind::Click, "t1", "c1", "r1", Some("https://example.com/"));
        assert!(verify(&[8; 32], Kind::Click, &t).is_none(), "another key");
        assert!(verify(KEY, Kind::Open, &t).is_none(), "another use");
        // Re-sign the body with a different URL but keep the old tag.
        let (_, tag) = t.split_once('.').unwrap();
        let evil = URL_SAFE_NO_PAD.encode("c\nt1\nc1\nr1\nhttps://evil.example/");
        assert!(verify(KEY, Kind::Click, &format!("{evil}.{tag}")).is_none(), "a swapped URL");
        let mut flipped = t.clone().into_bytes();
        flipped[3] = if flipped[3] == b'A' { b'B' } else { b'A' };
        assert!(verify(KEY, Kind::Click, &String::from_utf8(flipped).unwrap()).is_none());
        assert!(verify(KEY, Kind::Click, "garbage").is_none());
        assert!(verify(KEY, Kind::Click, "").is_none());
        let short_tag = format!("{}.{}", t.split_once('.').unwrap().0, URL_SAFE_NO_PAD.encode([0u8; 4]));
        assert!(verify(KEY, Kind::Click, &short_tag).is_none(), "a truncated tag");
    }
}
