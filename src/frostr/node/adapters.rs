//! Glue to the rest of Frostbox: the redb nonce ledger (`crate::store`) as a
//! `frost::NonceLedger`, and `NodeHandle` as the API's `SignerNode`.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use crate::api::node::{
    BoxFut, DuplicateShareInfo, NodeCallError, NodeStatusInfo, PeerInfo, SignerNode,
};
use crate::frost::{LedgerError, NonceLedger};
use crate::store::{NonceLedgerStore, Store};

use super::engine::NodeError;
use super::node::NodeHandle;

/// The durable nonce ledger backed by the redb store. `record_consumed` refuses a code that was
/// recorded before (also across restarts) and is durable (committed) when it returns `Ok`.
/// Codes burned in advance with `reserve` (one fsync per batch of freshly generated nonces, before
/// any of them is advertised) are consumed from memory: the signing path then waits for no disk.
pub struct StoreLedger {
    store: Store,
    /// Codes on disk but not yet used; the lock also serialises check-and-record within this
    /// process (the store is single-process).
    reserved: Mutex<HashSet<[u8; 32]>>,
}

/// Reserved codes kept in memory at most (32 bytes each). Nonces whose peer never used them
/// (a peer that restarted, a pool that was cleared) would otherwise accumulate; past the cap the
/// set is emptied, which fails closed: such a code is then refused as consumed and the peer is
/// answered `nonce_unavailable` and re-pings.
const MAX_RESERVED: usize = 1 << 16;

impl StoreLedger {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            reserved: Mutex::new(HashSet::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<[u8; 32]>> {
        self.reserved.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl NonceLedger for StoreLedger {
    fn record_consumed(&self, code: &[u8; 32]) -> Result<(), LedgerError> {
        let mut reserved = self.lock();
        if reserved.remove(code) {
            return Ok(());
        }
        let st: &dyn NonceLedgerStore = &self.store;
        if st
            .is_consumed(code)
            .map_err(|e| LedgerError::Storage(e.to_string()))?
        {
            return Err(LedgerError::AlreadyConsumed(hex::encode(code)));
        }
        st.record_consumed(code)
            .map_err(|e| LedgerError::Storage(e.to_string()))
    }

    fn reserve(&self, codes: &[[u8; 32]]) -> Result<(), LedgerError> {
        if codes.is_empty() {
            return Ok(());
        }
        let mut reserved = self.lock();
        let st: &dyn NonceLedgerStore = &self.store;
        if !st
            .record_consumed_batch(codes)
            .map_err(|e| LedgerError::Storage(e.to_string()))?
        {
            return Err(LedgerError::AlreadyConsumed(
                "a freshly generated nonce code".into(),
            ));
        }
        if reserved.len() + codes.len() > MAX_RESERVED {
            reserved.clear();
        }
        reserved.extend(codes.iter().copied());
        Ok(())
    }

    /// Reserved codes are written to the store by `reserve`, so the store alone answers.
    fn issued(&self, code: &[u8; 32]) -> Option<bool> {
        let st: &dyn NonceLedgerStore = &self.store;
        st.is_consumed(code).ok()
    }
}

fn call_err(e: NodeError) -> NodeCallError {
    match e {
        NodeError::NotEnoughPeers { .. } => NodeCallError::NotReady(e.to_string()),
        NodeError::Timeout { .. } => NodeCallError::Timeout,
        NodeError::PeerRejected { .. } | NodeError::InvalidPeerResponse { .. } => {
            NodeCallError::Rejected(e.to_string())
        }
        NodeError::InvalidInput(_) | NodeError::UnknownPeer(_) => {
            NodeCallError::BadInput(e.to_string())
        }
        NodeError::Stopped => NodeCallError::NotReady(e.to_string()),
        _ => NodeCallError::Failed(e.to_string()),
    }
}

/// Accepts a 32-byte x-only key or a 33-byte compressed key (drops the prefix).
fn peer_key(peer: &[u8]) -> Result<[u8; 32], NodeCallError> {
    let s = match peer.len() {
        32 => peer,
        33 => &peer[1..],
        n => {
            return Err(NodeCallError::BadInput(format!(
                "peer key must be 32 or 33 bytes, got {n}"
            )));
        }
    };
    let mut k = [0u8; 32];
    k.copy_from_slice(s);
    Ok(k)
}

impl SignerNode for NodeHandle {
    fn sign(&self, msg32: [u8; 32]) -> BoxFut<'_, Result<[u8; 64], NodeCallError>> {
        Box::pin(async move { NodeHandle::sign(self, msg32).await.map_err(call_err) })
    }

    fn ecdh(&self, peer_xonly: [u8; 32]) -> BoxFut<'_, Result<[u8; 32], NodeCallError>> {
        Box::pin(async move { NodeHandle::ecdh(self, peer_xonly).await.map_err(call_err) })
    }

    fn ping(&self, peer: Vec<u8>) -> BoxFut<'_, Result<Duration, NodeCallError>> {
        Box::pin(async move {
            let k = peer_key(&peer)?;
            NodeHandle::ping(self, k).await.map_err(call_err)
        })
    }

