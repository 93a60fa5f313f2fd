//! Partial signatures: sign, verify (naming the bad signer), aggregate, BIP-340 verify (§7).

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use frost_core::Ciphersuite as _;
use frost_secp256k1_tr as frost;
use frost_secp256k1_tr::keys::EvenY as _;
use k256::Scalar;
use zeroize::Zeroizing;

use super::keys::{GroupKeys, KeyShare, identifier, lagrange};
use super::nonce::{NonceLedger, PublicNonce, SigningNonce};
use super::{Error, Result, scalar_from_bytes, scalar_to_bytes};

type Suite = frost::Secp256K1Sha256TR;

/// One message with the commitments of every participating member: the frost signing package.
#[derive(Clone, Debug)]
pub struct SignRound {
    msg: [u8; 32],
    members: Vec<u16>,
    commitments: Vec<PublicNonce>,
    /// Each member's `[D, E]`, parsed (and so validated) once by libsecp256k1, which computes
    /// the group commitment from them.
    points: Vec<[secp256k1::PublicKey; 2]>,
    /// Frost's form of the round, built only when frost's own checks run: `verify_partial`
    /// and the aggregation's cheater detection.
    package: OnceLock<frost::SigningPackage>,
    /// Derived on first use and kept: the coordinator's own partial signature and its
    /// aggregation need the same values.
    context: OnceLock<Arc<RoundContext>>,
}

/// What every signer of a round derives from it (RFC 9591 §5.2, TR suite): the binding
/// factors, the group commitment `R` and the challenge. The hashes are the suite's own
/// (`H1`, `H2`, `H4`, `H5`); the inputs are taken from the wire bytes instead of re-encoding
/// parsed points, and `R` is computed by libsecp256k1 (variable time: all of it is public).
/// Equal to frost's `round2::sign` / `aggregate` byte for byte (tested).
struct RoundContext {
    /// Compressed group key the values were derived for (a round belongs to one group).
    group_key: [u8; 33],
    /// `ρᵢ` per member, in the order of [`SignRound::members`].
    binding: Vec<Scalar>,
    challenge: Scalar,
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
    fn derive(round: &SignRound, group_key: &[u8; 33]) -> Result<Self> {
        // encode_group_commitment_list: identifier ‖ D ‖ E per member, ascending.
        let ids = round
            .members
            .iter()
            .map(|m| identifier(*m).map(|id| id.serialize()))
            .collect::<Result<Vec<_>>>()?;
        let mut encoded = Vec::with_capacity(round.members.len() * (32 + 33 + 33));
        for (id, pn) in ids.iter().zip(&round.commitments) {
            encoded.extend_from_slice(id);
            encoded.extend_from_slice(&pn.hidden);
            encoded.extend_from_slice(&pn.binder);
        }
        // compute_binding_factors: ρᵢ = H1(PK ‖ H4(msg) ‖ H5(commitments) ‖ idᵢ).
        let mut preimage = Vec::with_capacity(33 + 32 + 32 + 32);
        preimage.extend_from_slice(group_key);
        preimage.extend_from_slice(Suite::H4(&round.msg).as_ref());
        preimage.extend_from_slice(Suite::H5(&encoded).as_ref());
        let prefix = preimage.len();
        let binding: Vec<Scalar> = ids
            .iter()
            .map(|id| {
                preimage.truncate(prefix);
                preimage.extend_from_slice(id);
                Suite::H1(&preimage)
            })
            .collect();
        // compute_group_commitment: R = Σ Dᵢ + ρᵢ·Eᵢ.
        let mut terms = Vec::with_capacity(2 * binding.len());
        for ([d, e], rho) in round.points.iter().zip(&binding) {
            let rho = secp256k1::Scalar::from_be_bytes(scalar_to_bytes(rho))
                .map_err(|_| Error::BadScalar("binding factor"))?;
            terms.push(*d);
            terms.push(
                e.mul_tweak(&rho)
                    .map_err(|_| Error::BadScalar("binding factor"))?,
            );
        }
        let terms: Vec<&secp256k1::PublicKey> = terms.iter().collect();
        let r = secp256k1::PublicKey::combine_keys(&terms)
            .map_err(|_| Error::BadPoint("group commitment is the identity"))?
            .serialize();
        let mut r_x = [0u8; 32];
        r_x.copy_from_slice(&r[1..]);
        // The suite's challenge: H2(x(R) ‖ x(PK) ‖ msg), BIP-340's.
        let mut c = Vec::with_capacity(96);
        c.extend_from_slice(&r_x);
        c.extend_from_slice(&group_key[1..]);
        c.extend_from_slice(&round.msg);
        Ok(Self {
            group_key: *group_key,
            binding,
            challenge: Suite::H2(&c),
            r_even: r[0] == 2,
            r_x,
        })
    }
}

