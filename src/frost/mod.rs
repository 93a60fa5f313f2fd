//! Threshold math for the current generation (FROSTR-NEXT §1, §6.3, §7): trusted-dealer keygen
//! with even-y normalisation, split / recover, Lagrange coefficients, single-use nonces, partial
//! signatures (sign, verify, aggregate) and threshold ECDH.
//!
//! The ciphersuite is the official `frost-secp256k1-tr` 3 crate (ZF "TR" suite, byte-compatible
//! with bifrost-rs, §7.2): its hashes (`H1`–`H5`), nonce generation, key packages, share
//! verification and cheater detection are used as they are (Lagrange coefficients are
//! `keys::lagrange`, checked against bifrost-rs's values and frost's). The signing hot
//! path (`sign`, `nonce`) assembles RFC 9591's round-2 formulas from those parts instead of
//! calling `round2::sign`: the inputs are hashed from the wire bytes (no re-encoding of parsed
//! points), `R = Σ Dᵢ + ρᵢ·Eᵢ` is computed by libsecp256k1, nonce commitments come from k256's
//! precomputed generator tables, and a round's values are derived once. It stays equal to
//! `frost::round2::sign` / `frost::aggregate` byte for byte (tested over random groups). This
//! module adds the FROSTR conventions around it: `u16` member indices, x-only even-y group keys,
//! 33-byte member keys, nonces addressed by a 32-byte `code` and consumed exactly once.

pub mod ecdh;
pub mod keys;
pub mod nonce;
pub mod sign;

pub use ecdh::{
    ecdh_combine, ecdh_combine_435e7f6, ecdh_share, ecdh_share_435e7f6, ecdh_share_reweight,
};
pub use keys::{
    GroupKeys, KeyShare, Keyset, MemberKey, keygen, lagrange, lagrange_bytes, recover, split,
    split_with_rng,
};
pub use nonce::{LedgerError, MemoryNonceLedger, NonceLedger, PublicNonce, SigningNonce};
pub use sign::{ShareSigner, SignRound, aggregate, verify_bip340, verify_partial};

use k256::elliptic_curve::ops::MulByGenerator as _;
use k256::elliptic_curve::sec1::{FromEncodedPoint, ToEncodedPoint};
use k256::{AffinePoint, EncodedPoint, ProjectivePoint, Scalar};

/// Errors of the threshold math. Messages name what was wrong, never a secret.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Error {
    #[error(
        "threshold must be at least 2 and at most the member count (got {threshold} of {count})"
    )]
    BadThreshold { threshold: u16, count: u16 },
    #[error("member count must be between 2 and 1000 (got {0})")]
    BadCount(u16),
    #[error("secret key is zero or not below the curve order")]
    BadSecret,
    #[error("member index 0 is not allowed")]
    ZeroIndex,
    #[error("member index {0} appears twice")]
    DuplicateIndex(u16),
    #[error("member {0} is not in the member set")]
    NotAMember(u16),
    #[error("member list must be strictly ascending")]
    MembersNotSorted,
    #[error("need at least {need} shares, got {got}")]
    NotEnoughShares { need: usize, got: usize },
    #[error("invalid curve point ({0})")]
    BadPoint(&'static str),
    #[error("invalid scalar ({0})")]
    BadScalar(&'static str),
    #[error("missing nonce commitment for member {0}")]
    MissingCommitment(u16),
    #[error("the nonce's commitment does not match the one in the signing package")]
    WrongNonce,
    #[error("partial signature from member {0} is invalid")]
    BadPartialSignature(u16),
    #[error("aggregate signature does not verify under the group key")]
    BadAggregate,
    #[error("recovered key does not match the group key")]
    GroupKeyMismatch,
    #[error("nonce ledger refused: {0}")]
    Ledger(#[from] LedgerError),
    #[error("frost: {0}")]
    Frost(String),
}

impl From<frost_secp256k1_tr::Error> for Error {
    fn from(e: frost_secp256k1_tr::Error) -> Self {
        Error::Frost(e.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

// ---- small point / scalar helpers shared by the submodules ----------------------------------

/// Scalar from 32 big-endian bytes; rejects values ≥ n (no silent reduction).
pub(crate) fn scalar_from_bytes(b: &[u8; 32]) -> Option<Scalar> {
    use k256::elliptic_curve::PrimeField;
    Option::from(Scalar::from_repr((*b).into()))
}

/// Non-zero scalar in 1…n−1.
pub(crate) fn nonzero_scalar(b: &[u8; 32]) -> Option<Scalar> {
    scalar_from_bytes(b).filter(|s| !bool::from(s.is_zero()))
}

pub(crate) fn scalar_to_bytes(s: &Scalar) -> [u8; 32] {
    s.to_bytes().into()
}

/// Parses a 33-byte SEC1 compressed point (02/03 prefix; rejects identity and off-curve).
pub(crate) fn point_from_compressed(b: &[u8; 33]) -> Option<ProjectivePoint> {
    if b[0] != 2 && b[0] != 3 {
        return None;
    }
    let ep = EncodedPoint::from_bytes(b).ok()?;
    let ap: Option<AffinePoint> = AffinePoint::from_encoded_point(&ep).into();
    ap.map(ProjectivePoint::from)
}

/// Lifts an x-only key to the point with even y (`02‖x`).
pub(crate) fn lift_x(x: &[u8; 32]) -> Option<ProjectivePoint> {
    let mut b = [0u8; 33];
    b[0] = 2;
    b[1..].copy_from_slice(x);
    point_from_compressed(&b)
}

/// Compressed encoding; `None` for the identity.
pub(crate) fn point_to_compressed(p: &ProjectivePoint) -> Option<[u8; 33]> {
    let ep = p.to_affine().to_encoded_point(true);
    ep.as_bytes().try_into().ok()
}

/// `secret·G` compressed (33 bytes).
pub fn pubkey33(secret: &crate::vault::secret::Secret32) -> Result<[u8; 33]> {
    let s = nonzero_scalar(secret.expose()).ok_or(Error::BadSecret)?;
    point_to_compressed(&ProjectivePoint::mul_by_generator(&s)).ok_or(Error::BadSecret)
}

/// x-only public key of a secret (the Nostr identity of a share, or an npub).
pub fn xonly(secret: &crate::vault::secret::Secret32) -> Result<[u8; 32]> {
    let p = pubkey33(secret)?;
    let mut x = [0u8; 32];
    x.copy_from_slice(&p[1..]);
    Ok(x)
}
