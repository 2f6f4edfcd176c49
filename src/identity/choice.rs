//! The portal step of a sign-in: after the password, the portals a person may enter (and
//! invitations they may accept), and the sealed, single-use choice a browser carries
//! between the password form and the portal form.

use super::login::{Context, Verified};
use crate::db::system;
use crate::domain::UserId;
use crate::error::AppError;
use crate::security::tokens;

/// One way into a portal offered after the password step: a portal the person belongs
/// to, or an open invitation to one.
#[derive(Debug, Clone)]
pub struct Choice {
    pub tenant_id: String,
    pub tenant_name: String,
    pub role: String,
    /// Set for an invitation (accepting it is the way in).
    pub invitation_id: Option<String>,
}

/// The portals a verified person may enter and the invitations they may accept, by name.
pub async fn choices(cx: &Context<'_>, who: &Verified) -> Result<Vec<Choice>, AppError> {
    let (user_id, email, now) = (who.user_id.clone(), who.email.clone(), cx.now);
    system::read(cx.db, move |s| {
        let mut out: Vec<Choice> = s
            .portals_of(&user_id)?
            .into_iter()
            .map(|(t, m)| Choice { tenant_id: t.id, tenant_name: t.name, role: m.role, invitation_id: None })
            .collect();
        out.extend(s.invitations_for(&email, now.naive_utc())?.into_iter().map(|(i, t)| Choice {
            tenant_id: t.id,
            tenant_name: t.name,
            role: i.role,
            invitation_id: Some(i.id),
        }));
        Ok(out)
    })
    .await
}

/// How long a verified password may wait for its portal choice.
const CHOICE_MINUTES: i64 = 5;
const CHOICE_CONTEXT: &[u8] = b"organizeo:login-choice:v1";

/// Seals a verified person for the portal choice (a browser keeps it between the two
/// forms, so the password is not sent twice): AES-256-GCM under the active key, with the
/// person and an expiry inside.
pub fn seal_choice(cx: &Context<'_>, who: &Verified) -> Result<String, AppError> {
    let expires = (cx.now + chrono::Duration::minutes(CHOICE_MINUTES)).timestamp();
    // The nonce makes the choice spendable once (`spent_sign_in_steps`).
    let nonce = tokens::generate("").map_err(AppError::internal)?;
    let body = serde_json::json!({"u": who.user_id.as_str(), "exp": expires, "n": nonce}).to_string();
    let sealed = cx.keyring.encrypt(body.as_bytes(), CHOICE_CONTEXT).map_err(AppError::internal)?;
    Ok(format!("{}.{}", sealed.key_id, sealed.blob))
}

/// Opens a sealed portal choice: the person again (their 2FA state read afresh), or 401
/// when it is forged, expired or the account is gone.
pub async fn reopen_choice(cx: &Context<'_>, sealed: &str) -> Result<Verified, AppError> {
    let again = || AppError::unauthorized("this sign-in step is unknown or expired; sign in again");
    let (key_id, blob) = sealed.split_once('.').ok_or_else(again)?;
    let sealed = crate::security::crypto::Sealed { key_id: key_id.to_string(), blob: blob.to_string() };
    let plain = cx.keyring.decrypt(&sealed, CHOICE_CONTEXT).map_err(|_| again())?;
    let body: serde_json::Value = serde_json::from_slice(&plain).map_err(|_| again())?;
    let expires = body.get("exp").and_then(serde_json::Value::as_i64).ok_or_else(again)?;
    let user = body.get("u").and_then(serde_json::Value::as_str).and_then(UserId::parse).ok_or_else(again)?;
    if expires <= cx.now.timestamp() {
        return Err(again());
    }
    let nonce = body.get("n").and_then(serde_json::Value::as_str).filter(|n| !n.is_empty()).ok_or_else(again)?;
    let expires_at = chrono::DateTime::from_timestamp(expires, 0).ok_or_else(again)?.naive_utc();
    let digest = tokens::digest(nonce);
    // A spent choice opens nothing, not even the list of the person's portals (`enter`
    // still spends it atomically, so two posts racing past this read open one session).
    let lookup = digest.clone();
    let row = cx
        .db
        .read(move |p| Ok(if p.sign_in_step_spent(&lookup)? { None } else { p.user(&user)? }))
        .await?
        .ok_or_else(again)?;
    let step = Some((digest, expires_at));
    Ok(Verified { user_id: UserId::from_db(row.id.clone()), mfa_on: row.mfa_enabled(), email: row.email, step })
}
