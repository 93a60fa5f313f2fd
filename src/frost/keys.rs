//! Trusted-dealer key generation, split of an existing secret, recovery and Lagrange
//! coefficients (FROSTR-NEXT §1, §7.3, §7.4).

use std::collections::BTreeMap;

use frost_secp256k1_tr as frost;
use k256::{ProjectivePoint, Scalar};
use rand::{CryptoRng, RngCore};
use zeroize::Zeroize;

use super::{Error, Result, lift_x, nonzero_scalar, point_from_compressed, scalar_to_bytes};
use crate::vault::secret::Secret32;

/// Largest member count we accept (FROSTR-NEXT §8.1).
pub const MAX_MEMBERS: u16 = 1000;

/// One member's secret share. Not `Clone`: copying a share is an explicit `duplicate()`.
#[derive(Debug)]
pub struct KeyShare {
    pub idx: u16,
    pub secret: Secret32,
}

impl KeyShare {
    pub fn new(idx: u16, secret: Secret32) -> Self {
        Self { idx, secret }
    }
    /// Explicit copy of the share.
    pub fn duplicate(&self) -> Self {
        Self {
            idx: self.idx,
            secret: self.secret.duplicate(),
        }
    }
    /// 33-byte compressed public key of the share.
    pub fn pubkey33(&self) -> Result<[u8; 33]> {
        super::pubkey33(&self.secret)
    }
}

/// One member's public key share.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemberKey {
    pub idx: u16,
    pub pubkey: [u8; 33],
}

/// The public side of a keyset, with the `frost` public key package prepared once.
#[derive(Clone, Debug)]
pub struct GroupKeys {
    group_pk: [u8; 32],
    threshold: u16,
    members: Vec<MemberKey>,
    pub(crate) package: frost::keys::PublicKeyPackage,
}

impl GroupKeys {
    /// Validates and prepares the group: `group_pk` must lift to a point (even y), member keys
    /// must be valid compressed points, indices non-zero and unique, `1 ≤ threshold ≤ members`.
    /// Members are kept sorted by index.
    pub fn new(group_pk: [u8; 32], threshold: u16, members: &[MemberKey]) -> Result<Self> {
        if members.is_empty() || members.len() > MAX_MEMBERS as usize {
            return Err(Error::BadCount(members.len().min(u16::MAX as usize) as u16));
        }
        if threshold == 0 || threshold as usize > members.len() {
            return Err(Error::BadThreshold {
                threshold,
                count: members.len() as u16,
            });
        }
        let gp = lift_x(&group_pk).ok_or(Error::BadPoint("group key is not an x coordinate"))?;
        let mut sorted: Vec<MemberKey> = members.to_vec();
        sorted.sort_by_key(|m| m.idx);
        let mut shares = BTreeMap::new();
        for w in sorted.windows(2) {
            if w[0].idx == w[1].idx {
                return Err(Error::DuplicateIndex(w[0].idx));
            }
        }
        for m in &sorted {
            if m.idx == 0 {
                return Err(Error::ZeroIndex);
            }
            let p = point_from_compressed(&m.pubkey).ok_or(Error::BadPoint(
                "member key is not a compressed curve point",
            ))?;
            shares.insert(identifier(m.idx)?, frost::keys::VerifyingShare::new(p));
        }
        let vk = frost::VerifyingKey::new(gp);
        let package = frost::keys::PublicKeyPackage::new(shares, vk, Some(threshold));
        Ok(Self {
            group_pk,
            threshold,
            members: sorted,
            package,
        })
    }

    pub fn group_pk(&self) -> &[u8; 32] {
        &self.group_pk
    }
    /// The group key as frost serializes it (`02‖x`: lifted with even y), which the binding
    /// factors hash.
    pub(crate) fn group_key33(&self) -> [u8; 33] {
        let mut b = [2u8; 33];
        b[1..].copy_from_slice(&self.group_pk);
        b
    }
    pub fn threshold(&self) -> u16 {
        self.threshold
    }
    /// Members sorted by index.
    pub fn members(&self) -> &[MemberKey] {
        &self.members
    }
    pub fn member(&self, idx: u16) -> Option<&MemberKey> {
        self.members
            .binary_search_by_key(&idx, |m| m.idx)
            .ok()
            .map(|i| &self.members[i])
    }
    /// The member whose 33-byte key equals `pubkey` (§8.5: full 33 bytes, parity matters).
    pub fn find_member(&self, pubkey: &[u8; 33]) -> Option<u16> {
        self.members
            .iter()
            .find(|m| &m.pubkey == pubkey)
            .map(|m| m.idx)
    }
    /// The member whose x-only key equals `xonly` (peer identities, §1).
    pub fn find_member_xonly(&self, xonly: &[u8; 32]) -> Option<u16> {
        self.members
            .iter()
            .find(|m| &m.pubkey[1..] == xonly)
            .map(|m| m.idx)
    }
}

/// A dealt keyset: the public group plus one secret share per member (sorted by index).
#[derive(Debug)]
pub struct Keyset {
    pub group: GroupKeys,
    pub shares: Vec<KeyShare>,
}

pub(crate) fn identifier(idx: u16) -> Result<frost::Identifier> {
    if idx == 0 {
        return Err(Error::ZeroIndex);
    }
    frost::Identifier::try_from(idx).map_err(Error::from)
}

fn check_counts(threshold: u16, count: u16) -> Result<()> {
    if !(2..=MAX_MEMBERS).contains(&count) {
        return Err(Error::BadCount(count));
    }
    if threshold < 2 || threshold > count {
        return Err(Error::BadThreshold { threshold, count });
    }
    Ok(())
}

