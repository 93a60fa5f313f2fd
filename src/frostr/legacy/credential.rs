//! `bfshare1…` and `bfgroup1…` credentials (FROSTR.md §2), group id, derived identities.
//!
//! The decoders are stricter than the JS ones: they check the prefix, every point, every scalar,
//! index uniqueness and the threshold, and never panic.

use super::math::{self, PubNonce, SecNonce, parse_point, scalar_strict};
use super::{Error, Result, bech32m};
use crate::vault::Secret32;
use k256::Scalar;
use secp256k1::PublicKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

pub const SHARE_HRP: &str = "bfshare";
pub const GROUP_HRP: &str = "bfgroup";
pub const SHARE_LEN: usize = 100;
pub const COMMIT_LEN: usize = 103;
pub const GROUP_HEADER_LEN: usize = 37;

/// One member's share: index, share secret, static nonces (binder before hidden on the wire).
#[derive(Debug)]
pub struct SharePackage {
    pub idx: u32,
    pub seckey: Secret32,
    pub binder_sn: Secret32,
    pub hidden_sn: Secret32,
}

/// One commit record of a `bfgroup`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Commit {
    pub idx: u32,
    pub pubkey: PublicKey,
    pub binder_pn: PublicKey,
    pub hidden_pn: PublicKey,
}

/// The public group package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupPackage {
    /// Group key with its real parity byte.
    pub group_pk: PublicKey,
    pub threshold: u32,
    /// Commit records in the order of the encoding (ascending idx from a dealer).
    pub commits: Vec<Commit>,
}

fn want_len(what: &'static str, expected: &str, got: usize) -> Error {
    Error::WrongLength {
        what,
        expected: expected.into(),
        got,
    }
}

fn check_hrp(got: String, expected: &'static str) -> Result<()> {
    if got == expected {
        Ok(())
    } else {
        Err(Error::WrongHrp { expected, got })
    }
}

impl SharePackage {
    /// The 100-byte binary layout.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut b = Zeroizing::new(Vec::with_capacity(SHARE_LEN));
        b.extend_from_slice(&self.idx.to_be_bytes());
        b.extend_from_slice(self.seckey.expose());
        b.extend_from_slice(self.binder_sn.expose());
        b.extend_from_slice(self.hidden_sn.expose());
        b
    }

    pub fn from_bytes(b: &[u8]) -> Result<Self> {
        if b.len() != SHARE_LEN {
            return Err(want_len("bfshare", "100", b.len()));
        }
        let idx = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        if idx == 0 {
            return Err(Error::ZeroIndex);
        }
        let take = |o: usize, what: &'static str| -> Result<Secret32> {
            let s = Secret32::from_slice(&b[o..o + 32]).ok_or(Error::InvalidScalar(what))?;
            scalar_strict(s.expose(), what)?;
            Ok(s)
        };
        Ok(Self {
            idx,
            seckey: take(4, "share secret")?,
            binder_sn: take(36, "binder nonce")?,
            hidden_sn: take(68, "hidden nonce")?,
        })
    }

    /// `bfshare1…`.
    pub fn encode(&self) -> Zeroizing<String> {
        Zeroizing::new(bech32m::encode(SHARE_HRP, &self.to_bytes()))
    }

    pub fn decode(s: &str) -> Result<Self> {
        let (hrp, data) = bech32m::decode(s)?;
        let data = Zeroizing::new(data);
        check_hrp(hrp, SHARE_HRP)?;
        Self::from_bytes(&data)
    }

    pub fn secret_scalar(&self) -> Result<Scalar> {
        scalar_strict(self.seckey.expose(), "share secret")
    }

    pub fn sec_nonce(&self) -> Result<SecNonce> {
        Ok(SecNonce {
            hidden: scalar_strict(self.hidden_sn.expose(), "hidden nonce")?,
            binder: scalar_strict(self.binder_sn.expose(), "binder nonce")?,
        })
    }

    /// `s_i·G`, compressed.
    pub fn pubkey(&self) -> Result<PublicKey> {
        math::mul_gen(&self.secret_scalar()?)
    }

    /// The member's Nostr transport identity (x-only of its share pubkey).
    pub fn transport_pubkey(&self) -> Result<[u8; 32]> {
        Ok(math::xonly(&self.pubkey()?))
    }

    /// The public commit record this share implies.
    pub fn commit(&self) -> Result<Commit> {
        let n = self.sec_nonce()?.public()?;
        Ok(Commit {
            idx: self.idx,
            pubkey: self.pubkey()?,
            binder_pn: n.binder,
            hidden_pn: n.hidden,
        })
    }

    pub fn duplicate(&self) -> Self {
        Self {
            idx: self.idx,
            seckey: self.seckey.duplicate(),
            binder_sn: self.binder_sn.duplicate(),
            hidden_sn: self.hidden_sn.duplicate(),
        }
    }

    /// JS JSON form `{"binder_sn","hidden_sn","idx","seckey"}` (contains secrets).
    pub fn to_json(&self) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "{{\"binder_sn\":\"{}\",\"hidden_sn\":\"{}\",\"idx\":{},\"seckey\":\"{}\"}}",
            self.binder_sn.expose_hex().as_str(),
            self.hidden_sn.expose_hex().as_str(),
            self.idx,
            self.seckey.expose_hex().as_str()
        ))
    }
}

