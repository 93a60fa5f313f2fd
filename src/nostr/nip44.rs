//! NIP-44 version 2 encryption (ChaCha20 + HMAC-SHA256, padded plaintext).
//!
//! FROSTR-NEXT §3: we emit standard-alphabet base64 *without* `=` padding on the FROSTR wire
//! ([`B64::Unpadded`]) and standard NIP-44 padded base64 elsewhere ([`B64::Padded`]); decoding
//! accepts both forms and rejects base64url.

use super::{Error, Result, keys};
use crate::vault::secret::Secret32;
use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use chacha20::ChaCha20;
use chacha20::cipher::{KeyIvInit, StreamCipher};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

type HmacSha256 = Hmac<Sha256>;

/// Version byte of NIP-44 v2 payloads.
pub const VERSION: u8 = 2;
/// Smallest valid raw payload: version + nonce + 34-byte padded minimum + MAC.
pub const MIN_RAW_LEN: usize = 99;
/// Largest valid raw payload (65 535-byte plaintext).
pub const MAX_RAW_LEN: usize = 65603;
/// Largest valid base64 content (padded).
pub const MAX_B64_LEN: usize = 87472;

/// Base64 flavour to emit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum B64 {
    /// Standard alphabet with `=` padding (the NIP-44 spec form).
    Padded,
    /// Standard alphabet without padding (FROSTR-NEXT §3 / bifrost-rs form).
    Unpadded,
}

const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Decodes standard base64 with or without `=` padding (never base64url).
pub fn b64_decode_lenient(s: &str) -> Result<Vec<u8>> {
    LENIENT.decode(s).map_err(|_| Error::Base64)
}

/// Conversation key: `HKDF-extract(salt = "nip44-v2", ikm = shared_x)`.
pub fn conversation_key(secret: &Secret32, peer_xonly: &[u8; 32]) -> Result<Secret32> {
    let shared = keys::ecdh_x(secret, peer_xonly)?;
    Ok(conversation_key_from_shared_x(&shared))
}

/// Conversation key from an already computed ECDH x coordinate (e.g. a threshold ECDH result).
pub fn conversation_key_from_shared_x(shared_x: &Secret32) -> Secret32 {
    let mut mac =
        <HmacSha256 as Mac>::new_from_slice(b"nip44-v2").unwrap_or_else(|_| unreachable!());
    mac.update(shared_x.expose());
    let out: [u8; 32] = mac.finalize().into_bytes().into();
    Secret32::new(out)
}

/// Per-message keys `(chacha_key, chacha_nonce, hmac_key)` = HKDF-expand(conv, nonce, 76).
pub struct MessageKeys {
    okm: Zeroizing<[u8; 76]>,
}

impl MessageKeys {
    pub fn derive(conv: &Secret32, nonce: &[u8; 32]) -> Result<MessageKeys> {
        let hk =
            hkdf::Hkdf::<Sha256>::from_prk(conv.expose()).map_err(|_| Error::InvalidSecretKey)?;
        let mut okm = Zeroizing::new([0u8; 76]);
        hk.expand(nonce, okm.as_mut())
            .map_err(|_| Error::InvalidSecretKey)?;
        Ok(MessageKeys { okm })
    }
    pub fn chacha_key(&self) -> &[u8] {
        &self.okm[..32]
    }
    pub fn chacha_nonce(&self) -> &[u8] {
        &self.okm[32..44]
    }
    pub fn hmac_key(&self) -> &[u8] {
        &self.okm[44..76]
    }
    fn cipher(&self) -> ChaCha20 {
        ChaCha20::new(self.chacha_key().into(), self.chacha_nonce().into())
    }
    fn mac(&self, nonce: &[u8; 32], ct: &[u8]) -> HmacSha256 {
        let mut m =
            <HmacSha256 as Mac>::new_from_slice(self.hmac_key()).unwrap_or_else(|_| unreachable!());
        m.update(nonce);
        m.update(ct);
        m
    }
}

/// NIP-44 padded length for an unpadded length `len` (≥ 1).
pub fn calc_padded_len(len: usize) -> usize {
    if len <= 32 {
        return 32;
    }
    let next_power = 1usize << (usize::BITS - (len - 1).leading_zeros());
    let chunk = if next_power <= 256 {
        32
    } else {
        next_power / 8
    };
    chunk * ((len - 1) / chunk + 1)
}

/// Raw payload `0x02 ‖ nonce ‖ ciphertext ‖ mac` for a plaintext of 1..=65535 bytes.
pub fn encrypt_raw(conv: &Secret32, plaintext: &[u8], nonce: &[u8; 32]) -> Result<Vec<u8>> {
    let len = plaintext.len();
    if len == 0 || len > 65535 {
        return Err(Error::PlaintextLength);
    }
    let keys = MessageKeys::derive(conv, nonce)?;
    let padded_len = calc_padded_len(len);
    let mut out = Vec::with_capacity(1 + 32 + 2 + padded_len + 32);
    out.push(VERSION);
    out.extend_from_slice(nonce);
    out.extend_from_slice(&(len as u16).to_be_bytes());
    out.extend_from_slice(plaintext);
    out.resize(1 + 32 + 2 + padded_len, 0);
    keys.cipher().apply_keystream(&mut out[33..]);
    let tag = keys.mac(nonce, &out[33..]).finalize().into_bytes();
    out.extend_from_slice(&tag);
    Ok(out)
}

