//! `EcdhRequest` / `EcdhResponse` packages (FROSTR-NEXT §5.4) with the corrected rule (§6.3).

use serde::{Deserialize, Serialize};

use super::hexser;
use crate::frost::{self, GroupKeys, KeyShare};

/// Most entries per package.
pub const MAX_ENTRIES: usize = 100;

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum EcdhError {
    #[error("invalid ECDH package JSON: {0}")]
    Json(String),
    #[error("package idx {got} is not the sender's index {expected}")]
    WrongIdx { expected: u16, got: u16 },
    #[error("members must be strictly ascending")]
    MembersNotSorted,
    #[error("ECDH needs at least {threshold} members (got {got})")]
    TooFewMembers { got: usize, threshold: u16 },
    #[error("members must include member {0}")]
    MissingMember(u16),
    #[error("member {0} is not in the group")]
    UnknownMember(u16),
    #[error("package must carry 1…100 entries (got {0})")]
    EntryCount(usize),
    #[error("packages disagree on the member set")]
    MemberSetMismatch,
    #[error("need exactly one package per member; member {0} is missing or repeated")]
    Packages(u16),
    #[error("package from member {0} has no entry for the target")]
    MissingTarget(u16),
    #[error(transparent)]
    Frost(#[from] frost::Error),
}

/// `{"ecdh_pk": x-only target, "keyshare": 33-byte point}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EcdhEntry {
    #[serde(with = "hexser::fixed")]
    pub ecdh_pk: [u8; 32],
    #[serde(with = "hexser::fixed")]
    pub keyshare: [u8; 33],
}

/// `{"idx","members","entries"}` (§5.4).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EcdhPackage {
    pub idx: u16,
    pub members: Vec<u16>,
    pub entries: Vec<EcdhEntry>,
}

impl EcdhPackage {
    /// Corrected package: `keyshare = (λ_idx·s)·lift_x(target)` over `members`.
    pub fn build(
        share: &KeyShare,
        members: &[u16],
        targets: &[[u8; 32]],
    ) -> Result<Self, EcdhError> {
        check_members(members)?;
        if !members.contains(&share.idx) {
            return Err(EcdhError::MissingMember(share.idx));
        }
        if targets.is_empty() || targets.len() > MAX_ENTRIES {
            return Err(EcdhError::EntryCount(targets.len()));
        }
        let entries = targets
            .iter()
            .map(|t| {
                Ok(EcdhEntry {
                    ecdh_pk: *t,
                    keyshare: frost::ecdh_share(share.idx, &share.secret, members, t)?,
                })
            })
            .collect::<Result<Vec<_>, frost::Error>>()?;
        Ok(Self {
            idx: share.idx,
            members: members.to_vec(),
            entries,
        })
    }

    /// The bifrost-rs 435e7f6 package (no λ) — only to reproduce the vectors.
    pub fn build_435e7f6(
        share: &KeyShare,
        members: &[u16],
        targets: &[[u8; 32]],
    ) -> Result<Self, EcdhError> {
        let entries = targets
            .iter()
            .map(|t| {
                Ok(EcdhEntry {
                    ecdh_pk: *t,
                    keyshare: frost::ecdh_share_435e7f6(&share.secret, t)?,
                })
            })
            .collect::<Result<Vec<_>, frost::Error>>()?;
        Ok(Self {
            idx: share.idx,
            members: members.to_vec(),
            entries,
        })
    }

    pub fn from_json(s: &str) -> Result<Self, EcdhError> {
        serde_json::from_str(s).map_err(|e| EcdhError::Json(e.to_string()))
    }
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// §5.4 validation, identical for request and response: `idx` = sender's index, members
    /// sorted/unique, ≥ threshold, in the group, containing the local member and the sender;
    /// entries 1…100.
    pub fn validate(
        &self,
        group: &GroupKeys,
        sender_idx: u16,
        local_idx: u16,
    ) -> Result<(), EcdhError> {
        if self.idx != sender_idx {
            return Err(EcdhError::WrongIdx {
                expected: sender_idx,
                got: self.idx,
            });
        }
        check_members(&self.members)?;
        if self.members.len() < group.threshold() as usize {
            return Err(EcdhError::TooFewMembers {
                got: self.members.len(),
                threshold: group.threshold(),
            });
        }
        for m in &self.members {
            if group.member(*m).is_none() {
                return Err(EcdhError::UnknownMember(*m));
            }
        }
        for m in [local_idx, sender_idx] {
            if !self.members.contains(&m) {
                return Err(EcdhError::MissingMember(m));
            }
        }
        if self.entries.is_empty() || self.entries.len() > MAX_ENTRIES {
            return Err(EcdhError::EntryCount(self.entries.len()));
        }
        Ok(())
    }

    pub fn keyshare_for(&self, target: &[u8; 32]) -> Option<[u8; 33]> {
        self.entries
            .iter()
            .find(|e| &e.ecdh_pk == target)
            .map(|e| e.keyshare)
    }
}

fn check_members(members: &[u16]) -> Result<(), EcdhError> {
    if members.windows(2).any(|w| w[0] >= w[1]) || members.first() == Some(&0) {
        return Err(EcdhError::MembersNotSorted);
    }
    Ok(())
}

fn collect(packages: &[EcdhPackage], target: &[u8; 32]) -> Result<Vec<[u8; 33]>, EcdhError> {
    let first = packages.first().ok_or(EcdhError::Packages(0))?;
    let members = &first.members;
    for p in packages {
        if &p.members != members {
            return Err(EcdhError::MemberSetMismatch);
        }
    }
    for m in members {
        if packages.iter().filter(|p| p.idx == *m).count() != 1 {
            return Err(EcdhError::Packages(*m));
        }
    }
    if packages.len() != members.len() {
        return Err(EcdhError::MemberSetMismatch);
    }
    packages
        .iter()
        .map(|p| {
            p.keyshare_for(target)
                .ok_or(EcdhError::MissingTarget(p.idx))
        })
        .collect()
}

/// Corrected combine: one package per member (own included), same member set; output is the
/// raw shared x-coordinate (= NIP-44 `shared_x` of group key and target).
pub fn combine(packages: &[EcdhPackage], target: &[u8; 32]) -> Result<[u8; 32], EcdhError> {
    Ok(frost::ecdh_combine(&collect(packages, target)?)?)
}

/// 435e7f6 combine: `SHA256(compressed(Σ keyshare))` — to recognise that behaviour only.
pub fn combine_435e7f6(packages: &[EcdhPackage], target: &[u8; 32]) -> Result<[u8; 32], EcdhError> {
    Ok(frost::ecdh_combine_435e7f6(&collect(packages, target)?)?)
}
