//! Sign sessions (FROSTR-NEXT §5.2, §5.3, §6.2, §7.5): the `SignRequest` session package, the
//! `SignResponse` partial-signature package, building, signing, verifying and aggregating.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::group::group_id;
use super::hexser;
use crate::frost::{
    self, GroupKeys, NonceLedger, PublicNonce, ShareSigner, SignRound, SigningNonce,
};

/// Most hashes / nonce entries / psigs per package (§5.2, §5.3).
pub const MAX_HASHES: usize = 100;

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SessionError {
    #[error("invalid session JSON: {0}")]
    Json(String),
    #[error("session members must be strictly ascending")]
    MembersNotSorted,
    #[error("session has {got} members, the threshold is {threshold}")]
    TooFewMembers { got: usize, threshold: u16 },
    #[error("member {0} is not in the group")]
    UnknownMember(u16),
    #[error("session must carry 1…100 hashes (got {0})")]
    HashCount(usize),
    #[error("group id does not match this group")]
    GroupId,
    #[error("session id does not match the session contents")]
    SessionId,
    #[error("session carries no nonces")]
    NoNonces,
    #[error("nonce sets must be one per member, sorted by idx")]
    NonceSets,
    #[error("member {0} must have exactly one nonce entry per hash")]
    NonceEntries(u16),
    #[error("nonce for hash {hash_index} has code different from the session's")]
    NonceCode { hash_index: u16 },
    #[error("expected {expected} nonces for member {idx}, got {got}")]
    NonceCount {
        idx: u16,
        expected: usize,
        got: usize,
    },
    #[error("response is for another session")]
    ResponseSid,
    #[error("response from member {0} has a bad psig list (count, index or sighash)")]
    ResponsePsigs(u16),
    #[error("missing or duplicate response from member {0}")]
    Responses(u16),
    #[error(transparent)]
    Frost(#[from] frost::Error),
}

/// `{"binder_pn","hidden_pn","code"}` (§5): a public nonce with its handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DerivedPublicNonce {
    #[serde(with = "hexser::fixed")]
    pub binder_pn: [u8; 33],
    #[serde(with = "hexser::fixed")]
    pub hidden_pn: [u8; 33],
    #[serde(with = "hexser::fixed")]
    pub code: [u8; 32],
}

impl DerivedPublicNonce {
    pub fn of(nonce: &SigningNonce) -> Self {
        let p = nonce.public();
        Self {
            binder_pn: p.binder,
            hidden_pn: p.hidden,
            code: *nonce.code(),
        }
    }
    pub fn public(&self) -> PublicNonce {
        PublicNonce {
            hidden: self.hidden_pn,
            binder: self.binder_pn,
        }
    }
}

/// One nonce entry in a session: `{"hash_index","binder_pn","hidden_pn","code"}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NonceEntry {
    pub hash_index: u16,
    #[serde(with = "hexser::fixed")]
    pub binder_pn: [u8; 33],
    #[serde(with = "hexser::fixed")]
    pub hidden_pn: [u8; 33],
    #[serde(with = "hexser::fixed")]
    pub code: [u8; 32],
}

impl NonceEntry {
    pub fn new(hash_index: u16, n: &DerivedPublicNonce) -> Self {
        Self {
            hash_index,
            binder_pn: n.binder_pn,
            hidden_pn: n.hidden_pn,
            code: n.code,
        }
    }
    pub fn public(&self) -> PublicNonce {
        PublicNonce {
            hidden: self.hidden_pn,
            binder: self.binder_pn,
        }
    }
}

/// A member's nonce set `{"idx","entries"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberNonces {
    pub idx: u16,
    pub entries: Vec<NonceEntry>,
}

/// `SignRequest` data (§5.2), key order `gid, sid, members, hashes, content, kind, stamp, nonces`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignSessionPackage {
    #[serde(with = "hexser::fixed")]
    pub gid: [u8; 32],
    #[serde(with = "hexser::fixed")]
    pub sid: [u8; 32],
    pub members: Vec<u16>,
    #[serde(with = "hexser::fixed_vec")]
    pub hashes: Vec<[u8; 32]>,
    #[serde(with = "hexser::opt_bytes", default)]
    pub content: Option<Vec<u8>>,
    pub kind: String,
    pub stamp: u32,
    #[serde(default)]
    pub nonces: Option<Vec<MemberNonces>>,
}

