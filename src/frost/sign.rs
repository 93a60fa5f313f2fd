//! Partial signatures: sign, verify (naming the bad signer), aggregate, BIP-340 verify (§7).

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use frost_core::Ciphersuite as _;
use frost_secp256k1_tr as frost;
use frost_secp256k1_tr::keys::EvenY as _;
use k256::elliptic_curve::point::AffineCoordinates as _;

use super::keys::{GroupKeys, KeyShare, identifier};
use super::nonce::{NonceLedger, PublicNonce, SigningNonce};
use super::{Error, Result, scalar_from_bytes, scalar_to_bytes};

type Suite = frost::Secp256K1Sha256TR;

/// One message with the commitments of every participating member: the frost signing package.
#[derive(Clone, Debug)]
pub struct SignRound {
    msg: [u8; 32],
    members: Vec<u16>,
    commitments: Vec<PublicNonce>,
    pub(crate) package: frost::SigningPackage,
    /// Derived on first use and kept: the coordinator's own partial signature and its
    /// aggregation need the same values, and `frost::round2::sign` + `frost::aggregate` would
    /// each derive them again.
    context: OnceLock<Arc<RoundContext>>,
}

/// What every signer of a round derives from the signing package, with frost's own functions
/// (`internals`): the binding factors, the group commitment `R` and the challenge.
struct RoundContext {
    /// Group key the values were derived for (a round belongs to one group; checked on use).
    verifying_key: frost::VerifyingKey,
    binding: frost_core::BindingFactorList<Suite>,
    challenge: frost_core::Challenge<Suite>,
    /// BIP-340 parity of `R`: when odd, every signer negates its nonces.
    r_even: bool,
    /// x(R), the first half of the aggregate signature.
    r_x: [u8; 32],
}

impl std::fmt::Debug for RoundContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RoundContext(R.x={})", hex::encode(self.r_x))
    }
}

impl RoundContext {
    /// Mirrors the derivation in `frost_core::round2::sign` / `aggregate` for this suite
    /// (`pre_sign` / `pre_aggregate` only re-parity the key, which is even for every FROSTR group).
    fn derive(package: &frost::SigningPackage, vk: &frost::VerifyingKey) -> Result<Self> {
        let binding = frost_core::compute_binding_factor_list(package, vk, &[])?;
        let r = frost_core::compute_group_commitment(package, &binding)?.to_element();
        let challenge = Suite::challenge(&r, vk, package.message())?;
        let affine = r.to_affine();
        Ok(Self {
            verifying_key: *vk,
            binding,
            challenge,
            r_even: !bool::from(affine.y_is_odd()),
            r_x: affine.x().into(),
        })
    }
}

impl SignRound {
    /// `commitments`: one `(idx, public nonce)` per signer, strictly ascending by idx, ≥ 1.
    pub fn new(msg: &[u8; 32], commitments: &[(u16, PublicNonce)]) -> Result<Self> {
        if commitments.is_empty() {
            return Err(Error::NotEnoughShares { need: 1, got: 0 });
        }
        let mut map = BTreeMap::new();
        let mut members = Vec::with_capacity(commitments.len());
        let mut pubs = Vec::with_capacity(commitments.len());
        for (k, (idx, pn)) in commitments.iter().enumerate() {
            if k > 0 && commitments[k - 1].0 >= *idx {
                return Err(Error::MembersNotSorted);
            }
            map.insert(identifier(*idx)?, pn.to_frost()?);
            members.push(*idx);
            pubs.push(*pn);
        }
        let package = frost::SigningPackage::new(map, msg);
        Ok(Self {
            msg: *msg,
            members,
            commitments: pubs,
            package,
            context: OnceLock::new(),
        })
    }

    /// The round's derived values for group key `vk` (even y), computed once.
    fn context(&self, vk: &frost::VerifyingKey) -> Result<Arc<RoundContext>> {
        if let Some(c) = self.context.get()
            && c.verifying_key == *vk
        {
            return Ok(Arc::clone(c));
        }
        let c = Arc::new(RoundContext::derive(&self.package, vk)?);
        // A concurrent first use may have stored its (identical) context already.
        let _ = self.context.set(c.clone());
        Ok(c)
    }

    pub fn message(&self) -> &[u8; 32] {
        &self.msg
    }
    /// Participating members, ascending.
    pub fn members(&self) -> &[u16] {
        &self.members
    }
    pub fn commitment(&self, idx: u16) -> Option<&PublicNonce> {
        self.members
            .binary_search(&idx)
            .ok()
            .map(|i| &self.commitments[i])
    }
}

