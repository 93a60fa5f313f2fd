//! NIP-04 (deprecated, still used by NIP-46 clients): AES-256-CBC with the raw ECDH x as key,
//! content `base64(ciphertext) + "?iv=" + base64(iv)`.

use super::{Error, Result, keys, nip44::b64_decode_lenient};
use crate::vault::secret::Secret32;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit, block_padding::Pkcs7};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

type Enc = cbc::Encryptor<aes::Aes256>;
type Dec = cbc::Decryptor<aes::Aes256>;

/// Encrypts with a random IV.
pub fn encrypt(secret: &Secret32, peer_xonly: &[u8; 32], plaintext: &str) -> Result<String> {
    use rand::RngCore;
    let mut iv = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut iv);
    encrypt_with_iv(secret, peer_xonly, plaintext, &iv)
}

/// Deterministic variant of [`encrypt`] (tests).
pub fn encrypt_with_iv(
    secret: &Secret32,
    peer_xonly: &[u8; 32],
    plaintext: &str,
    iv: &[u8; 16],
) -> Result<String> {
    let key = keys::ecdh_x(secret, peer_xonly)?;
    encrypt_shared_with_iv(&key, plaintext, iv)
}

/// Decrypts `ciphertext?iv=iv` content.
pub fn decrypt(secret: &Secret32, peer_xonly: &[u8; 32], content: &str) -> Result<String> {
    let key = keys::ecdh_x(secret, peer_xonly)?;
    decrypt_shared(&key, content)
}

/// Encrypts with a random IV under an already computed ECDH x coordinate (the AES key), e.g. a
/// threshold ECDH result.
pub fn encrypt_shared(shared_x: &Secret32, plaintext: &str) -> Result<String> {
    use rand::RngCore;
    let mut iv = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut iv);
    encrypt_shared_with_iv(shared_x, plaintext, &iv)
}

/// Deterministic variant of [`encrypt_shared`].
pub fn encrypt_shared_with_iv(
    shared_x: &Secret32,
    plaintext: &str,
    iv: &[u8; 16],
) -> Result<String> {
    let ct = Enc::new(shared_x.expose().into(), iv.into())
        .encrypt_padded_vec_mut::<Pkcs7>(plaintext.as_bytes());
    Ok(format!(
        "{}?iv={}",
        STANDARD.encode(ct),
        STANDARD.encode(iv)
    ))
}

/// Decrypts `ciphertext?iv=iv` content under an already computed ECDH x coordinate.
pub fn decrypt_shared(shared_x: &Secret32, content: &str) -> Result<String> {
    let (ct, iv) = parse_payload(content)?;
    let pt = Zeroizing::new(
        Dec::new(shared_x.expose().into(), (&iv).into())
            .decrypt_padded_vec_mut::<Pkcs7>(&ct)
            .map_err(|_| Error::Nip04("bad padding (wrong key?)"))?,
    );
    String::from_utf8(pt.to_vec()).map_err(|_| Error::Utf8)
}

/// `base64(ct)?iv=base64(iv)` split and checked without a key (16-byte IV, whole blocks); the API
/// runs it before a threshold ECDH round.
pub fn parse_payload(content: &str) -> Result<(Vec<u8>, [u8; 16])> {
    let (ct_b64, iv_b64) = content
        .split_once("?iv=")
        .ok_or(Error::Nip04("missing ?iv="))?;
    let ct = b64_decode_lenient(ct_b64)?;
    let iv: [u8; 16] = b64_decode_lenient(iv_b64)?
        .try_into()
        .map_err(|_| Error::Nip04("iv must be 16 bytes"))?;
    if ct.is_empty() || ct.len() % 16 != 0 {
        return Err(Error::Nip04("ciphertext length is not a multiple of 16"));
    }
    Ok((ct, iv))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_between_two_keys() {
        let a = Secret32::new([0x11; 32]);
        let b = Secret32::new([0x22; 32]);
        let pa = keys::xonly_pubkey(&a).expect("a");
        let pb = keys::xonly_pubkey(&b).expect("b");
        let c = encrypt(&a, &pb, "héllo nip04").expect("enc");
        assert!(c.contains("?iv="));
        assert_eq!(decrypt(&b, &pa, &c).expect("dec"), "héllo nip04");
        let other = Secret32::new([0x33; 32]);
        assert!(
            decrypt(&other, &pa, &c)
                .map(|p| p != "héllo nip04")
                .unwrap_or(true)
        );
        assert!(decrypt(&b, &pa, "abc").is_err());
        assert!(decrypt(&b, &pa, "abc?iv=AAAA").is_err());
    }
}
