//! Peer policy (FROSTR-NEXT §6.5, ADR-009) and `policy_profile` emission (§5.1).

use crate::frostr::next::wire::{MethodFlags, PolicyProfile};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Echo,
    Ping,
    Onboard,
    Sign,
    Ecdh,
}

impl Method {
    pub fn as_str(&self) -> &'static str {
        match self {
            Method::Echo => "echo",
            Method::Ping => "ping",
            Method::Onboard => "onboard",
            Method::Sign => "sign",
            Method::Ecdh => "ecdh",
        }
    }

    /// The exact `peer_denied` message bifrost-rs sends (§5.6).
    pub fn denied_message(&self) -> String {
        format!("inbound {} denied by local policy", self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Override {
    #[default]
    Unset,
    Allow,
    Deny,
}

impl Override {
    pub fn allows(self) -> bool {
        !matches!(self, Override::Deny)
    }
}

/// Overrides per method, key order `echo, ping, onboard, sign, ecdh` (as in `bfprofile`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MethodOverrides {
    #[serde(default)]
    pub echo: Override,
    #[serde(default)]
    pub ping: Override,
    #[serde(default)]
    pub onboard: Override,
    #[serde(default)]
    pub sign: Override,
    #[serde(default)]
    pub ecdh: Override,
}

impl MethodOverrides {
    pub fn get(&self, m: Method) -> Override {
        match m {
            Method::Echo => self.echo,
            Method::Ping => self.ping,
            Method::Onboard => self.onboard,
            Method::Sign => self.sign,
            Method::Ecdh => self.ecdh,
        }
    }
    pub fn set(&mut self, m: Method, o: Override) {
        match m {
            Method::Echo => self.echo = o,
            Method::Ping => self.ping = o,
            Method::Onboard => self.onboard = o,
            Method::Sign => self.sign = o,
            Method::Ecdh => self.ecdh = o,
        }
    }
    /// `unset → true` (§5.1).
    pub fn flags(&self) -> MethodFlags {
        MethodFlags {
            echo: self.echo.allows(),
            ping: self.ping.allows(),
            onboard: self.onboard.allows(),
            sign: self.sign.allows(),
            ecdh: self.ecdh.allows(),
        }
    }
    pub fn deny_all() -> Self {
        let d = Override::Deny;
        Self {
            echo: d,
            ping: d,
            onboard: d,
            sign: d,
            ecdh: d,
        }
    }
}

/// Manual overrides towards one peer: `request` = I initiate, `respond` = I answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PeerPolicy {
    #[serde(default)]
    pub request: MethodOverrides,
    #[serde(default)]
    pub respond: MethodOverrides,
}

impl PeerPolicy {
    /// igloo-server's two switches: `allow_send` = this node may ask the peer (ping, sign,
    /// ECDH, onboard); `allow_receive` = this node answers the peer. `true` clears the override
    /// (unset → allowed), `false` denies. Echo is left as it is.
    pub fn set_send_receive(&mut self, allow_send: bool, allow_receive: bool) {
        let o = |allow: bool| {
            if allow {
                Override::Unset
            } else {
                Override::Deny
            }
        };
        for m in [Method::Ping, Method::Sign, Method::Ecdh, Method::Onboard] {
            self.request.set(m, o(allow_send));
            self.respond.set(m, o(allow_receive));
        }
    }
}

/// The node's policy: a default plus per-peer overrides (keyed by x-only key), and what each peer
/// last told us about its own policy towards us.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub default: PeerPolicy,
    pub peers: HashMap<[u8; 32], PeerPolicy>,
    observed: HashMap<[u8; 32], PolicyProfile>,
}

impl Policy {
    pub fn local(&self, peer: &[u8; 32]) -> PeerPolicy {
        self.peers.get(peer).copied().unwrap_or(self.default)
    }

    pub fn set_peer(&mut self, peer: [u8; 32], p: PeerPolicy) {
        self.peers.insert(peer, p);
    }

    /// Inbound: local policy only.
    pub fn allows_inbound(&self, peer: &[u8; 32], m: Method) -> bool {
        self.local(peer).respond.get(m).allows()
    }

    /// Outbound: local `request` override, and for sign/ecdh the peer's last observed
    /// `respond.sign/ecdh` (absent = allow).
    pub fn allows_outbound(&self, peer: &[u8; 32], m: Method) -> bool {
        if !self.local(peer).request.get(m).allows() {
            return false;
        }
        match (m, self.observed.get(peer)) {
            (Method::Sign, Some(p)) => p.respond.sign,
            (Method::Ecdh, Some(p)) => p.respond.ecdh,
            _ => true,
        }
    }