/// A share prepared for signing (the frost key packages are built once).
pub struct ShareSigner {
    idx: u16,
    key_package: frost::keys::KeyPackage,
    /// The same share negated: signing with it and negating the result equals signing with
    /// negated nonces, which BIP-340 asks for when `R` has odd y. (frost-secp256k1-tr negates
    /// the nonces instead and, through `SigningNonces::from_nonces`, recomputes their two
    /// commitments, two scalar multiplications per odd round that nothing reads.)
    negated: frost::keys::KeyPackage,
}

impl std::fmt::Debug for ShareSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ShareSigner(idx={}, <secret redacted>)", self.idx)
    }
}

impl ShareSigner {
    /// Checks that the share's public key is the group's key for `share.idx`.
    pub fn new(share: &KeyShare, group: &GroupKeys) -> Result<Self> {
        let member = group
            .member(share.idx)
            .ok_or(Error::NotAMember(share.idx))?;
        if share.pubkey33()? != member.pubkey {
            return Err(Error::Frost(format!(
                "share {} does not match the group's public key for that index",
                share.idx
            )));
        }
        let id = identifier(share.idx)?;
        let signing_share = frost::keys::SigningShare::deserialize(share.secret.expose())
            .map_err(|_| Error::BadSecret)?;
        let vs = *group
            .package
            .verifying_shares()
            .get(&id)
            .ok_or(Error::NotAMember(share.idx))?;
        let key_package = frost::keys::KeyPackage::new(
            id,
            signing_share,
            vs,
            *group.package.verifying_key(),
            group.threshold(),
        );
        // The suite's `pre_sign` re-parities the key package on every call (`into_even_y`);
        // FROSTR group keys are lifted from x-only keys, so it never changes anything. Checked
        // once here: were it to negate the share, `negated` below would be the wrong one.
        if !key_package.has_even_y() {
            return Err(Error::BadPoint("group key has odd y"));
        }
        let neg = zeroize::Zeroizing::new(
            -scalar_from_bytes(share.secret.expose()).ok_or(Error::BadSecret)?,
        );
        let neg_bytes = zeroize::Zeroizing::new(scalar_to_bytes(&neg));
        let negated = frost::keys::KeyPackage::new(
            id,
            frost::keys::SigningShare::deserialize(neg_bytes.as_slice())
                .map_err(|_| Error::BadSecret)?,
            *key_package.verifying_share(),
            *key_package.verifying_key(),
            *key_package.min_signers(),
        );
        Ok(Self {
            idx: share.idx,
            key_package,
            negated,
        })
    }

    pub fn idx(&self) -> u16 {
        self.idx
    }

    /// Partial signature `z_i` (32 bytes) with `nonce`, which is consumed. The nonce's commitment
    /// must be this member's commitment in `round`. The nonce code is recorded in `ledger`
    /// before the signature is returned; if the ledger refuses, no signature is returned.
    pub fn sign(
        &self,
        round: &SignRound,
        nonce: SigningNonce,
        ledger: &dyn NonceLedger,
    ) -> Result<[u8; 32]> {
        let mine = round
            .commitment(self.idx)
            .ok_or(Error::MissingCommitment(self.idx))?;
        if *mine != nonce.public() {
            return Err(Error::WrongNonce);
        }
        let z = self.compute(round, &nonce.inner)?;
        ledger.record_consumed(nonce.code())?;
        drop(nonce);
        Ok(z)
    }

    /// `frost::round2::sign` with the round's derived values shared (see [`SignRound`]) and
    /// the odd-`R` case done on the negated share (see [`ShareSigner::negated`]); equal to it
    /// byte for byte (tested). The caller ([`ShareSigner::sign`]) has checked that `nonces`
    /// belong to this member's commitment in `round`, as frost's `sign` does.
    fn compute(
        &self,
        round: &SignRound,
        nonces: &frost::round1::SigningNonces,
    ) -> Result<[u8; 32]> {
        let id = *self.key_package.identifier();
        if round.package.signing_commitments().len() < usize::from(*self.key_package.min_signers())
        {
            return Err(Error::NotEnoughShares {
                need: usize::from(*self.key_package.min_signers()),
                got: round.package.signing_commitments().len(),
            });
        }
        let ctx = round.context(self.key_package.verifying_key())?;
        let rho = ctx
            .binding
            .get(&id)
            .ok_or(Error::NotAMember(self.idx))?
            .clone();
        let lambda = frost_core::derive_interpolating_value(&id, &round.package)?;
        let kp = if ctx.r_even {
            &self.key_package
        } else {
            &self.negated
        };
        let share =
            frost_core::round2::compute_signature_share(nonces, rho, lambda, kp, ctx.challenge);
        let z = share_bytes(&share)?;
        if ctx.r_even {
            return Ok(z);
        }
        let z = scalar_from_bytes(&z).ok_or(Error::BadScalar("signature share"))?;
        Ok(scalar_to_bytes(&-z))
    }

