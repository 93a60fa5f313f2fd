//! Bifrost 1.0.x signing sessions (FROSTR.md §5): session packages, sid, per-member shifted
//! nonces, partial-signature packages, verification naming the bad signer, aggregation.

use super::credential::{GroupPackage, SharePackage};
use super::math::{self, KeyContext, PubNonce, SecNonce, SignContext, scalar_reduce};
use super::{Error, Result};
use k256::Scalar;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroize;

/// Largest batch Frostbox signs or requests in one session (JS has no limit; we bound it).
pub const MAX_HASHES: usize = 100;

/// The `/sign/req` data (key order as the JS emits it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionPackage {
    pub content: Option<String>,
    /// Sighash vectors `[sighash, tweak…]`, lowercase hex32 each.
    pub hashes: Vec<Vec<String>>,
    pub members: Vec<u32>,
    pub stamp: u64,
    #[serde(rename = "type")]
    pub kind: String,
    pub gid: String,
    pub sid: String,
}

/// The `/sign/res` data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PsigPackage {
    pub idx: u32,
    /// `[sighash, z_hex]` per vector, in `hashes` order.
    pub psigs: Vec<(String, String)>,
    /// The responder's compressed share pubkey.
    pub pubkey: String,
    pub sid: String,
}

/// One aggregated result: `[sighash, signing key (33-byte hex), signature (64-byte hex)]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureEntry {
    pub sighash: String,
    pub signing_key: String,
    pub signature: String,
}

fn hex32(s: &str, what: &'static str) -> Result<[u8; 32]> {
    let mut b = [0u8; 32];
    hex::decode_to_slice(s, &mut b).map_err(|_| Error::Hex(what))?;
    Ok(b)
}

/// JS `Array.prototype.sort()` on numbers: a string sort (`[2, 10]` → `[10, 2]`).
pub fn js_string_sort(members: &mut [u32]) {
    members.sort_by_key(|m| m.to_string());
}

/// `minimal big-endian of {1,2,4} bytes` (`@cmdcode/buff` number encoding without a size).
fn minimal_be(n: u32) -> Vec<u8> {
    if n <= 0xff {
        vec![n as u8]
    } else if n <= 0xffff {
        (n as u16).to_be_bytes().to_vec()
    } else {
        n.to_be_bytes().to_vec()
    }
}

/// `sid = SHA256(gid ‖ members(minimal) ‖ hashes ‖ content-or-00 ‖ type ‖ stamp(4))` (§5.2).
pub fn compute_sid(
    gid: &[u8; 32],
    members: &[u32],
    hashes: &[Vec<String>],
    content: Option<&str>,
    kind: &str,
    stamp: u64,
) -> Result<[u8; 32]> {
    let stamp = u32::try_from(stamp).map_err(|_| Error::Invalid("stamp exceeds 4 bytes".into()))?;
    let mut h = Sha256::new();
    h.update(gid);
    for m in members {
        h.update(minimal_be(*m));
    }
    for v in hashes {
        for e in v {
            h.update(hex32(e, "sighash vector")?);
        }
    }
    match content {
        Some(c) => h.update(hex::decode(c).map_err(|_| Error::Hex("content"))?),
        None => h.update([0u8]),
    }
    h.update(kind.as_bytes());
    h.update(stamp.to_be_bytes());
    Ok(h.finalize().into())
}

/// `bind_hash = SHA256(sid ‖ idx(4) ‖ v[0] ‖ v[1] …)` (§5.3).
pub fn bind_hash(sid: &[u8; 32], idx: u32, vector: &[[u8; 32]]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(sid);
    h.update(idx.to_be_bytes());
    for v in vector {
        h.update(v);
    }
    h.finalize().into()
}

/// A member's session nonces (public side): `D + t·G`, `E + t·G`.
pub fn shift_pub_nonce(n: &PubNonce, t: &[u8; 32]) -> Result<PubNonce> {
    let t = scalar_reduce(t);
    Ok(PubNonce {
        hidden: math::add_gen(&n.hidden, &t)?,
        binder: math::add_gen(&n.binder, &t)?,
    })
}

/// A member's session nonces (secret side): `d + t`, `e + t`.
pub fn shift_sec_nonce(n: &SecNonce, t: &[u8; 32]) -> SecNonce {
    let t = scalar_reduce(t);
    SecNonce {
        hidden: n.hidden + t,
        binder: n.binder + t,
    }
}

