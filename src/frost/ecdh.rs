//! Threshold ECDH (FROSTR-NEXT §6.3).
//!
//! Corrected rule (what Frostbox speaks): every member of the chosen set `S` contributes
//! `compressed((λ_i·s_i)·lift_x(target))`; the combiner sums them and outputs the raw
//! x-coordinate, which equals the plain Nostr/NIP-44 `shared_x` of the group key and the target.
//!
//! The bifrost-rs 435e7f6 rule (no λ, output `SHA256(compressed(Σ))`) is provided only to
//! recognise that behaviour in the vectors; it does not compute the group ECDH.

use k256::{ProjectivePoint, Scalar};
use sha2::{Digest, Sha256};
use zeroize::Zeroize;

use super::keys::lagrange;
use super::{Error, Result, lift_x, nonzero_scalar, point_from_compressed, point_to_compressed};
use crate::vault::secret::Secret32;

fn target(xonly: &[u8; 32]) -> Result<ProjectivePoint> {
    lift_x(xonly).ok_or(Error::BadPoint("ECDH target is not an x coordinate"))
}

/// Corrected keyshare of member `idx` over `members` for the x-only `target`.
pub fn ecdh_share(
    idx: u16,
    secret: &Secret32,
    members: &[u16],
    target_xonly: &[u8; 32],
) -> Result<[u8; 33]> {
    let t = target(target_xonly)?;
    let lam = lagrange(idx, members)?;
    let mut s = nonzero_scalar(secret.expose()).ok_or(Error::BadSecret)?;
    let mut w: Scalar = lam * s;
    s.zeroize();
    let p = t * w;
    w.zeroize();
    point_to_compressed(&p).ok_or(Error::BadPoint("keyshare is the identity"))
}

/// 435e7f6 keyshare: `compressed(s_i·lift_x(target))`, no Lagrange weight.
pub fn ecdh_share_435e7f6(secret: &Secret32, target_xonly: &[u8; 32]) -> Result<[u8; 33]> {
    let t = target(target_xonly)?;
    let mut s = nonzero_scalar(secret.expose()).ok_or(Error::BadSecret)?;
    let p = t * s;
    s.zeroize();
    point_to_compressed(&p).ok_or(Error::BadPoint("keyshare is the identity"))
}

/// Re-weights an unweighted (435e7f6) keyshare of member `idx` by `λ_idx` over `members`.
pub fn ecdh_share_reweight(idx: u16, members: &[u16], keyshare: &[u8; 33]) -> Result<[u8; 33]> {
    let p = point_from_compressed(keyshare).ok_or(Error::BadPoint("keyshare"))?;
    let lam = lagrange(idx, members)?;
    point_to_compressed(&(p * lam)).ok_or(Error::BadPoint("keyshare is the identity"))
}

fn sum(keyshares: &[[u8; 33]]) -> Result<ProjectivePoint> {
    if keyshares.is_empty() {
        return Err(Error::NotEnoughShares { need: 1, got: 0 });
    }
    let mut acc = ProjectivePoint::IDENTITY;
    for k in keyshares {
        acc += point_from_compressed(k).ok_or(Error::BadPoint("keyshare"))?;
    }
    Ok(acc)
}

/// Corrected combine: x-coordinate of `Σ keyshare_i` (the shared x, usable as NIP-44 `shared_x`).
pub fn ecdh_combine(keyshares: &[[u8; 33]]) -> Result<[u8; 32]> {
    let p =
        point_to_compressed(&sum(keyshares)?).ok_or(Error::BadPoint("ECDH sum is the identity"))?;
    let mut x = [0u8; 32];
    x.copy_from_slice(&p[1..]);
    Ok(x)
}

/// 435e7f6 combine: `SHA256(compressed(Σ keyshare_i))`.
pub fn ecdh_combine_435e7f6(keyshares: &[[u8; 33]]) -> Result<[u8; 32]> {
    let p =
        point_to_compressed(&sum(keyshares)?).ok_or(Error::BadPoint("ECDH sum is the identity"))?;
    Ok(Sha256::digest(p).into())
}

/// Compressed `Σ keyshare_i` (for diagnostics and vectors).
pub fn ecdh_sum_compressed(keyshares: &[[u8; 33]]) -> Result<[u8; 33]> {
    point_to_compressed(&sum(keyshares)?).ok_or(Error::BadPoint("ECDH sum is the identity"))
}
