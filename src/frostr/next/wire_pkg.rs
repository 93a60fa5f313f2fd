//! Placeholder package types (§5.2–5.4, §8.1) used by the wire codec until core-next's
//! `group`/`session`/`ecdh` modules are merged; then this file is replaced by re-exports.

use super::wire::{hex_opt, hex32, hex33};
use serde::{Deserialize, Serialize};

/// §5 common sub-object, key order `binder_pn, hidden_pn, code`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DerivedPublicNonce {
    #[serde(with = "hex33")]
    pub binder_pn: [u8; 33],
    #[serde(with = "hex33")]
    pub hidden_pn: [u8; 33],
    #[serde(with = "hex32")]
    pub code: [u8; 32],
}

/// §5.2 nonce entry, key order `hash_index, binder_pn, hidden_pn, code`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NonceEntry {
    pub hash_index: u16,
    #[serde(with = "hex33")]
    pub binder_pn: [u8; 33],
    #[serde(with = "hex33")]
    pub hidden_pn: [u8; 33],
    #[serde(with = "hex32")]
    pub code: [u8; 32],
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NonceSet {
    pub idx: u16,
    pub entries: Vec<NonceEntry>,
}

/// §5.2 sign session package.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignSessionPackage {
    #[serde(with = "hex32")]
    pub gid: [u8; 32],
    #[serde(with = "hex32")]
    pub sid: [u8; 32],
    pub members: Vec<u16>,
    #[serde(with = "super::wire::hex32_vec")]
    pub hashes: Vec<[u8; 32]>,
    #[serde(with = "hex_opt", default)]
    pub content: Option<Vec<u8>>,
    pub kind: String,
    pub stamp: u32,
    pub nonces: Option<Vec<NonceSet>>,
}

/// §5.3 partial signature entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartialSig {
    pub hash_index: u16,
    #[serde(with = "hex32")]
    pub sighash: [u8; 32],
    #[serde(with = "hex32")]
    pub partial_sig: [u8; 32],
}

/// §5.3 partial signature package.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartialSigPackage {
    pub idx: u16,
    #[serde(with = "hex32")]
    pub sid: [u8; 32],
    #[serde(with = "hex32")]
    pub pubkey: [u8; 32],
    pub psigs: Vec<PartialSig>,
    #[serde(with = "hex_opt", default)]
    pub nonce_code: Option<Vec<u8>>,
    pub replenish: Option<Vec<DerivedPublicNonce>>,
}

/// §5.4 entry, key order `ecdh_pk, keyshare`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EcdhEntry {
    #[serde(with = "hex32")]
    pub ecdh_pk: [u8; 32],
    #[serde(with = "hex33")]
    pub keyshare: [u8; 33],
}

/// §5.4 package, key order `idx, members, entries`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EcdhPackage {
    pub idx: u16,
    pub members: Vec<u16>,
    pub entries: Vec<EcdhEntry>,
}

impl SignSessionPackage {
    /// §7.5: `SHA256(gid ‖ u32le(idx)… ‖ hash… ‖ (content or 0x00) ‖ utf8(kind) ‖ u32le(stamp))`.
    pub fn compute_sid(&self) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(self.gid);
        for m in &self.members {
            h.update(u32::from(*m).to_le_bytes());
        }
        for x in &self.hashes {
            h.update(x);
        }
        match &self.content {
            Some(c) if !c.is_empty() => h.update(c),
            _ => h.update([0u8]),
        }
        h.update(self.kind.as_bytes());
        h.update(self.stamp.to_le_bytes());
        h.finalize().into()
    }
}
