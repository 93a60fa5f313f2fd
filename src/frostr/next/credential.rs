//! Password-encrypted credentials (FROSTR-NEXT §8.2–§8.4): long bech32m, the password envelope
//! (PBKDF2-SHA256(SHA256(pw)) 600 000 → AES-256-GCM with a 24-byte IV), and the `bfshare`,
//! `bfonboard` and `bfprofile` plaintexts. Every decoder returns a typed error, never panics.

use aes_gcm::aead::consts::U24;
use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{AesGcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bech32::primitives::decode::CheckedHrpstring;
use bech32::{Checksum, Hrp};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use super::group::{GroupError, GroupPackage, profile_id};
use super::hexser;
use crate::frost;
use crate::vault::secret::{Secret32, SecretBytes};

pub const HRP_SHARE: &str = "bfshare";
pub const HRP_ONBOARD: &str = "bfonboard";
pub const HRP_PROFILE: &str = "bfprofile";
/// PBKDF2 iterations (written into the envelope; decoding always uses this constant, §8.2).
pub const PBKDF2_ITERATIONS: u32 = 600_000;
pub const IV_BYTES: usize = 24;
pub const SALT_BYTES: usize = 16;

/// Errors decoding or encoding a credential.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("not a valid bech32m string: {0}")]
    Bech32(String),
    #[error("expected a {expected} string, found prefix {found:?}")]
    WrongHrp {
        expected: &'static str,
        found: String,
    },
    #[error("invalid {0} package: envelope is not the expected JSON ({1})")]
    Envelope(&'static str, String),
    #[error("unsupported envelope version {0} (expected 1)")]
    Version(u32),
    #[error("unsupported IV length {0} (expected 24)")]
    IvBytes(u32),
    #[error("envelope salt is not 16 bytes of hex")]
    Salt,
    #[error("envelope cipher text is not valid base64url without padding, or too short")]
    CipherText,
    #[error("wrong password or corrupted credential (AES-GCM authentication failed)")]
    Decrypt,
    #[error("invalid {0} plaintext: {1}")]
    Plaintext(&'static str, String),
    #[error("bfprofile outer profile id mismatch")]
    ProfileIdMismatch,
    #[error("a password is required")]
    EmptyPassword,
    #[error(transparent)]
    Group(#[from] GroupError),
}

// ---- long bech32m -------------------------------------------------------------------------

/// BIP-350 bech32m without the 1023-character code-length limit (§8.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LongBech32m {}

impl Checksum for LongBech32m {
    type MidstateRepr = u32;
    const CODE_LENGTH: usize = usize::MAX;
    const CHECKSUM_LENGTH: usize = 6;
    const GENERATOR_SH: [u32; 5] = <bech32::Bech32m as Checksum>::GENERATOR_SH;
    const TARGET_RESIDUE: u32 = <bech32::Bech32m as Checksum>::TARGET_RESIDUE;
}

/// Encodes `data` as bech32m (lowercase) with any length.
pub fn bech32m_encode(hrp: &str, data: &[u8]) -> Result<String, CredentialError> {
    let hrp = Hrp::parse(hrp).map_err(|e| CredentialError::Bech32(e.to_string()))?;
    bech32::encode::<LongBech32m>(hrp, data).map_err(|e| CredentialError::Bech32(e.to_string()))
}

/// Decodes a bech32m string of any length → (lowercase HRP, bytes).
pub fn bech32m_decode(s: &str) -> Result<(String, Vec<u8>), CredentialError> {
    let c = CheckedHrpstring::new::<LongBech32m>(s.trim())
        .map_err(|e| CredentialError::Bech32(e.to_string()))?;
    Ok((c.hrp().to_lowercase(), c.byte_iter().collect()))
}

fn decode_expect(s: &str, hrp: &'static str) -> Result<Vec<u8>, CredentialError> {
    let (found, data) = bech32m_decode(s)?;
    if found != hrp {
        return Err(CredentialError::WrongHrp {
            expected: hrp,
            found,
        });
    }
    Ok(data)
}

// ---- password envelope ----------------------------------------------------------------------

/// The envelope JSON (§8.2), in wire key order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub version: u32,
    pub password_encoding: String,
    pub iterations: u32,
    pub iv_bytes: u32,
    pub salt_hex: String,
    pub cipher_text: String,
}

/// PBKDF2-HMAC-SHA256(SHA256(utf8 password), salt, 600 000) → 32-byte AES key.
pub fn derive_key(password: &str, salt: &[u8]) -> Secret32 {
    let mut pw = Zeroizing::new([0u8; 32]);
    pw.copy_from_slice(&Sha256::digest(password.as_bytes()));
    let mut key = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(pw.as_ref(), salt, PBKDF2_ITERATIONS, &mut key);
    let out = Secret32::new(key);
    key.zeroize();
    out
}

type Aes256Gcm24 = AesGcm<aes::Aes256, U24>;

/// Encrypts `plaintext` with fixed salt and IV (vectors); prefer [`seal`].
pub fn seal_with(
    password: &str,
    plaintext: &[u8],
    salt: &[u8; SALT_BYTES],
    iv: &[u8; IV_BYTES],
) -> Result<Envelope, CredentialError> {
    if password.is_empty() {
        return Err(CredentialError::EmptyPassword);
    }
    let key = derive_key(password, salt);
    let cipher = Aes256Gcm24::new_from_slice(key.expose()).map_err(|_| CredentialError::Decrypt)?;
    let ct = cipher
        .encrypt(Nonce::<U24>::from_slice(iv), plaintext)
        .map_err(|_| CredentialError::Decrypt)?;
    let mut raw = Vec::with_capacity(IV_BYTES + ct.len());
    raw.extend_from_slice(iv);
    raw.extend_from_slice(&ct);
    Ok(Envelope {
        version: 1,
        password_encoding: "sha256".into(),
        iterations: PBKDF2_ITERATIONS,
        iv_bytes: IV_BYTES as u32,
        salt_hex: hex::encode(salt),
        cipher_text: URL_SAFE_NO_PAD.encode(raw),
    })
}

/// Encrypts with a fresh random salt and IV.
pub fn seal(password: &str, plaintext: &[u8]) -> Result<Envelope, CredentialError> {
    let mut salt = [0u8; SALT_BYTES];
    let mut iv = [0u8; IV_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    rand::rngs::OsRng.fill_bytes(&mut iv);
    seal_with(password, plaintext, &salt, &iv)
}

impl Envelope {
    fn parse(json: &[u8], what: &'static str) -> Result<Self, CredentialError> {
        let e: Envelope = serde_json::from_slice(json)
            .map_err(|e| CredentialError::Envelope(what, e.to_string()))?;
        if e.version != 1 {
            return Err(CredentialError::Version(e.version));
        }
        if e.iv_bytes != IV_BYTES as u32 {
            return Err(CredentialError::IvBytes(e.iv_bytes));
        }
        e.salt()?;
        e.raw_cipher_text()?;
        Ok(e)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn salt(&self) -> Result<[u8; SALT_BYTES], CredentialError> {
        hexser::decode_fixed::<SALT_BYTES>(&self.salt_hex).map_err(|_| CredentialError::Salt)
    }

    fn raw_cipher_text(&self) -> Result<Vec<u8>, CredentialError> {
        let raw = URL_SAFE_NO_PAD
            .decode(&self.cipher_text)
            .map_err(|_| CredentialError::CipherText)?;
        if raw.len() <= IV_BYTES {
            return Err(CredentialError::CipherText);
        }
        Ok(raw)
    }

    /// The 24-byte IV in front of the cipher text.
    pub fn iv(&self) -> Result<[u8; IV_BYTES], CredentialError> {
        let raw = self.raw_cipher_text()?;
        let mut iv = [0u8; IV_BYTES];
        iv.copy_from_slice(&raw[..IV_BYTES]);
        Ok(iv)
    }

    /// Length of `ciphertext ‖ tag` (plaintext + 16).
    pub fn ct_len(&self) -> usize {
        self.raw_cipher_text()
            .map(|r| r.len() - IV_BYTES)
            .unwrap_or(0)
    }

    /// Decrypts with `password`; a wrong password is [`CredentialError::Decrypt`].
    pub fn open(&self, password: &str) -> Result<SecretBytes, CredentialError> {
        let salt = self.salt()?;
        let raw = self.raw_cipher_text()?;
        let key = derive_key(password, &salt);
        let cipher =
            Aes256Gcm24::new_from_slice(key.expose()).map_err(|_| CredentialError::Decrypt)?;
        let pt = cipher
            .decrypt(Nonce::<U24>::from_slice(&raw[..IV_BYTES]), &raw[IV_BYTES..])
            .map_err(|_| CredentialError::Decrypt)?;
        Ok(SecretBytes::new(pt))
    }
}

/// What `inspect` can tell without a password.
#[derive(Clone, Debug)]
pub struct EnvelopeInfo {
    pub hrp: String,
    /// `bfprofile` only: the outer profile id.
    pub profile_id: Option<String>,
    pub envelope: Envelope,
    pub string_len: usize,
}

/// Decodes the outer layers of any credential string without decrypting.
pub fn peek(s: &str) -> Result<EnvelopeInfo, CredentialError> {
    let (hrp, data) = bech32m_decode(s)?;
    let (what, json, pid): (&'static str, &[u8], Option<String>) = match hrp.as_str() {
        HRP_SHARE => (HRP_SHARE, &data[..], None),
        HRP_ONBOARD => (HRP_ONBOARD, &data[..], None),
        HRP_PROFILE => {
            let (pid, rest) = split_profile(&data)?;
            (HRP_PROFILE, rest, Some(pid))
        }
        _ => {
            return Err(CredentialError::WrongHrp {
                expected: "bfshare, bfonboard or bfprofile",
                found: hrp,
            });
        }
    };
    let envelope = Envelope::parse(json, what)?;
    Ok(EnvelopeInfo {
        hrp,
        profile_id: pid,
        envelope,
        string_len: s.trim().len(),
    })
}

// ---- bfshare / bfonboard --------------------------------------------------------------------

/// Decrypted `bfshare` (§8.3): a share secret and its relays. No index, no group.
#[derive(Debug)]
pub struct BfShare {
    pub share_secret: Secret32,
    pub relays: Vec<String>,
}

/// Decrypted `bfonboard` (§8.3): share secret, relays and the inviter's x-only key.
#[derive(Debug)]
pub struct BfOnboard {
    pub share_secret: Secret32,
    pub relays: Vec<String>,
    pub peer_pk: [u8; 32],
}

fn form_plaintext(
    secret: &Secret32,
    relays: &[String],
    peer_pk: Option<&[u8; 32]>,
) -> Zeroizing<String> {
    let mut s = Zeroizing::new(String::with_capacity(80 + relays.len() * 40));
    s.push_str(&secret.expose_hex());
    s.push('?');
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for r in relays {
        ser.append_pair("relay", r);
    }
    if let Some(pk) = peer_pk {
        ser.append_pair("peer_pk", &hex::encode(pk));
    }
    s.push_str(&ser.finish());
    s
}

struct Parsed {
    secret: Secret32,
    relays: Vec<String>,
    peer_pk: Option<[u8; 32]>,
}

fn parse_hex32_lower(s: &str) -> Option<[u8; 32]> {
    let t = s.trim();
    if t.len() != 64 {
        return None;
    }
    hexser::decode_fixed::<32>(t).ok()
}

fn parse_form(pt: &[u8], what: &'static str) -> Result<Parsed, CredentialError> {
    let text = std::str::from_utf8(pt)
        .map_err(|_| CredentialError::Plaintext(what, "not UTF-8".into()))?
        .trim();
    let (head, query) = text.split_once('?').unwrap_or((text, ""));
    let head = head.trim();
    if head.len() != 64 {
        return Err(CredentialError::Plaintext(
            what,
            "share secret must be 64 hex characters".into(),
        ));
    }
    let secret = Secret32::from_hex(head)
        .ok_or_else(|| CredentialError::Plaintext(what, "share secret is not hex".into()))?;
    frost::pubkey33(&secret)
        .map_err(|_| CredentialError::Plaintext(what, "share secret is zero or ≥ n".into()))?;
    let mut relays = Vec::new();
    let mut peer_pk = None;
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "relay" => {
                let r = v.trim();
                if !r.is_empty() {
                    relays.push(r.to_string());
                }
            }
            "peer_pk" => {
                peer_pk = Some(parse_hex32_lower(&v).ok_or_else(|| {
                    CredentialError::Plaintext(what, "peer_pk must be 64 hex characters".into())
                })?);
            }
            _ => {}
        }
    }
    if relays.is_empty() {
        return Err(CredentialError::Plaintext(
            what,
            "at least one relay is required".into(),
        ));
    }
    Ok(Parsed {
        secret,
        relays,
        peer_pk,
    })
}

impl BfShare {
    /// The form-urlencoded plaintext (contains the secret).
    pub fn plaintext(&self) -> Zeroizing<String> {
        form_plaintext(&self.share_secret, &self.relays, None)
    }
    pub fn parse_plaintext(pt: &[u8]) -> Result<Self, CredentialError> {
        let p = parse_form(pt, HRP_SHARE)?;
        Ok(Self {
            share_secret: p.secret,
            relays: p.relays,
        })
    }
    pub fn encode(&self, password: &str) -> Result<String, CredentialError> {
        let env = seal(password, self.plaintext().as_bytes())?;
        bech32m_encode(HRP_SHARE, env.to_json().as_bytes())
    }
    /// Encoding with a fixed salt and IV (vectors).
    pub fn encode_with(
        &self,
        password: &str,
        salt: &[u8; 16],
        iv: &[u8; 24],
    ) -> Result<String, CredentialError> {
        let env = seal_with(password, self.plaintext().as_bytes(), salt, iv)?;
        bech32m_encode(HRP_SHARE, env.to_json().as_bytes())
    }
    pub fn decode(s: &str, password: &str) -> Result<Self, CredentialError> {
        let data = decode_expect(s, HRP_SHARE)?;
        let pt = Envelope::parse(&data, HRP_SHARE)?.open(password)?;
        Self::parse_plaintext(pt.expose())
    }
}

impl BfOnboard {
    pub fn plaintext(&self) -> Zeroizing<String> {
        form_plaintext(&self.share_secret, &self.relays, Some(&self.peer_pk))
    }
    pub fn parse_plaintext(pt: &[u8]) -> Result<Self, CredentialError> {
        let p = parse_form(pt, HRP_ONBOARD)?;
        let peer_pk = p
            .peer_pk
            .ok_or_else(|| CredentialError::Plaintext(HRP_ONBOARD, "peer_pk is required".into()))?;
        Ok(Self {
            share_secret: p.secret,
            relays: p.relays,
            peer_pk,
        })
    }
    pub fn encode(&self, password: &str) -> Result<String, CredentialError> {
        let env = seal(password, self.plaintext().as_bytes())?;
        bech32m_encode(HRP_ONBOARD, env.to_json().as_bytes())
    }
    pub fn encode_with(
        &self,
        password: &str,
        salt: &[u8; 16],
        iv: &[u8; 24],
    ) -> Result<String, CredentialError> {
        let env = seal_with(password, self.plaintext().as_bytes(), salt, iv)?;
        bech32m_encode(HRP_ONBOARD, env.to_json().as_bytes())
    }
    pub fn decode(s: &str, password: &str) -> Result<Self, CredentialError> {
        let data = decode_expect(s, HRP_ONBOARD)?;
        let pt = Envelope::parse(&data, HRP_ONBOARD)?.open(password)?;
        Self::parse_plaintext(pt.expose())
    }
}

// ---- bfprofile ------------------------------------------------------------------------------

/// A manual policy override value (§8.4). Missing fields default to `unset`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyValue {
    #[default]
    Unset,
    Allow,
    Deny,
}

/// Per-method overrides, in wire order `echo, ping, onboard, sign, ecdh`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MethodPolicy {
    #[serde(default)]
    pub echo: PolicyValue,
    #[serde(default)]
    pub ping: PolicyValue,
    #[serde(default)]
    pub onboard: PolicyValue,
    #[serde(default)]
    pub sign: PolicyValue,
    #[serde(default)]
    pub ecdh: PolicyValue,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerPolicy {
    #[serde(default)]
    pub request: MethodPolicy,
    #[serde(default)]
    pub respond: MethodPolicy,
}

/// One manual override: `{pubkey (x-only hex), policy}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyOverride {
    #[serde(with = "hexser::fixed")]
    pub pubkey: [u8; 32],
    #[serde(default)]
    pub policy: PeerPolicy,
}