    /// Plain `frost::round2::sign`, the reference [`ShareSigner::compute`] is tested against.
    #[cfg(test)]
    fn compute_reference(
        &self,
        round: &SignRound,
        nonces: &frost::round1::SigningNonces,
    ) -> Result<[u8; 32]> {
        share_bytes(&frost::round2::sign(
            &round.package,
            nonces,
            &self.key_package,
        )?)
    }
}

fn share_bytes(s: &frost::round2::SignatureShare) -> Result<[u8; 32]> {
    s.serialize()
        .as_slice()
        .try_into()
        .map_err(|_| Error::BadScalar("signature share length"))
}

fn parse_share(idx: u16, z: &[u8; 32]) -> Result<frost::round2::SignatureShare> {
    frost::round2::SignatureShare::deserialize(z).map_err(|_| Error::BadPartialSignature(idx))
}

/// Verifies member `idx`'s partial signature for `round` against its key in `group`.
/// An invalid share fails with [`Error::BadPartialSignature`] naming `idx`.
pub fn verify_partial(group: &GroupKeys, round: &SignRound, idx: u16, z: &[u8; 32]) -> Result<()> {
    if round.commitment(idx).is_none() {
        return Err(Error::MissingCommitment(idx));
    }
    let id = identifier(idx)?;
    let vs = group
        .package
        .verifying_shares()
        .get(&id)
        .ok_or(Error::NotAMember(idx))?;
    let share = parse_share(idx, z)?;
    frost_core::verify_signature_share(
        id,
        vs,
        &share,
        &round.package,
        group.package.verifying_key(),
    )
    .map_err(|_| Error::BadPartialSignature(idx))
}

/// Aggregates one partial signature per round member into a 64-byte BIP-340 signature and
/// verifies it under the group key. A bad share fails with [`Error::BadPartialSignature`] naming
/// the first culprit.
pub fn aggregate(
    group: &GroupKeys,
    round: &SignRound,
    partials: &[(u16, [u8; 32])],
) -> Result<[u8; 64]> {
    let mut shares = BTreeMap::new();
    for (idx, z) in partials {
        if round.commitment(*idx).is_none() {
            return Err(Error::MissingCommitment(*idx));
        }
        if shares
            .insert(identifier(*idx)?, parse_share(*idx, z)?)
            .is_some()
        {
            return Err(Error::DuplicateIndex(*idx));
        }
    }
    for m in round.members() {
        if !shares.contains_key(&identifier(*m)?) {
            return Err(Error::NotEnoughShares {
                need: round.members().len(),
                got: partials.len(),
            });
        }
    }
    // The aggregate is R and the sum of the shares (frost's `aggregate`); a valid BIP-340
    // signature under the group key is the only outcome that matters, so it is checked once,
    // with libsecp256k1. Only when it fails does frost's own aggregation run, to name the
    // member whose share is bad (its cheater detection).
    let ctx = round.context(group.package.verifying_key())?;
    let mut z = k256::Scalar::ZERO;
    for (_, zi) in partials {
        z += scalar_from_bytes(zi).ok_or(Error::BadScalar("signature share"))?;
    }
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(&ctx.r_x);
    out[32..].copy_from_slice(&scalar_to_bytes(&z));
    if verify_bip340(group.group_pk(), round.message(), &out) {
        return Ok(out);
    }
    let sig = match frost::aggregate(&round.package, &shares, &group.package) {
        Ok(s) => s,
        Err(frost_core::Error::InvalidSignatureShare { culprits }) => {
            let idx = culprits
                .first()
                .and_then(|c| {
                    round
                        .members()
                        .iter()
                        .copied()
                        .find(|m| identifier(*m).ok().as_ref() == Some(c))
                })
                .unwrap_or(0);
            return Err(Error::BadPartialSignature(idx));
        }
        Err(e) => return Err(e.into()),
    };
    let bytes = sig.serialize()?;
    let out: [u8; 64] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| Error::Frost("aggregate signature is not 64 bytes".into()))?;
    if !verify_bip340(group.group_pk(), round.message(), &out) {
        return Err(Error::BadAggregate);
    }
    Ok(out)
}

