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
use rand::RngCore;

use super::{Error, Result};
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
    pub(crate) inner: frost::round1::SigningNonces,
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

fn encode_commitments(c: &frost::round1::SigningCommitments) -> Result<PublicNonce> {
    let h = c.hiding().serialize()?;
    let b = c.binding().serialize()?;
    let hidden: [u8; 33] = h
        .as_slice()
        .try_into()
        .map_err(|_| Error::BadPoint("hiding"))?;
    let binder: [u8; 33] = b
        .as_slice()
        .try_into()
        .map_err(|_| Error::BadPoint("binding"))?;
    Ok(PublicNonce { hidden, binder })
}

impl SigningNonce {
    /// Fresh nonce for the holder of `share` (frost `round1::commit`: fresh randomness, the share
    /// only adds entropy) with a random `code`.
    pub fn generate(share: &Secret32) -> Result<Self> {
        let mut rng = rand::rngs::OsRng;
        let mut code = [0u8; 32];
        rng.fill_bytes(&mut code);
        Self::generate_with_code(share, code)
    }

    /// Fresh nonce with a caller-chosen `code` (the caller guarantees uniqueness).
    pub fn generate_with_code(share: &Secret32, code: [u8; 32]) -> Result<Self> {
        let ss =
            frost::keys::SigningShare::deserialize(share.expose()).map_err(|_| Error::BadSecret)?;
        let (inner, commitments) = frost::round1::commit(&ss, &mut rand::rngs::OsRng);
        let public = encode_commitments(&commitments)?;
        Ok(Self {
            code,
            public,
            inner,
        })
    }

    /// Rebuilds a nonce from its two secret scalars (fixed-nonce test vectors, or restoring from
    /// an encrypted store). Whoever calls this is responsible for never doing it twice.
    pub fn from_secrets(code: [u8; 32], hiding: &Secret32, binding: &Secret32) -> Result<Self> {
        let h = frost_core::round1::Nonce::<Suite>::deserialize(hiding.expose())
            .map_err(|_| Error::BadScalar("hiding nonce"))?;
        let b = frost_core::round1::Nonce::<Suite>::deserialize(binding.expose())
            .map_err(|_| Error::BadScalar("binding nonce"))?;
        let inner = frost::round1::SigningNonces::from_nonces(h, b);
        let public = encode_commitments(inner.commitments())?;
        Ok(Self {
            code,
            public,
            inner,
        })
    }

    pub fn code(&self) -> &[u8; 32] {
        &self.code
    }

    pub fn public(&self) -> PublicNonce {
        self.public
    }
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
