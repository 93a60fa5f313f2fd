//! Migration off the leaky 1.0.x protocol: recover the group secret from `threshold` legacy
//! shares, normalise it to even y (the npub is the x-only key, unchanged either way) and split it
//! fresh into a current-generation keyset.

use super::credential::{GroupPackage, SharePackage};
use super::dealer::recover_secret;
use super::math::{self, scalar_bytes, scalar_strict};
use super::{Error, Result};
use crate::vault::Secret32;
use zeroize::Zeroize;

/// The recovered group secret, normalised to even y.
#[derive(Debug)]
pub struct RecoveredKey {
    /// `x` with `x·G` of even y (the BIP-340 secret of the npub).
    pub secret: Secret32,
    /// The npub (x-only group key) — identical for the legacy group and the new keyset.
    pub group_xonly: [u8; 32],
    /// True when the legacy group key had odd y and the secret was negated.
    pub negated: bool,
}

/// Recovers and checks the legacy group secret, returning its even-y representative.
pub fn recover_even_y(shares: &[SharePackage], group: &GroupPackage) -> Result<RecoveredKey> {
    let secret = recover_secret(shares, group)?;
    let mut x = scalar_strict(secret.expose(), "recovered secret")?;
    let negated = !math::has_even_y(&group.group_pk);
    if negated {
        x = -x;
    }
    let p = math::mul_gen(&x)?;
    if !math::has_even_y(&p) || math::xonly(&p) != group.npub() {
        x.zeroize();
        return Err(Error::GroupKeyMismatch);
    }
    let out = RecoveredKey {
        secret: Secret32::new(scalar_bytes(&x)),
        group_xonly: group.npub(),
        negated,
    };
    x.zeroize();
    Ok(out)
}

/// Result of [`migrate`]: the even-y secret ready for the current-generation dealer ([`to_next`]).
#[derive(Debug)]
pub struct MigratedKeyset {
    pub recovered: RecoveredKey,
    /// The legacy 33-byte group key (its real parity byte).
    pub legacy_group_pk: [u8; 33],
    pub threshold: u32,
    pub count: u32,
}

/// Legacy shares → material for a fresh current-generation keyset with the same npub.
pub fn migrate(
    legacy_shares: &[SharePackage],
    group: &GroupPackage,
    new_threshold: u32,
    new_count: u32,
) -> Result<MigratedKeyset> {
    if new_threshold == 0 || new_threshold > new_count {
        return Err(Error::BadThreshold {
            threshold: new_threshold,
            members: new_count,
        });
    }
    Ok(MigratedKeyset {
        recovered: recover_even_y(legacy_shares, group)?,
        legacy_group_pk: group.group_pk_bytes(),
        threshold: new_threshold,
        count: new_count,
    })
}

/// Splits the recovered secret into a current-generation keyset (`crate::frost::split`, even-y
/// group key) and checks that its group key is the legacy npub.
pub fn to_next(m: &MigratedKeyset) -> Result<crate::frost::Keyset> {
    let t = u16::try_from(m.threshold).map_err(|_| Error::BadThreshold {
        threshold: m.threshold,
        members: m.count,
    })?;
    let n = u16::try_from(m.count).map_err(|_| Error::BadThreshold {
        threshold: m.threshold,
        members: m.count,
    })?;
    let ks = crate::frost::split(&m.recovered.secret, t, n)
        .map_err(|e| Error::Invalid(format!("current-generation split failed: {e}")))?;
    if ks.group.group_pk() != &m.recovered.group_xonly {
        return Err(Error::GroupKeyMismatch);
    }
    Ok(ks)
}

/// [`migrate`] then [`to_next`]: legacy shares → current-generation keyset, same npub.
pub fn migrate_to_next(
    legacy_shares: &[SharePackage],
    group: &GroupPackage,
    new_threshold: u32,
    new_count: u32,
) -> Result<crate::frost::Keyset> {
    to_next(&migrate(legacy_shares, group, new_threshold, new_count)?)
}