impl SignRound {
    /// `commitments`: one `(idx, public nonce)` per signer, strictly ascending by idx, ≥ 1.
    pub fn new(msg: &[u8; 32], commitments: &[(u16, PublicNonce)]) -> Result<Self> {
        if commitments.is_empty() {
            return Err(Error::NotEnoughShares { need: 1, got: 0 });
        }
        let mut members = Vec::with_capacity(commitments.len());
        let mut pubs = Vec::with_capacity(commitments.len());
        let mut points = Vec::with_capacity(commitments.len());
        for (k, (idx, pn)) in commitments.iter().enumerate() {
            if k > 0 && commitments[k - 1].0 >= *idx {
                return Err(Error::MembersNotSorted);
            }
            identifier(*idx)?;
            let parse = |b: &[u8; 33], what| {
                secp256k1::PublicKey::from_byte_array_compressed(*b)
                    .map_err(|_| Error::BadPoint(what))
            };
            points.push([
                parse(&pn.hidden, "hiding commitment")?,
                parse(&pn.binder, "binding commitment")?,
            ]);
            members.push(*idx);
            pubs.push(*pn);
        }
        Ok(Self {
            msg: *msg,
            members,
            commitments: pubs,
            points,
            package: OnceLock::new(),
            context: OnceLock::new(),
        })
    }

    /// The round's derived values for the (even-y, compressed) group key, computed once.
    fn context(&self, group_key: &[u8; 33]) -> Result<Arc<RoundContext>> {
        if let Some(c) = self.context.get()
            && c.group_key == *group_key
        {
            return Ok(Arc::clone(c));
        }
        let c = Arc::new(RoundContext::derive(self, group_key)?);
        // A concurrent first use may have stored its (identical) context already.
        let _ = self.context.set(c.clone());
        Ok(c)
    }