/// Fresh trusted-dealer keyset: a random group secret split `threshold`-of-`count`, ids 1…count,
/// normalised so the group key has even y (§7.3).
pub fn keygen(threshold: u16, count: u16) -> Result<Keyset> {
    check_counts(threshold, count)?;
    let secret = Secret32::random();
    split(&secret, threshold, count)
}

/// Splits an existing secret (e.g. an nsec) `threshold`-of-`count`. If `secret·G` has odd y,
/// the negated secret is split instead, so the group key is the secret's x-only public key (the
/// npub is unchanged) and `recover` returns the even-y representative.
pub fn split(secret: &Secret32, threshold: u16, count: u16) -> Result<Keyset> {
    split_with_rng(secret, threshold, count, &mut rand::rngs::OsRng)
}

/// [`split`] with a caller-chosen randomness source (tests, benches).
pub fn split_with_rng<R: RngCore + CryptoRng>(
    secret: &Secret32,
    threshold: u16,
    count: u16,
    rng: &mut R,
) -> Result<Keyset> {
    check_counts(threshold, count)?;
    let mut d = nonzero_scalar(secret.expose()).ok_or(Error::BadSecret)?;
    let dp = (ProjectivePoint::GENERATOR * d).to_affine();
    if bool::from(k256::elliptic_curve::point::AffineCoordinates::y_is_odd(
        &dp,
    )) {
        d = -d;
    }
    let mut dbytes = scalar_to_bytes(&d);
    d.zeroize();
    let key = frost::SigningKey::deserialize(&dbytes);
    dbytes.zeroize();
    let key = key?;
    let (dealt, pkp) = frost::keys::split(
        &key,
        count,
        threshold,
        frost::keys::IdentifierList::Default,
        rng,
    )?;
    let vk = pkp.verifying_key().serialize()?;
    if vk.len() != 33 || vk[0] != 2 {
        return Err(Error::Frost("dealer produced an odd-y group key".into()));
    }
    let mut group_pk = [0u8; 32];
    group_pk.copy_from_slice(&vk[1..]);

    let mut shares = Vec::with_capacity(count as usize);
    let mut members = Vec::with_capacity(count as usize);
    for idx in 1..=count {
        let id = identifier(idx)?;
        let ss = dealt
            .get(&id)
            .ok_or(Error::Frost("dealer skipped an identifier".into()))?;
        let mut raw = ss.signing_share().serialize();
        let secret = Secret32::from_slice(&raw).ok_or(Error::BadSecret);
        raw.zeroize();
        let share = KeyShare::new(idx, secret?);
        members.push(MemberKey {
            idx,
            pubkey: share.pubkey33()?,
        });
        shares.push(share);
    }
    let group = GroupKeys::new(group_pk, threshold, &members)?;
    Ok(Keyset { group, shares })
}

/// `λ_i = Π_{j∈S, j≠i} j·(j−i)^(-1) mod n` (§1). `members` need not be sorted but must be
/// unique, non-zero and contain `idx`.
pub fn lagrange(idx: u16, members: &[u16]) -> Result<Scalar> {
    if idx == 0 {
        return Err(Error::ZeroIndex);
    }
    let mut found = false;
    let mut num = Scalar::ONE;
    let mut den = Scalar::ONE;
    for (k, &j) in members.iter().enumerate() {
        if j == 0 {
            return Err(Error::ZeroIndex);
        }
        if members[..k].contains(&j) {
            return Err(Error::DuplicateIndex(j));
        }
        if j == idx {
            found = true;
            continue;
        }
        let sj = Scalar::from(u64::from(j));
        num *= sj;
        den *= sj - Scalar::from(u64::from(idx));
    }
    if !found {
        return Err(Error::NotAMember(idx));
    }
    let inv: Option<Scalar> = den.invert().into();
    Ok(num * inv.ok_or(Error::BadScalar("lagrange denominator"))?)
}

/// [`lagrange`] as 32 big-endian bytes.
pub fn lagrange_bytes(idx: u16, members: &[u16]) -> Result<[u8; 32]> {
    lagrange(idx, members).map(|s| scalar_to_bytes(&s))
}

/// Interpolates the group secret at 0 from shares (at least the threshold of them; with fewer
/// the result is a different key — check it with [`recover_checked`]).
pub fn recover(shares: &[KeyShare]) -> Result<Secret32> {
    if shares.len() < 2 {
        return Err(Error::NotEnoughShares {
            need: 2,
            got: shares.len(),
        });
    }
    let ids: Vec<u16> = shares.iter().map(|s| s.idx).collect();
    let mut acc = Scalar::ZERO;
    for s in shares {
        let lam = lagrange(s.idx, &ids)?;
        let mut v = nonzero_scalar(s.secret.expose()).ok_or(Error::BadSecret)?;
        acc += lam * v;
        v.zeroize();
    }
    if bool::from(acc.is_zero()) {
        acc.zeroize();
        return Err(Error::BadSecret);
    }
    let out = Secret32::new(scalar_to_bytes(&acc));
    acc.zeroize();
    Ok(out)
}

/// [`recover`], then checks `x(d·G) == group_pk` and returns the even-y secret.
pub fn recover_checked(shares: &[KeyShare], group_pk: &[u8; 32]) -> Result<Secret32> {
    let d = recover(shares)?;
    let p = super::pubkey33(&d)?;
    if &p[1..] != group_pk {
        return Err(Error::GroupKeyMismatch);
    }
    if p[0] == 2 {
        return Ok(d);
    }
    let mut s = nonzero_scalar(d.expose()).ok_or(Error::BadSecret)?;
    s = -s;
    let out = Secret32::new(scalar_to_bytes(&s));
    s.zeroize();
    Ok(out)
}
