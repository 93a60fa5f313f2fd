//! The symmetric half of `/api/nip44/*` and `/api/nip04/*` (after the threshold ECDH gave the
//! shared x coordinate), and the credential work of `/api/recover*`.
//!
//! Both ciphers follow the NIPs exactly (igloo-server did not, W1): NIP-44 v2 derives the
//! conversation key with `HKDF-extract(sha256, ikm = shared_x, salt = "nip44-v2")`; NIP-04 uses
//! the shared x directly as the AES-256-CBC key.

use super::ApiError;
use crate::vault::{Secret32, SecretString};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

type HmacSha256 = Hmac<Sha256>;

fn bad(m: &str) -> ApiError {
    ApiError::bad(m.to_string())
}

/// NIP-44 v2 conversation key from the ECDH shared x.
pub fn nip44_conversation_key(shared_x: &Secret32) -> Secret32 {
    let (prk, _) = hkdf::Hkdf::<Sha256>::extract(Some(b"nip44-v2"), shared_x.expose());
    let mut k = [0u8; 32];
    k.copy_from_slice(&prk);
    Secret32::new(k)
}

fn message_keys(conv: &Secret32, nonce: &[u8; 32]) -> Result<Zeroizing<[u8; 76]>, ApiError> {
    let hk = hkdf::Hkdf::<Sha256>::from_prk(conv.expose())
        .map_err(|_| ApiError::internal("hkdf prk"))?;
    let mut okm = Zeroizing::new([0u8; 76]);
    hk.expand(nonce, okm.as_mut())
        .map_err(|_| ApiError::internal("hkdf expand"))?;
    Ok(okm)
}

/// NIP-44 padded length.
pub fn padded_len(len: usize) -> usize {
    if len <= 32 {
        return 32;
    }
    let next_pow = 1usize << (usize::BITS - (len - 1).leading_zeros());
    let chunk = if next_pow <= 256 { 32 } else { next_pow / 8 };
    chunk * ((len - 1) / chunk + 1)
}

fn chacha(key: &[u8], nonce: &[u8], buf: &mut [u8]) {
    use chacha20::cipher::{KeyIvInit, StreamCipher};
    let mut c = chacha20::ChaCha20::new(key.into(), nonce.into());
    c.apply_keystream(buf);
}

/// NIP-44 v2 encryption with an explicit nonce (tests use the spec vectors).
pub fn nip44_encrypt_with_nonce(
    conv: &Secret32,
    plaintext: &str,
    nonce: &[u8; 32],
) -> Result<String, ApiError> {
    let pt = plaintext.as_bytes();
    if pt.is_empty() || pt.len() > 65_535 {
        return Err(bad("NIP-44 plaintext must be 1-65535 bytes"));
    }
    let keys = message_keys(conv, nonce)?;
    let mut buf = Zeroizing::new(vec![0u8; 2 + padded_len(pt.len())]);
    buf[..2].copy_from_slice(&(pt.len() as u16).to_be_bytes());
    buf[2..2 + pt.len()].copy_from_slice(pt);
    chacha(&keys[0..32], &keys[32..44], &mut buf);
    let mut mac =
        HmacSha256::new_from_slice(&keys[44..76]).map_err(|_| ApiError::internal("hmac key"))?;
    mac.update(nonce);
    mac.update(&buf);
    let tag = mac.finalize().into_bytes();
    let mut out = Vec::with_capacity(1 + 32 + buf.len() + 32);
    out.push(2u8);
    out.extend_from_slice(nonce);
    out.extend_from_slice(&buf);
    out.extend_from_slice(&tag);
    Ok(STANDARD.encode(out))
}

