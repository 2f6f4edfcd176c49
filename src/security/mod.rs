//! Security primitives with no I/O: password hashing, opaque tokens, the breached-password
//! list. Anything here that depends on time takes it as an argument.

pub mod common_passwords;
pub mod password_hash;
pub mod tokens;
