//! The FROST math of `@cmdcode/frost` 1.1.3 (FROSTR.md §1 and §4), written from the spec.
//!
//! Scalars are `k256::Scalar` (mod-n arithmetic, wide reduction, inverses); points are
//! `secp256k1::PublicKey` (libsecp256k1 through the global context).

use super::{Error, Result};
use k256::Scalar;
use k256::elliptic_curve::PrimeField;
use k256::elliptic_curve::ops::Reduce;
use k256::elliptic_curve::subtle::ConstantTimeEq;
use secp256k1::{PublicKey, SecretKey};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// RFC 9591 context string, shared with `@cmdcode/frost`.
pub const CTX: &str = "FROST-secp256k1-SHA256-v1";

// ---------------------------------------------------------------- scalars

/// Big-endian bytes → scalar; rejects zero and values ≥ n.
pub fn scalar_strict(b: &[u8; 32], what: &'static str) -> Result<Scalar> {
    let s: Option<Scalar> = Scalar::from_repr((*b).into()).into();
    match s {
        Some(s) if !bool::from(s.is_zero()) => Ok(s),
        _ => Err(Error::InvalidScalar(what)),
    }
}

/// Big-endian bytes read as an integer mod n (never fails).
pub fn scalar_reduce(b: &[u8; 32]) -> Scalar {
    <Scalar as Reduce<k256::U256>>::reduce_bytes(&(*b).into())
}

pub fn scalar_bytes(s: &Scalar) -> [u8; 32] {
    s.to_bytes().into()
}

pub fn scalar_hex(s: &Scalar) -> String {
    hex::encode(scalar_bytes(s))
}

/// A uniformly random non-zero scalar from the OS generator.
pub fn random_scalar() -> Scalar {
    use rand::RngCore;
    loop {
        let mut b = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut b);
        let s: Option<Scalar> = Scalar::from_repr(b.into()).into();
        b.zeroize();
        if let Some(s) = s
            && !bool::from(s.is_zero())
        {
            return s;
        }
    }
}

pub fn scalar_eq(a: &Scalar, b: &Scalar) -> bool {
    a.ct_eq(b).into()
}

// ---------------------------------------------------------------- points

fn to_secp_scalar(s: &Scalar) -> secp256k1::Scalar {
    // A reduced k256 scalar is always < n, which is all secp256k1::Scalar requires.
    secp256k1::Scalar::from_be_bytes(scalar_bytes(s)).unwrap_or(secp256k1::Scalar::ZERO)
}

/// `s·G`; errors for `s = 0` (the point at infinity has no encoding).
pub fn mul_gen(s: &Scalar) -> Result<PublicKey> {
    let mut b = scalar_bytes(s);
    let sk = SecretKey::from_secret_bytes(b);
    b.zeroize();
    Ok(PublicKey::from_secret_key(
        &sk.map_err(|_| Error::Infinity)?,
    ))
}

/// `s·P`; errors for `s = 0`.
pub fn mul(p: &PublicKey, s: &Scalar) -> Result<PublicKey> {
    p.mul_tweak(&to_secp_scalar(s)).map_err(|_| Error::Infinity)
}

pub fn add(a: &PublicKey, b: &PublicKey) -> Result<PublicKey> {
    a.combine(b).map_err(|_| Error::Infinity)
}

/// `P + t·G` (the additive shift of §5.3 and the tweak step of §4.2).
pub fn add_gen(p: &PublicKey, t: &Scalar) -> Result<PublicKey> {
    p.add_exp_tweak(&to_secp_scalar(t))
        .map_err(|_| Error::Infinity)
}

pub fn sum(points: &[PublicKey]) -> Result<PublicKey> {
    let refs: Vec<&PublicKey> = points.iter().collect();
    PublicKey::combine_keys(&refs).map_err(|_| Error::Infinity)
}

pub fn has_even_y(p: &PublicKey) -> bool {
    p.serialize()[0] == 0x02
}

pub fn xonly(p: &PublicKey) -> [u8; 32] {
    let s = p.serialize();
    let mut x = [0u8; 32];
    x.copy_from_slice(&s[1..]);
    x
}

/// 33-byte compressed point.
pub fn parse_point(b: &[u8], what: &'static str) -> Result<PublicKey> {
    if b.len() != 33 {
        return Err(Error::WrongLength {
            what,
            expected: "33".into(),
            got: b.len(),
        });
    }
    PublicKey::from_slice(b).map_err(|_| Error::InvalidPoint(what))
}

