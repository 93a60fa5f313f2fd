//! The identity operations the bunker delegates to the threshold key.

use super::nostr::{self, Event};
use crate::vault::secret::Secret32;
use futures_util::future::BoxFuture;

/// An event to be signed by the identity (pubkey and id are filled in by the signer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnsignedEvent {
    pub created_at: u64,
    pub kind: u16,
    pub tags: Vec<Vec<String>>,
    pub content: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SignerError {
    #[error("identity unavailable: {0}")]
    Unavailable(String),
    #[error("threshold operation failed: {0}")]
    Failed(String),
    #[error("bad input: {0}")]
    BadInput(String),
}

/// What the bunker needs from an identity. The node/API implements it with the FROSTR
/// threshold key (see [`ThresholdAdapter`] for a ready-made implementation over `sign`+`ecdh`).
pub trait ThresholdSigner: Send + Sync {
    fn group_pubkey(&self) -> [u8; 32];
    fn sign_event(&self, ev: UnsignedEvent) -> BoxFuture<'_, Result<Event, SignerError>>;
    fn nip44_encrypt(
        &self,
        peer: [u8; 32],
        text: String,
    ) -> BoxFuture<'_, Result<String, SignerError>>;
    fn nip44_decrypt(
        &self,
        peer: [u8; 32],
        text: String,
    ) -> BoxFuture<'_, Result<String, SignerError>>;
    fn nip04_encrypt(
        &self,
        peer: [u8; 32],
        text: String,
    ) -> BoxFuture<'_, Result<String, SignerError>>;
    fn nip04_decrypt(
        &self,
        peer: [u8; 32],
        text: String,
    ) -> BoxFuture<'_, Result<String, SignerError>>;
}

/// The two threshold primitives (what `frostr::node::NodeHandle` offers): a BIP-340 signature
/// over a 32-byte message under the group key, and the x coordinate of `group_secret · peer`.
pub trait ThresholdOps: Send + Sync {
    fn group_pk(&self) -> [u8; 32];
    fn sign(&self, msg32: [u8; 32]) -> BoxFuture<'_, Result<[u8; 64], SignerError>>;
    fn ecdh(&self, peer_xonly: [u8; 32]) -> BoxFuture<'_, Result<Secret32, SignerError>>;
}

/// Implements [`ThresholdSigner`] (standard NIP-01 ids, NIP-44 v2, NIP-04) on top of any
/// [`ThresholdOps`].
pub struct ThresholdAdapter<T>(pub T);

impl<T: ThresholdOps> ThresholdSigner for ThresholdAdapter<T> {
    fn group_pubkey(&self) -> [u8; 32] {
        self.0.group_pk()
    }

    fn sign_event(&self, ev: UnsignedEvent) -> BoxFuture<'_, Result<Event, SignerError>> {
        Box::pin(async move {
            let pubkey = self.0.group_pk();
            let id = Event::compute_id(&pubkey, ev.created_at, ev.kind, &ev.tags, &ev.content);
            let sig = self.0.sign(id).await?;
            let out = Event {
                id,
                pubkey,
                created_at: ev.created_at,
                kind: ev.kind,
                tags: ev.tags,
                content: ev.content,
                sig,
            };
            out.verify().map_err(|e| {
                SignerError::Failed(format!("aggregated signature does not verify: {e}"))
            })?;
            Ok(out)
        })
    }

    fn nip44_encrypt(
        &self,
        peer: [u8; 32],
        text: String,
    ) -> BoxFuture<'_, Result<String, SignerError>> {
        Box::pin(async move {
            let x = self.0.ecdh(peer).await?;
            let conv = xcrypt::nip44_conversation_key_from_x(&x);
            nostr::nip44::encrypt(&conv, &text, nostr::nip44::B64::Padded)
                .map_err(|e| SignerError::BadInput(e.to_string()))
        })
    }

    fn nip44_decrypt(
        &self,
        peer: [u8; 32],
        text: String,
    ) -> BoxFuture<'_, Result<String, SignerError>> {
        Box::pin(async move {
            let x = self.0.ecdh(peer).await?;
            let conv = xcrypt::nip44_conversation_key_from_x(&x);
            nostr::nip44::decrypt(&conv, &text).map_err(|e| SignerError::BadInput(e.to_string()))
        })
    }

    fn nip04_encrypt(
        &self,
        peer: [u8; 32],
        text: String,
    ) -> BoxFuture<'_, Result<String, SignerError>> {
        Box::pin(async move {
            let x = self.0.ecdh(peer).await?;
            Ok(xcrypt::nip04_encrypt_with_x(&x, &text))
        })
    }

    fn nip04_decrypt(
        &self,
        peer: [u8; 32],
        text: String,
    ) -> BoxFuture<'_, Result<String, SignerError>> {
        Box::pin(async move {
            let x = self.0.ecdh(peer).await?;
            xcrypt::nip04_decrypt_with_x(&x, &text).map_err(SignerError::BadInput)
        })
    }
}