/// `device` of a profile (§8.4), key order `name, share_secret, manual_peer_policy_overrides, relays`.
#[derive(Debug, Serialize, Deserialize)]
pub struct ProfileDevice {
    pub name: String,
    #[serde(with = "hexser::secret32")]
    pub share_secret: Secret32,
    #[serde(default)]
    pub manual_peer_policy_overrides: Vec<PolicyOverride>,
    pub relays: Vec<String>,
}

/// Decrypted `bfprofile` payload, key order `profile_id, version, device, group_package`.
#[derive(Debug, Serialize, Deserialize)]
pub struct BfProfile {
    pub profile_id: String,
    #[serde(default)]
    pub version: u32,
    pub device: ProfileDevice,
    pub group_package: GroupPackage,
}

fn split_profile(data: &[u8]) -> Result<(String, &[u8]), CredentialError> {
    if data.len() <= 64 {
        return Err(CredentialError::Envelope(
            HRP_PROFILE,
            "data shorter than the profile id".into(),
        ));
    }
    let pid = std::str::from_utf8(&data[..64])
        .map_err(|_| CredentialError::Envelope(HRP_PROFILE, "profile id is not ASCII".into()))?
        .trim()
        .to_ascii_lowercase();
    if pid.len() != 64 || !pid.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(CredentialError::Envelope(
            HRP_PROFILE,
            "profile id is not 64 hex characters".into(),
        ));
    }
    Ok((pid, &data[64..]))
}

