//! Minimal Nostr primitives used by the bunker until `crate::nostr` lands (same names and
//! signatures as the `nostr` contract in INTERFACES.md, so the switch is a one-line `use`).

use crate::vault::secret::Secret32;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("invalid secret key")]
    BadSecret,
    #[error("invalid public key")]
    BadPubkey,
    #[error("invalid event: {0}")]
    BadEvent(String),
    #[error("invalid ciphertext: {0}")]
    BadCiphertext(&'static str),
}

fn hex_arr<const N: usize>(s: &str) -> Result<[u8; N], String> {
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out).map_err(|e| e.to_string())?;
    if s.chars().any(|c| c.is_ascii_uppercase()) {
        return Err("uppercase hex".into());
    }
    Ok(out)
}

mod hex32 {
    use super::*;
    pub fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = String::deserialize(d)?;
        hex_arr::<32>(&s).map_err(serde::de::Error::custom)
    }
}
mod hex64 {
    use super::*;
    pub fn serialize<S: Serializer>(v: &[u8; 64], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 64], D::Error> {
        let s = String::deserialize(d)?;
        hex_arr::<64>(&s).map_err(serde::de::Error::custom)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    #[serde(with = "hex32")]
    pub id: [u8; 32],
    #[serde(with = "hex32")]
    pub pubkey: [u8; 32],
    pub created_at: u64,
    pub kind: u16,
    pub tags: Vec<Vec<String>>,
    pub content: String,
    #[serde(with = "hex64")]
    pub sig: [u8; 64],
}

impl Event {
    pub fn compute_id(
        pubkey: &[u8; 32],
        created_at: u64,
        kind: u16,
        tags: &[Vec<String>],
        content: &str,
    ) -> [u8; 32] {
        let ser = serde_json::json!([0, hex::encode(pubkey), created_at, kind, tags, content]);
        Sha256::digest(ser.to_string().as_bytes()).into()
    }

    pub fn sign(
        secret: &Secret32,
        created_at: u64,
        kind: u16,
        tags: Vec<Vec<String>>,
        content: String,
        aux: [u8; 32],
    ) -> Result<Event, Error> {
        let pubkey = keys::xonly_pubkey(secret)?;
        let id = Self::compute_id(&pubkey, created_at, kind, &tags, &content);
        let sig = keys::sign_bip340(secret, &id, &aux)?;
        Ok(Event {
            id,
            pubkey,
            created_at,
            kind,
            tags,
            content,
            sig,
        })
    }

    pub fn verify(&self) -> Result<(), Error> {
        let id = Self::compute_id(
            &self.pubkey,
            self.created_at,
            self.kind,
            &self.tags,
            &self.content,
        );
        if id != self.id {
            return Err(Error::BadEvent("id mismatch".into()));
        }
        if !keys::verify_bip340(&self.pubkey, &self.id, &self.sig) {
            return Err(Error::BadEvent("bad signature".into()));
        }
        Ok(())
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_json(s: &str) -> Result<Event, Error> {
        serde_json::from_str(s).map_err(|e| Error::BadEvent(e.to_string()))
    }
}

pub mod keys {
    use super::*;
    use secp256k1::{Keypair, XOnlyPublicKey, schnorr};

    pub fn xonly_pubkey(secret: &Secret32) -> Result<[u8; 32], Error> {
        let kp = Keypair::from_secret_bytes(*secret.expose()).map_err(|_| Error::BadSecret)?;
        Ok(kp.x_only_public_key().0.to_byte_array())
    }

    pub fn verify_bip340(pubkey: &[u8; 32], msg32: &[u8; 32], sig: &[u8; 64]) -> bool {
        let Ok(pk) = XOnlyPublicKey::from_byte_array(*pubkey) else {
            return false;
        };
        let sig = schnorr::Signature::from_byte_array(*sig);
        schnorr::verify(&sig, msg32, &pk).is_ok()
    }

    pub fn sign_bip340(
        secret: &Secret32,
        msg32: &[u8; 32],
        aux: &[u8; 32],
    ) -> Result<[u8; 64], Error> {
        let kp = Keypair::from_secret_bytes(*secret.expose()).map_err(|_| Error::BadSecret)?;
        Ok(schnorr::sign_with_aux_rand(msg32, &kp, aux).to_byte_array())
    }

    pub(crate) fn shared_x(secret: &Secret32, peer: &[u8; 32]) -> Result<Secret32, Error> {
        crate::nip46::shared_x(secret, peer).map_err(|_| Error::BadPubkey)
    }
}

pub mod nip44 {
    use super::*;
    use chacha20::cipher::{KeyIvInit, StreamCipher};
    use hmac::{Hmac, Mac};

    pub enum B64 {
        Padded,
        Unpadded,
    }

    pub fn conversation_key(secret: &Secret32, peer_xonly: &[u8; 32]) -> Result<Secret32, Error> {
        let x = keys::shared_x(secret, peer_xonly)?;
        let (prk, _) = hkdf::Hkdf::<Sha256>::extract(Some(b"nip44-v2"), x.expose());
        Secret32::from_slice(&prk).ok_or(Error::BadSecret)
    }

