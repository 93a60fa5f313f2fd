//! Group and share packages (FROSTR-NEXT §7.5, §8.1).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::hexser;
use crate::frost::{self, GroupKeys, KeyShare, MemberKey};
use crate::vault::secret::Secret32;

/// Errors decoding or validating a group / share package.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum GroupError {
    #[error("invalid group package JSON: {0}")]
    Json(String),
    #[error("group name is empty")]
    EmptyName,
    #[error("group must have 1 to 1000 members (got {0})")]
    MemberCount(usize),
    #[error("threshold {threshold} is outside 1…{members}")]
    Threshold { threshold: u16, members: usize },
    #[error("member index 0 is not allowed")]
    ZeroIndex,
    #[error("member index {0} appears twice")]
    DuplicateIndex(u16),
    #[error("member public key appears twice (index {0})")]
    DuplicatePubkey(u16),
    #[error("member {0}'s public key is not a point on secp256k1")]
    BadMemberKey(u16),
    #[error("group public key is not a valid x-only key")]
    BadGroupKey,
    #[error("invalid share package: {0}")]
    Share(String),
    #[error("share is not a member of this group")]
    NotInGroup,
    #[error(transparent)]
    Frost(#[from] frost::Error),
}

/// One member of a group package.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub idx: u16,
    #[serde(with = "hexser::fixed")]
    pub pubkey: [u8; 33],
}

impl Member {
    /// x-only peer identity (`pubkey[1..]`, §1).
    pub fn xonly(&self) -> [u8; 32] {
        let mut x = [0u8; 32];
        x.copy_from_slice(&self.pubkey[1..]);
        x
    }
}

/// The public group package. Field order is the wire order (§8.1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupPackage {
    pub group_name: String,
    #[serde(with = "hexser::fixed")]
    pub group_pk: [u8; 32],
    pub threshold: u16,
    pub members: Vec<Member>,
}

impl GroupPackage {
    /// Builds a package from dealt keys (members sorted by idx).
    pub fn from_keys(group_name: &str, keys: &GroupKeys) -> Self {
        Self {
            group_name: group_name.to_string(),
            group_pk: *keys.group_pk(),
            threshold: keys.threshold(),
            members: keys
                .members()
                .iter()
                .map(|m| Member {
                    idx: m.idx,
                    pubkey: m.pubkey,
                })
                .collect(),
        }
    }

    /// Parses and validates (§8.1 plus curve checks). Members are sorted by idx.
    pub fn from_json(s: &str) -> Result<Self, GroupError> {
        let mut g: Self = serde_json::from_str(s).map_err(|e| GroupError::Json(e.to_string()))?;
        g.validate()?;
        Ok(g)
    }

    /// §8.1 validation: trimmed non-empty name, 1…1000 members, 1 ≤ threshold ≤ members, unique
    /// non-zero idx, unique pubkeys; additionally every key must be a curve point. Sorts members.
    pub fn validate(&mut self) -> Result<(), GroupError> {
        if self.group_name.trim().is_empty() {
            return Err(GroupError::EmptyName);
        }
        let n = self.members.len();
        if n == 0 || n > 1000 {
            return Err(GroupError::MemberCount(n));
        }
        if self.threshold == 0 || self.threshold as usize > n {
            return Err(GroupError::Threshold {
                threshold: self.threshold,
                members: n,
            });
        }
        self.members.sort_by_key(|m| m.idx);
        for (k, m) in self.members.iter().enumerate() {
            if m.idx == 0 {
                return Err(GroupError::ZeroIndex);
            }
            if k > 0 && self.members[k - 1].idx == m.idx {
                return Err(GroupError::DuplicateIndex(m.idx));
            }
            if self.members[..k].iter().any(|o| o.pubkey == m.pubkey) {
                return Err(GroupError::DuplicatePubkey(m.idx));
            }
        }
        self.keys().map(|_| ())
    }

    /// The frost-ready public keys (validates points).
    pub fn keys(&self) -> Result<GroupKeys, GroupError> {
        let members: Vec<MemberKey> = self
            .members
            .iter()
            .map(|m| MemberKey {
                idx: m.idx,
                pubkey: m.pubkey,
            })
            .collect();
        GroupKeys::new(self.group_pk, self.threshold, &members).map_err(|e| match e {
            frost::Error::BadPoint(what) if what.starts_with("group") => GroupError::BadGroupKey,
            frost::Error::BadPoint(_) => {
                let bad = self
                    .members
                    .iter()
                    .find(|m| {
                        GroupKeys::new(
                            self.group_pk,
                            1,
                            &[MemberKey {
                                idx: m.idx.max(1),
                                pubkey: m.pubkey,
                            }],
                        )
                        .is_err()
                    })
                    .map(|m| m.idx)
                    .unwrap_or(0);
                GroupError::BadMemberKey(bad)
            }
            other => GroupError::Frost(other),
        })
    }