impl BfProfile {
    /// Builds a profile, deriving `profile_id` from the share secret.
    pub fn new(
        name: &str,
        share_secret: Secret32,
        relays: Vec<String>,
        overrides: Vec<PolicyOverride>,
        group_package: GroupPackage,
    ) -> Result<Self, CredentialError> {
        let x = frost::xonly(&share_secret).map_err(|e| CredentialError::Group(e.into()))?;
        Ok(Self {
            profile_id: profile_id(&x),
            version: 1,
            device: ProfileDevice {
                name: name.to_string(),
                share_secret,
                manual_peer_policy_overrides: overrides,
                relays,
            },
            group_package,
        })
    }

    /// Compact plaintext JSON (contains the secret).
    pub fn plaintext(&self) -> Zeroizing<String> {
        Zeroizing::new(serde_json::to_string(self).unwrap_or_default())
    }

    /// Parses and checks a plaintext: name non-empty, relays normalised (≥ 1), group valid,
    /// inner `profile_id` = id derived from the share secret.
    pub fn parse_plaintext(pt: &[u8]) -> Result<Self, CredentialError> {
        let mut p: BfProfile = serde_json::from_slice(pt)
            .map_err(|e| CredentialError::Plaintext(HRP_PROFILE, e.to_string()))?;
        if p.version == 0 {
            p.version = 1;
        }
        p.device.name = p.device.name.trim().to_string();
        if p.device.name.is_empty() {
            return Err(CredentialError::Plaintext(
                HRP_PROFILE,
                "device name is empty".into(),
            ));
        }
        p.device.relays = p
            .device
            .relays
            .iter()
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty())
            .collect();
        if p.device.relays.is_empty() {
            return Err(CredentialError::Plaintext(
                HRP_PROFILE,
                "at least one relay is required".into(),
            ));
        }
        p.group_package.validate()?;
        p.profile_id = p.profile_id.trim().to_ascii_lowercase();
        let x = frost::xonly(&p.device.share_secret).map_err(|_| {
            CredentialError::Plaintext(HRP_PROFILE, "share secret is zero or ≥ n".into())
        })?;
        if p.profile_id != profile_id(&x) {
            return Err(CredentialError::ProfileIdMismatch);
        }
        Ok(p)
    }

    fn wrap(&self, env: Envelope) -> Result<String, CredentialError> {
        let mut data = self.profile_id.as_bytes().to_vec();
        data.extend_from_slice(env.to_json().as_bytes());
        bech32m_encode(HRP_PROFILE, &data)
    }

    pub fn encode(&self, password: &str) -> Result<String, CredentialError> {
        self.wrap(seal(password, self.plaintext().as_bytes())?)
    }
    pub fn encode_with(
        &self,
        password: &str,
        salt: &[u8; 16],
        iv: &[u8; 24],
    ) -> Result<String, CredentialError> {
        self.wrap(seal_with(password, self.plaintext().as_bytes(), salt, iv)?)
    }

    /// Decodes; the outer id must equal the inner id and the id derived from the secret.
    pub fn decode(s: &str, password: &str) -> Result<Self, CredentialError> {
        let data = decode_expect(s, HRP_PROFILE)?;
        let (outer, json) = split_profile(&data)?;
        let pt = Envelope::parse(json, HRP_PROFILE)?.open(password)?;
        let p = Self::parse_plaintext(pt.expose())?;
        if p.profile_id != outer {
            return Err(CredentialError::ProfileIdMismatch);
        }
        Ok(p)
    }
}
