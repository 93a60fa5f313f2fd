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

use crate::frost::keys::KeyShare;
use crate::frostr::next::credential::{BfOnboard, BfProfile, BfShare, peek};
use crate::frostr::next::group::GroupPackage;

/// A group from `groupCredential`: a group package (JSON) or a `bfprofile` (needs the password).
fn decode_group(g: &str, pw: Option<&SecretString>) -> Result<GroupPackage, String> {
    let g = g.trim();
    if g.starts_with('{') {
        return GroupPackage::from_json(g).map_err(|e| e.to_string());
    }
    if g.to_ascii_lowercase().starts_with("bfprofile1") {
        let pw = pw.ok_or("a bfprofile needs the password")?;
        return BfProfile::decode(g, pw.expose())
            .map(|p| p.group_package)
            .map_err(|e| e.to_string());
    }
    Err("expected a group package (JSON) or a bfprofile string".into())
}

/// A share secret from a `bfshare` / `bfonboard` / `bfprofile` (the latter also yields its group).
fn decode_share(c: &str, pw: &SecretString) -> Result<(Secret32, Option<GroupPackage>), String> {
    let c = c.trim();
    let l = c.to_ascii_lowercase();
    if l.starts_with("bfshare1") {
        BfShare::decode(c, pw.expose())
            .map(|s| (s.share_secret, None))
            .map_err(|e| e.to_string())
    } else if l.starts_with("bfonboard1") {
        BfOnboard::decode(c, pw.expose())
            .map(|s| (s.share_secret, None))
            .map_err(|e| e.to_string())
    } else if l.starts_with("bfprofile1") {
        BfProfile::decode(c, pw.expose())
            .map(|p| {
                (
                    p.device.share_secret.duplicate(),
                    Some(p.group_package.clone()),
                )
            })
            .map_err(|e| e.to_string())
    } else {
        Err("not a bfshare / bfonboard / bfprofile string".into())
    }
}

/// Combines shares into the nsec (blocking: credential envelopes run a KDF; call it from
/// `spawn_blocking`). Errors are 400s with a message that never contains a secret.
pub fn recover(
    group: Option<&str>,
    shares: &[SecretString],
    password: Option<&SecretString>,
) -> Result<Recovered, ApiError> {
    let mut g = match group {
        Some(g) => Some(
            decode_group(g, password)
                .map_err(|e| bad(&format!("invalid group credential: {e}")))?,
        ),
        None => None,
    };
    let pw = password.ok_or_else(|| bad("password is required to open the share credentials"))?;
    let mut invalid = Vec::new();
    let mut secrets = Vec::new();
    for (i, c) in shares.iter().enumerate() {
        match decode_share(c.expose(), pw) {
            Ok((sec, pg)) => {
                if g.is_none() {
                    g = pg;
                }
                secrets.push((i, sec));
            }
            Err(e) => invalid.push(serde_json::json!({ "index": i, "error": e })),
        }
    }
    let Some(g) = g else {
        let first = invalid
            .first()
            .and_then(|v| v["error"].as_str())
            .map(|e| format!(" (share error: {e})"))
            .unwrap_or_default();
        return Err(ApiError::bad(format!(
            "bfshare strings carry no index: give groupCredential (group package or bfprofile){first}"
        )));
    };
    let mut ks: Vec<KeyShare> = Vec::new();
    for (i, sec) in secrets {
        match g.find_share(&sec) {
            Ok(idx) if !ks.iter().any(|k| k.idx == idx) => ks.push(KeyShare::new(idx, sec)),
            Ok(_) => invalid.push(serde_json::json!({ "index": i, "error": "duplicate share" })),
            Err(_) => invalid
                .push(serde_json::json!({ "index": i, "error": "not a member of the group" })),
        }
    }
    let threshold = g.threshold as usize;
    if ks.len() < threshold.max(2) {
        return Err(ApiError::bad(format!(
            "insufficient shares: need {threshold}, got {} valid",
            ks.len()
        )));
    }
    let d = crate::frost::keys::recover_checked(&ks, &g.group_pk)
        .map_err(|e| ApiError::bad(format!("recovery failed: {e}")))?;
    let nsec = crate::nostr::nip19::encode_nsec(&d);
    Ok((nsec, ks.len(), threshold, invalid))
}

/// Checks one credential: `(is_valid, message, decoded)`. Without a password only the outer
/// encoding (bech32m, envelope) is checked.
pub fn validate(
    kind: &str,
    cred: &SecretString,
    password: Option<&SecretString>,
) -> (bool, Option<String>, serde_json::Value) {
    let c = cred.expose().trim();
    if kind == "group" {
        if c.starts_with('{') || password.is_some() {
            return match decode_group(c, password) {
                Ok(g) => (
                    true,
                    None,
                    serde_json::json!({ "threshold": g.threshold, "totalShares": g.members.len(), "idx": null }),
                ),
                Err(e) => (false, Some(e), serde_json::Value::Null),
            };
        }
    } else if let Some(pw) = password {
        return match decode_share(c, pw) {
            Ok((sec, g)) => {
                let decoded = match g {
                    Some(g) => serde_json::json!({
                        "threshold": g.threshold, "totalShares": g.members.len(),
                        "idx": g.find_share(&sec).ok(),
                    }),
                    None => serde_json::Value::Null,
                };
                (true, None, decoded)
            }
            Err(e) => (false, Some(e), serde_json::Value::Null),
        };
    }
    match peek(c) {
        Ok(info) => {
            let ok = if kind == "group" {
                info.hrp == "bfprofile"
            } else {
                ["bfshare", "bfonboard", "bfprofile"].contains(&info.hrp.as_str())
            };
            if ok {
                (
                    true,
                    Some("well-formed; give the password to check it fully".into()),
                    serde_json::Value::Null,
                )
            } else {
                (
                    false,
                    Some(format!("a {} string is not a {kind} credential", info.hrp)),
                    serde_json::Value::Null,
                )
            }
        }
        Err(e) => (false, Some(e.to_string()), serde_json::Value::Null),
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
    fn agrees_with_the_nostr_module() {
        let x = Secret32::random();
        let conv = nip44_conversation_key(&x);
        assert_eq!(
            conv,
            crate::nostr::nip44::conversation_key_from_shared_x(&x)
        );
        let ct = nip44_encrypt_with_nonce(&conv, "interop ✓", &[3u8; 32]).expect("enc");
        assert_eq!(
            crate::nostr::nip44::decrypt(&conv, &ct).expect("dec"),
            "interop ✓"
        );
        let back = crate::nostr::nip44::encrypt(&conv, "back", crate::nostr::nip44::B64::Unpadded)
            .expect("enc");
        assert_eq!(
            nip44_decrypt(&conv, &back).expect("unpadded accepted"),
            "back"
        );
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
