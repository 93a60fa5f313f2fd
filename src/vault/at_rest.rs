//! Encryption at rest: Argon2id key derivation + XChaCha20-Poly1305 sealed blobs, password
//! hashes, and the device key for unattended mode.
//!
//! ## Parameters
//! [`KdfParams::RECORD`] is m = 64 MiB, t = 3, p = 1 (the same memory cost igloo-server uses
//! for login hashes). Measured on this build machine (x86-64, one core) it takes ~0.12–0.15 s;
//! Argon2 is memory-bandwidth bound and a Raspberry Pi 4 (Cortex-A72, LPDDR4) is 3.5–4.5× slower
//! per core on it, which lands at ~0.5 s. 64 MiB also stays inside the memory budget of the
//! smallest Pi (1 GiB) and is released right after the derivation. The parameters are stored in
//! every blob and hash, so they can be raised later without breaking old records. Tests use
//! [`KdfParams::TEST`] (m = 64 KiB, t = 1).

use crate::vault::secret::{Secret32, SecretBytes, SecretString};
use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("wrong password or corrupted data")]
    Decrypt,
    #[error("invalid key-derivation parameters: {0}")]
    Params(String),
    #[error("malformed sealed blob: {0}")]
    Malformed(String),
    #[error("blob is sealed with {found}, not {expected}")]
    WrongMode {
        expected: &'static str,
        found: String,
    },
    #[error("device key: {0}")]
    DeviceKey(String),
}

/// Argon2id cost parameters (memory in KiB, iterations, lanes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    pub m_kib: u32,
    pub t: u32,
    pub p: u32,
}

impl KdfParams {
    /// Production parameters (≈0.5 s on a Raspberry Pi 4, see module docs).
    pub const RECORD: KdfParams = KdfParams {
        m_kib: 64 * 1024,
        t: 3,
        p: 1,
    };
    /// Cheap parameters for tests only.
    pub const TEST: KdfParams = KdfParams {
        m_kib: 64,
        t: 1,
        p: 1,
    };

    fn argon(&self) -> Result<Argon2<'static>, Error> {
        // Refuse absurd parameters read from disk (a crafted record must not make us allocate
        // gigabytes): at most 1 GiB, 16 iterations, 8 lanes.
        if self.m_kib > 1024 * 1024 || self.t > 16 || self.p == 0 || self.p > 8 {
            return Err(Error::Params(format!("{self:?} out of range")));
        }
        let p = Params::new(self.m_kib, self.t, self.p, Some(32))
            .map_err(|e| Error::Params(e.to_string()))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, p))
    }

    /// Derives a 32-byte key from a password and salt.
    pub fn derive(&self, password: &[u8], salt: &[u8]) -> Result<Secret32, Error> {
        let mut out = Zeroizing::new([0u8; 32]);
        self.argon()?
            .hash_password_into(password, salt, out.as_mut())
            .map_err(|e| Error::Params(e.to_string()))?;
        Ok(Secret32::new(*out))
    }
}

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b
}

/// A sealed secret as stored in the database. Only ciphertext and public parameters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// Format version (1).
    pub v: u8,
    /// `"password"` or `"device"`.
    pub mode: String,
    /// KDF parameters (password mode only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kdf: Option<KdfParams>,
    /// Hex salt (password mode only).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub salt: String,
    /// Hex 24-byte nonce.
    pub nonce: String,
    /// Hex ciphertext ‖ tag.
    pub ct: String,
}

const AAD_PREFIX: &str = "frostbox/sealed/v1/";

fn seal_raw(key: &Secret32, mode: &str, plaintext: &[u8]) -> Result<(String, String), Error> {
    let cipher = XChaCha20Poly1305::new_from_slice(key.expose())
        .map_err(|_| Error::Params("key length".into()))?;
    let nonce: [u8; 24] = random();
    let aad = format!("{AAD_PREFIX}{mode}");
    let ct = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| Error::Decrypt)?;
    Ok((hex::encode(nonce), hex::encode(ct)))
}

