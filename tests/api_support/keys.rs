//! Key helpers shared by the node and interop tests.

use frostbox::nostr::keys;
use frostbox::vault::secret::Secret32;

/// A random secret that is a valid secp256k1 key.
pub fn random_secret() -> Secret32 {
    loop {
        let s = Secret32::random();
        if keys::xonly_pubkey(&s).is_ok() {
            return s;
        }
    }
}

/// 32 bytes from 64 hex characters.
pub fn hex32(s: &str) -> [u8; 32] {
    let mut b = [0u8; 32];
    hex::decode_to_slice(s, &mut b).unwrap_or_else(|e| panic!("hex32 {s:?}: {e}"));
    b
}

/// Plain ECDH x of `secret` with x-only `peer` (even y): the reference answer for threshold ECDH.
pub fn plain_ecdh_x(secret: &Secret32, peer: &[u8; 32]) -> [u8; 32] {
    let mut b = [2u8; 33];
    b[1..].copy_from_slice(peer);
    let pk = secp256k1::PublicKey::from_slice(&b).expect("pk");
    let sk = secp256k1::SecretKey::from_secret_bytes(*secret.expose()).expect("sk");
    let pt = secp256k1::ecdh::shared_secret_point(&pk, &sk);
    let mut x = [0u8; 32];
    x.copy_from_slice(&pt[..32]);
    x
}
