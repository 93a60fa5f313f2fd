//! Encrypted profile backup, kind 10000 (FROSTR-NEXT §8.6).
//!
//! Content = NIP-44 v2 payload (standard base64 without padding) under the symmetric
//! conversation key `HMAC-SHA256(key = "frostr-profile-backup/v1", msg = share_secret)`, used
//! directly as the NIP-44 conversation key. Author = x-only key of the share; no tags. The
//! plaintext carries no secret.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::credential::{BfProfile, PolicyOverride};
use super::group::{GroupError, GroupPackage};
use super::hexser;
use crate::frost;
use crate::nostr::{self, Event, nip44};
use crate::vault::secret::Secret32;

/// Event kind of the backup (replaceable).
pub const BACKUP_KIND: u16 = 10000;
/// HMAC key of the backup conversation key.
pub const BACKUP_KEY_LABEL: &[u8] = b"frostr-profile-backup/v1";

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("not a profile backup event (kind {0}, expected 10000)")]
    Kind(u16),
    #[error("backup event is not authored by this share")]
    Author,
    #[error("backup event signature or id is invalid: {0}")]
    Event(nostr::Error),
    #[error("backup content is not unpadded standard base64 of a NIP-44 v2 payload")]
    Content,
    #[error("backup decryption failed: {0}")]
    Decrypt(nostr::Error),
    #[error("invalid backup plaintext: {0}")]
    Plaintext(String),
    #[error("backup is for another share (share_public_key mismatch)")]
    ShareKey,
    #[error("invalid share secret")]
    Secret,
    #[error(transparent)]
    Group(#[from] GroupError),
}

/// `device` of a backup: like a profile's, with the x-only share key instead of the secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupDevice {
    pub name: String,
    #[serde(with = "hexser::fixed")]
    pub share_public_key: [u8; 32],
    #[serde(default)]
    pub manual_peer_policy_overrides: Vec<PolicyOverride>,
    pub relays: Vec<String>,
}

/// Backup plaintext, key order `version, device, group_package`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileBackup {
    pub version: u32,
    pub device: BackupDevice,
    pub group_package: GroupPackage,
}

/// `HMAC-SHA256("frostr-profile-backup/v1", share_secret)`.
pub fn backup_conversation_key(share: &Secret32) -> Secret32 {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(BACKUP_KEY_LABEL)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(share.expose());
    Secret32::new(mac.finalize().into_bytes().into())
}

impl ProfileBackup {
    /// The backup of a decrypted profile (drops the secret).
    pub fn from_profile(p: &BfProfile) -> Result<Self, BackupError> {
        let x = frost::xonly(&p.device.share_secret).map_err(|_| BackupError::Secret)?;
        Ok(Self {
            version: 1,
            device: BackupDevice {
                name: p.device.name.clone(),
                share_public_key: x,
                manual_peer_policy_overrides: p.device.manual_peer_policy_overrides.clone(),
                relays: p.device.relays.clone(),
            },
            group_package: p.group_package.clone(),
        })
    }

    /// Rebuilds the full profile from the backup and the share secret (recovery path).
    pub fn into_profile(self, share: Secret32) -> Result<BfProfile, BackupError> {
        let x = frost::xonly(&share).map_err(|_| BackupError::Secret)?;
        if x != self.device.share_public_key {
            return Err(BackupError::ShareKey);
        }
        BfProfile::new(
            &self.device.name,
            share,
            self.device.relays,
            self.device.manual_peer_policy_overrides,
            self.group_package,
        )
        .map_err(|e| BackupError::Plaintext(e.to_string()))
    }

    /// Compact plaintext JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses and checks a plaintext (group valid, name non-empty, ≥ 1 relay).
    pub fn from_json(s: &str) -> Result<Self, BackupError> {
        let mut b: Self =
            serde_json::from_str(s).map_err(|e| BackupError::Plaintext(e.to_string()))?;
        if b.device.name.trim().is_empty() {
            return Err(BackupError::Plaintext("device name is empty".into()));
        }
        b.device.relays.retain(|r| !r.trim().is_empty());
        if b.device.relays.is_empty() {
            return Err(BackupError::Plaintext(
                "at least one relay is required".into(),
            ));
        }
        b.group_package.validate()?;
        Ok(b)
    }

    /// Encrypted content; `nonce` = `None` for a random one (`Some` reproduces vectors).
    pub fn encrypt_content(
        &self,
        share: &Secret32,
        nonce: Option<[u8; 32]>,
    ) -> Result<String, BackupError> {
        let conv = backup_conversation_key(share);
        let pt = self.to_json();
        let raw = match nonce {
            Some(n) => nip44::encrypt_raw(&conv, pt.as_bytes(), &n),
            None => {
                use rand::RngCore;
                let mut n = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut n);
                nip44::encrypt_raw(&conv, pt.as_bytes(), &n)
            }
        }
        .map_err(BackupError::Decrypt)?;
        Ok(STANDARD_NO_PAD.encode(raw))
    }

    /// Decrypts content (unpadded standard base64 only; raw ≥ 99 bytes, version 2).
    pub fn decrypt_content(share: &Secret32, content: &str) -> Result<Self, BackupError> {
        let raw = STANDARD_NO_PAD
            .decode(content)
            .map_err(|_| BackupError::Content)?;
        if raw.len() < 99 || raw[0] != 2 {
            return Err(BackupError::Content);
        }
        let conv = backup_conversation_key(share);
        let pt = nip44::decrypt_raw(&conv, &raw).map_err(BackupError::Decrypt)?;
        let s = std::str::from_utf8(&pt).map_err(|_| BackupError::Plaintext("not UTF-8".into()))?;
        let b = Self::from_json(s)?;
        let x = frost::xonly(share).map_err(|_| BackupError::Secret)?;
        if b.device.share_public_key != x {
            return Err(BackupError::ShareKey);
        }
        Ok(b)
    }

    /// Signed kind-10000 event (random aux, no tags) authored by the share's x-only key.
    pub fn to_event(&self, share: &Secret32, created_at: u64) -> Result<Event, BackupError> {
        let content = self.encrypt_content(share, None)?;
        Event::sign_random(share, created_at, BACKUP_KIND, vec![], content)
            .map_err(BackupError::Event)
    }

    /// Checks kind, author, id and signature, then decrypts.
    pub fn from_event(share: &Secret32, ev: &Event) -> Result<Self, BackupError> {
        if ev.kind != BACKUP_KIND {
            return Err(BackupError::Kind(ev.kind));
        }
        let x = frost::xonly(share).map_err(|_| BackupError::Secret)?;
        if ev.pubkey != x {
            return Err(BackupError::Author);
        }
        ev.verify().map_err(BackupError::Event)?;
        Self::decrypt_content(share, &ev.content)
    }
}