    /// Frost's signing package for this round, built on first use.
    pub(crate) fn package(&self) -> Result<&frost::SigningPackage> {
        if let Some(p) = self.package.get() {
            return Ok(p);
        }
        let mut map = BTreeMap::new();
        for (idx, pn) in self.members.iter().zip(&self.commitments) {
            map.insert(identifier(*idx)?, pn.to_frost()?);
        }
        let p = frost::SigningPackage::new(map, &self.msg);
        Ok(self.package.get_or_init(|| p))
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

/// A share prepared for signing.
pub struct ShareSigner {
    idx: u16,
    secret: Zeroizing<Scalar>,
    /// Compressed group key (`02‖x`).
    group_key: [u8; 33],
    threshold: u16,
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
        // The suite re-parities the key on every signature (`pre_sign`); FROSTR group keys are
        // lifted from x-only keys, so it never changes anything and is checked once here.
        if !group.package.has_even_y() {
            return Err(Error::BadPoint("group key has odd y"));
        }
        Ok(Self {
            idx: share.idx,
            secret: Zeroizing::new(
                scalar_from_bytes(share.secret.expose()).ok_or(Error::BadSecret)?,
            ),
            group_key: group.group_key33(),
            threshold: group.threshold(),
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
        let z = self.compute(round, &nonce)?;
        ledger.record_consumed(nonce.code())?;
        drop(nonce);
        Ok(z)
    }

    /// RFC 9591 `sign` for the TR suite: `z = ±(d + ρ·e) + λ·s·c`, the nonce term negated when
    /// `R` has odd y (BIP-340), `λ` from [`lagrange`] (checked against bifrost-rs's values by the
    /// vector tests). Equal to `frost::round2::sign` byte for byte (tested). The caller
    /// ([`ShareSigner::sign`]) has checked that `nonce` is this member's commitment in `round`.
    fn compute(&self, round: &SignRound, nonce: &SigningNonce) -> Result<[u8; 32]> {
        let got = round.members.len();
        if got < usize::from(self.threshold) {
            return Err(Error::NotEnoughShares {
                need: usize::from(self.threshold),
                got,
            });
        }
        let pos = round
            .members
            .binary_search(&self.idx)
            .map_err(|_| Error::MissingCommitment(self.idx))?;
        let ctx = round.context(&self.group_key)?;
        let lambda = lagrange(self.idx, &round.members)?;
        let [d, e] = nonce.secrets();
        let rho = ctx
            .binding
            .get(pos)
            .ok_or(Error::MissingCommitment(self.idx))?;
        let r_term = Zeroizing::new(*d + rho * e);
        let r_term = Zeroizing::new(if ctx.r_even { *r_term } else { -*r_term });
        let key_term = Zeroizing::new(lambda * *self.secret * ctx.challenge);
        Ok(scalar_to_bytes(&(*r_term + *key_term)))
    }

    /// Plain `frost::round2::sign`, the reference [`ShareSigner::compute`] is tested against.
    #[cfg(test)]
    fn compute_reference(
        &self,
        group: &GroupKeys,
        round: &SignRound,
        nonce: &SigningNonce,
    ) -> Result<[u8; 32]> {
        let id = identifier(self.idx)?;
        let vs = *group
            .package
            .verifying_shares()
            .get(&id)
            .ok_or(Error::NotAMember(self.idx))?;
        let kp = frost::keys::KeyPackage::new(
            id,
            frost::keys::SigningShare::deserialize(&scalar_to_bytes(&self.secret))
                .map_err(|_| Error::BadSecret)?,
            vs,
            *group.package.verifying_key(),
            self.threshold,
        );
        share_bytes(&frost::round2::sign(
            round.package()?,
            &nonce.to_frost(),
            &kp,
        )?)
    }
}

#[cfg(test)]
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
        round.package()?,
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
    let ctx = round.context(&group.group_key33())?;
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
    let sig = match frost::aggregate(round.package()?, &shares, &group.package) {
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
                    let z = signer.compute(&round, nonce).expect("fast");
                    let want = signer
                        .compute_reference(&ks.group, &reference_round, nonce)
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
                let want = frost::aggregate(
                    reference_round.package().expect("package"),
                    &shares,
                    &ks.group.package,
                )
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

    /// Commitments are parsed by libsecp256k1 now; a round must accept exactly what frost's
    /// decoder accepts: random bytes, bad prefixes, x ≥ p, and x with no point on the curve.
    #[test]
    fn round_accepts_exactly_the_commitments_frost_accepts() {
        let ks = keygen(2, 3).expect("keygen");
        let good = SigningNonce::generate(&ks.shares[0].secret)
            .expect("nonce")
            .public();
        let mut candidates: Vec<[u8; 33]> = (0..200)
            .map(|k| {
                let mut b: [u8; 33] = std::array::from_fn(|_| rand::random());
                b[0] = [2, 3, 4, 0][k % 4];
                b
            })
            .collect();
        let mut over_p = [0xffu8; 33];
        over_p[0] = 2;
        candidates.push(over_p);
        candidates.push([0u8; 33]);
        candidates.push(good.hidden);
        let (mut ok, mut bad) = (0, 0);
        for c in candidates {
            for pn in [
                PublicNonce {
                    hidden: c,
                    binder: good.binder,
                },
                PublicNonce {
                    hidden: good.hidden,
                    binder: c,
                },
            ] {
                let ours = SignRound::new(&[1; 32], &[(1, pn)]);
                assert_eq!(ours.is_ok(), pn.to_frost().is_ok(), "{}", hex::encode(c));
                if ours.is_ok() { ok += 1 } else { bad += 1 }
            }
        }
        // About half of random x are on the curve; prefixes 04/00 never parse.
        assert!(ok > 50 && bad > 200, "ok {ok} bad {bad}");
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
                .compute(&round, &nonces[0])
                .expect("z1");
            let mut z3 = ShareSigner::new(&ks.shares[2], &ks.group)
                .expect("signer")
                .compute(&round, &nonces[1])
                .expect("z3");
            z3[31] ^= 1;
            assert_eq!(
                aggregate(&ks.group, &round, &[(1, z1), (3, z3)]),
                Err(Error::BadPartialSignature(3))
            );
        }
    }
}