impl SessionPackage {
    /// Builds a session as a JS requester does: members string-sorted, gid and sid computed.
    pub fn create(
        group: &GroupPackage,
        mut members: Vec<u32>,
        hashes: Vec<Vec<String>>,
        content: Option<String>,
        kind: &str,
        stamp: u64,
    ) -> Result<Self> {
        js_string_sort(&mut members);
        let hashes: Vec<Vec<String>> = hashes
            .into_iter()
            .map(|v| v.into_iter().map(|s| s.to_ascii_lowercase()).collect())
            .collect();
        let gid = group.gid();
        let sid = compute_sid(&gid, &members, &hashes, content.as_deref(), kind, stamp)?;
        let s = Self {
            content,
            hashes,
            members,
            stamp,
            kind: kind.to_string(),
            gid: hex::encode(gid),
            sid: hex::encode(sid),
        };
        s.validate(group)?;
        Ok(s)
    }

    /// Schema and sanity checks (stricter than the JS responder; never rejects what JS sends).
    pub fn validate(&self, group: &GroupPackage) -> Result<()> {
        hex32(&self.gid, "gid")?;
        hex32(&self.sid, "sid")?;
        if self.hashes.is_empty() || self.hashes.len() > MAX_HASHES {
            return Err(Error::Session(format!(
                "{} sighash vectors (1…{MAX_HASHES} allowed)",
                self.hashes.len()
            )));
        }
        let mut seen = std::collections::BTreeSet::new();
        for v in &self.hashes {
            if v.is_empty() {
                return Err(Error::Session("empty sighash vector".into()));
            }
            for e in v {
                hex32(e, "sighash vector")?;
            }
            if !seen.insert(v[0].to_ascii_lowercase()) {
                return Err(Error::Session(format!("duplicate sighash {}", v[0])));
            }
        }
        if let Some(c) = &self.content {
            hex::decode(c).map_err(|_| Error::Hex("content"))?;
        }
        if u32::try_from(self.stamp).is_err() {
            return Err(Error::Invalid("stamp exceeds 4 bytes".into()));
        }
        let mut ms = std::collections::BTreeSet::new();
        for &m in &self.members {
            if m == 0 {
                return Err(Error::ZeroIndex);
            }
            if !ms.insert(m) {
                return Err(Error::DuplicateIndex(m));
            }
            group.commit(m)?;
        }
        if (self.members.len() as u32) < group.threshold {
            return Err(Error::NotEnoughShares {
                got: self.members.len(),
                need: group.threshold as usize,
            });
        }
        Ok(())
    }

    pub fn sid_bytes(&self) -> Result<[u8; 32]> {
        hex32(&self.sid, "sid")
    }

    /// Recomputes the sid from the fields (the responder never does; a requester may).
    pub fn recompute_sid(&self) -> Result<[u8; 32]> {
        compute_sid(
            &hex32(&self.gid, "gid")?,
            &self.members,
            &self.hashes,
            self.content.as_deref(),
            &self.kind,
            self.stamp,
        )
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_json(s: &str) -> Result<Self> {
        serde_json::from_str(s).map_err(|e| Error::Json(e.to_string()))
    }
}

impl PsigPackage {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
    pub fn from_json(s: &str) -> Result<Self> {
        serde_json::from_str(s).map_err(|e| Error::Json(e.to_string()))
    }
}

/// Per-vector contexts of a session: everything both sides derive from public data.
#[derive(Clone, Debug)]
pub struct SessionContext {
    pub sid: [u8; 32],
    /// Parsed vectors `[sighash, tweaks…]`.
    pub vectors: Vec<Vec<[u8; 32]>>,
    pub contexts: Vec<SignContext>,
}

impl SessionContext {
    pub fn new(group: &GroupPackage, session: &SessionPackage) -> Result<Self> {
        session.validate(group)?;
        let sid = session.sid_bytes()?;
        let mut vectors = Vec::with_capacity(session.hashes.len());
        let mut contexts = Vec::with_capacity(session.hashes.len());
        for v in &session.hashes {
            let vec: Vec<[u8; 32]> = v
                .iter()
                .map(|e| hex32(e, "sighash vector"))
                .collect::<Result<_>>()?;
            let key = KeyContext::new(&group.group_pk, &vec[1..])?;
            let mut nonces = Vec::with_capacity(session.members.len());
            for &m in &session.members {
                let c = group.commit(m)?;
                let t = bind_hash(&sid, m, &vec);
                nonces.push((m, shift_pub_nonce(&c.pub_nonce(), &t)?));
            }
            contexts.push(SignContext::new(key, &vec[0], &nonces)?);
            vectors.push(vec);
        }
        Ok(Self {
            sid,
            vectors,
            contexts,
        })
    }

