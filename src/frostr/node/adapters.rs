//! Glue to the rest of Frostbox: the redb nonce ledger (`crate::store`) as a
//! `frost::NonceLedger`, and `NodeHandle` as the API's `SignerNode`.

use std::sync::Mutex;
use std::time::Duration;

use crate::api::node::{BoxFut, NodeCallError, NodeStatusInfo, PeerInfo, SignerNode};
use crate::frost::{LedgerError, NonceLedger};
use crate::store::{NonceLedgerStore, Store};

use super::engine::NodeError;
use super::node::NodeHandle;

/// The durable nonce ledger backed by the redb store. `record_consumed` refuses a code that was
/// recorded before (also across restarts) and is durable (committed) when it returns `Ok`.
pub struct StoreLedger {
    store: Store,
    // Serialises check-and-record within this process (the store is single-process).
    guard: Mutex<()>,
}

impl StoreLedger {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            guard: Mutex::new(()),
        }
    }
}

impl NonceLedger for StoreLedger {
    fn record_consumed(&self, code: &[u8; 32]) -> Result<(), LedgerError> {
        let _g = self.guard.lock().unwrap_or_else(|p| p.into_inner());
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
