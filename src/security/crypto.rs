//! AES-256-GCM field encryption at rest with rotatable keys.
//!
//! A [`Keyring`] holds one active key (used to encrypt) and older keys (still able to
//! decrypt). Each ciphertext is stored with the id of the key that sealed it, and is bound
//! by associated data to what it protects (e.g. `totp:<user id>`), so a ciphertext moved to
//! another row does not decrypt. Nonces are 96 random bits per encryption.

use std::collections::HashMap;
use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

pub const KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 12;

/// A sealed value: the key id and `base64(nonce || ciphertext || tag)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    pub blob: String,
}

#[derive(Clone)]
pub struct Keyring {
    active: String,
    keys: HashMap<String, [u8; KEY_BYTES]>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ids: Vec<&String> = self.keys.keys().collect();
        ids.sort();
        write!(f, "Keyring(active={}, keys={ids:?})", self.active)
    }
}

/// The associated data of a person's sealed TOTP secret (`users.totp_secret`).
pub fn user_totp_context(user_id: &str) -> String {
    format!("totp:{user_id}")
}

/// The associated data of a staff member's sealed TOTP secret (`staff_members.totp_secret`).
pub fn staff_totp_context(staff_id: &str) -> String {
    format!("staff-totp:{staff_id}")
}

/// The associated data of a platform secret (`platform_secrets.secret`) by its name.
pub fn platform_secret_context(name: &str) -> String {
    format!("platform-secret:{name}")
}

/// The associated data of a portal's in-app identity secret (`inapp_apps.secret`).
pub fn inapp_secret_context(app_id: &str) -> String {
    format!("inapp-secret:{app_id}")
}

/// Parses `id:base64-of-32-bytes`. The id names the key in stored ciphertexts.
pub fn parse_key(raw: &str) -> Result<(String, [u8; KEY_BYTES]), String> {
    let (id, b64) =
        raw.trim().split_once(':').ok_or("expected KEY_ID:BASE64 (32 random bytes, e.g. `openssl rand -base64 32`)")?;
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err("the key id must be 1-64 letters, digits, '-' or '_'".into());
    }
    let bytes = STANDARD.decode(b64.trim()).map_err(|_| "the key is not valid base64".to_string())?;
    let key: [u8; KEY_BYTES] = bytes.try_into().map_err(|_| format!("the key must be exactly {KEY_BYTES} bytes"))?;
    Ok((id.to_string(), key))
}

/// A new random key in the `id:base64` form.
pub fn generate_key(id: &str) -> anyhow::Result<String> {
    let mut key = [0u8; KEY_BYTES];
    getrandom::getrandom(&mut key).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(format!("{id}:{}", STANDARD.encode(key)))
}

impl Keyring {
    pub fn new(active: (String, [u8; KEY_BYTES]), older: Vec<(String, [u8; KEY_BYTES])>) -> Self {
        let mut keys: HashMap<String, [u8; KEY_BYTES]> = older.into_iter().collect();
        let active_id = active.0.clone();
        keys.insert(active.0, active.1);
        Self { active: active_id, keys }
    }

    pub fn active_id(&self) -> &str {
        &self.active
    }

    pub fn encrypt(&self, plaintext: &[u8], aad: &[u8]) -> anyhow::Result<Sealed> {
        let key = self.keys.get(&self.active).ok_or_else(|| anyhow::anyhow!("active key missing"))?;
        let cipher = Aes256Gcm::new_from_slice(key).map_err(|e| anyhow::anyhow!("bad key: {e}"))?;
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::getrandom(&mut nonce).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        let ct = cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad })
            .map_err(|_| anyhow::anyhow!("encryption failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(Sealed { key_id: self.active.clone(), blob: STANDARD.encode(out) })
    }

    pub fn decrypt(&self, sealed: &Sealed, aad: &[u8]) -> anyhow::Result<Vec<u8>> {
        let key = self
            .keys
            .get(&sealed.key_id)
            .ok_or_else(|| anyhow::anyhow!("no key with id {} in the keyring", sealed.key_id))?;
        let raw = STANDARD.decode(&sealed.blob).map_err(|_| anyhow::anyhow!("ciphertext is not base64"))?;
        if raw.len() < NONCE_BYTES + 16 {
            anyhow::bail!("ciphertext too short");
        }
        let (nonce, ct) = raw.split_at(NONCE_BYTES);
        let cipher = Aes256Gcm::new_from_slice(key).map_err(|e| anyhow::anyhow!("bad key: {e}"))?;
        cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
            .map_err(|_| anyhow::anyhow!("decryption failed (wrong key, tampered data or wrong context)"))
    }
}

/// One key's cipher for sealing a long stream in chunks (backups): the caller supplies
/// each chunk's nonce (a per-stream random prefix, a counter and a last-chunk flag, as in
/// the STREAM construction), so chunks can be neither reordered, dropped nor truncated
/// without failing to open. Pure computation; the framing and I/O are the caller's.
pub struct ChunkCipher {
    key_id: String,
    cipher: Aes256Gcm,
}

