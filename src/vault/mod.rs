//! Secret types and encryption at rest (Argon2id + XChaCha20-Poly1305).
//!
//! Every secret in Frostbox (share scalars, nonces, nsecs, passwords, derived keys, session keys)
//! lives in one of the types of [`secret`]: they zeroize on drop and their `Debug` is redacted,
//! so a stray `{:?}` in a log line cannot leak them. [`at_rest`] seals them for the database.

pub mod at_rest;
pub mod secret;

pub use secret::{Secret32, SecretBytes, SecretString};