/// One partial signature `{"hash_index","sighash","partial_sig"}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartialSig {
    pub hash_index: u16,
    #[serde(with = "hexser::fixed")]
    pub sighash: [u8; 32],
    #[serde(with = "hexser::fixed")]
    pub partial_sig: [u8; 32],
}

/// `SignResponse` data (§5.3), key order `idx, sid, pubkey, psigs, nonce_code, replenish`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartialSigPackage {
    pub idx: u16,
    #[serde(with = "hexser::fixed")]
    pub sid: [u8; 32],
    #[serde(with = "hexser::fixed")]
    pub pubkey: [u8; 32],
    pub psigs: Vec<PartialSig>,
    #[serde(with = "hexser::opt_fixed", default)]
    pub nonce_code: Option<[u8; 32]>,
    #[serde(default)]
    pub replenish: Option<Vec<DerivedPublicNonce>>,
}

/// `sid` preimage (§7.5): `gid ‖ u32le(idx)… ‖ hash… ‖ (content or 0x00) ‖ kind ‖ u32le(stamp)`.
pub fn session_id_preimage(
    gid: &[u8; 32],
    members: &[u16],
    hashes: &[[u8; 32]],
    content: Option<&[u8]>,
    kind: &str,
    stamp: u32,
) -> Vec<u8> {
    let mut v = Vec::with_capacity(32 + 4 * members.len() + 32 * hashes.len() + 8 + kind.len());
    v.extend_from_slice(gid);
    for m in members {
        v.extend_from_slice(&u32::from(*m).to_le_bytes());
    }
    for h in hashes {
        v.extend_from_slice(h);
    }
    match content {
        Some(c) if !c.is_empty() => v.extend_from_slice(c),
        _ => v.push(0),
    }
    v.extend_from_slice(kind.as_bytes());
    v.extend_from_slice(&stamp.to_le_bytes());
    v
}

pub fn session_id(
    gid: &[u8; 32],
    members: &[u16],
    hashes: &[[u8; 32]],
    content: Option<&[u8]>,
    kind: &str,
    stamp: u32,
) -> [u8; 32] {
    Sha256::digest(session_id_preimage(
        gid, members, hashes, content, kind, stamp,
    ))
    .into()
}

impl SignSessionPackage {
    /// Builds a session: `members` ascending, one public nonce per (member, hash) given as
    /// `(idx, [nonce for hash 0, nonce for hash 1, …])`; computes gid and sid and sorts the nonce
    /// sets by idx. Validates the result against `group`.
    pub fn build(
        group: &GroupKeys,
        members: Vec<u16>,
        hashes: Vec<[u8; 32]>,
        content: Option<Vec<u8>>,
        kind: &str,
        stamp: u32,
        nonces: Vec<(u16, Vec<DerivedPublicNonce>)>,
    ) -> Result<Self, SessionError> {
        let gid = group_id(group);
        let sid = session_id(&gid, &members, &hashes, content.as_deref(), kind, stamp);
        let mut sets: Vec<MemberNonces> = nonces
            .into_iter()
            .map(|(idx, ns)| MemberNonces {
                idx,
                entries: ns
                    .iter()
                    .enumerate()
                    .map(|(k, n)| NonceEntry::new(k as u16, n))
                    .collect(),
            })
            .collect();
        sets.sort_by_key(|s| s.idx);
        let pkg = Self {
            gid,
            sid,
            members,
            hashes,
            content,
            kind: kind.to_string(),
            stamp,
            nonces: Some(sets),
        };
        pkg.validate(group)?;
        Ok(pkg)
    }

