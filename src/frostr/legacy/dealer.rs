//! Trusted-dealer key generation, static nonces and secret recovery (FROSTR.md §3).

use super::credential::{Commit, GroupPackage, SharePackage};
use super::math::{self, h3, lagrange, random_scalar, scalar_bytes, scalar_reduce};
use super::{Error, Result};
use crate::vault::Secret32;
use k256::Scalar;
use zeroize::Zeroize;

/// Largest member count Frostbox creates (the format allows 2^32; UIs and sessions do not).
pub const MAX_MEMBERS: u32 = 1000;

/// Evaluates `f(x) = Σ a_j x^j` (Horner).
fn eval(coeffs: &[Scalar], x: u32) -> Scalar {
    let x = Scalar::from(u64::from(x));
    let mut acc = Scalar::ZERO;
    for a in coeffs.iter().rev() {
        acc = acc * x + a;
    }
    acc
}

/// Static nonces from a 64-byte seed exactly as bifrost 1.0.7 derives them (§3.3):
/// only seed bytes 0–15 (hidden) and 16–31 (binder) are used, right-padded to 32 bytes.
pub fn static_nonces(seed: &[u8; 64], seckey: &Scalar) -> (Scalar, Scalar) {
    let mut buf = [0u8; 64];
    buf[32..].copy_from_slice(&scalar_bytes(seckey));
    buf[..16].copy_from_slice(&seed[..16]);
    let hidden = h3(&buf);
    buf[..16].copy_from_slice(&seed[16..32]);
    let binder = h3(&buf);
    buf.zeroize();
    (hidden, binder)
}

/// `generate_dealer_pkg(t, n, coeffs, seeds)`: polynomial coefficients are `coeffs[j]` (read
/// mod n) where given, random otherwise; per-share nonces from `seeds[i]` (the reference
/// derivation, for vectors) or uniformly random when `seeds` is `None`.
pub fn generate_dealer_pkg(
    threshold: u32,
    count: u32,
    coeffs: &[Secret32],
    seeds: Option<&[[u8; 64]]>,
) -> Result<(GroupPackage, Vec<SharePackage>)> {
    if threshold == 0 || threshold > count || count > MAX_MEMBERS {
        return Err(Error::BadThreshold {
            threshold,
            members: count,
        });
    }
    if let Some(s) = seeds
        && s.len() < count as usize
    {
        return Err(Error::Invalid(format!(
            "{} nonce seeds for {count} shares",
            s.len()
        )));
    }
    let mut poly: Vec<Scalar> = (0..threshold as usize)
        .map(|j| match coeffs.get(j) {
            Some(c) => scalar_reduce(c.expose()),
            None => random_scalar(),
        })
        .collect();
    if bool::from(poly[0].is_zero()) {
        poly.zeroize();
        return Err(Error::InvalidScalar("group secret"));
    }
    let group_pk = math::mul_gen(&poly[0])?;
    let mut commits = Vec::with_capacity(count as usize);
    let mut shares = Vec::with_capacity(count as usize);
    for i in 1..=count {
        let mut s = eval(&poly, i);
        let (mut d, mut e) = match seeds {
            Some(seeds) => static_nonces(&seeds[(i - 1) as usize], &s),
            None => (random_scalar(), random_scalar()),
        };
        let commit = Commit {
            idx: i,
            pubkey: math::mul_gen(&s)?,
            binder_pn: math::mul_gen(&e)?,
            hidden_pn: math::mul_gen(&d)?,
        };
        commits.push(commit);
        shares.push(SharePackage {
            idx: i,
            seckey: Secret32::new(scalar_bytes(&s)),
            binder_sn: Secret32::new(scalar_bytes(&e)),
            hidden_sn: Secret32::new(scalar_bytes(&d)),
        });
        s.zeroize();
        d.zeroize();
        e.zeroize();
    }
    poly.zeroize();
    Ok((
        GroupPackage {
            group_pk,
            threshold,
            commits,
        },
        shares,
    ))
}

/// A fresh legacy keyset, from a given nsec or a random one.
pub fn keygen(
    threshold: u32,
    count: u32,
    nsec: Option<&Secret32>,
) -> Result<(GroupPackage, Vec<SharePackage>)> {
    let coeffs: Vec<Secret32> = nsec.map(|s| vec![s.duplicate()]).unwrap_or_default();
    generate_dealer_pkg(threshold, count, &coeffs, None)
}

/// Interpolates `f(0)` from shares (no group checks). Indices must be distinct and non-zero.
pub fn interpolate(shares: &[SharePackage]) -> Result<Secret32> {
    let idxs: Vec<u32> = shares.iter().map(|s| s.idx).collect();
    let mut acc = Scalar::ZERO;
    for sh in shares {
        let mut s = sh.secret_scalar()?;
        acc += lagrange(sh.idx, &idxs)? * s;
        s.zeroize();
    }
    let out = Secret32::new(scalar_bytes(&acc));
    acc.zeroize();
    Ok(out)
}

/// `recover_secret_key` (§3.2): needs `threshold` distinct shares of `group`, each matching
/// its commit; the recovered secret must reproduce `group_pk` (with its real parity).
pub fn recover_secret(shares: &[SharePackage], group: &GroupPackage) -> Result<Secret32> {
    group.validate()?;
    if shares.len() < group.threshold as usize {
        return Err(Error::NotEnoughShares {
            got: shares.len(),
            need: group.threshold as usize,
        });
    }
    for (k, s) in shares.iter().enumerate() {
        if shares[..k].iter().any(|o| o.idx == s.idx) {
            return Err(Error::DuplicateIndex(s.idx));
        }
        let c = group
            .commit(s.idx)
            .map_err(|_| Error::ShareNotInGroup(s.idx))?;
        if s.pubkey()? != c.pubkey {
            return Err(Error::ShareNotInGroup(s.idx));
        }
    }
    let secret = interpolate(shares)?;
    let sc = math::scalar_strict(secret.expose(), "recovered secret")
        .map_err(|_| Error::GroupKeyMismatch)?;
    if math::mul_gen(&sc)? != group.group_pk {
        return Err(Error::GroupKeyMismatch);
    }
    Ok(secret)
}