/// 33-byte compressed point, or 32-byte x-only lifted to even y.
pub fn parse_point_any(b: &[u8], what: &'static str) -> Result<PublicKey> {
    match b.len() {
        32 => {
            let mut c = [0u8; 33];
            c[0] = 2;
            c[1..].copy_from_slice(b);
            PublicKey::from_slice(&c).map_err(|_| Error::InvalidPoint(what))
        }
        33 => parse_point(b, what),
        n => Err(Error::WrongLength {
            what,
            expected: "32 or 33".into(),
            got: n,
        }),
    }
}

// ---------------------------------------------------------------- hashes

/// RFC 9380 `hash_to_field` with one element, expand_message_xmd(SHA-256), L = 48, modulus n.
pub fn hash_to_field(msg: &[u8], dst: &[u8]) -> Scalar {
    let dst_len = [dst.len() as u8];
    let b0 = Sha256::new()
        .chain_update([0u8; 64])
        .chain_update(msg)
        .chain_update([0u8, 48])
        .chain_update([0u8])
        .chain_update(dst)
        .chain_update(dst_len)
        .finalize();
    let b1 = Sha256::new()
        .chain_update(b0)
        .chain_update([1u8])
        .chain_update(dst)
        .chain_update(dst_len)
        .finalize();
    let mut x = [0u8; 32];
    for (o, (a, b)) in x.iter_mut().zip(b0.iter().zip(b1.iter())) {
        *o = a ^ b;
    }
    let b2 = Sha256::new()
        .chain_update(x)
        .chain_update([2u8])
        .chain_update(dst)
        .chain_update(dst_len)
        .finalize();
    let mut wide = [0u8; 64];
    wide[16..48].copy_from_slice(&b1);
    wide[48..64].copy_from_slice(&b2[..16]);
    let s = <Scalar as Reduce<k256::elliptic_curve::bigint::U512>>::reduce_bytes(&wide.into());
    wide.zeroize();
    s
}

fn dst(suffix: &str) -> Vec<u8> {
    let mut d = CTX.as_bytes().to_vec();
    d.extend_from_slice(suffix.as_bytes());
    d
}

/// H1: binding factors.
pub fn h1(m: &[u8]) -> Scalar {
    hash_to_field(m, &dst("rho"))
}
/// H3: nonce derivation (dealer only).
pub fn h3(m: &[u8]) -> Scalar {
    hash_to_field(m, &dst("nonce"))
}
/// H4: message hash, 32 bytes, not reduced.
pub fn h4(m: &[u8]) -> [u8; 32] {
    Sha256::new()
        .chain_update(CTX)
        .chain_update("msg")
        .chain_update(m)
        .finalize()
        .into()
}
/// H5: commitment-list hash, 32 bytes, not reduced.
pub fn h5(m: &[u8]) -> [u8; 32] {
    Sha256::new()
        .chain_update(CTX)
        .chain_update("com")
        .chain_update(m)
        .finalize()
        .into()
}

pub fn tagged_hash(tag: &str, data: &[&[u8]]) -> [u8; 32] {
    let t = Sha256::digest(tag.as_bytes());
    let mut h = Sha256::new().chain_update(t).chain_update(t);
    for d in data {
        h.update(d);
    }
    h.finalize().into()
}

/// The unreduced BIP-340 challenge digest `TH("BIP0340/challenge", x(R) ‖ x(Q) ‖ msg)`.
pub fn challenge_digest(r: &PublicKey, q: &PublicKey, msg: &[u8]) -> [u8; 32] {
    tagged_hash("BIP0340/challenge", &[&xonly(r), &xonly(q), msg])
}

/// `i` as a 32-byte big-endian scalar encoding.
pub fn idx32(i: u32) -> [u8; 32] {
    let mut b = [0u8; 32];
    b[28..].copy_from_slice(&i.to_be_bytes());
    b
}

/// Lagrange coefficient `λ_i(S) = Π_{j≠i} j / (j − i)`.
pub fn lagrange(i: u32, set: &[u32]) -> Result<Scalar> {
    if i == 0 {
        return Err(Error::ZeroIndex);
    }
    if !set.contains(&i) {
        return Err(Error::NotAMember(i));
    }
    let mut num = Scalar::ONE;
    let mut den = Scalar::ONE;
    let mut seen = Vec::with_capacity(set.len());
    for &j in set {
        if j == 0 {
            return Err(Error::ZeroIndex);
        }
        if seen.contains(&j) {
            return Err(Error::DuplicateIndex(j));
        }
        seen.push(j);
        if j == i {
            continue;
        }
        let sj = Scalar::from(u64::from(j));
        num *= sj;
        den *= sj - Scalar::from(u64::from(i));
    }
    let inv: Option<Scalar> = den.invert().into();
    Ok(num * inv.ok_or(Error::DuplicateIndex(i))?)
}