    /// Compact JSON (credentials, backups, `OnboardResponse`).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Stand-alone file form: `to_string_pretty` (2-space indent, no trailing newline).
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// `group_id` (§7.5).
    pub fn group_id(&self) -> [u8; 32] {
        Sha256::digest(self.group_id_preimage()).into()
    }

    /// `group_pk ‖ u32le(threshold) ‖ member pubkeys sorted by idx`.
    pub fn group_id_preimage(&self) -> Vec<u8> {
        let mut sorted: Vec<&Member> = self.members.iter().collect();
        sorted.sort_by_key(|m| m.idx);
        let mut v = Vec::with_capacity(36 + 33 * sorted.len());
        v.extend_from_slice(&self.group_pk);
        v.extend_from_slice(&u32::from(self.threshold).to_le_bytes());
        for m in sorted {
            v.extend_from_slice(&m.pubkey);
        }
        v
    }

    pub fn member(&self, idx: u16) -> Option<&Member> {
        self.members.iter().find(|m| m.idx == idx)
    }

    /// Own idx of a share (§8.5: full 33-byte match).
    pub fn find_share(&self, secret: &Secret32) -> Result<u16, GroupError> {
        let pk = frost::pubkey33(secret)?;
        self.members
            .iter()
            .find(|m| m.pubkey == pk)
            .map(|m| m.idx)
            .ok_or(GroupError::NotInGroup)
    }

    /// Idx of the member whose x-only key is `xonly`.
    pub fn find_xonly(&self, xonly: &[u8; 32]) -> Option<u16> {
        self.members
            .iter()
            .find(|m| &m.pubkey[1..] == xonly)
            .map(|m| m.idx)
    }
}

/// `group_id` computed from prepared keys (same value as [`GroupPackage::group_id`]).
pub fn group_id(keys: &GroupKeys) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(keys.group_pk());
    h.update(u32::from(keys.threshold()).to_le_bytes());
    for m in keys.members() {
        h.update(m.pubkey);
    }
    h.finalize().into()
}

/// A member's secret share package `{"idx":…,"seckey":…}` (§8.1).
#[derive(Debug, Serialize, Deserialize)]
pub struct SharePackage {
    pub idx: u16,
    #[serde(with = "hexser::secret32")]
    pub seckey: Secret32,
}

impl SharePackage {
    pub fn from_json(s: &str) -> Result<Self, GroupError> {
        let p: Self = serde_json::from_str(s).map_err(|e| GroupError::Share(e.to_string()))?;
        if p.idx == 0 {
            return Err(GroupError::ZeroIndex);
        }
        frost::pubkey33(&p.seckey)
            .map_err(|_| GroupError::Share("seckey is zero or ≥ n".into()))?;
        Ok(p)
    }
    /// Compact JSON in a zeroizing string (it contains the secret).
    pub fn to_json(&self) -> zeroize::Zeroizing<String> {
        zeroize::Zeroizing::new(serde_json::to_string(self).unwrap_or_default())
    }
    pub fn to_key_share(&self) -> KeyShare {
        KeyShare::new(self.idx, self.seckey.duplicate())
    }
    pub fn from_key_share(s: &KeyShare) -> Self {
        Self {
            idx: s.idx,
            seckey: s.secret.duplicate(),
        }
    }
    /// x-only public key (Nostr identity) of the share.
    pub fn xonly(&self) -> Result<[u8; 32], GroupError> {
        Ok(frost::xonly(&self.seckey)?)
    }
    /// `profile_id` of this share (§7.5).
    pub fn profile_id(&self) -> Result<String, GroupError> {
        Ok(profile_id(&self.xonly()?))
    }
}

/// Domain prefix of `profile_id`.
pub const PROFILE_ID_PREFIX: &[u8] = b"frostr:profile-id:v1";

/// `hex(SHA256("frostr:profile-id:v1" ‖ share_pubkey_xonly))` (§7.5).
pub fn profile_id(share_xonly: &[u8; 32]) -> String {
    hex::encode(
        Sha256::new()
            .chain_update(PROFILE_ID_PREFIX)
            .chain_update(share_xonly)
            .finalize(),
    )
}

/// `profile_id` preimage (for vectors).
pub fn profile_id_preimage(share_xonly: &[u8; 32]) -> Vec<u8> {
    [PROFILE_ID_PREFIX, share_xonly].concat()
}