/// The nonce of chunk `counter` of a stream: 7 prefix bytes, the counter (big-endian) and
/// 1 when it is the last chunk.
pub fn chunk_nonce(prefix: &[u8; 7], counter: u32, last: bool) -> [u8; NONCE_BYTES] {
    let mut nonce = [0u8; NONCE_BYTES];
    for (dst, src) in nonce.iter_mut().zip(prefix.iter().chain(counter.to_be_bytes().iter())) {
        *dst = *src;
    }
    if let Some(flag) = nonce.last_mut() {
        *flag = u8::from(last);
    }
    nonce
}

impl ChunkCipher {
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    pub fn seal(&self, nonce: &[u8; NONCE_BYTES], plaintext: &[u8], aad: &[u8]) -> anyhow::Result<Vec<u8>> {
        self.cipher
            .encrypt(Nonce::from_slice(nonce), Payload { msg: plaintext, aad })
            .map_err(|_| anyhow::anyhow!("encryption failed"))
    }

    pub fn open(&self, nonce: &[u8; NONCE_BYTES], ciphertext: &[u8], aad: &[u8]) -> anyhow::Result<Vec<u8>> {
        self.cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad })
            .map_err(|_| anyhow::anyhow!("decryption failed (wrong key, or the data was altered or cut)"))
    }
}

impl Keyring {
    /// The cipher of key `key_id` (the active key when `None`).
    pub fn chunk_cipher(&self, key_id: Option<&str>) -> anyhow::Result<ChunkCipher> {
        let id = key_id.unwrap_or(&self.active);
        let key = self.keys.get(id).ok_or_else(|| anyhow::anyhow!("no key with id {id} in the keyring"))?;
        let cipher = Aes256Gcm::new_from_slice(key).map_err(|e| anyhow::anyhow!("bad key: {e}"))?;
        Ok(ChunkCipher { key_id: id.to_string(), cipher })
    }

    /// Whether a key with this id is in the keyring.
    pub fn has_key(&self, key_id: &str) -> bool {
        self.keys.contains_key(key_id)
    }

    /// The ids of every key, active first.
    pub fn key_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.keys.keys().filter(|k| **k != self.active).cloned().collect();
        ids.sort();
        ids.insert(0, self.active.clone());
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(id: &str, byte: u8) -> Keyring {
        Keyring::new((id.into(), [byte; 32]), vec![])
    }

    #[test]
    fn round_trip_bound_to_context() {
        let k = ring("k1", 7);
        let sealed = k.encrypt(b"secret", b"totp:u1").unwrap();
        assert_eq!(sealed.key_id, "k1");
        assert_eq!(k.decrypt(&sealed, b"totp:u1").unwrap(), b"secret");
        assert!(k.decrypt(&sealed, b"totp:u2").is_err(), "moved to another row");
        let again = k.encrypt(b"secret", b"totp:u1").unwrap();
        assert_ne!(sealed.blob, again.blob, "fresh nonce each time");
    }

    #[test]
    fn rotation_keeps_old_ciphertexts_readable() {
        let old = ring("k1", 1);
        let sealed = old.encrypt(b"s", b"a").unwrap();
        let rotated = Keyring::new(("k2".into(), [2; 32]), vec![("k1".into(), [1; 32])]);
        assert_eq!(rotated.decrypt(&sealed, b"a").unwrap(), b"s");
        assert_eq!(rotated.encrypt(b"s", b"a").unwrap().key_id, "k2");
        assert!(ring("k2", 2).decrypt(&sealed, b"a").is_err(), "unknown key id");
    }

    #[test]
    fn tampering_is_detected() {
        let k = ring("k1", 9);
        let mut sealed = k.encrypt(b"secret", b"").unwrap();
        let mut raw = STANDARD.decode(&sealed.blob).unwrap();
        raw[14] ^= 1;
        sealed.blob = STANDARD.encode(raw);
        assert!(k.decrypt(&sealed, b"").is_err());
    }

    #[test]
    fn chunks_open_only_in_place() {
        let k = ring("k1", 5).chunk_cipher(None).unwrap();
        let prefix = [1u8; 7];
        let sealed = k.seal(&chunk_nonce(&prefix, 0, false), b"first", b"hdr").unwrap();
        assert_eq!(k.open(&chunk_nonce(&prefix, 0, false), &sealed, b"hdr").unwrap(), b"first");
        assert!(k.open(&chunk_nonce(&prefix, 1, false), &sealed, b"hdr").is_err(), "moved");
        assert!(k.open(&chunk_nonce(&prefix, 0, true), &sealed, b"hdr").is_err(), "claimed last");
        assert!(k.open(&chunk_nonce(&prefix, 0, false), &sealed, b"other").is_err(), "other header");
    }

    #[test]
    fn keys_parse_strictly() {
        let good = generate_key("main").unwrap();
        assert_eq!(parse_key(&good).unwrap().0, "main");
        assert!(parse_key("nocolon").is_err());
        assert!(parse_key("k:not-base64!").is_err());
        assert!(parse_key(&format!("k:{}", STANDARD.encode([0u8; 16]))).is_err());
        assert!(format!("{:?}", ring("k1", 3)).contains("k1"));
    }
}