    /// Stores a received profile; ignored when it is not addressed to `me`.
    pub fn observe(&mut self, me: &[u8; 32], from: [u8; 32], profile: &PolicyProfile) -> bool {
        if &profile.for_peer != me {
            return false;
        }
        self.observed.insert(from, profile.clone());
        true
    }

    /// Keeps what peers told us when the local overrides are replaced.
    pub fn merge_observed(&mut self, other: &Policy) {
        for (k, v) in &other.observed {
            self.observed.entry(*k).or_insert_with(|| v.clone());
        }
    }

    pub fn observed(&self, peer: &[u8; 32]) -> Option<&PolicyProfile> {
        self.observed.get(peer)
    }

    /// The profile I send to `peer` (§5.1): `revision = updated = now`, `block_all` iff all ten
    /// flags are false.
    pub fn profile_for(&self, peer: &[u8; 32], now: u64) -> PolicyProfile {
        let local = self.local(peer);
        let request = local.request.flags();
        let respond = local.respond.flags();
        PolicyProfile {
            for_peer: *peer,
            revision: now,
            updated: now,
            block_all: !request.any() && !respond.any(),
            request,
            respond,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: [u8; 32] = [0xaa; 32];
    const B: [u8; 32] = [0xbb; 32];

    #[test]
    fn denied_messages_are_exact() {
        assert_eq!(
            Method::Ping.denied_message(),
            "inbound ping denied by local policy"
        );
        assert_eq!(
            Method::Onboard.denied_message(),
            "inbound onboard denied by local policy"
        );
        assert_eq!(
            Method::Sign.denied_message(),
            "inbound sign denied by local policy"
        );
        assert_eq!(
            Method::Ecdh.denied_message(),
            "inbound ecdh denied by local policy"
        );
    }

    #[test]
    fn default_profile_allows_everything() {
        let p = Policy::default();
        let prof = p.profile_for(&B, 1795316319);
        assert_eq!(
            serde_json::to_string(&prof).unwrap(),
            r#"{"for_peer":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","revision":1795316319,"updated":1795316319,"block_all":false,"request":{"echo":true,"ping":true,"onboard":true,"sign":true,"ecdh":true},"respond":{"echo":true,"ping":true,"onboard":true,"sign":true,"ecdh":true}}"#
        );
    }

    #[test]
    fn block_all_only_when_all_ten_false() {
        let mut p = Policy::default();
        let mut pp = PeerPolicy {
            request: MethodOverrides::deny_all(),
            respond: MethodOverrides::deny_all(),
        };
        p.set_peer(B, pp);
        assert!(p.profile_for(&B, 1).block_all);
        pp.respond.set(Method::Echo, Override::Allow);
        p.set_peer(B, pp);
        assert!(!p.profile_for(&B, 1).block_all);
        assert!(!p.profile_for(&A, 1).block_all);
    }

    #[test]
    fn inbound_uses_local_only() {
        let mut p = Policy::default();
        let mut pp = PeerPolicy::default();
        pp.respond.sign = Override::Deny;
        p.set_peer(B, pp);
        assert!(!p.allows_inbound(&B, Method::Sign));
        assert!(p.allows_inbound(&B, Method::Ecdh));
        assert!(p.allows_inbound(&A, Method::Sign));
    }

    #[test]
    fn outbound_respects_observed_peer_profile() {
        let mut p = Policy::default();
        assert!(p.allows_outbound(&B, Method::Sign));
        let mut theirs = Policy::default();
        let mut tp = PeerPolicy::default();
        tp.respond.sign = Override::Deny;
        theirs.set_peer(A, tp);
        let prof = theirs.profile_for(&A, 5);
        // A profile not addressed to me is ignored.
        assert!(!p.observe(&B, B, &prof));
        assert!(p.allows_outbound(&B, Method::Sign));
        assert!(p.observe(&A, B, &prof));
        assert!(!p.allows_outbound(&B, Method::Sign));
        assert!(p.allows_outbound(&B, Method::Ecdh));
        // Ping is not gated by the peer's profile.
        assert!(p.allows_outbound(&B, Method::Ping));
        // Local request override.
        let mut lp = PeerPolicy::default();
        lp.request.ecdh = Override::Deny;
        p.set_peer(B, lp);
        assert!(!p.allows_outbound(&B, Method::Ecdh));
    }
}
