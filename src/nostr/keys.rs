//! secp256k1 keys and BIP-340 Schnorr signatures (libsecp256k1, global context).

use super::{Error, Result};
use crate::vault::secret::Secret32;
use secp256k1::{Keypair, PublicKey, SecretKey, XOnlyPublicKey, schnorr};

fn keypair(secret: &Secret32) -> Result<Keypair> {
    Keypair::from_secret_bytes(*secret.expose()).map_err(|_| Error::InvalidSecretKey)
}

/// The x-only (BIP-340) public key of a secret key.
pub fn xonly_pubkey(secret: &Secret32) -> Result<[u8; 32]> {
    let mut kp = keypair(secret)?;
    let (x, _) = kp.x_only_public_key();
    kp.non_secure_erase();
    Ok(x.to_byte_array())
}

/// The SEC1 compressed (33-byte) public key of a secret key.
pub fn compressed_pubkey(secret: &Secret32) -> Result<[u8; 33]> {
    let mut sk =
        SecretKey::from_secret_bytes(*secret.expose()).map_err(|_| Error::InvalidSecretKey)?;
    let pk = PublicKey::from_secret_key(&sk);
    sk.non_secure_erase();
    Ok(pk.serialize())
}

/// Verifies a BIP-340 signature over a 32-byte message. False on any malformed input.
pub fn verify_bip340(pubkey: &[u8; 32], msg32: &[u8; 32], sig: &[u8; 64]) -> bool {
    let Ok(pk) = XOnlyPublicKey::from_byte_array(*pubkey) else {
        return false;
    };
    let sig = schnorr::Signature::from_byte_array(*sig);
    schnorr::verify(&sig, msg32, &pk).is_ok()
}

/// BIP-340 signature with explicit auxiliary randomness (FROSTR-NEXT uses `[0; 32]`).
pub fn sign_bip340(secret: &Secret32, msg32: &[u8; 32], aux: &[u8; 32]) -> Result<[u8; 64]> {
    let mut kp = keypair(secret)?;
    let sig = schnorr::sign_with_aux_rand(msg32, &kp, aux);
    kp.non_secure_erase();
    Ok(sig.to_byte_array())
}

/// A key prepared once for many BIP-340 signatures (a node signs one event per message):
/// [`sign_bip340`] rebuilds the keypair — a fixed-base multiplication — on every call, and
/// [`super::Event::sign`] derives the public key once more. The keypair is erased on drop and
/// never printed.
pub struct SigningKey {
    kp: Keypair,
    xonly: [u8; 32],
}

impl SigningKey {
    pub fn new(secret: &Secret32) -> Result<SigningKey> {
        let kp = keypair(secret)?;
        let xonly = kp.x_only_public_key().0.to_byte_array();
        Ok(SigningKey { kp, xonly })
    }

    /// The x-only public key.
    pub fn xonly(&self) -> [u8; 32] {
        self.xonly
    }

    /// BIP-340 signature with explicit auxiliary randomness (same as [`sign_bip340`]).
    pub fn sign(&self, msg32: &[u8; 32], aux: &[u8; 32]) -> [u8; 64] {
        schnorr::sign_with_aux_rand(msg32, &self.kp, aux).to_byte_array()
    }
}

impl Drop for SigningKey {
    fn drop(&mut self) {
        self.kp.non_secure_erase();
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({}, [REDACTED])", hex::encode(self.xonly))
    }
}

/// Whether 32 bytes are a valid x-only public key (an x coordinate on the curve).
pub fn is_valid_xonly(pubkey: &[u8; 32]) -> bool {
    XOnlyPublicKey::from_byte_array(*pubkey).is_ok()
}

/// x coordinate of `secret · lift_x(peer)` (peer lifted to even y). The shared secret of NIP-04
/// and the input of the NIP-44 conversation key.
pub fn ecdh_x(secret: &Secret32, peer_xonly: &[u8; 32]) -> Result<Secret32> {
    let mut sk =
        SecretKey::from_secret_bytes(*secret.expose()).map_err(|_| Error::InvalidSecretKey)?;
    let x = XOnlyPublicKey::from_byte_array(*peer_xonly).map_err(|_| Error::InvalidPublicKey)?;
    let pk = x.public_key(secp256k1::Parity::Even);
    let mut point = secp256k1::ecdh::shared_secret_point(&pk, &sk);
    sk.non_secure_erase();
    let out = Secret32::from_slice(&point[..32]).ok_or(Error::InvalidPublicKey);
    zeroize::Zeroize::zeroize(&mut point);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bip340_roundtrip_and_reject() {
        let sk = Secret32::new([7u8; 32]);
        let pk = xonly_pubkey(&sk).expect("valid key");
        let msg = [9u8; 32];
        let sig = sign_bip340(&sk, &msg, &[0u8; 32]).expect("sign");
        assert!(verify_bip340(&pk, &msg, &sig));
        let mut bad = sig;
        bad[5] ^= 1;
        assert!(!verify_bip340(&pk, &msg, &bad));
        assert!(!verify_bip340(&pk, &[8u8; 32], &sig));
        assert!(xonly_pubkey(&Secret32::new([0u8; 32])).is_err());
        assert!(xonly_pubkey(&Secret32::new([0xffu8; 32])).is_err());
    }

    #[test]
    fn signing_key_matches_one_shot_signing() {
        let sk = Secret32::new([7u8; 32]);
        let key = SigningKey::new(&sk).expect("key");
        assert_eq!(key.xonly(), xonly_pubkey(&sk).expect("pk"));
        let msg = [9u8; 32];
        let sig = key.sign(&msg, &[0u8; 32]);
        assert_eq!(sig, sign_bip340(&sk, &msg, &[0u8; 32]).expect("sign"));
        assert!(verify_bip340(&key.xonly(), &msg, &sig));
        assert!(!format!("{key:?}").contains(&hex::encode([7u8; 32])));
        assert!(SigningKey::new(&Secret32::new([0u8; 32])).is_err());
    }

    #[test]
    fn ecdh_is_symmetric() {
        let a = Secret32::new([1u8; 32]);
        let b = Secret32::new([2u8; 32]);
        let pa = xonly_pubkey(&a).expect("a");
        let pb = xonly_pubkey(&b).expect("b");
        let s1 = ecdh_x(&a, &pb).expect("ab");
        let s2 = ecdh_x(&b, &pa).expect("ba");
        assert_eq!(s1.expose(), s2.expose());
    }
}