impl Commit {
    pub fn pub_nonce(&self) -> PubNonce {
        PubNonce {
            hidden: self.hidden_pn,
            binder: self.binder_pn,
        }
    }
    /// Member transport identity: x-only share pubkey.
    pub fn xonly(&self) -> [u8; 32] {
        math::xonly(&self.pubkey)
    }
}

impl GroupPackage {
    /// Validates index uniqueness and the threshold.
    pub fn validate(&self) -> Result<()> {
        let n = self.commits.len() as u32;
        if self.threshold == 0 || self.threshold > n {
            return Err(Error::BadThreshold {
                threshold: self.threshold,
                members: n,
            });
        }
        let mut seen = std::collections::BTreeSet::new();
        for c in &self.commits {
            if c.idx == 0 {
                return Err(Error::ZeroIndex);
            }
            if !seen.insert(c.idx) {
                return Err(Error::DuplicateIndex(c.idx));
            }
        }
        Ok(())
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(GROUP_HEADER_LEN + COMMIT_LEN * self.commits.len());
        b.extend_from_slice(&self.group_pk.serialize());
        b.extend_from_slice(&self.threshold.to_be_bytes());
        for c in &self.commits {
            b.extend_from_slice(&c.idx.to_be_bytes());
            b.extend_from_slice(&c.pubkey.serialize());
            b.extend_from_slice(&c.binder_pn.serialize());
            b.extend_from_slice(&c.hidden_pn.serialize());
        }
        b
    }

    pub fn from_bytes(b: &[u8]) -> Result<Self> {
        if b.len() < GROUP_HEADER_LEN + COMMIT_LEN
            || !(b.len() - GROUP_HEADER_LEN).is_multiple_of(COMMIT_LEN)
        {
            return Err(want_len("bfgroup", "37 + 103·N, N ≥ 1", b.len()));
        }
        let group_pk = parse_point(&b[..33], "group public key")?;
        let threshold = u32::from_be_bytes([b[33], b[34], b[35], b[36]]);
        let mut commits = Vec::with_capacity((b.len() - GROUP_HEADER_LEN) / COMMIT_LEN);
        for r in b[GROUP_HEADER_LEN..].chunks_exact(COMMIT_LEN) {
            commits.push(Commit {
                idx: u32::from_be_bytes([r[0], r[1], r[2], r[3]]),
                pubkey: parse_point(&r[4..37], "share public key")?,
                binder_pn: parse_point(&r[37..70], "binder nonce point")?,
                hidden_pn: parse_point(&r[70..103], "hidden nonce point")?,
            });
        }
        let g = Self {
            group_pk,
            threshold,
            commits,
        };
        g.validate()?;
        Ok(g)
    }

    /// `bfgroup1…` (any length).
    pub fn encode(&self) -> String {
        bech32m::encode(GROUP_HRP, &self.to_bytes())
    }

