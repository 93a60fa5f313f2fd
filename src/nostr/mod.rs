//! Nostr primitives: events, keys, NIP-19, filters, NIP-44 v2, NIP-04.
//!
//! Written on RustCrypto + libsecp256k1 (the `secp256k1` crate, global context) rather than the
//! `nostr` crate: FROSTR-NEXT §3 needs NIP-44 with *unpadded* base64, which the `nostr` crate
//! rejects, and the relay hot path wants a zero-copy parse and direct `schnorrsig_verify`.

pub mod event;
pub mod filter;
pub mod keys;
pub mod nip04;
pub mod nip19;
pub mod nip44;

pub use event::Event;
pub use filter::Filter;

/// Errors of the Nostr layer. Messages say what was wrong, never include secrets.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Error {
    #[error("invalid JSON: {0}")]
    Json(String),
    #[error("invalid hex in field `{0}`: expected {1} lowercase hex characters")]
    Hex(&'static str, usize),
    #[error("event id does not match its content")]
    IdMismatch,
    #[error("invalid signature")]
    BadSignature,
    #[error("invalid public key")]
    InvalidPublicKey,
    #[error("invalid secret key (must be 1..n-1)")]
    InvalidSecretKey,
    #[error("invalid kind: {0}")]
    InvalidKind(String),
    #[error("invalid filter: {0}")]
    InvalidFilter(String),
    #[error("invalid base64")]
    Base64,
    #[error("unknown encryption version")]
    UnknownVersion,
    #[error("invalid payload length")]
    PayloadLength,
    #[error("invalid plaintext length (must be 1..65535 bytes)")]
    PlaintextLength,
    #[error("invalid MAC")]
    InvalidMac,
    #[error("invalid padding")]
    InvalidPadding,
    #[error("plaintext is not valid UTF-8")]
    Utf8,
    #[error("invalid NIP-04 payload: {0}")]
    Nip04(&'static str),
    #[error("invalid bech32: {0}")]
    Bech32(String),
    #[error("invalid NIP-19 entity: {0}")]
    Nip19(String),
}

/// Result alias for the Nostr layer.
pub type Result<T> = std::result::Result<T, Error>;

/// Decodes exactly `N` bytes of lowercase hex; `field` names the field in the error.
pub(crate) fn hex_lower<const N: usize>(s: &str, field: &'static str) -> Result<[u8; N]> {
    let b = s.as_bytes();
    if b.len() != 2 * N || !b.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(Error::Hex(field, 2 * N));
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(b, &mut out).map_err(|_| Error::Hex(field, 2 * N))?;
    Ok(out)
}