/// NIP-44 v2 decryption. Accepts padded or unpadded standard base64.
pub fn nip44_decrypt(conv: &Secret32, payload: &str) -> Result<String, ApiError> {
    if payload.starts_with('#') {
        return Err(bad("unsupported NIP-44 version"));
    }
    if payload.len() < 132 || payload.len() > 87_472 {
        return Err(bad("invalid NIP-44 payload length"));
    }
    let raw = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    )
    .decode(payload)
    .map_err(|_| bad("invalid base64 in NIP-44 payload"))?;
    if raw.len() < 99 || raw.len() > 65_603 || raw[0] != 2 {
        return Err(bad("invalid NIP-44 payload"));
    }
    let mut nonce = [0u8; 32];
    nonce.copy_from_slice(&raw[1..33]);
    let (ct, tag) = raw[33..].split_at(raw.len() - 33 - 32);
    let keys = message_keys(conv, &nonce)?;
    let mut mac =
        HmacSha256::new_from_slice(&keys[44..76]).map_err(|_| ApiError::internal("hmac key"))?;
    mac.update(&nonce);
    mac.update(ct);
    mac.verify_slice(tag)
        .map_err(|_| bad("NIP-44 MAC check failed"))?;
    let mut buf = Zeroizing::new(ct.to_vec());
    chacha(&keys[0..32], &keys[32..44], &mut buf);
    let len = u16::from_be_bytes([buf[0], buf[1]]) as usize;
    if len == 0 || buf.len() != 2 + padded_len(len) {
        return Err(bad("invalid NIP-44 padding"));
    }
    String::from_utf8(buf[2..2 + len].to_vec()).map_err(|_| bad("plaintext is not UTF-8"))
}

/// NIP-04: AES-256-CBC with the shared x as key; `base64(ct)?iv=base64(iv)`.
pub fn nip04_encrypt(shared_x: &Secret32, plaintext: &str) -> Result<String, ApiError> {
    use aes::cipher::{BlockEncryptMut, KeyIvInit, block_padding::Pkcs7};
    let iv: [u8; 16] = rand::random();
    let ct = cbc::Encryptor::<aes::Aes256>::new(shared_x.expose().into(), &iv.into())
        .encrypt_padded_vec_mut::<Pkcs7>(plaintext.as_bytes());
    Ok(format!(
        "{}?iv={}",
        STANDARD.encode(ct),
        STANDARD.encode(iv)
    ))
}

pub fn nip04_decrypt(shared_x: &Secret32, content: &str) -> Result<String, ApiError> {
    use aes::cipher::{BlockDecryptMut, KeyIvInit, block_padding::Pkcs7};
    let (ct, iv) = content
        .split_once("?iv=")
        .ok_or_else(|| bad("NIP-04 content must be <base64>?iv=<base64>"))?;
    let ct = STANDARD
        .decode(ct)
        .map_err(|_| bad("invalid base64 ciphertext"))?;
    let iv: [u8; 16] = STANDARD
        .decode(iv)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| bad("IV must be 16 bytes of base64"))?;
    let pt = cbc::Decryptor::<aes::Aes256>::new(shared_x.expose().into(), &iv.into())
        .decrypt_padded_vec_mut::<Pkcs7>(&ct)
        .map_err(|_| bad("NIP-04 decryption failed"))?;
    let pt = Zeroizing::new(pt);
    String::from_utf8(pt.to_vec()).map_err(|_| bad("plaintext is not UTF-8"))
}

/// Runs `op` (`nip44_encrypt`, `nip44_decrypt`, `nip04_encrypt`, `nip04_decrypt`).
pub fn apply(op: &str, shared_x: &Secret32, content: &str) -> Result<String, ApiError> {
    match op {
        "nip44_encrypt" => {
            let conv = nip44_conversation_key(shared_x);
            let nonce: [u8; 32] = rand::random();
            nip44_encrypt_with_nonce(&conv, content, &nonce)
        }
        "nip44_decrypt" => nip44_decrypt(&nip44_conversation_key(shared_x), content),
        "nip04_encrypt" => nip04_encrypt(shared_x, content),
        "nip04_decrypt" => nip04_decrypt(shared_x, content),
        _ => Err(bad("unknown operation")),
    }
}

/// Result of a recovery: nsec, shares used, threshold, invalid shares `[{index, error}]`.
pub type Recovered = (SecretString, usize, usize, Vec<serde_json::Value>);

fn looks_like(cred: &str, prefixes: &[&str]) -> bool {
    let l = cred.trim().to_ascii_lowercase();
    prefixes.iter().any(|p| l.starts_with(p)) && l.chars().all(|c| c.is_ascii_alphanumeric())
}

