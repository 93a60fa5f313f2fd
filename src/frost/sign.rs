//! Partial signatures: sign, verify (naming the bad signer), aggregate, BIP-340 verify (§7).

use std::collections::BTreeMap;

use frost_secp256k1_tr as frost;

use super::keys::{GroupKeys, KeyShare, identifier};
use super::nonce::{NonceLedger, PublicNonce, SigningNonce};
use super::{Error, Result};

/// One message with the commitments of every participating member: the frost signing package.
#[derive(Clone, Debug)]
pub struct SignRound {
    msg: [u8; 32],
    members: Vec<u16>,
    commitments: Vec<PublicNonce>,
    pub(crate) package: frost::SigningPackage,
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
        })
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

/// A share prepared for signing (the frost key package is built once).
pub struct ShareSigner {
    idx: u16,
    key_package: frost::keys::KeyPackage,
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
        Ok(Self {
            idx: share.idx,
            key_package,
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
        let share = frost::round2::sign(&round.package, &nonce.inner, &self.key_package)?;
        ledger.record_consumed(nonce.code())?;
        drop(nonce);
        share_bytes(&share)
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
