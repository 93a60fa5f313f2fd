//! NIP-46 remote signer (bunker).
//!
//! * [`Bunker`] — the signer service for one identity: answers kind-24133 requests, gates them
//!   by per-client [`Policy`], queues what needs the operator, audits everything.
//! * [`ThresholdSigner`] — what the bunker needs from the identity (implemented over the FROSTR
//!   node through [`ThresholdAdapter`] + [`ThresholdOps`]).
//! * [`Nip46Store`] — persistence ([`MemStore`] in memory; `crate::store` implements it on redb).
//! * [`api::routes`] — `/api/nip46/*` (igloo-server compatible plus tokens and approvals).
//! * [`qr`] — server-side QR code as SVG.

pub mod api;
pub mod policy;
pub mod qr;
pub mod redb_store;
pub mod runtime;
pub mod service;
pub mod signer;
pub mod store;
pub mod transport;
pub mod uri;

/// Nostr primitives (the `crate::nostr` contract).
pub(crate) use crate::nostr;

pub use nostr::Event;
pub use policy::{Decision, Policy};
pub use runtime::{BunkerRuntime, BunkerSlot};
pub use service::{ApprovalDecision, Bunker, BunkerConfig, Notice};
pub use signer::{
    ThresholdAdapter, ThresholdOps, ThresholdSigner, UnsignedEvent, local_signer, node_signer,
};
pub use store::{MemStore, Nip46Store};
pub use uri::{BunkerUri, NostrConnectUri, RequestOrigin};

use crate::vault::secret::Secret32;

/// NIP-46 request/response kind.
pub const KIND_NIP46: u16 = 24133;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("bad connection URI: {0}")]
    BadUri(String),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("invalid input: {0}")]
    Invalid(String),
    #[error("crypto: {0}")]
    Crypto(String),
}

/// x coordinate of `secret · lift_x(peer)` (plain ECDH; the dev/test signer).
pub(crate) fn shared_x(secret: &Secret32, peer: &[u8; 32]) -> Result<Secret32, String> {
    nostr::keys::ecdh_x(secret, peer).map_err(|e| e.to_string())
}

pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub(crate) fn random_hex16() -> String {
    let mut b = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut b);
    hex::encode(b)
}