/// Combines shares into the nsec. Needs the credential decoders of `frostr::next` (wired at
/// integration); until then well-formed input answers 501.
pub fn recover(
    group: Option<&str>,
    shares: &[SecretString],
    _password: Option<&SecretString>,
) -> Result<Recovered, ApiError> {
    if let Some(g) = group
        && !looks_like(g, &["bfgroup1", "bfprofile1"])
    {
        return Err(bad("invalid group credential"));
    }
    let mut invalid = Vec::new();
    for (i, s) in shares.iter().enumerate() {
        if !looks_like(s.expose(), &["bfshare1", "bfprofile1", "bfonboard1"]) {
            invalid.push(serde_json::json!({ "index": i, "error": "not a share credential" }));
        }
    }
    if invalid.len() == shares.len() {
        return Err(bad("no valid share credentials"));
    }
    Err(ApiError::new(
        axum::http::StatusCode::NOT_IMPLEMENTED,
        "credential decoding is not available in this build",
    ))
}

/// Checks one credential: `(is_valid, message, decoded)`.
pub fn validate(
    kind: &str,
    cred: &SecretString,
    _password: Option<&SecretString>,
) -> (bool, Option<String>, serde_json::Value) {
    let prefixes: &[&str] = if kind == "group" {
        &["bfgroup1", "bfprofile1"]
    } else {
        &["bfshare1", "bfprofile1", "bfonboard1"]
    };
    if !looks_like(cred.expose(), prefixes) {
        return (
            false,
            Some(format!("expected a {} string", prefixes.join(" / "))),
            serde_json::Value::Null,
        );
    }
    let ok = bech32::primitives::decode::CheckedHrpstring::new::<bech32::Bech32m>(cred.expose())
        .is_ok()
        || bech32::primitives::decode::CheckedHrpstring::new::<bech32::Bech32>(cred.expose())
            .is_ok();
    if ok {
        (true, None, serde_json::Value::Null)
    } else {
        (
            false,
            Some("bad bech32 checksum".into()),
            serde_json::Value::Null,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_matches_nip44() {
        for (n, p) in [
            (1, 32),
            (32, 32),
            (33, 64),
            (37, 64),
            (45, 64),
            (49, 64),
            (64, 64),
            (65, 96),
            (100, 128),
            (111, 128),
            (200, 224),
            (250, 256),
            (320, 320),
            (383, 384),
            (384, 384),
            (400, 448),
            (500, 512),
            (515, 640),
            (700, 768),
            (800, 896),
            (900, 1024),
            (1020, 1024),
            (65536, 65536),
        ] {
            assert_eq!(padded_len(n), p, "len {n}");
        }
    }

    #[test]
    fn nip44_spec_vector() {
        // nip44.vectors.json v2 valid.encrypt_decrypt[0].
        let conv =
            Secret32::from_hex("c41c775356fd92eadc63ff5a0dc1da211b268cbea22316767095b2871ea1412d")
                .expect("hex");
        let nonce = hex32("0000000000000000000000000000000000000000000000000000000000000001");
        let ct = nip44_encrypt_with_nonce(&conv, "a", &nonce).expect("enc");
        assert_eq!(
            ct,
            "AgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAABee0G5VSK0/9YypIObAtDKfYEAjD35uVkHyB0F4DwrcNaCXlCWZKaArsGrY6M9wnuTMxWfp1RTN9Xga8no+kF5Vsb"
        );
        assert_eq!(nip44_decrypt(&conv, &ct).expect("dec"), "a");
        let mut tampered = ct.clone();
        tampered.replace_range(50..51, if &ct[50..51] == "A" { "B" } else { "A" });
        assert!(nip44_decrypt(&conv, &tampered).is_err());
    }

    fn hex32(s: &str) -> [u8; 32] {
        let mut b = [0u8; 32];
        hex::decode_to_slice(s, &mut b).expect("hex");
        b
    }

    #[test]
    fn nip04_roundtrip_and_errors() {
        let k = Secret32::random();
        let c = nip04_encrypt(&k, "hello nostr").expect("enc");
        assert!(c.contains("?iv="));
        assert_eq!(nip04_decrypt(&k, &c).expect("dec"), "hello nostr");
        assert!(nip04_decrypt(&k, "nope").is_err());
        assert!(nip04_decrypt(&k, "AAAA?iv=AAAA").is_err());
        assert!(nip04_decrypt(&Secret32::random(), &c).is_err());
    }
}