    pub fn decode(s: &str) -> Result<Self> {
        let (hrp, data) = bech32m::decode(s)?;
        check_hrp(hrp, GROUP_HRP)?;
        Self::from_bytes(&data)
    }

    /// The group npub (x-only of `group_pk`).
    pub fn npub(&self) -> [u8; 32] {
        math::xonly(&self.group_pk)
    }

    pub fn group_pk_bytes(&self) -> [u8; 33] {
        self.group_pk.serialize()
    }

    pub fn commit(&self, idx: u32) -> Result<&Commit> {
        self.commits
            .iter()
            .find(|c| c.idx == idx)
            .ok_or(Error::NotAMember(idx))
    }

    /// Finds the commit whose x-only pubkey is `xonly` (transport identity → member).
    pub fn commit_by_xonly(&self, xonly: &[u8; 32]) -> Option<&Commit> {
        self.commits.iter().find(|c| &c.xonly() == xonly)
    }

    /// `gid = SHA256(C_1 ‖ … ‖ C_N ‖ group_pk)`, `C_k = idx32 ‖ hidden_pn ‖ binder_pn` (§2.5).
    pub fn gid(&self) -> [u8; 32] {
        let mut cs: Vec<&Commit> = self.commits.iter().collect();
        cs.sort_by_key(|c| c.idx);
        let mut h = Sha256::new();
        for c in cs {
            h.update(math::idx32(c.idx));
            h.update(c.hidden_pn.serialize());
            h.update(c.binder_pn.serialize());
        }
        h.update(self.group_pk.serialize());
        h.finalize().into()
    }

    /// Checks that a share belongs to this group (`s_i·G` equals its commit pubkey and its
    /// nonces match the commit's nonce points).
    pub fn check_share(&self, share: &SharePackage) -> Result<()> {
        let c = self
            .commit(share.idx)
            .map_err(|_| Error::ShareNotInGroup(share.idx))?;
        let mine = share.commit()?;
        if mine.pubkey != c.pubkey || mine.hidden_pn != c.hidden_pn || mine.binder_pn != c.binder_pn
        {
            return Err(Error::ShareNotInGroup(share.idx));
        }
        Ok(())
    }

    /// JS JSON form.
    pub fn to_json(&self) -> GroupJson {
        GroupJson {
            commits: self
                .commits
                .iter()
                .map(|c| CommitJson {
                    idx: c.idx,
                    binder_pn: hex::encode(c.binder_pn.serialize()),
                    hidden_pn: hex::encode(c.hidden_pn.serialize()),
                    pubkey: hex::encode(c.pubkey.serialize()),
                })
                .collect(),
            group_pk: hex::encode(self.group_pk.serialize()),
            threshold: self.threshold,
        }
    }

    pub fn from_json(j: &GroupJson) -> Result<Self> {
        let pt = |s: &str, what: &'static str| -> Result<PublicKey> {
            parse_point(&hex::decode(s).map_err(|_| Error::Hex(what))?, what)
        };
        let g = Self {
            group_pk: pt(&j.group_pk, "group public key")?,
            threshold: j.threshold,
            commits: j
                .commits
                .iter()
                .map(|c| {
                    Ok(Commit {
                        idx: c.idx,
                        pubkey: pt(&c.pubkey, "share public key")?,
                        binder_pn: pt(&c.binder_pn, "binder nonce point")?,
                        hidden_pn: pt(&c.hidden_pn, "hidden nonce point")?,
                    })
                })
                .collect::<Result<_>>()?,
        };
        g.validate()?;
        Ok(g)
    }
}

/// JSON form of a group package, as the JS APIs print it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupJson {
    pub commits: Vec<CommitJson>,
    pub group_pk: String,
    pub threshold: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitJson {
    pub idx: u32,
    pub binder_pn: String,
    pub hidden_pn: String,
    pub pubkey: String,
}

/// Decodes a `bfshare1…` string.
pub fn decode_share(s: &str) -> Result<SharePackage> {
    SharePackage::decode(s)
}

/// Decodes a `bfgroup1…` string.
pub fn decode_group(s: &str) -> Result<GroupPackage> {
    GroupPackage::decode(s)
}
