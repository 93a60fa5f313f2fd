//! Single-use signing nonces (FROSTR-NEXT §5, §6.1, §6.2).
//!
//! A [`SigningNonce`] is neither `Clone` nor `Copy` and is consumed by value when a partial
//! signature is made, so the type system rules out signing twice with one nonce inside a process.
//! Across restarts and concurrent tasks the [`NonceLedger`] is the guard: the signer records the
//! nonce's `code` as consumed **before** the partial signature is returned, and a ledger refuses a
//! code it has already recorded.

use std::collections::HashSet;
use std::sync::Mutex;

use frost_secp256k1_tr as frost;
use k256::elliptic_curve::BatchNormalize as _;
use k256::elliptic_curve::ops::MulByGenerator as _;
use k256::elliptic_curve::sec1::ToEncodedPoint as _;
use k256::{ProjectivePoint, Scalar};
use rand::RngCore;
use zeroize::Zeroizing;

use super::{Error, Result, nonzero_scalar};
use crate::vault::secret::Secret32;

type Suite = frost::Secp256K1Sha256TR;

/// Public half of a nonce: the two FROST commitments, 33-byte compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PublicNonce {
    /// Hiding commitment `D = d·G` (`hidden_pn` on the wire).
    pub hidden: [u8; 33],
    /// Binding commitment `E = e·G` (`binder_pn` on the wire).
    pub binder: [u8; 33],
}

impl PublicNonce {
    pub(crate) fn to_frost(self) -> Result<frost::round1::SigningCommitments> {
        let h = frost::round1::NonceCommitment::deserialize(&self.hidden)
            .map_err(|_| Error::BadPoint("hiding commitment"))?;
        let b = frost::round1::NonceCommitment::deserialize(&self.binder)
            .map_err(|_| Error::BadPoint("binding commitment"))?;
        Ok(frost::round1::SigningCommitments::new(h, b))
    }
}

/// A secret nonce pair with its 32-byte handle `code`. Zeroized on drop; never cloned.
pub struct SigningNonce {
    code: [u8; 32],
    public: PublicNonce,
    /// `d` (hiding) and `e` (binding): all a partial signature needs of the nonce
    /// (`z = d + ρ·e + λ·s·c`, `sign.rs`).
    secrets: Zeroizing<[Scalar; 2]>,
}

impl std::fmt::Debug for SigningNonce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SigningNonce(code={}, <secret redacted>)",
            hex::encode(self.code)
        )
    }
}

/// `(d, e)` pairs to nonces: the commitments `d·G`, `e·G` with k256's precomputed generator
/// tables (constant time, ≈ half of a generic multiplication) and one shared field inversion
/// for the whole batch.
fn with_commitments(pairs: Vec<([u8; 32], Zeroizing<[Scalar; 2]>)>) -> Result<Vec<SigningNonce>> {
    let points: Vec<ProjectivePoint> = pairs
        .iter()
        .flat_map(|(_, s)| s.iter().map(ProjectivePoint::mul_by_generator))
        .collect();
    let affine = ProjectivePoint::batch_normalize(points.as_slice());
    let encode = |i: usize, what: &'static str| -> Result<[u8; 33]> {
        affine
            .get(i)
            .map(|p| p.to_encoded_point(true))
            .and_then(|e| <[u8; 33]>::try_from(e.as_bytes()).ok())
            .ok_or(Error::BadPoint(what))
    };
    pairs
        .into_iter()
        .enumerate()
        .map(|(k, (code, secrets))| {
            let public = PublicNonce {
                hidden: encode(2 * k, "hiding commitment")?,
                binder: encode(2 * k + 1, "binding commitment")?,
            };
            Ok(SigningNonce {
                code,
                public,
                secrets,
            })
        })
        .collect()
}

/// [`with_commitments`] for one nonce.
fn with_commitment(code: [u8; 32], secrets: Zeroizing<[Scalar; 2]>) -> Result<SigningNonce> {
    with_commitments(vec![(code, secrets)])?
        .pop()
        .ok_or(Error::Frost("empty nonce batch".into()))
}

fn random_code() -> [u8; 32] {
    let mut code = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut code);
    code
}

impl SigningNonce {
    /// Fresh nonce for the holder of `share` (frost's nonce generation: fresh randomness, the
    /// share only adds entropy) with a random `code`.
    pub fn generate(share: &Secret32) -> Result<Self> {
        Self::generate_with_code(share, random_code())
    }

    /// `n` fresh nonces with random codes, cheaper per nonce than `n` calls of
    /// [`SigningNonce::generate`] (one field inversion for all commitments).
    pub fn generate_batch(share: &Secret32, n: usize) -> Result<Vec<Self>> {
        let pairs = (0..n)
            .map(|_| Ok((random_code(), fresh_secrets(share)?)))
            .collect::<Result<Vec<_>>>()?;
        with_commitments(pairs)
    }

    /// Fresh nonce with a caller-chosen `code` (the caller guarantees uniqueness).
    pub fn generate_with_code(share: &Secret32, code: [u8; 32]) -> Result<Self> {
        with_commitment(code, fresh_secrets(share)?)
    }