/// Plain BIP-340 verification (libsecp256k1), the same check Nostr events use.
pub fn verify_bip340(pubkey: &[u8; 32], msg: &[u8; 32], sig: &[u8; 64]) -> bool {
    crate::nostr::keys::verify_bip340(pubkey, msg, sig)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frost::keygen;
    use rand::seq::SliceRandom;

    /// Rounds over random member subsets of random groups, message and nonces: the shared-context
    /// partial signature must equal `frost::round2::sign`'s and the aggregate
    /// `frost::aggregate`'s, byte for byte, for both parities of `R`.
    #[test]
    fn fast_path_equals_frost_for_both_parities() {
        let mut rng = rand::thread_rng();
        let (mut odd, mut even) = (0, 0);
        for (t, n) in [(2u16, 3u16), (3, 5), (2, 2), (7, 10)] {
            let ks = keygen(t, n).expect("keygen");
            let signers: Vec<ShareSigner> = ks
                .shares
                .iter()
                .map(|s| ShareSigner::new(s, &ks.group).expect("signer"))
                .collect();
            for _ in 0..24 {
                let mut members: Vec<u16> = (1..=n).collect();
                members.shuffle(&mut rng);
                members.truncate(usize::from(t) + usize::from(n > t && rand::random::<bool>()));
                members.sort_unstable();
                let nonces: Vec<SigningNonce> = members
                    .iter()
                    .map(|i| SigningNonce::generate(&ks.shares[usize::from(*i) - 1].secret))
                    .collect::<Result<_>>()
                    .expect("nonces");
                let commits: Vec<(u16, PublicNonce)> = members
                    .iter()
                    .zip(&nonces)
                    .map(|(i, n)| (*i, n.public()))
                    .collect();
                let msg: [u8; 32] = rand::random();
                let round = SignRound::new(&msg, &commits).expect("round");
                let reference_round = SignRound::new(&msg, &commits).expect("round");
                let mut parts = Vec::new();
                for (i, nonce) in members.iter().zip(&nonces) {
                    let signer = &signers[usize::from(*i) - 1];
                    let z = signer.compute(&round, &nonce.inner).expect("fast");
                    let want = signer
                        .compute_reference(&reference_round, &nonce.inner)
                        .expect("frost");
                    assert_eq!(z, want, "member {i} of {t}-of-{n}");
                    parts.push((*i, z));
                }
                let ctx = round.context.get().expect("context kept");
                if ctx.r_even {
                    even += 1;
                } else {
                    odd += 1;
                }
                let sig = aggregate(&ks.group, &round, &parts).expect("aggregate");
                let shares = parts
                    .iter()
                    .map(|(i, z)| Ok((identifier(*i)?, parse_share(*i, z)?)))
                    .collect::<Result<BTreeMap<_, _>>>()
                    .expect("shares");
                let want = frost::aggregate(&reference_round.package, &shares, &ks.group.package)
                    .expect("frost aggregate")
                    .serialize()
                    .expect("serialize");
                assert_eq!(sig.as_slice(), want.as_slice());
                assert!(verify_bip340(ks.group.group_pk(), &msg, &sig));
            }
        }
        // 96 rounds: both parities occur (a miss has probability 2^-95).
        assert!(odd > 0 && even > 0, "odd {odd} even {even}");
    }

    /// A bad share still fails the aggregation and names its member (frost's cheater detection
    /// runs when the fast check fails), whichever parity `R` has.
    #[test]
    fn bad_share_is_named_after_failed_fast_check() {
        let ks = keygen(2, 3).expect("keygen");
        for _ in 0..8 {
            let nonces: Vec<SigningNonce> = [1u16, 3]
                .iter()
                .map(|i| SigningNonce::generate(&ks.shares[usize::from(*i) - 1].secret))
                .collect::<Result<_>>()
                .expect("nonces");
            let commits = [(1, nonces[0].public()), (3, nonces[1].public())];
            let round = SignRound::new(&rand::random(), &commits).expect("round");
            let z1 = ShareSigner::new(&ks.shares[0], &ks.group)
                .expect("signer")
                .compute(&round, &nonces[0].inner)
                .expect("z1");
            let mut z3 = ShareSigner::new(&ks.shares[2], &ks.group)
                .expect("signer")
                .compute(&round, &nonces[1].inner)
                .expect("z3");
            z3[31] ^= 1;
            assert_eq!(
                aggregate(&ks.group, &round, &[(1, z1), (3, z3)]),
                Err(Error::BadPartialSignature(3))
            );
        }
    }
}
