//! The signing node as the API sees it. The node engineer implements [`SignerNode`] for
//! `frostr::node::NodeHandle`; `serve` attaches it with [`crate::api::AppState::attach_node`].
//! Until a node is attached, node routes answer `503 {"error":"signer not configured"}`.

use serde::Serialize;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// A boxed `Send` future (no `async_trait` dependency).
pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a node call failed. Mapped to HTTP: `NotReady` → 503, `Timeout` → 504,
/// `Rejected`/`Failed` → 502, `BadInput` → 400.
#[derive(Debug, thiserror::Error)]
pub enum NodeCallError {
    #[error("signer not ready: {0}")]
    NotReady(String),
    #[error("timed out")]
    Timeout,
    #[error("rejected by peers: {0}")]
    Rejected(String),
    #[error("{0}")]
    BadInput(String),
    #[error("signing failed: {0}")]
    Failed(String),
}

/// One peer as shown by `/api/peers`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PeerInfo {
    /// Lowercase hex, as encoded in the group (33-byte compressed or 32-byte x-only).
    pub pubkey: String,
    pub online: bool,
    /// Unix seconds of the last message from this peer.
    pub last_seen: Option<u64>,
    pub rtt_ms: Option<u64>,
    pub allow_send: bool,
    pub allow_receive: bool,
    /// Nonces we hold from / for this peer (pool levels).
    pub nonces_in: Option<u32>,
    pub nonces_out: Option<u32>,
}

/// A snapshot of the node for `/api/status` and `/api/peers`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct NodeStatusInfo {
    pub ready: bool,
    pub threshold_reachable: bool,
    pub threshold: u16,
    pub total: u16,
    /// Hex x-only group public key.
    pub group_pk: String,
    /// Hex pubkey of this share.
    pub self_pubkey: String,
    pub legacy: bool,
    /// Relays the running node actually uses.
    pub relays: Vec<String>,
    pub peers: Vec<PeerInfo>,
    pub warnings: Vec<String>,
    /// Recent sign requests named nonces this signer never generated (a second signer with
    /// the same share, most likely); `None` when there were none in the last 10 minutes.
    pub duplicate_share: Option<DuplicateShareInfo>,
}

/// See [`NodeStatusInfo::duplicate_share`].
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DuplicateShareInfo {
    /// Hex pubkey of the peer whose request showed it last.
    pub peer: String,
    /// Foreign nonce codes seen since the signer started.
    pub codes: u64,
    /// Unix seconds of the latest.
    pub last_at: u64,
}

/// One relay the node uses, as shown by `/api/status`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RelayInfo {
    pub url: String,
    pub connected: bool,
    pub rtt_ms: Option<u64>,
    pub last_error: Option<String>,
}

/// What the API needs from the signing node.
pub trait SignerNode: Send + Sync + 'static {
    /// BIP-340 signature by the group key over `msg32`.
    fn sign(&self, msg32: [u8; 32]) -> BoxFut<'_, Result<[u8; 64], NodeCallError>>;
    /// Threshold ECDH with `peer_xonly`; returns the shared x coordinate.
    fn ecdh(&self, peer_xonly: [u8; 32]) -> BoxFut<'_, Result<[u8; 32], NodeCallError>>;
    /// Round-trip ping of one group peer (pubkey as in [`PeerInfo::pubkey`], hex-decoded).
    fn ping(&self, peer: Vec<u8>) -> BoxFut<'_, Result<Duration, NodeCallError>>;
    fn status(&self) -> NodeStatusInfo;
    /// Applies a send/receive policy to a peer on the live node.
    fn set_peer_policy(
        &self,
        peer: Vec<u8>,
        allow_send: bool,
        allow_receive: bool,
    ) -> Result<(), NodeCallError>;
    /// Live state of each relay connection (empty when unknown).
    fn relay_status(&self) -> Vec<RelayInfo> {
        Vec::new()
    }
    /// The node's live activity (requests served/refused, own rounds, peer presence), which
    /// `AppState::attach_node_for` forwards to `/api/events`. `None`: the node reports none.
    fn subscribe_activity(
        &self,
    ) -> Option<tokio::sync::broadcast::Receiver<crate::frostr::node::Activity>> {
        None
    }
    /// Stops the node (no more signing, relay connections closed). Used by `/api/lock`.
    fn shutdown(&self) -> BoxFut<'_, ()> {
        Box::pin(async {})
    }
}