    fn status(&self) -> NodeStatusInfo {
        let st = NodeHandle::status(self);
        let mut warnings = Vec::new();
        if st.relays_connected == 0 {
            warnings.push("no relay connected".to_string());
        }
        if !st.threshold_reachable {
            warnings.push(format!(
                "threshold not reachable: {} of {} needed co-signers ready",
                st.sign_ready_peers,
                st.threshold.saturating_sub(1)
            ));
        }
        if let Some(d) = &st.duplicate_share {
            warnings.push(format!(
                "another signer may be running with this share: peer {} asked to sign with {} \
                 nonce(s) this signer never generated; load each share in one signer only",
                d.peer, d.codes
            ));
        }
        NodeStatusInfo {
            ready: st.ready,
            threshold_reachable: st.threshold_reachable,
            threshold: st.threshold,
            total: u16::try_from(st.peers.len() + 1).unwrap_or(u16::MAX),
            group_pk: st.group_pk.clone(),
            self_pubkey: st.pubkey.clone(),
            legacy: st.legacy,
            relays: self.relays(),
            peers: st
                .peers
                .iter()
                .map(|p| PeerInfo {
                    pubkey: p.pubkey.clone(),
                    online: p.online,
                    last_seen: p.last_seen,
                    rtt_ms: p.rtt_ms,
                    allow_send: p.can_request_sign,
                    allow_receive: self.allows_inbound_hex(&p.pubkey),
                    nonces_in: u32::try_from(p.incoming_nonces).ok(),
                    nonces_out: u32::try_from(p.outgoing_nonces).ok(),
                })
                .collect(),
            warnings,
            duplicate_share: st.duplicate_share.map(|d| DuplicateShareInfo {
                peer: d.peer,
                codes: d.codes,
                last_at: d.last_at,
            }),
        }
    }

    fn relay_status(&self) -> Vec<crate::api::node::RelayInfo> {
        NodeHandle::relay_status(self)
            .into_iter()
            .map(|r| crate::api::node::RelayInfo {
                url: r.url,
                connected: r.connected,
                rtt_ms: r.rtt_ms,
                last_error: r.last_error,
            })
            .collect()
    }

    fn shutdown(&self) -> BoxFut<'_, ()> {
        Box::pin(NodeHandle::shutdown(self))
    }

    fn subscribe_activity(&self) -> Option<tokio::sync::broadcast::Receiver<super::Activity>> {
        Some(NodeHandle::subscribe_activity(self))
    }

    fn set_peer_policy(
        &self,
        peer: Vec<u8>,
        allow_send: bool,
        allow_receive: bool,
    ) -> Result<(), NodeCallError> {
        let k = peer_key(&peer)?;
        if !self.is_peer(&k) {
            return Err(NodeCallError::BadInput(format!(
                "{} is not a peer of this keyset",
                hex::encode(k)
            )));
        }
        self.update_peer_policy(&k, |p| p.set_send_receive(allow_send, allow_receive));
        Ok(())
    }
}