/// NIP-44 / NIP-04 from an already computed shared x (threshold ECDH yields only x).
pub mod xcrypt {
    use super::Secret32;
    use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit, block_padding::Pkcs7};
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;

    /// NIP-44 v2: `HKDF-extract(sha256, ikm = x, salt = "nip44-v2")`.
    pub fn nip44_conversation_key_from_x(x: &Secret32) -> Secret32 {
        crate::nostr::nip44::conversation_key_from_shared_x(x)
    }

    /// NIP-04: AES-256-CBC with key = x (not hashed), `base64(ct)?iv=base64(iv)`.
    pub fn nip04_encrypt_with_x(x: &Secret32, plaintext: &str) -> String {
        let mut iv = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut iv);
        let ct = cbc::Encryptor::<aes::Aes256>::new(x.expose().into(), &iv.into())
            .encrypt_padded_vec_mut::<Pkcs7>(plaintext.as_bytes());
        format!("{}?iv={}", STANDARD.encode(ct), STANDARD.encode(iv))
    }

    pub fn nip04_decrypt_with_x(x: &Secret32, content: &str) -> Result<String, String> {
        let (ct, iv) = content
            .split_once("?iv=")
            .ok_or_else(|| "NIP-04 ciphertext lacks ?iv=".to_string())?;
        let ct = STANDARD
            .decode(ct)
            .map_err(|_| "NIP-04 ciphertext is not base64".to_string())?;
        let iv: [u8; 16] = STANDARD
            .decode(iv)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| "NIP-04 iv is not 16 bytes of base64".to_string())?;
        let pt = cbc::Decryptor::<aes::Aes256>::new(x.expose().into(), &iv.into())
            .decrypt_padded_vec_mut::<Pkcs7>(&ct)
            .map_err(|_| "NIP-04 decryption failed (bad padding)".to_string())?;
        String::from_utf8(pt).map_err(|_| "NIP-04 plaintext is not UTF-8".to_string())
    }
}

/// Development/test signer backed by a plain local secret key. Never used by `serve` for a
/// FROSTR identity; it exists so the bunker can be exercised without a signing node.
pub struct LocalKey(pub Secret32);

impl ThresholdOps for LocalKey {
    fn group_pk(&self) -> [u8; 32] {
        nostr::keys::xonly_pubkey(&self.0).unwrap_or([0u8; 32])
    }
    fn sign(&self, msg32: [u8; 32]) -> BoxFuture<'_, Result<[u8; 64], SignerError>> {
        Box::pin(async move {
            let mut aux = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut aux);
            nostr::keys::sign_bip340(&self.0, &msg32, &aux)
                .map_err(|e| SignerError::Failed(e.to_string()))
        })
    }
    fn ecdh(&self, peer: [u8; 32]) -> BoxFuture<'_, Result<Secret32, SignerError>> {
        Box::pin(async move { super::shared_x(&self.0, &peer).map_err(SignerError::BadInput) })
    }
}

/// Local-key signer for tests and development.
pub fn local_signer(secret: Secret32) -> ThresholdAdapter<LocalKey> {
    ThresholdAdapter(LocalKey(secret))
}

/// The FROSTR signing node as the bunker's identity: every signature is a threshold signature,
/// every NIP-04/NIP-44 key comes from threshold ECDH.
impl ThresholdOps for crate::frostr::node::NodeHandle {
    fn group_pk(&self) -> [u8; 32] {
        crate::frostr::node::NodeHandle::group_pk(self)
    }
    fn sign(&self, msg32: [u8; 32]) -> BoxFuture<'_, Result<[u8; 64], SignerError>> {
        Box::pin(async move {
            crate::frostr::node::NodeHandle::sign(self, msg32)
                .await
                .map_err(|e| SignerError::Failed(e.to_string()))
        })
    }
    fn ecdh(&self, peer_xonly: [u8; 32]) -> BoxFuture<'_, Result<Secret32, SignerError>> {
        Box::pin(async move {
            let mut x = crate::frostr::node::NodeHandle::ecdh(self, peer_xonly)
                .await
                .map_err(|e| SignerError::Failed(e.to_string()))?;
            let s = Secret32::new(x);
            zeroize::Zeroize::zeroize(&mut x);
            Ok(s)
        })
    }
}

/// The bunker identity backed by a running FROSTR node (what `serve` uses).
pub fn node_signer(
    node: crate::frostr::node::NodeHandle,
) -> ThresholdAdapter<crate::frostr::node::NodeHandle> {
    ThresholdAdapter(node)
}

/// A running legacy (FROSTR 1.0.x) node as the bunker's identity, through the same entry
/// points `/api/sign`, `/api/nip44/*` and `/api/nip04/*` use on it
/// (`crate::frostr::node::legacy::LegacyHandle::{sign, ecdh}`). Legacy leaks shares
/// (FROSTR.md §0.2): `serve` marks such a bunker legacy (its status carries the warning).
impl ThresholdOps for crate::frostr::node::LegacyHandle {
    fn group_pk(&self) -> [u8; 32] {
        crate::frostr::node::LegacyHandle::group_pk(self)
    }
    fn sign(&self, msg32: [u8; 32]) -> BoxFuture<'_, Result<[u8; 64], SignerError>> {
        Box::pin(async move {
            crate::frostr::node::LegacyHandle::sign(self, msg32)
                .await
                .map_err(|e| SignerError::Failed(e.to_string()))
        })
    }
    fn ecdh(&self, peer_xonly: [u8; 32]) -> BoxFuture<'_, Result<Secret32, SignerError>> {
        Box::pin(async move {
            let mut x = crate::frostr::node::LegacyHandle::ecdh(self, peer_xonly)
                .await
                .map_err(|e| SignerError::Failed(e.to_string()))?;
            let s = Secret32::new(x);
            zeroize::Zeroize::zeroize(&mut x);
            Ok(s)
        })
    }
}

/// The bunker identity backed by a running legacy node (a keyset opted into FROSTR 1.0.x).
pub fn legacy_node_signer(
    node: crate::frostr::node::LegacyHandle,
) -> ThresholdAdapter<crate::frostr::node::LegacyHandle> {
    ThresholdAdapter(node)
}