    pub fn from_json(s: &str) -> Result<Self, SessionError> {
        serde_json::from_str(s).map_err(|e| SessionError::Json(e.to_string()))
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn compute_sid(&self) -> [u8; 32] {
        session_id(
            &self.gid,
            &self.members,
            &self.hashes,
            self.content.as_deref(),
            &self.kind,
            self.stamp,
        )
    }

    /// Responder-side checks (§5.2, §6.2 step 2–3): gid/sid recomputed, members strictly
    /// ascending, in the group, ≥ threshold; 1…100 hashes; one nonce set per member (sorted),
    /// each with exactly one entry per hash index.
    pub fn validate(&self, group: &GroupKeys) -> Result<(), SessionError> {
        if self.members.windows(2).any(|w| w[0] >= w[1]) {
            return Err(SessionError::MembersNotSorted);
        }
        for m in &self.members {
            if group.member(*m).is_none() {
                return Err(SessionError::UnknownMember(*m));
            }
        }
        if self.members.len() < group.threshold() as usize {
            return Err(SessionError::TooFewMembers {
                got: self.members.len(),
                threshold: group.threshold(),
            });
        }
        if self.hashes.is_empty() || self.hashes.len() > MAX_HASHES {
            return Err(SessionError::HashCount(self.hashes.len()));
        }
        if self.gid != group_id(group) {
            return Err(SessionError::GroupId);
        }
        if self.sid != self.compute_sid() {
            return Err(SessionError::SessionId);
        }
        let sets = self.nonces.as_ref().ok_or(SessionError::NoNonces)?;
        if sets.len() != self.members.len()
            || sets.iter().zip(&self.members).any(|(s, m)| s.idx != *m)
        {
            return Err(SessionError::NonceSets);
        }
        for s in sets {
            if s.entries.len() != self.hashes.len() {
                return Err(SessionError::NonceEntries(s.idx));
            }
            let mut seen = vec![false; self.hashes.len()];
            for e in &s.entries {
                let k = e.hash_index as usize;
                if k >= seen.len() || seen[k] {
                    return Err(SessionError::NonceEntries(s.idx));
                }
                seen[k] = true;
            }
        }
        Ok(())
    }

    /// Member `idx`'s nonce entries ordered by hash index.
    pub fn entries_for(&self, idx: u16) -> Option<Vec<NonceEntry>> {
        let set = self.nonces.as_ref()?.iter().find(|s| s.idx == idx)?;
        let mut e = set.entries.clone();
        e.sort_by_key(|e| e.hash_index);
        Some(e)
    }

    /// The nonce codes member `idx` must claim, ordered by hash index (§6.2 responder step 4).
    pub fn codes_for(&self, idx: u16) -> Option<Vec<[u8; 32]>> {
        self.entries_for(idx)
            .map(|e| e.iter().map(|e| e.code).collect())
    }

    /// One frost signing round per hash (commitments of all members for that hash index).
    pub fn rounds(&self) -> Result<Vec<SignRound>, SessionError> {
        let sets = self.nonces.as_ref().ok_or(SessionError::NoNonces)?;
        let mut out = Vec::with_capacity(self.hashes.len());
        for (k, h) in self.hashes.iter().enumerate() {
            let mut commits = Vec::with_capacity(sets.len());
            for s in sets {
                let e = s
                    .entries
                    .iter()
                    .find(|e| e.hash_index as usize == k)
                    .ok_or(SessionError::NonceEntries(s.idx))?;
                commits.push((s.idx, e.public()));
            }
            out.push(SignRound::new(h, &commits)?);
        }
        Ok(out)
    }

    /// Signs every hash with `nonces` (one per hash, in hash-index order; all consumed). Each
    /// nonce's code must equal the session's code for this member and hash. Codes are recorded
    /// in `ledger` before the package is returned.
    pub fn sign(
        &self,
        group: &GroupKeys,
        signer: &ShareSigner,
        nonces: Vec<SigningNonce>,
        ledger: &dyn NonceLedger,
        replenish: Option<Vec<DerivedPublicNonce>>,
    ) -> Result<PartialSigPackage, SessionError> {
        self.validate(group)?;
        let idx = signer.idx();
        let entries = self.entries_for(idx).ok_or(SessionError::NonceSets)?;
        if nonces.len() != self.hashes.len() {
            return Err(SessionError::NonceCount {
                idx,
                expected: self.hashes.len(),
                got: nonces.len(),
            });
        }
        for (e, n) in entries.iter().zip(&nonces) {
            if &e.code != n.code() || e.public() != n.public() {
                return Err(SessionError::NonceCode {
                    hash_index: e.hash_index,
                });
            }
        }
        let rounds = self.rounds()?;
        let mut psigs = Vec::with_capacity(rounds.len());
        for ((k, round), nonce) in rounds.iter().enumerate().zip(nonces) {
            let z = signer.sign(round, nonce, ledger)?;
            psigs.push(PartialSig {
                hash_index: k as u16,
                sighash: self.hashes[k],
                partial_sig: z,
            });
        }
        let member = group.member(idx).ok_or(SessionError::UnknownMember(idx))?;
        let mut pubkey = [0u8; 32];
        pubkey.copy_from_slice(&member.pubkey[1..]);
        Ok(PartialSigPackage {
            idx,
            sid: self.sid,
            pubkey,
            psigs,
            nonce_code: None,
            replenish,
        })
    }

    /// Initiator-side check of one response (§5.3): same sid, one psig per hash with unique
    /// in-range indices and matching sighash, and every partial signature verifies against the
    /// member named by `resp.idx`. A bad share fails with `Frost(BadPartialSignature(idx))`.
    pub fn verify_response(
        &self,
        group: &GroupKeys,
        resp: &PartialSigPackage,
    ) -> Result<(), SessionError> {
        let rounds = self.rounds()?;
        self.verify_response_with(group, &rounds, resp)
    }

    fn verify_response_with(
        &self,
        group: &GroupKeys,
        rounds: &[SignRound],
        resp: &PartialSigPackage,
    ) -> Result<(), SessionError> {
        if resp.sid != self.sid {
            return Err(SessionError::ResponseSid);
        }
        if !self.members.contains(&resp.idx) {
            return Err(SessionError::UnknownMember(resp.idx));
        }
        if resp.psigs.len() != self.hashes.len() {
            return Err(SessionError::ResponsePsigs(resp.idx));
        }
        let mut seen = vec![false; self.hashes.len()];
        for p in &resp.psigs {
            let k = p.hash_index as usize;
            if k >= seen.len() || seen[k] || p.sighash != self.hashes[k] {
                return Err(SessionError::ResponsePsigs(resp.idx));
            }
            seen[k] = true;
            frost::verify_partial(group, &rounds[k], resp.idx, &p.partial_sig)?;
        }
        Ok(())
    }

    /// Verifies every response (one per member, own included) and aggregates one BIP-340
    /// signature per hash, each verified under the group key.
    pub fn aggregate(
        &self,
        group: &GroupKeys,
        responses: &[PartialSigPackage],
    ) -> Result<Vec<[u8; 64]>, SessionError> {
        let rounds = self.rounds()?;
        for m in &self.members {
            if responses.iter().filter(|r| r.idx == *m).count() != 1 {
                return Err(SessionError::Responses(*m));
            }
        }
        if responses.len() != self.members.len() {
            let extra = responses
                .iter()
                .find(|r| !self.members.contains(&r.idx))
                .map(|r| r.idx)
                .unwrap_or(0);
            return Err(SessionError::Responses(extra));
        }
        for r in responses {
            self.verify_response_with(group, &rounds, r)?;
        }
        let mut out = Vec::with_capacity(rounds.len());
        for (k, round) in rounds.iter().enumerate() {
            let mut parts = Vec::with_capacity(responses.len());
            for r in responses {
                let p = r
                    .psigs
                    .iter()
                    .find(|p| p.hash_index as usize == k)
                    .ok_or(SessionError::ResponsePsigs(r.idx))?;
                parts.push((r.idx, p.partial_sig));
            }
            out.push(frost::aggregate(group, round, &parts)?);
        }
        Ok(out)
    }
}

impl PartialSigPackage {
    pub fn from_json(s: &str) -> Result<Self, SessionError> {
        serde_json::from_str(s).map_err(|e| SessionError::Json(e.to_string()))
    }
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}
