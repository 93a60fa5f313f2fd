//! Legacy 1.0.x generation (FROSTR.md, `@frostr/bifrost` 1.0.7, `@cmdcode/frost` 1.1.3).
//!
//! **Leaks shares: opt-in only** (see [`LEGACY_WARNING`]). Everything here exists so Frostbox can
//! talk to existing 1.0.x groups and, above all, move them off the protocol with
//! [`migrate::migrate`] while keeping the npub.
//!
//! * [`math`]: the FROST math of `@cmdcode/frost` 1.1.3 (FROSTR.md §1, §4).
//! * [`credential`]: `bfshare1…` / `bfgroup1…` codecs, gid (§2).
//! * [`dealer`]: trusted-dealer split, recovery, static nonces (§3).
//! * [`session`]: session packages, sid, shifted nonces, psig packages, aggregation (§5).
//! * [`ecdh`]: threshold ECDH packages (§6).
//! * [`transport`]: kind-20004 content encryption and the `[tag,id,data]` envelope (§7.3–7.4).
//! * [`migrate`]: legacy shares → current-generation keyset, same npub.

pub mod bech32m;
pub mod credential;
pub mod dealer;
pub mod ecdh;
pub mod math;
pub mod migrate;
pub mod session;
pub mod transport;

pub use credential::{Commit, GroupPackage, SharePackage, decode_group, decode_share};
pub use dealer::{generate_dealer_pkg, keygen, recover_secret};
pub use ecdh::{EcdhPackage, combine_ecdh, create_ecdh_pkg};
pub use migrate::{RecoveredKey, migrate};
pub use session::{PsigPackage, SessionPackage, aggregate_session, sign_session, verify_psig_pkg};
pub use transport::{decode_envelope, decrypt_content, encode_envelope, encrypt_content};

/// Shown whenever a legacy (1.0.x) group is created, imported or served.
pub const LEGACY_WARNING: &str = "Legacy FROSTR 1.0.x uses static signing nonces: anyone who \
collects three partial signatures from one device can compute that device's share, and with \
threshold shares the whole nsec. Only sign for requesters you fully trust, and move this group \
to the current generation with `frostbox migrate`, which keeps the same npub.";

/// Everything that can go wrong in the legacy module. Messages say what was wrong with the input.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Error {
    #[error("bech32m: {0}")]
    Bech32(String),
    #[error("wrong credential prefix: expected `{expected}`, got `{got}`")]
    WrongHrp { expected: &'static str, got: String },
    #[error("wrong length for {what}: {got} bytes (expected {expected})")]
    WrongLength {
        what: &'static str,
        expected: String,
        got: usize,
    },
    #[error("{0} is not a valid secp256k1 point")]
    InvalidPoint(&'static str),
    #[error("{0} is zero or not below the curve order")]
    InvalidScalar(&'static str),
    #[error("share index 0 is not allowed")]
    ZeroIndex,
    #[error("share index {0} appears more than once")]
    DuplicateIndex(u32),
    #[error("threshold {threshold} is invalid for {members} members")]
    BadThreshold { threshold: u32, members: u32 },
    #[error("not enough shares: {got} given, threshold is {need}")]
    NotEnoughShares { got: usize, need: usize },
    #[error("share {0} does not belong to this group")]
    ShareNotInGroup(u32),
    #[error("recovered secret does not match the group public key")]
    GroupKeyMismatch,
    #[error("member {0} is not part of the signing set")]
    NotAMember(u32),
    #[error("invalid hex in {0}")]
    Hex(&'static str),
    #[error("invalid partial signature from member {idx}{detail}")]
    BadPartialSig { idx: u32, detail: String },
    #[error("session mismatch: {0}")]
    Session(String),
    #[error("the aggregate signature does not verify")]
    BadSignature,
    #[error("point at infinity")]
    Infinity,
    #[error("malformed JSON: {0}")]
    Json(String),
    #[error("decryption failed")]
    Decrypt,
    #[error("envelope: {0}")]
    Envelope(String),
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T> = std::result::Result<T, Error>;