// ---------------------------------------------------------------- key context (§4.2)

/// The signing key after an optional tweak chain.
#[derive(Clone, Debug)]
pub struct KeyContext {
    /// Signing key `Q` with its real parity (goes into the binding prefix).
    pub key: PublicKey,
    /// `1` if `Q` has even y, else `n − 1`.
    pub parity: Scalar,
    pub state: Scalar,
    /// Accumulated tweak.
    pub acc: Scalar,
}

impl KeyContext {
    pub fn new(group_pk: &PublicKey, tweaks: &[[u8; 32]]) -> Result<Self> {
        let mut q = *group_pk;
        let mut state = Scalar::ONE;
        let mut acc = Scalar::ZERO;
        for t in tweaks {
            let t = scalar_strict(t, "tweak")?;
            let g = if has_even_y(&q) {
                Scalar::ONE
            } else {
                q = q.negate();
                -Scalar::ONE
            };
            q = add_gen(&q, &t)?;
            state *= g;
            acc = t + g * acc;
        }
        let parity = if has_even_y(&q) {
            Scalar::ONE
        } else {
            -Scalar::ONE
        };
        Ok(Self {
            key: q,
            parity,
            state,
            acc,
        })
    }
}

// ---------------------------------------------------------------- nonces

/// A member's public nonce pair `(D, E)` = (hidden, binder).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PubNonce {
    pub hidden: PublicKey,
    pub binder: PublicKey,
}

/// A member's secret nonce pair `(d, e)`. Zeroized on drop; `Debug` redacted.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecNonce {
    pub hidden: Scalar,
    pub binder: Scalar,
}

impl std::fmt::Debug for SecNonce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecNonce(<redacted>)")
    }
}

impl SecNonce {
    pub fn public(&self) -> Result<PubNonce> {
        Ok(PubNonce {
            hidden: mul_gen(&self.hidden)?,
            binder: mul_gen(&self.binder)?,
        })
    }
}

// ---------------------------------------------------------------- signing (§4.3–4.8)

/// Everything every party derives for one message: prefix, binding factors, R, challenge.
#[derive(Clone, Debug)]
pub struct SignContext {
    pub key: KeyContext,
    /// Signer indices, sorted ascending.
    pub members: Vec<u32>,
    /// Public nonces aligned with `members`.
    pub nonces: Vec<PubNonce>,
    pub prefix: Vec<u8>,
    /// Binding factors aligned with `members`.
    pub binders: Vec<Scalar>,
    /// Group commitment `R`.
    pub group_pn: PublicKey,
    /// Unreduced challenge digest.
    pub challenge_digest: [u8; 32],
    pub challenge: Scalar,
    pub msg: Vec<u8>,
}

impl SignContext {
    /// `nonces`: each signer's index with its (session-shifted) public nonces, any order.
    pub fn new(key: KeyContext, msg: &[u8], nonces: &[(u32, PubNonce)]) -> Result<Self> {
        let mut list: Vec<(u32, PubNonce)> = nonces.to_vec();
        list.sort_by_key(|(i, _)| *i);
        for w in list.windows(2) {
            if w[0].0 == w[1].0 {
                return Err(Error::DuplicateIndex(w[0].0));
            }
        }
        if list.is_empty() {
            return Err(Error::Invalid("empty signer set".into()));
        }
        if list[0].0 == 0 {
            return Err(Error::ZeroIndex);
        }
        let mut commit_list = Vec::with_capacity(list.len() * 98);
        for (i, n) in &list {
            commit_list.extend_from_slice(&idx32(*i));
            commit_list.extend_from_slice(&n.hidden.serialize());
            commit_list.extend_from_slice(&n.binder.serialize());
        }
        let mut prefix = Vec::with_capacity(97);
        prefix.extend_from_slice(&key.key.serialize());
        prefix.extend_from_slice(&h4(msg));
        prefix.extend_from_slice(&h5(&commit_list));
        let mut binders = Vec::with_capacity(list.len());
        let mut terms = Vec::with_capacity(list.len() * 2);
        let mut buf = prefix.clone();
        for (i, n) in &list {
            buf.truncate(prefix.len());
            buf.extend_from_slice(&idx32(*i));
            let rho = h1(&buf);
            terms.push(n.hidden);
            terms.push(mul(&n.binder, &rho)?);
            binders.push(rho);
        }
        let group_pn = sum(&terms)?;
        let challenge_digest = challenge_digest(&group_pn, &key.key, msg);
        let challenge = scalar_reduce(&challenge_digest);
        Ok(Self {
            key,
            members: list.iter().map(|(i, _)| *i).collect(),
            nonces: list.iter().map(|(_, n)| *n).collect(),
            prefix,
            binders,
            group_pn,
            challenge_digest,
            challenge,
            msg: msg.to_vec(),
        })
    }

