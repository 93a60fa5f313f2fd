//! Peer policies (igloo-server's `allowSend` / `allowReceive` per peer) and how they reach the
//! running node.
//!
//! Precedence: a policy stored through `PUT /api/peers/{pubkey}/policy` (redb) → the
//! `PEER_POLICIES` seed from the environment or `/api/env` → allowed. The node factory builds the
//! node's initial policy with [`for_members`] (so a denied peer is refused from the first
//! message), [`apply_to_node`] runs whenever a node is attached, and the policy routes push each
//! change to the live node.

use super::AppState;
use super::node::SignerNode;
use super::routes::peer_xonly;
use crate::config::PeerPolicySeed;
use crate::store::PeerPolicy;

/// Where an effective policy comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Stored,
    Env,
    Default,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Stored => "stored",
            Source::Env => "env",
            Source::Default => "default",
        }
    }
}

/// The policy in force for one peer.
#[derive(Clone, Debug)]
pub struct Effective {
    pub allow_send: bool,
    pub allow_receive: bool,
    pub source: Source,
    pub stored: Option<PeerPolicy>,
    pub seed: Option<PeerPolicySeed>,
}

/// The stored policy of `peer` (x-only), whichever key form it was stored under.
pub fn stored_for(
    st: &AppState,
    peer: &[u8; 32],
) -> Result<Option<PeerPolicy>, crate::store::Error> {
    Ok(st
        .store
        .peer_policies()?
        .into_iter()
        .find(|p| peer_xonly(&p.pubkey).as_ref() == Some(peer)))
}

/// The `PEER_POLICIES` entry of `peer`.
pub fn seed_for<'a>(st: &'a AppState, peer: &[u8; 32]) -> Option<&'a PeerPolicySeed> {
    st.cfg.peer_policy_seeds.iter().find(|s| &s.xonly == peer)
}

/// Stored → seeded → allowed.
pub fn effective(st: &AppState, peer: &[u8; 32]) -> Result<Effective, crate::store::Error> {
    let stored = stored_for(st, peer)?;
    let seed = seed_for(st, peer).cloned();
    let (allow_send, allow_receive, source) = match (&stored, &seed) {
        (Some(p), _) => (p.allow_send, p.allow_receive, Source::Stored),
        (None, Some(s)) => (
            s.allow_send.unwrap_or(true),
            s.allow_receive.unwrap_or(true),
            Source::Env,
        ),
        (None, None) => (true, true, Source::Default),
    };
    Ok(Effective {
        allow_send,
        allow_receive,
        source,
        stored,
        seed,
    })
}

/// `(peer, allow_send, allow_receive)` for every member that has a stored or seeded policy.
/// A store read error is logged and the seeds still apply.
pub fn for_members(st: &AppState, members: &[[u8; 32]]) -> Vec<([u8; 32], bool, bool)> {
    let mut out = Vec::new();
    for m in members {
        match effective(st, m) {
            Ok(e) if e.source != Source::Default => out.push((*m, e.allow_send, e.allow_receive)),
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(error = %err, "peer policies: store read failed; using PEER_POLICIES");
                if let Some(s) = seed_for(st, m) {
                    out.push((
                        *m,
                        s.allow_send.unwrap_or(true),
                        s.allow_receive.unwrap_or(true),
                    ));
                }
            }
        }
    }
    out
}

/// Pushes the effective policy of every peer of `node` to it.
pub fn apply_to_node(st: &AppState, node: &dyn SignerNode) {
    let peers: Vec<[u8; 32]> = node
        .status()
        .peers
        .iter()
        .filter_map(|p| peer_xonly(&p.pubkey))
        .collect();
    for (peer, send, receive) in for_members(st, &peers) {
        if let Err(e) = node.set_peer_policy(peer.to_vec(), send, receive) {
            tracing::warn!(peer = %hex::encode(peer), error = %e, "peer policy not applied");
        }
    }
}