    fn padded_len(len: usize) -> usize {
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

    fn message_keys(
        conv: &Secret32,
        nonce: &[u8; 32],
    ) -> Result<zeroize::Zeroizing<[u8; 76]>, Error> {
        let hk = hkdf::Hkdf::<Sha256>::from_prk(conv.expose()).map_err(|_| Error::BadSecret)?;
        let mut okm = zeroize::Zeroizing::new([0u8; 76]);
        hk.expand(nonce, okm.as_mut())
            .map_err(|_| Error::BadSecret)?;
        Ok(okm)
    }

    pub fn encrypt_raw(
        conv: &Secret32,
        plaintext: &[u8],
        nonce: &[u8; 32],
    ) -> Result<Vec<u8>, Error> {
        if plaintext.is_empty() || plaintext.len() > 65535 {
            return Err(Error::BadCiphertext("plaintext length must be 1..=65535"));
        }
        let keys = message_keys(conv, nonce)?;
        let mut buf = vec![0u8; 2 + padded_len(plaintext.len())];
        buf[..2].copy_from_slice(&(plaintext.len() as u16).to_be_bytes());
        buf[2..2 + plaintext.len()].copy_from_slice(plaintext);
        let mut c = chacha20::ChaCha20::new(keys[..32].into(), keys[32..44].into());
        c.apply_keystream(&mut buf);
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&keys[44..76]).map_err(|_| Error::BadSecret)?;
        mac.update(nonce);
        mac.update(&buf);
        let tag = mac.finalize().into_bytes();
        let mut out = Vec::with_capacity(1 + 32 + buf.len() + 32);
        out.push(2);
        out.extend_from_slice(nonce);
        out.extend_from_slice(&buf);
        out.extend_from_slice(&tag);
        Ok(out)
    }

    pub fn decrypt_raw(conv: &Secret32, payload: &[u8]) -> Result<Vec<u8>, Error> {
        if payload.len() < 99 || payload.len() > 65603 {
            return Err(Error::BadCiphertext("payload length"));
        }
        if payload[0] != 2 {
            return Err(Error::BadCiphertext("unknown version"));
        }
        let mut nonce = [0u8; 32];
        nonce.copy_from_slice(&payload[1..33]);
        let ct = &payload[33..payload.len() - 32];
        let tag = &payload[payload.len() - 32..];
        let keys = message_keys(conv, &nonce)?;
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&keys[44..76]).map_err(|_| Error::BadSecret)?;
        mac.update(&nonce);
        mac.update(ct);
        mac.verify_slice(tag)
            .map_err(|_| Error::BadCiphertext("invalid MAC"))?;
        let mut buf = ct.to_vec();
        let mut c = chacha20::ChaCha20::new(keys[..32].into(), keys[32..44].into());
        c.apply_keystream(&mut buf);
        let len = u16::from_be_bytes([buf[0], buf[1]]) as usize;
        if len == 0 || buf.len() != 2 + padded_len(len) {
            return Err(Error::BadCiphertext("invalid padding"));
        }
        Ok(buf[2..2 + len].to_vec())
    }

    pub fn encrypt(conv: &Secret32, plaintext: &str, b64: B64) -> Result<String, Error> {
        let mut nonce = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
        let raw = encrypt_raw(conv, plaintext.as_bytes(), &nonce)?;
        Ok(match b64 {
            B64::Padded => STANDARD.encode(raw),
            B64::Unpadded => STANDARD_NO_PAD.encode(raw),
        })
    }

    pub fn decrypt(conv: &Secret32, content: &str) -> Result<String, Error> {
        if content.starts_with('#') {
            return Err(Error::BadCiphertext("unknown version"));
        }
        let raw = STANDARD
            .decode(content)
            .or_else(|_| STANDARD_NO_PAD.decode(content))
            .map_err(|_| Error::BadCiphertext("invalid base64"))?;
        let pt = decrypt_raw(conv, &raw)?;
        String::from_utf8(pt).map_err(|_| Error::BadCiphertext("not UTF-8"))
    }
}

pub mod nip04 {
    use super::*;
    use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit, block_padding::Pkcs7};

    pub fn encrypt(
        secret: &Secret32,
        peer_xonly: &[u8; 32],
        plaintext: &str,
    ) -> Result<String, Error> {
        let key = keys::shared_x(secret, peer_xonly)?;
        let mut iv = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut iv);
        let ct = cbc::Encryptor::<aes::Aes256>::new(key.expose().into(), &iv.into())
            .encrypt_padded_vec_mut::<Pkcs7>(plaintext.as_bytes());
        Ok(format!(
            "{}?iv={}",
            STANDARD.encode(ct),
            STANDARD.encode(iv)
        ))
    }

    pub fn decrypt(
        secret: &Secret32,
        peer_xonly: &[u8; 32],
        content: &str,
    ) -> Result<String, Error> {
        let (ct, iv) = content
            .split_once("?iv=")
            .ok_or(Error::BadCiphertext("missing ?iv="))?;
        let ct = STANDARD
            .decode(ct)
            .map_err(|_| Error::BadCiphertext("invalid base64"))?;
        let iv: [u8; 16] = STANDARD
            .decode(iv)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or(Error::BadCiphertext("invalid iv"))?;
        let key = keys::shared_x(secret, peer_xonly)?;
        let pt = cbc::Decryptor::<aes::Aes256>::new(key.expose().into(), &iv.into())
            .decrypt_padded_vec_mut::<Pkcs7>(&ct)
            .map_err(|_| Error::BadCiphertext("bad padding"))?;
        String::from_utf8(pt).map_err(|_| Error::BadCiphertext("not UTF-8"))
    }
}
