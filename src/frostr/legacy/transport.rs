//! Pure pieces of the 1.0.x Nostr transport (`@cmdcode/nostr-p2p` 2.0.11, FROSTR.md §7.3–7.4):
//! the kind-20004 content cipher (AES-256-GCM, 24-byte IV, raw ECDH x as key, base64url without
//! padding) and the `[tag, id, data]` envelope. The node owns events and relays.

use super::math::parse_point_any;
use super::{Error, Result};
use crate::vault::Secret32;
use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::generic_array::typenum::U24;
use aes_gcm::aead::{Aead, KeyInit};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secp256k1::SecretKey;
use zeroize::Zeroize;

/// Event kind of every 1.0.x FROSTR message.
pub const KIND: u16 = 20004;
/// Requests time out after this long in JS (no error messages exist on the wire).
pub const REQ_TIMEOUT_MS: u64 = 5000;

type Aes256Gcm24 = aes_gcm::AesGcm<aes::Aes256, U24>;

/// `x(s_sender · lift_x(recipient))` — the raw shared x, no KDF. Symmetric in the two parties.
pub fn transport_key(sender_secret: &Secret32, recipient_pubkey: &[u8]) -> Result<Secret32> {
    let pk = parse_point_any(recipient_pubkey, "recipient pubkey")?;
    let sk = SecretKey::from_secret_bytes(*sender_secret.expose())
        .map_err(|_| Error::InvalidScalar("sender secret"))?;
    let mut pt = secp256k1::ecdh::shared_secret_point(&pk, &sk);
    let key = Secret32::from_slice(&pt[..32]);
    pt.zeroize();
    key.ok_or(Error::Infinity)
}

/// Encrypts with a random 24-byte IV: `base64url(ct‖tag) ?iv= base64url(iv)`.
pub fn encrypt_content(key: &Secret32, plaintext: &str) -> Result<String> {
    use rand::RngCore;
    let mut iv = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut iv);
    encrypt_content_with_iv(key, plaintext, &iv)
}

/// Deterministic variant (test vectors).
pub fn encrypt_content_with_iv(key: &Secret32, plaintext: &str, iv: &[u8; 24]) -> Result<String> {
    let cipher = Aes256Gcm24::new(GenericArray::from_slice(key.expose()));
    let ct = cipher
        .encrypt(GenericArray::from_slice(iv), plaintext.as_bytes())
        .map_err(|_| Error::Invalid("encryption failed".into()))?;
    Ok(format!(
        "{}?iv={}",
        URL_SAFE_NO_PAD.encode(ct),
        URL_SAFE_NO_PAD.encode(iv)
    ))
}

/// Splits on `?iv=`, decodes both halves (unpadded base64url) and authenticates.
pub fn decrypt_content(key: &Secret32, content: &str) -> Result<String> {
    let (ct, iv) = content
        .split_once("?iv=")
        .ok_or_else(|| Error::Envelope("content has no `?iv=`".into()))?;
    let ct = URL_SAFE_NO_PAD
        .decode(ct)
        .map_err(|_| Error::Envelope("ciphertext is not unpadded base64url".into()))?;
    let iv = URL_SAFE_NO_PAD
        .decode(iv)
        .map_err(|_| Error::Envelope("iv is not unpadded base64url".into()))?;
    if iv.len() != 24 {
        return Err(Error::WrongLength {
            what: "iv",
            expected: "24".into(),
            got: iv.len(),
        });
    }
    let cipher = Aes256Gcm24::new(GenericArray::from_slice(key.expose()));
    let mut pt = cipher
        .decrypt(GenericArray::from_slice(&iv), ct.as_slice())
        .map_err(|_| Error::Decrypt)?;
    let s = String::from_utf8(pt.clone()).map_err(|_| Error::Envelope("not UTF-8".into()));
    pt.zeroize();
    s
}

/// Message tags of 1.0.x.
pub mod tags {
    pub const PING_REQ: &str = "/ping/req";
    pub const PING_RES: &str = "/ping/res";
    pub const ECHO_REQ: &str = "/echo/req";
    pub const ECHO_RES: &str = "/echo/res";
    pub const SIGN_REQ: &str = "/sign/req";
    pub const SIGN_RES: &str = "/sign/res";
    pub const ECDH_REQ: &str = "/ecdh/req";
    pub const ECDH_RES: &str = "/ecdh/res";
}

/// The decrypted plaintext `[tag, id, data]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    pub tag: String,
    /// 32 hex characters; replies echo the request's string unchanged.
    pub id: String,
    pub data: String,
}

/// A fresh message id: 16 random bytes as lowercase hex.
pub fn new_message_id() -> String {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// Compact JSON like `JSON.stringify([tag, id, data])`.
pub fn encode_envelope(e: &Envelope) -> String {
    serde_json::to_string(&(&e.tag, &e.id, &e.data)).unwrap_or_default()
}

/// Parses and checks the envelope schema (tag 3…256 chars, id 32 hex chars, data a string).
pub fn decode_envelope(s: &str) -> Result<Envelope> {
    let (tag, id, data): (String, String, String) =
        serde_json::from_str(s).map_err(|e| Error::Envelope(format!("not [tag,id,data]: {e}")))?;
    let n = tag.chars().count();
    if !(3..=256).contains(&n) {
        return Err(Error::Envelope(format!("tag length {n} outside 3…256")));
    }
    if id.len() != 32 || !id.bytes().all(|c| c.is_ascii_hexdigit()) {
        return Err(Error::Envelope("id is not 32 hex characters".into()));
    }
    Ok(Envelope { tag, id, data })
}

/// `{"send":bool,"recv":bool}` — ping replies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PeerPolicy {
    pub send: bool,
    pub recv: bool,
}
