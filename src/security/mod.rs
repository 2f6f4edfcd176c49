//! Security primitives with no I/O: password hashing, opaque tokens, TOTP, field encryption, recovery codes, the throttling policy, rate-limit buckets, the abuse
//! detector and the audit hash chain. Anything here that depends on time takes it as an argument.

pub mod abuse;
pub mod audit_chain;
pub mod crypto;
pub mod password_hash;
pub mod qr;
pub mod rate_limit;
pub mod recovery_codes;
pub mod throttle;
pub mod tokens;
pub mod totp;
