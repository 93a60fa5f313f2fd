//! What the node does, for live observers (`/api/events`, the web UI's event log).
//!
//! The node owns one [`ActivityHub`]; observers call `NodeHandle::subscribe_activity` and get a
//! `tokio::sync::broadcast` receiver of [`Activity`] items. An item is keyset-agnostic (the API
//! adds the keyset id) and never carries secrets: kinds, peer keys, methods, durations and
//! refusal reasons only. Every hook first checks whether anyone listens, so a node nobody
//! watches pays one atomic load per hook (plus the peer last-seen bookkeeping that detects
//! online/offline transitions, one small map update per inbound message).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use serde::Serialize;
use tokio::sync::broadcast;

use crate::frostr::next::wire::{Envelope, PEER_DENIED, Payload};

use super::engine::{Handled, NodeError, Op, Outcome, Outgoing, Reject};
use super::peers::is_online;

/// Items buffered per subscriber before a slow one starts losing the oldest.
pub const ACTIVITY_CAPACITY: usize = 256;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivityKind {
    /// A peer's request was answered (sign: partial signature sent; ecdh: share sent).
    Served,
    /// A peer's request was refused by local policy (answered `peer_denied`).
    Refused,
    /// A peer's request could not be served (invalid, stale nonce, replay, ...).
    Failed,
    /// One of our own rounds finished with a result.
    RoundOk,
    /// One of our own rounds failed (timeout, refusal, invalid response, ...).
    RoundFailed,
    /// A peer was heard from after being offline (or for the first time).
    PeerOnline,
    /// A peer has not been heard from for [`super::peers::PEER_ONLINE_GRACE_SECS`].
    PeerOffline,
}

impl ActivityKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            ActivityKind::Served => "served",
            ActivityKind::Refused => "refused",
            ActivityKind::Failed => "failed",
            ActivityKind::RoundOk => "round_ok",
            ActivityKind::RoundFailed => "round_failed",
            ActivityKind::PeerOnline => "peer_online",
            ActivityKind::PeerOffline => "peer_offline",
        }
    }
    /// Whether the item is about a peer's request to us (as opposed to our own round).
    pub fn is_inbound(&self) -> bool {
        matches!(
            self,
            ActivityKind::Served | ActivityKind::Refused | ActivityKind::Failed
        )
    }
}

/// One thing the node did. No secrets: keys are public, reasons are protocol messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Activity {
    pub kind: ActivityKind,
    /// `sign`, `ecdh` or `onboard`; `None` for peer status changes.
    pub method: Option<&'static str>,
    /// The peer (x-only hex) that asked, or whose status changed; `None` for own rounds.
    pub peer: Option<String>,
    /// The peers (x-only hex) an own round went to.
    pub peers: Vec<String>,
    /// Time from receiving a request to the answer, or from starting an own round to its end.
    pub ms: Option<u64>,
    /// Why a request was refused or failed, or why an own round failed.
    pub reason: Option<String>,
}

impl Activity {
    fn new(kind: ActivityKind) -> Activity {
        Activity {
            kind,
            method: None,
            peer: None,
            peers: Vec::new(),
            ms: None,
            reason: None,
        }
    }
    /// Whether the operation succeeded (served, round finished, peer online).
    pub fn ok(&self) -> bool {
        matches!(
            self.kind,
            ActivityKind::Served | ActivityKind::RoundOk | ActivityKind::PeerOnline
        )
    }
}

/// A peer request seen by [`ActivityHub::inbound`], waiting for its answer.
#[derive(Debug)]
pub struct InboundProbe {
    peer: [u8; 32],
    method: &'static str,
    t0: Instant,
}

/// An own round started, waiting for [`ActivityHub::finished`].
#[derive(Debug)]
pub struct RoundProbe {
    op: Op,
    peers: Vec<String>,
    t0: Instant,
}

#[derive(Debug, Clone, Copy)]
struct Seen {
    last: u64,
    online: bool,
}

/// The node's activity channel and the peer presence it derives transitions from.
#[derive(Debug)]
pub struct ActivityHub {
    tx: broadcast::Sender<Activity>,
    seen: Mutex<HashMap<[u8; 32], Seen>>,
}

impl Default for ActivityHub {
    fn default() -> Self {
        ActivityHub::new()
    }
}