    fn pos(&self, idx: u32) -> Result<usize> {
        self.members
            .iter()
            .position(|&m| m == idx)
            .ok_or(Error::NotAMember(idx))
    }

    pub fn binder(&self, idx: u32) -> Result<Scalar> {
        Ok(self.binders[self.pos(idx)?])
    }

    /// `z_i = c·λ_i·(parity·state·s_i) + k_i` (§4.6).
    pub fn partial_sign(&self, idx: u32, seckey: &Scalar, nonce: &SecNonce) -> Result<Scalar> {
        let p = self.pos(idx)?;
        let lambda = lagrange(idx, &self.members)?;
        let mut k = nonce.hidden + nonce.binder * self.binders[p];
        if !has_even_y(&self.group_pn) {
            k = -k;
        }
        let z = self.challenge * lambda * self.key.parity * self.key.state * seckey + k;
        k.zeroize();
        Ok(z)
    }

    /// Checks `z_i·G == D_i + ρ_i·E_i + (c·λ_i·parity·state)·Y_i` (nonces negated when R is odd),
    /// comparing full points (stricter than the JS x-only check).
    pub fn verify_partial(&self, idx: u32, pubkey: &PublicKey, z: &Scalar) -> Result<()> {
        let p = self.pos(idx)?;
        let bad = |d: &str| Error::BadPartialSig {
            idx,
            detail: d.to_string(),
        };
        let lambda = lagrange(idx, &self.members)?;
        let n = &self.nonces[p];
        let (d, e) = if has_even_y(&self.group_pn) {
            (n.hidden, n.binder)
        } else {
            (n.hidden.negate(), n.binder.negate())
        };
        let lhs = mul_gen(z).map_err(|_| bad(": zero"))?;
        let coef = self.challenge * lambda * self.key.parity * self.key.state;
        let rhs = sum(&[d, mul(&e, &self.binders[p])?, mul(pubkey, &coef)?])
            .map_err(|_| bad(": point at infinity"))?;
        if lhs == rhs { Ok(()) } else { Err(bad("")) }
    }

    /// `z = Σ z_i + c·parity·acc`; signature `x(R) ‖ z` (§4.8). Does not verify.
    pub fn aggregate(&self, psigs: &[Scalar]) -> [u8; 64] {
        let mut z = self.challenge * self.key.parity * self.key.acc;
        for s in psigs {
            z += s;
        }
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&xonly(&self.group_pn));
        sig[32..].copy_from_slice(&scalar_bytes(&z));
        sig
    }
}

/// Standard BIP-340 verification.
pub fn verify_bip340(xonly_pk: &[u8; 32], msg: &[u8], sig: &[u8; 64]) -> bool {
    let Ok(pk) = secp256k1::XOnlyPublicKey::from_byte_array(*xonly_pk) else {
        return false;
    };
    secp256k1::schnorr::Signature::from_byte_array(*sig)
        .verify(msg, &pk)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lagrange_two_of_three() {
        // λ_1({1,2}) = 2, λ_2({1,2}) = −1.
        assert!(scalar_eq(
            &lagrange(1, &[1, 2]).unwrap(),
            &Scalar::from(2u64)
        ));
        assert!(scalar_eq(&lagrange(2, &[2, 1]).unwrap(), &-Scalar::ONE));
        assert_eq!(lagrange(3, &[1, 2]).unwrap_err(), Error::NotAMember(3));
        assert_eq!(lagrange(1, &[1, 1]).unwrap_err(), Error::DuplicateIndex(1));
        assert_eq!(lagrange(0, &[0, 1]).unwrap_err(), Error::ZeroIndex);
    }

    #[test]
    fn strict_scalar_rejects_zero_and_order() {
        assert!(scalar_strict(&[0u8; 32], "x").is_err());
        assert!(scalar_strict(&[0xff; 32], "x").is_err());
        assert!(scalar_strict(&idx32(1), "x").is_ok());
    }
}