/// Decrypts a raw payload; returns the plaintext bytes (not checked for UTF-8).
pub fn decrypt_raw(conv: &Secret32, payload: &[u8]) -> Result<Vec<u8>> {
    if payload.first().is_some_and(|v| *v != VERSION) {
        return Err(Error::UnknownVersion);
    }
    if payload.len() < MIN_RAW_LEN || payload.len() > MAX_RAW_LEN {
        return Err(Error::PayloadLength);
    }
    let mut nonce = [0u8; 32];
    nonce.copy_from_slice(&payload[1..33]);
    let ct = &payload[33..payload.len() - 32];
    let tag = &payload[payload.len() - 32..];
    let keys = MessageKeys::derive(conv, &nonce)?;
    keys.mac(&nonce, ct)
        .verify_slice(tag)
        .map_err(|_| Error::InvalidMac)?;
    let mut padded = Zeroizing::new(ct.to_vec());
    keys.cipher().apply_keystream(&mut padded);
    let len = usize::from(u16::from_be_bytes([padded[0], padded[1]]));
    if len == 0 || padded.len() != 2 + calc_padded_len(len) {
        return Err(Error::InvalidPadding);
    }
    Ok(padded[2..2 + len].to_vec())
}

/// Encrypts with a random nonce and base64-encodes in the chosen flavour.
pub fn encrypt(conv: &Secret32, plaintext: &str, b64: B64) -> Result<String> {
    use rand::RngCore;
    let mut nonce = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    encrypt_with_nonce(conv, plaintext, &nonce, b64)
}

/// Deterministic variant of [`encrypt`] (tests, vector reproduction).
pub fn encrypt_with_nonce(
    conv: &Secret32,
    plaintext: &str,
    nonce: &[u8; 32],
    b64: B64,
) -> Result<String> {
    let raw = encrypt_raw(conv, plaintext.as_bytes(), nonce)?;
    Ok(match b64 {
        B64::Padded => base64::engine::general_purpose::STANDARD.encode(raw),
        B64::Unpadded => base64::engine::general_purpose::STANDARD_NO_PAD.encode(raw),
    })
}

/// Decrypts base64 content (standard alphabet, padded or not); plaintext must be UTF-8.
pub fn decrypt(conv: &Secret32, content: &str) -> Result<String> {
    let raw = parse_payload(content)?;
    let pt = decrypt_raw(conv, &raw)?;
    String::from_utf8(pt).map_err(|_| Error::Utf8)
}

/// The structural checks of `decrypt` that need no key: base64, version byte, length. The API
/// runs them before a threshold ECDH round, so garbage never costs the peers a round.
pub fn parse_payload(content: &str) -> Result<Vec<u8>> {
    if content.is_empty() {
        return Err(Error::PayloadLength);
    }
    if content.starts_with('#') {
        return Err(Error::UnknownVersion);
    }
    if content.len() > MAX_B64_LEN {
        return Err(Error::PayloadLength);
    }
    let raw = b64_decode_lenient(content)?;
    if raw.first().is_some_and(|v| *v != VERSION) {
        return Err(Error::UnknownVersion);
    }
    if raw.len() < MIN_RAW_LEN || raw.len() > MAX_RAW_LEN {
        return Err(Error::PayloadLength);
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_len_table() {
        for (l, p) in [
            (1, 32),
            (32, 32),
            (33, 64),
            (64, 64),
            (65, 96),
            (256, 256),
            (257, 320),
            (1025, 1280),
            (65535, 65536),
        ] {
            assert_eq!(calc_padded_len(l), p, "len {l}");
        }
    }

    #[test]
    fn both_base64_forms_decrypt_url_rejected() {
        let conv = Secret32::new([5u8; 32]);
        let msg = "a message of forty bytes, padded to 64..";
        let mut url_checked = 0;
        for n in 0u8..16 {
            let nonce = [n; 32];
            let pad = encrypt_with_nonce(&conv, msg, &nonce, B64::Padded).expect("enc");
            let nopad = encrypt_with_nonce(&conv, msg, &nonce, B64::Unpadded).expect("enc");
            assert!(pad.ends_with('='));
            assert!(!nopad.contains('='));
            assert_eq!(pad.trim_end_matches('='), nopad);
            assert_eq!(decrypt(&conv, &pad).expect("dec"), msg);
            assert_eq!(decrypt(&conv, &nopad).expect("dec"), msg);
            let url = nopad.replace('+', "-").replace('/', "_");
            if url != nopad {
                assert_eq!(decrypt(&conv, &url), Err(Error::Base64));
                url_checked += 1;
            }
        }
        assert!(url_checked > 0);
    }
}
