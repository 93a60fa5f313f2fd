//! Threshold ECDH of bifrost 1.0.x (FROSTR.md §6).

use super::credential::{GroupPackage, SharePackage};
use super::math::{self, lagrange, parse_point, parse_point_any};
use super::{Error, Result};
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

/// `/ecdh/req` and `/ecdh/res` data (key order as the JS emits it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EcdhPackage {
    pub idx: u32,
    /// `(λ_i · s_i) · lift(ecdh_pk)`, 33-byte compressed hex.
    pub keyshare: String,
    pub members: Vec<u32>,
    /// Counterparty key: 32-byte x-only or 33-byte compressed hex.
    pub ecdh_pk: String,
}

impl EcdhPackage {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
    pub fn from_json(s: &str) -> Result<Self> {
        serde_json::from_str(s).map_err(|e| Error::Json(e.to_string()))
    }
}

/// This member's key share for `ecdh_pk` over `members` (which must include the share's index).
pub fn create_ecdh_pkg(
    share: &SharePackage,
    members: &[u32],
    ecdh_pk: &str,
) -> Result<EcdhPackage> {
    let pk = parse_point_any(
        &hex::decode(ecdh_pk).map_err(|_| Error::Hex("ecdh_pk"))?,
        "ecdh_pk",
    )?;
    let mut s = share.secret_scalar()?;
    let mut w = lagrange(share.idx, members)? * s;
    s.zeroize();
    let ks = math::mul(&pk, &w);
    w.zeroize();
    Ok(EcdhPackage {
        idx: share.idx,
        keyshare: hex::encode(ks?.serialize()),
        members: members.to_vec(),
        ecdh_pk: ecdh_pk.to_ascii_lowercase(),
    })
}

/// Sums the key shares of all members into the 33-byte shared point (`x·lift(ecdh_pk)`).
/// Stricter than the JS: every package must be for the same `ecdh_pk` and `members`, one per
/// member, and (with `group`) each index must belong to the group.
pub fn combine_ecdh(pkgs: &[EcdhPackage], group: Option<&GroupPackage>) -> Result<[u8; 33]> {
    let first = pkgs
        .first()
        .ok_or_else(|| Error::Invalid("no ECDH packages".into()))?;
    let mut pts = Vec::with_capacity(pkgs.len());
    for p in pkgs {
        if !p.ecdh_pk.eq_ignore_ascii_case(&first.ecdh_pk) || p.members != first.members {
            return Err(Error::Invalid(format!(
                "ECDH package of member {} is for a different request",
                p.idx
            )));
        }
        if let Some(g) = group {
            g.commit(p.idx)?;
        }
        pts.push(parse_point(
            &hex::decode(&p.keyshare).map_err(|_| Error::Hex("keyshare"))?,
            "keyshare",
        )?);
    }
    let mut got: Vec<u32> = pkgs.iter().map(|p| p.idx).collect();
    got.sort_unstable();
    let mut want = first.members.clone();
    want.sort_unstable();
    if got != want {
        return Err(Error::Invalid(
            "ECDH packages do not cover exactly the members".into(),
        ));
    }
    Ok(math::sum(&pts)?.serialize())
}