fn open_raw(key: &Secret32, s: &Sealed) -> Result<SecretBytes, Error> {
    if s.v != 1 {
        return Err(Error::Malformed(format!("unknown version {}", s.v)));
    }
    let nonce: [u8; 24] = hex::decode(&s.nonce)
        .ok()
        .and_then(|n| n.try_into().ok())
        .ok_or_else(|| Error::Malformed("nonce".into()))?;
    let ct = hex::decode(&s.ct).map_err(|_| Error::Malformed("ciphertext".into()))?;
    let cipher = XChaCha20Poly1305::new_from_slice(key.expose())
        .map_err(|_| Error::Params("key length".into()))?;
    let aad = format!("{AAD_PREFIX}{}", s.mode);
    let pt = cipher
        .decrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: &ct,
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| Error::Decrypt)?;
    Ok(SecretBytes::new(pt))
}

/// Seals `plaintext` under a password (locked mode).
pub fn seal_with_password(
    plaintext: &[u8],
    password: &SecretString,
    params: KdfParams,
) -> Result<Sealed, Error> {
    let salt: [u8; 16] = random();
    let key = params.derive(password.expose().as_bytes(), &salt)?;
    let (nonce, ct) = seal_raw(&key, "password", plaintext)?;
    Ok(Sealed {
        v: 1,
        mode: "password".into(),
        kdf: Some(params),
        salt: hex::encode(salt),
        nonce,
        ct,
    })
}

/// Opens a password-sealed blob.
pub fn open_with_password(s: &Sealed, password: &SecretString) -> Result<SecretBytes, Error> {
    if s.mode != "password" {
        return Err(Error::WrongMode {
            expected: "password",
            found: s.mode.clone(),
        });
    }
    let params = s
        .kdf
        .ok_or_else(|| Error::Malformed("missing kdf".into()))?;
    let salt = hex::decode(&s.salt).map_err(|_| Error::Malformed("salt".into()))?;
    let key = params.derive(password.expose().as_bytes(), &salt)?;
    open_raw(&key, s)
}

/// Seals `plaintext` under the device key (unattended mode).
pub fn seal_with_device_key(plaintext: &[u8], key: &Secret32) -> Result<Sealed, Error> {
    let (nonce, ct) = seal_raw(key, "device", plaintext)?;
    Ok(Sealed {
        v: 1,
        mode: "device".into(),
        kdf: None,
        salt: String::new(),
        nonce,
        ct,
    })
}

/// Opens a device-sealed blob.
pub fn open_with_device_key(s: &Sealed, key: &Secret32) -> Result<SecretBytes, Error> {
    if s.mode != "device" {
        return Err(Error::WrongMode {
            expected: "device",
            found: s.mode.clone(),
        });
    }
    open_raw(key, s)
}

/// A stored password hash (Argon2id). Serialised as JSON in the users table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordHash {
    pub kdf: KdfParams,
    pub salt: String,
    pub hash: String,
}

/// Hashes a login password.
pub fn hash_password(password: &SecretString, params: KdfParams) -> Result<PasswordHash, Error> {
    let salt: [u8; 16] = random();
    let key = params.derive(password.expose().as_bytes(), &salt)?;
    Ok(PasswordHash {
        kdf: params,
        salt: hex::encode(salt),
        hash: hex::encode(key.expose()),
    })
}

/// Verifies a password in constant time (relative to the stored hash).
pub fn verify_password(password: &SecretString, h: &PasswordHash) -> bool {
    let Ok(salt) = hex::decode(&h.salt) else {
        return false;
    };
    let Ok(expected) = hex::decode(&h.hash) else {
        return false;
    };
    match h.kdf.derive(password.expose().as_bytes(), &salt) {
        Ok(k) => k.expose().ct_eq(expected.as_slice()).into(),
        Err(_) => false,
    }
}

/// Where the device key came from (shown in status).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKeySource {
    /// `$CREDENTIALS_DIRECTORY/frostbox-device-key` (systemd `LoadCredential=`).
    SystemdCredential,
    /// `<data>/device.key` (0600), created on first use.
    File,
}

/// File name of the systemd credential.
pub const SYSTEMD_CREDENTIAL: &str = "frostbox-device-key";

fn parse_key_file(bytes: &[u8]) -> Option<Secret32> {
    if bytes.len() == 32 {
        return Secret32::from_slice(bytes);
    }
    let s = std::str::from_utf8(bytes).ok()?;
    Secret32::from_hex(s.trim())
}