    /// The member's partial signature package for every vector (§5.4).
    pub fn sign(&self, group: &GroupPackage, share: &SharePackage) -> Result<PsigPackage> {
        let c = group
            .commit(share.idx)
            .map_err(|_| Error::ShareNotInGroup(share.idx))?;
        let mut seckey = share.secret_scalar()?;
        let base = share.sec_nonce()?;
        let mut psigs = Vec::with_capacity(self.vectors.len());
        for (vec, ctx) in self.vectors.iter().zip(&self.contexts) {
            let t = bind_hash(&self.sid, share.idx, vec);
            let sn = shift_sec_nonce(&base, &t);
            let z = ctx.partial_sign(share.idx, &seckey, &sn)?;
            psigs.push((hex::encode(vec[0]), math::scalar_hex(&z)));
        }
        seckey.zeroize();
        Ok(PsigPackage {
            idx: share.idx,
            psigs,
            pubkey: hex::encode(c.pubkey.serialize()),
            sid: hex::encode(self.sid),
        })
    }

    /// Checks a reply: sid, pubkey belongs to idx, one entry per sighash, every psig valid.
    /// Errors name the member (`Error::BadPartialSig { idx, .. }`).
    pub fn verify(&self, group: &GroupPackage, pkg: &PsigPackage) -> Result<Vec<Scalar>> {
        let bad = |d: String| Error::BadPartialSig {
            idx: pkg.idx,
            detail: d,
        };
        if !pkg.sid.eq_ignore_ascii_case(&hex::encode(self.sid)) {
            return Err(bad(": session id mismatch".into()));
        }
        let c = group
            .commit(pkg.idx)
            .map_err(|_| bad(": not in group".into()))?;
        if !pkg
            .pubkey
            .eq_ignore_ascii_case(&hex::encode(c.pubkey.serialize()))
        {
            return Err(bad(": pubkey does not match its index".into()));
        }
        let mut out = Vec::with_capacity(self.vectors.len());
        for (vec, ctx) in self.vectors.iter().zip(&self.contexts) {
            let sh = hex::encode(vec[0]);
            let entry = pkg
                .psigs
                .iter()
                .find(|(s, _)| s.eq_ignore_ascii_case(&sh))
                .ok_or_else(|| bad(format!(": no partial signature for {sh}")))?;
            let z = math::scalar_strict(
                &hex32(&entry.1, "partial signature").map_err(|_| bad(": bad hex".into()))?,
                "partial signature",
            )
            .map_err(|_| bad(": out of range".into()))?;
            ctx.verify_partial(pkg.idx, &c.pubkey, &z)
                .map_err(|_| bad(format!(" for sighash {sh}")))?;
            out.push(z);
        }
        Ok(out)
    }

    /// Verifies one package per member, aggregates every vector and checks each final BIP-340
    /// signature against the (tweaked) signing key.
    pub fn aggregate(
        &self,
        group: &GroupPackage,
        session: &SessionPackage,
        pkgs: &[PsigPackage],
    ) -> Result<Vec<SignatureEntry>> {
        let mut per_member = Vec::with_capacity(session.members.len());
        for &m in &session.members {
            let p = pkgs
                .iter()
                .find(|p| p.idx == m)
                .ok_or_else(|| Error::Session(format!("missing partial signatures of {m}")))?;
            per_member.push(self.verify(group, p)?);
        }
        let mut out = Vec::with_capacity(self.vectors.len());
        for (k, (vec, ctx)) in self.vectors.iter().zip(&self.contexts).enumerate() {
            let zs: Vec<Scalar> = per_member.iter().map(|v| v[k]).collect();
            let sig = ctx.aggregate(&zs);
            if !math::verify_bip340(&math::xonly(&ctx.key.key), &vec[0], &sig) {
                return Err(Error::BadSignature);
            }
            out.push(SignatureEntry {
                sighash: hex::encode(vec[0]),
                signing_key: hex::encode(ctx.key.key.serialize()),
                signature: hex::encode(sig),
            });
        }
        Ok(out)
    }
}

/// Responder: the psig package for `session` (§5.4–5.5).
pub fn sign_session(
    group: &GroupPackage,
    share: &SharePackage,
    session: &SessionPackage,
) -> Result<PsigPackage> {
    SessionContext::new(group, session)?.sign(group, share)
}

/// Requester: checks one reply; the error names the member.
pub fn verify_psig_pkg(
    group: &GroupPackage,
    session: &SessionPackage,
    pkg: &PsigPackage,
) -> Result<()> {
    SessionContext::new(group, session)?
        .verify(group, pkg)
        .map(|_| ())
}

/// Requester: verify all replies and aggregate every sighash (final signatures verified).
pub fn aggregate_session(
    group: &GroupPackage,
    session: &SessionPackage,
    pkgs: &[PsigPackage],
) -> Result<Vec<SignatureEntry>> {
    SessionContext::new(group, session)?.aggregate(group, session, pkgs)
}
