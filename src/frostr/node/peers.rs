//! Peer status and readiness: "threshold reachable now", computed from all peers.

use serde::Serialize;

/// Peers seen within this many seconds count as online (`PEER_ONLINE_GRACE_SECS`).
pub const PEER_ONLINE_GRACE_SECS: u64 = 120;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PeerStatus {
    pub idx: u16,
    /// x-only key, lowercase hex.
    pub pubkey: String,
    pub last_seen: Option<u64>,
    pub rtt_ms: Option<u64>,
    pub online: bool,
    /// Nonces I hold from the peer (usable for my sign requests).
    pub incoming_nonces: usize,
    /// Nonces I generated for the peer and still hold.
    pub outgoing_nonces: usize,
    pub outgoing_spent: usize,
    pub should_send_nonces: bool,
    /// Local policy lets me ask it to sign, and its last profile lets it answer.
    pub can_request_sign: bool,
    pub can_request_ecdh: bool,
    /// Can co-sign right now: online, > 5 nonces from it, policy allows.
    pub sign_ready: bool,
    pub ecdh_ready: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeStatus {
    pub idx: u16,
    pub pubkey: String,
    pub group_pk: String,
    pub threshold: u16,
    /// Transport up and at least `threshold − 1` peers could co-sign now.
    pub ready: bool,
    pub threshold_reachable: bool,
    pub ecdh_reachable: bool,
    pub sign_ready_peers: usize,
    pub online_peers: usize,
    pub peers: Vec<PeerStatus>,
    pub legacy: bool,
    pub relays_connected: usize,
    /// Set while peers recently named nonce codes this signer never generated.
    pub duplicate_share: Option<DuplicateShare>,
}

/// Peers asked us to sign with nonce codes this signer never generated: most likely a second
/// signer runs with the same share (its nonce advertisements reach the peers under our key, and
/// each request then fails on one of the two), or this box's data was reset while a peer still
/// held nonces from before. Shown for [`DUPLICATE_SHARE_WINDOW_SECS`] after the last one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DuplicateShare {
    /// The peer (x-only hex) of the latest such request.
    pub peer: String,
    /// Foreign codes seen since this signer started.
    pub codes: u64,
    /// Unix seconds of the latest.
    pub last_at: u64,
}

impl DuplicateShare {
    /// Still worth a warning at `now`: the latest foreign code is inside the window.
    pub fn is_recent(&self, now: u64) -> bool {
        now.saturating_sub(self.last_at) <= DUPLICATE_SHARE_WINDOW_SECS
    }
}

/// How long a foreign nonce code keeps the duplicate-share warning up.
pub const DUPLICATE_SHARE_WINDOW_SECS: u64 = 600;

pub fn is_online(last_seen: Option<u64>, now: u64) -> bool {
    last_seen.is_some_and(|t| now.saturating_sub(t) <= PEER_ONLINE_GRACE_SECS)
}

/// Readiness from ALL peers: the threshold is reachable iff at least `t − 1` peers can co-sign.
pub fn threshold_reachable(threshold: u16, peers: &[PeerStatus]) -> bool {
    let need = usize::from(threshold.saturating_sub(1));
    peers.iter().filter(|p| p.sign_ready).count() >= need
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(idx: u16, ready: bool) -> PeerStatus {
        PeerStatus {
            idx,
            pubkey: String::new(),
            last_seen: None,
            rtt_ms: None,
            online: ready,
            incoming_nonces: 0,
            outgoing_nonces: 0,
            outgoing_spent: 0,
            should_send_nonces: true,
            can_request_sign: true,
            can_request_ecdh: true,
            sign_ready: ready,
            ecdh_ready: ready,
        }
    }

    #[test]
    fn readiness_counts_all_peers_not_the_first() {
        // 2-of-3: first peer offline, second online → reachable.
        assert!(threshold_reachable(2, &[peer(2, false), peer(3, true)]));
        assert!(!threshold_reachable(2, &[peer(2, false), peer(3, false)]));
        // 3-of-5 needs two ready peers, whichever they are.
        let ps = [peer(2, false), peer(3, true), peer(4, false), peer(5, true)];
        assert!(threshold_reachable(3, &ps));
        assert!(!threshold_reachable(3, &ps[..3]));
    }

    #[test]
    fn online_grace_is_inclusive() {
        assert!(is_online(Some(100), 220));
        assert!(!is_online(Some(100), 221));
        assert!(!is_online(None, 0));
    }
}