/// Loads the device key: the systemd credential if `$CREDENTIALS_DIRECTORY` holds one, else
/// `<data>/device.key`, created (32 random bytes, hex, mode 0600) when missing.
pub fn load_or_create_device_key(
    data_dir: &Path,
    credentials_dir: Option<PathBuf>,
) -> Result<(Secret32, DeviceKeySource), Error> {
    if let Some(dir) = credentials_dir {
        let p = dir.join(SYSTEMD_CREDENTIAL);
        if let Ok(b) = std::fs::read(&p) {
            let b = Zeroizing::new(b);
            let k = parse_key_file(&b).ok_or_else(|| {
                Error::DeviceKey(format!(
                    "{} must hold 32 raw bytes or 64 hex chars",
                    p.display()
                ))
            })?;
            return Ok((k, DeviceKeySource::SystemdCredential));
        }
    }
    let p = data_dir.join("device.key");
    match std::fs::read(&p) {
        Ok(b) => {
            let b = Zeroizing::new(b);
            let k = parse_key_file(&b)
                .ok_or_else(|| Error::DeviceKey(format!("{} is not a 32-byte key", p.display())))?;
            Ok((k, DeviceKeySource::File))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let k = Secret32::random();
            write_private_file(&p, k.expose_hex().as_bytes())
                .map_err(|e| Error::DeviceKey(format!("{}: {e}", p.display())))?;
            Ok((k, DeviceKeySource::File))
        }
        Err(e) => Err(Error::DeviceKey(format!("{}: {e}", p.display()))),
    }
}

/// Creates a file with mode 0600 (fails if it exists), writes and fsyncs it.
pub fn write_private_file(p: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let mut f = o.open(p)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_roundtrip_and_wrong_password() {
        let pw = SecretString::new("correct horse".into());
        let s = seal_with_password(b"share-bytes", &pw, KdfParams::TEST).expect("seal");
        assert!(!s.ct.contains(&hex::encode(b"share-bytes")));
        let pt = open_with_password(&s, &pw).expect("open");
        assert_eq!(pt.expose(), b"share-bytes");
        let bad = SecretString::new("wrong".into());
        assert!(matches!(open_with_password(&s, &bad), Err(Error::Decrypt)));
    }

    #[test]
    fn device_roundtrip_and_mode_binding() {
        let k = Secret32::random();
        let s = seal_with_device_key(b"abc", &k).expect("seal");
        assert_eq!(open_with_device_key(&s, &k).expect("open").expose(), b"abc");
        // Relabelling the mode breaks the AAD.
        let mut relabelled = s.clone();
        relabelled.mode = "password".into();
        relabelled.kdf = Some(KdfParams::TEST);
        relabelled.salt = "00".into();
        let pw = SecretString::new("x".into());
        assert!(open_with_password(&relabelled, &pw).is_err());
        // Tampered ciphertext fails.
        let mut t = s.clone();
        let last = t.ct.pop().map(|c| if c == '0' { '1' } else { '0' });
        t.ct.extend(last);
        assert!(matches!(open_with_device_key(&t, &k), Err(Error::Decrypt)));
        assert!(matches!(
            open_with_password(&s, &pw),
            Err(Error::WrongMode { .. })
        ));
    }

    #[test]
    fn password_hash_verifies() {
        let pw = SecretString::new("Hunter2!x".into());
        let h = hash_password(&pw, KdfParams::TEST).expect("hash");
        assert!(verify_password(&pw, &h));
        assert!(!verify_password(&SecretString::new("hunter2!x".into()), &h));
        let absurd = KdfParams {
            m_kib: u32::MAX,
            t: 1,
            p: 1,
        };
        assert!(absurd.derive(b"x", b"saltsalt").is_err());
    }

    #[test]
    fn device_key_file_is_created_0600_and_reused() {
        let d = tempfile::tempdir().expect("tmp");
        let (k1, src) = load_or_create_device_key(d.path(), None).expect("create");
        assert_eq!(src, DeviceKeySource::File);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(d.path().join("device.key"))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (k2, _) = load_or_create_device_key(d.path(), None).expect("reuse");
        assert_eq!(k1, k2);
        let creds = tempfile::tempdir().expect("tmp");
        std::fs::write(creds.path().join(SYSTEMD_CREDENTIAL), [7u8; 32]).expect("write");
        let (k3, src) =
            load_or_create_device_key(d.path(), Some(creds.path().to_path_buf())).expect("cred");
        assert_eq!(src, DeviceKeySource::SystemdCredential);
        assert_eq!(k3.expose(), &[7u8; 32]);
    }
}