    /// Rebuilds a nonce from its two secret scalars (fixed-nonce test vectors, or restoring from
    /// an encrypted store). Whoever calls this is responsible for never doing it twice.
    pub fn from_secrets(code: [u8; 32], hiding: &Secret32, binding: &Secret32) -> Result<Self> {
        let nonzero = |b: &Secret32, what| nonzero_scalar(b.expose()).ok_or(Error::BadScalar(what));
        let secrets = Zeroizing::new([
            nonzero(hiding, "hiding nonce")?,
            nonzero(binding, "binding nonce")?,
        ]);
        with_commitment(code, secrets)
    }

    pub fn code(&self) -> &[u8; 32] {
        &self.code
    }

    pub fn public(&self) -> PublicNonce {
        self.public
    }

    /// `(d, e)`, for the partial signature.
    pub(crate) fn secrets(&self) -> &[Scalar; 2] {
        &self.secrets
    }

    /// The same nonce as frost's type, for tests that compare against `frost::round2::sign`.
    #[cfg(test)]
    pub(crate) fn to_frost(&self) -> frost::round1::SigningNonces {
        let n = |s: &Scalar| frost_core::round1::Nonce::<Suite>::from_scalar(*s);
        frost::round1::SigningNonces::from_nonces(n(&self.secrets[0]), n(&self.secrets[1]))
    }
}

/// `(d, e)` as frost's `round1::commit` draws them: `H3(32 random bytes ‖ share)` each
/// (RFC 9591 `nonce_generate`).
fn fresh_secrets(share: &Secret32) -> Result<Zeroizing<[Scalar; 2]>> {
    let ss =
        frost::keys::SigningShare::deserialize(share.expose()).map_err(|_| Error::BadSecret)?;
    let mut rng = rand::rngs::OsRng;
    let draw =
        |rng: &mut rand::rngs::OsRng| frost_core::round1::Nonce::<Suite>::new(&ss, rng).to_scalar();
    Ok(Zeroizing::new([draw(&mut rng), draw(&mut rng)]))
}

/// Why a ledger refused to record a nonce.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum LedgerError {
    #[error("nonce {0} was already consumed")]
    AlreadyConsumed(String),
    #[error("nonce ledger storage failed: {0}")]
    Storage(String),
}

/// Durable record of consumed nonce codes. `record_consumed` is called before a partial
/// signature leaves the signer; it must be durable when it returns `Ok` and must return
/// [`LedgerError::AlreadyConsumed`] for a code it has recorded before (then no signature is
/// produced). The node implements it with redb.
pub trait NonceLedger: Send + Sync {
    fn record_consumed(&self, code: &[u8; 32]) -> Result<(), LedgerError>;

    /// Burns freshly generated codes before their public halves leave the box, in one durable
    /// write for the whole batch. A later `record_consumed` of a reserved code needs no I/O of its
    /// own (it was on disk before the nonce could be used), so signing pays no fsync; after a
    /// restart every reserved code counts as consumed. Fails with `AlreadyConsumed` if a code was
    /// recorded before. The default reserves nothing (each `record_consumed` is durable by itself).
    fn reserve(&self, codes: &[[u8; 32]]) -> Result<(), LedgerError> {
        let _ = codes;
        Ok(())
    }

    /// Whether this signer ever generated `code` (reserved or consumed it); `None` when the
    /// ledger cannot tell. A peer naming a code we never generated is how a second signer
    /// running with the same share shows itself (its nonces reach the peer under our key).
    fn issued(&self, code: &[u8; 32]) -> Option<bool> {
        let _ = code;
        None
    }
}

/// In-memory ledger (tests, benches, and the CLI's one-shot use).
#[derive(Debug, Default)]
pub struct MemoryNonceLedger {
    used: Mutex<HashSet<[u8; 32]>>,
    /// Reserved codes, only for [`NonceLedger::issued`] (a reserved code is not consumed here).
    reserved: Mutex<HashSet<[u8; 32]>>,
}

impl MemoryNonceLedger {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn contains(&self, code: &[u8; 32]) -> bool {
        self.used.lock().map(|g| g.contains(code)).unwrap_or(true)
    }
    pub fn len(&self) -> usize {
        self.used.lock().map(|g| g.len()).unwrap_or(0)
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl NonceLedger for MemoryNonceLedger {
    fn record_consumed(&self, code: &[u8; 32]) -> Result<(), LedgerError> {
        let mut g = self
            .used
            .lock()
            .map_err(|_| LedgerError::Storage("ledger lock poisoned".into()))?;
        if !g.insert(*code) {
            return Err(LedgerError::AlreadyConsumed(hex::encode(code)));
        }
        Ok(())
    }

    fn reserve(&self, codes: &[[u8; 32]]) -> Result<(), LedgerError> {
        let mut g = self
            .reserved
            .lock()
            .map_err(|_| LedgerError::Storage("ledger lock poisoned".into()))?;
        g.extend(codes.iter().copied());
        Ok(())
    }

    fn issued(&self, code: &[u8; 32]) -> Option<bool> {
        let reserved = self.reserved.lock().ok()?.contains(code);
        Some(reserved || self.used.lock().ok()?.contains(code))
    }
}

impl<T: NonceLedger + ?Sized> NonceLedger for std::sync::Arc<T> {
    fn record_consumed(&self, code: &[u8; 32]) -> Result<(), LedgerError> {
        (**self).record_consumed(code)
    }
    fn reserve(&self, codes: &[[u8; 32]]) -> Result<(), LedgerError> {
        (**self).reserve(codes)
    }
    fn issued(&self, code: &[u8; 32]) -> Option<bool> {
        (**self).issued(code)
    }
}