fn method_of(op: Op) -> Option<&'static str> {
    match op {
        Op::Sign => Some("sign"),
        Op::Ecdh => Some("ecdh"),
        Op::Onboard => Some("onboard"),
        Op::Ping => None,
    }
}

/// The reported method of a legacy (1.0.x) request tag.
pub fn legacy_method(tag: &str) -> Option<&'static str> {
    use crate::frostr::legacy::transport::tags;
    match tag {
        tags::SIGN_REQ => Some("sign"),
        tags::ECDH_REQ => Some("ecdh"),
        _ => None,
    }
}

fn elapsed_ms(t0: Instant) -> u64 {
    u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX)
}

impl ActivityHub {
    pub fn new() -> ActivityHub {
        let (tx, _) = broadcast::channel(ACTIVITY_CAPACITY);
        ActivityHub {
            tx,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// A receiver of everything emitted from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Activity> {
        self.tx.subscribe()
    }

    /// Whether anyone listens (nothing is built otherwise).
    pub fn listening(&self) -> bool {
        self.tx.receiver_count() > 0
    }

    fn emit(&self, a: Activity) {
        let _ = self.tx.send(a);
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Seen>> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An authenticated message from group member `from` arrived at `now` (unix seconds):
    /// records presence (emitting `PeerOnline` on a transition) and, for a request someone
    /// listens for, returns a probe for [`ActivityHub::answered`].
    pub fn inbound(&self, from: &[u8; 32], env: &Envelope, now: u64) -> Option<InboundProbe> {
        self.heard(from, now);
        let method = match env.payload {
            Payload::SignRequest(_) => "sign",
            Payload::EcdhRequest(_) => "ecdh",
            Payload::OnboardRequest(_) => "onboard",
            _ => return None,
        };
        self.request(from, Some(method))
    }

    /// Group member `from` was heard from at `now` (unix seconds); a transition to online is
    /// emitted.
    pub fn heard(&self, from: &[u8; 32], now: u64) {
        let came_online = {
            let mut seen = self.seen();
            let s = seen.entry(*from).or_insert(Seen {
                last: now,
                online: false,
            });
            let was = s.online && is_online(Some(s.last), now);
            s.last = now;
            s.online = true;
            !was
        };
        if came_online && self.listening() {
            let mut a = Activity::new(ActivityKind::PeerOnline);
            a.peer = Some(hex::encode(from));
            self.emit(a);
        }
    }

    /// A request of `method` (`None`: not one that is reported) from `peer`: a probe for its
    /// answer when someone listens.
    pub fn request(&self, peer: &[u8; 32], method: Option<&'static str>) -> Option<InboundProbe> {
        let method = method?;
        if !self.listening() {
            return None;
        }
        Some(InboundProbe {
            peer: *peer,
            method,
            t0: Instant::now(),
        })
    }

    /// The legacy node's answer to the request `probe` stands for: `Ok(Some)` sent, `Ok(None)`
    /// nothing to send, `Err` refused (by policy when the reason names it) or failed.
    pub fn replied<T>(&self, probe: Option<InboundProbe>, r: &Result<Option<T>, String>) {
        let Some(p) = probe else { return };
        let mut a = match r {
            Ok(None) => return,
            Ok(Some(_)) => Activity::new(ActivityKind::Served),
            Err(e) => {
                let kind = if e.contains("policy") {
                    ActivityKind::Refused
                } else {
                    ActivityKind::Failed
                };
                let mut a = Activity::new(kind);
                a.reason = Some(e.clone());
                a
            }
        };
        a.method = Some(p.method);
        a.peer = Some(hex::encode(p.peer));
        a.ms = Some(elapsed_ms(p.t0));
        self.emit(a);
    }

    /// How the engine handled the request `probe` stands for: answered, refused by policy
    /// (a `peer_denied` error reply) or failed (`refused` is the engine's reason).
    pub fn answered(&self, probe: Option<InboundProbe>, h: &Handled, refused: Option<&Reject>) {
        let Some(p) = probe else { return };
        let denied = h.outgoing.iter().find_map(|o| match &o.envelope.payload {
            Payload::Error(e) => Some(e),
            _ => None,
        });
        let mut a = match (refused, denied) {
            (Some(r), _) => {
                let mut a = Activity::new(ActivityKind::Failed);
                a.reason = Some(r.to_string());
                a
            }
            (None, Some(e)) => {
                let kind = if e.code == PEER_DENIED {
                    ActivityKind::Refused
                } else {
                    ActivityKind::Failed
                };
                let mut a = Activity::new(kind);
                a.reason = Some(format!("{}: {}", e.code, e.message));
                a
            }
            (None, None) if h.outgoing.is_empty() => return,
            (None, None) => Activity::new(ActivityKind::Served),
        };
        a.method = Some(p.method);
        a.peer = Some(hex::encode(p.peer));
        a.ms = Some(elapsed_ms(p.t0));
        self.emit(a);
    }

    /// An own round of `op` is being sent as `out`; `None` for pings or when nobody listens.
    pub fn round(&self, op: Op, out: &[Outgoing]) -> Option<RoundProbe> {
        self.round_to(op, out.iter().map(|o| &o.to))
    }

    /// An own round of `op` sent to `targets` (x-only keys).
    pub fn round_to<'a>(
        &self,
        op: Op,
        targets: impl IntoIterator<Item = &'a [u8; 32]>,
    ) -> Option<RoundProbe> {
        method_of(op)?;
        if !self.listening() {
            return None;
        }
        let mut peers: Vec<String> = targets.into_iter().map(hex::encode).collect();
        peers.sort_unstable();
        peers.dedup();
        Some(RoundProbe {
            op,
            peers,
            t0: Instant::now(),
        })
    }

    /// The round `probe` stands for ended with `res`.
    pub fn finished(&self, probe: Option<RoundProbe>, res: &Result<Outcome, NodeError>) {
        self.ended(probe, res);
    }

    /// As [`ActivityHub::finished`] for any result type.
    pub fn ended<T, E: std::fmt::Display>(&self, probe: Option<RoundProbe>, res: &Result<T, E>) {
        let Some(p) = probe else { return };
        let mut a = match res {
            Ok(_) => Activity::new(ActivityKind::RoundOk),
            Err(e) => {
                let mut a = Activity::new(ActivityKind::RoundFailed);
                a.reason = Some(e.to_string());
                a
            }
        };
        a.method = method_of(p.op);
        a.peers = p.peers;
        a.ms = Some(elapsed_ms(p.t0));
        self.emit(a);
    }

    /// Periodic check at `now`: peers silent for longer than the online grace turn offline.
    pub fn sweep(&self, now: u64) {
        let gone: Vec<[u8; 32]> = {
            let mut seen = self.seen();
            seen.iter_mut()
                .filter(|(_, s)| s.online && !is_online(Some(s.last), now))
                .map(|(k, s)| {
                    s.online = false;
                    *k
                })
                .collect()
        };
        if !self.listening() {
            return;
        }
        for k in gone {
            let mut a = Activity::new(ActivityKind::PeerOffline);
            a.peer = Some(hex::encode(k));
            self.emit(a);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frostr::next::wire::ErrorPayload;

    fn env(payload: Payload) -> Envelope {
        Envelope {
            request_id: "r1".into(),
            sent_at: 1,
            payload,
        }
    }

    fn err_out(code: &str) -> Handled {
        Handled {
            outgoing: vec![Outgoing {
                to: [2; 32],
                envelope: env(Payload::Error(ErrorPayload {
                    code: code.into(),
                    message: "inbound sign denied by local policy".into(),
                })),
            }],
            completion: None,
            deferred: None,
        }
    }

    fn onboard_req() -> Payload {
        Payload::OnboardRequest(crate::frostr::next::wire::OnboardRequest {
            version: 2,
            nonces: vec![],
        })
    }

    #[test]
    fn nothing_is_built_without_listeners_but_presence_is_kept() {
        let hub = ActivityHub::new();
        assert!(!hub.listening());
        assert!(hub.inbound(&[2; 32], &env(onboard_req()), 100).is_none());
        let out = [Outgoing {
            to: [2; 32],
            envelope: env(onboard_req()),
        }];
        assert!(hub.round(Op::Sign, &out).is_none());
        // The peer was recorded online while nobody listened: no transition on its next message.
        let mut rx = hub.subscribe();
        let probe = hub.inbound(&[2; 32], &env(onboard_req()), 101);
        assert!(probe.is_some_and(|p| p.method == "onboard"));
        assert!(rx.try_recv().is_err(), "no online transition");
    }

    #[test]
    fn online_offline_transitions() {
        let hub = ActivityHub::new();
        let mut rx = hub.subscribe();
        hub.inbound(&[3; 32], &env(onboard_req()), 1000);
        let a = rx.try_recv().expect("online");
        assert_eq!(a.kind, ActivityKind::PeerOnline);
        assert_eq!(a.peer.as_deref(), Some(hex::encode([3u8; 32]).as_str()));
        hub.inbound(&[3; 32], &env(onboard_req()), 1010);
        assert!(rx.try_recv().is_err(), "still online: no event");
        hub.sweep(1010 + super::super::peers::PEER_ONLINE_GRACE_SECS);
        assert!(rx.try_recv().is_err(), "within grace");
        hub.sweep(1011 + super::super::peers::PEER_ONLINE_GRACE_SECS);
        assert_eq!(
            rx.try_recv().map(|a| a.kind).ok(),
            Some(ActivityKind::PeerOffline)
        );
        hub.sweep(2000);
        assert!(rx.try_recv().is_err(), "offline once");
        hub.inbound(&[3; 32], &env(onboard_req()), 2001);
        assert_eq!(
            rx.try_recv().map(|a| a.kind).ok(),
            Some(ActivityKind::PeerOnline)
        );
    }

    #[test]
    fn answers_are_classified() {
        let hub = ActivityHub::new();
        let mut rx = hub.subscribe();
        let probe = || InboundProbe {
            peer: [4; 32],
            method: "sign",
            t0: Instant::now(),
        };
        hub.answered(Some(probe()), &err_out(PEER_DENIED), None);
        let a = rx.try_recv().expect("refused");
        assert_eq!(a.kind, ActivityKind::Refused);
        assert_eq!(a.method, Some("sign"));
        assert!(a.reason.as_deref().is_some_and(|r| r.contains("denied")));
        assert!(!a.ok());
        hub.answered(Some(probe()), &err_out("bad_request"), None);
        assert_eq!(
            rx.try_recv().map(|a| a.kind).ok(),
            Some(ActivityKind::Failed)
        );
        let r = Reject::Replay {
            peer: "p".into(),
            reason: "stale".into(),
        };
        hub.answered(Some(probe()), &Handled::default(), Some(&r));
        let a = rx.try_recv().expect("failed");
        assert_eq!(a.kind, ActivityKind::Failed);
        assert!(a.reason.as_deref().is_some_and(|r| r.contains("stale")));
        let mut ok = err_out(PEER_DENIED);
        ok.outgoing[0].envelope.payload = ping_response();
        hub.answered(Some(probe()), &ok, None);
        let a = rx.try_recv().expect("served");
        assert_eq!(a.kind, ActivityKind::Served);
        assert!(a.ok() && a.ms.is_some() && a.reason.is_none());
        // Nothing sent, nothing refused: no item.
        hub.answered(Some(probe()), &Handled::default(), None);
        assert!(rx.try_recv().is_err());
    }

    fn ping_response() -> Payload {
        Payload::PingResponse(crate::frostr::next::wire::Ping {
            version: 2,
            advertised_nonces: vec![],
            held_peer_nonce_codes: vec![],
            policy_profile: None,
        })
    }

    #[test]
    fn own_rounds_report_peers_and_errors() {
        let hub = ActivityHub::new();
        let mut rx = hub.subscribe();
        let out = [
            Outgoing {
                to: [6; 32],
                envelope: env(onboard_req()),
            },
            Outgoing {
                to: [5; 32],
                envelope: env(onboard_req()),
            },
        ];
        assert!(
            hub.round(Op::Ping, &out).is_none(),
            "pings are not reported"
        );
        let p = hub.round(Op::Sign, &out);
        hub.finished(p, &Ok(Outcome::Signature([0; 64])));
        let a = rx.try_recv().expect("ok");
        assert_eq!(a.kind, ActivityKind::RoundOk);
        assert_eq!(
            a.peers,
            vec![hex::encode([5u8; 32]), hex::encode([6u8; 32])]
        );
        let p = hub.round(Op::Ecdh, &out);
        hub.finished(
            p,
            &Err(NodeError::Timeout {
                op: Op::Ecdh,
                peers: vec![],
            }),
        );
        let a = rx.try_recv().expect("failed");
        assert_eq!(a.kind, ActivityKind::RoundFailed);
        assert_eq!(a.method, Some("ecdh"));
        assert!(a.reason.as_deref().is_some_and(|r| r.contains("timed out")));
    }
}
