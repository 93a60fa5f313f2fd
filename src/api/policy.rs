//! Peer policies (igloo-server's `allowSend` / `allowReceive` per peer) and how they reach the
//! running node.
//!
//! Policies are per keyset: a stored policy belongs to one (keyset, peer) pair, so a policy
//! set on keyset `a` never touches keyset `b`'s node, even for the same peer pubkey.
//!
//! Precedence: a policy stored for the keyset through `PUT /api/peers/{pubkey}/policy?keyset=`
//! (redb) → the box-wide `PEER_POLICIES` seed from the environment or `/api/env` → allowed. The
//! node factory builds the node's initial policy with [`for_members`] (so a denied peer is
//! refused from the first message), [`apply_to_node`] runs whenever a node is attached, and the
//! policy routes push each change to that keyset's live node only.

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

/// Keyset `keyset`'s stored policy of `peer` (x-only), whichever key form it was stored under.
pub fn stored_for(
    st: &AppState,
    keyset: &str,
    peer: &[u8; 32],
) -> Result<Option<PeerPolicy>, crate::store::Error> {
    Ok(st
        .store
        .peer_policies_of(keyset)?
        .into_iter()
        .find(|p| peer_xonly(&p.pubkey).as_ref() == Some(peer)))
}

/// The `PEER_POLICIES` entry of `peer`.
pub fn seed_for<'a>(st: &'a AppState, peer: &[u8; 32]) -> Option<&'a PeerPolicySeed> {
    st.cfg.peer_policy_seeds.iter().find(|s| &s.xonly == peer)
}

/// Stored for `keyset` → seeded → allowed.
pub fn effective(
    st: &AppState,
    keyset: &str,
    peer: &[u8; 32],
) -> Result<Effective, crate::store::Error> {
    let stored = stored_for(st, keyset, peer)?;
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

/// `(peer, allow_send, allow_receive)` for every member that has a policy stored for `keyset`
/// or seeded. A store read error is logged and the seeds still apply.
pub fn for_members(
    st: &AppState,
    keyset: &str,
    members: &[[u8; 32]],
) -> Vec<([u8; 32], bool, bool)> {
    let mut out = Vec::new();
    for m in members {
        match effective(st, keyset, m) {
            Ok(e) if e.source != Source::Default => out.push((*m, e.allow_send, e.allow_receive)),
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(keyset, error = %err, "peer policies: store read failed; using PEER_POLICIES");
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

/// Pushes the effective policy (for `keyset`) of every peer of `node`, keyset `keyset`'s node.
pub fn apply_to_node(st: &AppState, keyset: &str, node: &dyn SignerNode) {
    let peers: Vec<[u8; 32]> = node
        .status()
        .peers
        .iter()
        .filter_map(|p| peer_xonly(&p.pubkey))
        .collect();
    for (peer, send, receive) in for_members(st, keyset, &peers) {
        if let Err(e) = node.set_peer_policy(peer.to_vec(), send, receive) {
            tracing::warn!(keyset, peer = %hex::encode(peer), error = %e, "peer policy not applied");
        }
    }
}
