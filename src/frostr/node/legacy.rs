//! The legacy 1.0.x node (FROSTR.md): kind-20004 events, AES-GCM content (§7.3), the
//! `[tag, id, data]` envelope (§7.4), static + shifted nonces (§5), threshold ECDH (§6), ping.
//! Both initiator and responder, wire-compatible with `@frostr/bifrost` 1.0.7.
//!
//! **Opt-in only** (`FROSTR_LEGACY=true`): static nonces leak shares (FROSTR.md §0.2,
//! [`LEGACY_WARNING`]); the node logs the warning at start and reports `legacy: true` with a
//! pointer to `frostbox migrate`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, oneshot};

use crate::api::node::{BoxFut, NodeCallError, NodeStatusInfo, PeerInfo, SignerNode};
use crate::frostr::legacy::session::{PsigPackage, SessionContext, SessionPackage};
use crate::frostr::legacy::transport::{
    Envelope, KIND, PeerPolicy, decode_envelope, decrypt_content, encode_envelope, encrypt_content,
    new_message_id, tags, transport_key,
};
use crate::frostr::legacy::{
    EcdhPackage, GroupPackage, LEGACY_WARNING, SharePackage, combine_ecdh, create_ecdh_pkg,
};
use crate::nostr::{Event, Filter};
use crate::vault::secret::Secret32;

use super::engine::{NodeError, Op};
use super::node::{Clock, Heartbeat, system_clock};
use super::peers::PEER_ONLINE_GRACE_SECS;
use super::transport::{Transport, TransportFactory};

/// Shown in `/api/status` and logs next to the legacy flag.
pub const MIGRATE_HINT: &str = "this keyset runs the legacy FROSTR 1.0.x protocol, which leaks \
shares; move it to the current generation with `frostbox migrate` (same npub)";

/// Everything needed to run one legacy keyset.
pub struct LegacyConfig {
    pub group: GroupPackage,
    pub share: SharePackage,
    pub relays: Vec<String>,
    /// How long an initiated request waits for every selected peer (JS uses 5 s).
    pub timeout: Duration,
    /// Peers not heard from for this long get pinged by the supervisor.
    pub ping_stale_secs: u64,
    pub tick: Duration,
    /// Per-peer `{send, recv}` policy (x-only key); unlisted peers default to both true.
    pub policies: HashMap<[u8; 32], PeerPolicy>,
    pub clock: Clock,
    pub heartbeat: Option<Heartbeat>,
    pub label: String,
}

impl LegacyConfig {
    pub fn new(group: GroupPackage, share: SharePackage, relays: Vec<String>) -> Self {
        Self {
            group,
            share,
            relays,
            timeout: Duration::from_secs(10),
            ping_stale_secs: 60,
            tick: Duration::from_secs(5),
            policies: HashMap::new(),
            clock: system_clock(),
            heartbeat: None,
            label: "legacy".into(),
        }
    }
}

#[derive(Debug, Clone)]
struct Peer {
    idx: u32,
    last_seen: Option<u64>,
    rtt_ms: Option<u64>,
    policy: PeerPolicy,
}

/// Replies to one request: `(author, data)`.
type Replies = Vec<([u8; 32], String)>;

/// One outstanding request: replies (by author) until every target answered.
struct Pending {
    waiting: Vec<[u8; 32]>,
    got: Replies,
    tx: Option<oneshot::Sender<Replies>>,
}

struct Inner {
    group: GroupPackage,
    share: SharePackage,
    secret: Secret32,
    me: [u8; 32],
    me_hex: String,
    transport: Arc<dyn Transport>,
    verify_events: bool,
    peers: Mutex<BTreeMap<[u8; 32], Peer>>,
    keys: Mutex<HashMap<[u8; 32], Secret32>>,
    pending: Mutex<HashMap<String, Pending>>,
    ecdh_cache: Mutex<HashMap<[u8; 32], [u8; 32]>>,
    timeout: Duration,
    ping_stale_secs: u64,
    tick: Duration,
    clock: Clock,
    heartbeat: Option<Heartbeat>,
    relays: Vec<String>,
    label: String,
    dropped: AtomicU64,
    served: AtomicU64,
    stop: Notify,
    stopped: AtomicBool,
    activity: super::activity::ActivityHub,
}

/// Handle to a running legacy node (cheap clone). Implements the API's `SignerNode`.
#[derive(Clone)]
pub struct LegacyHandle {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for LegacyHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LegacyHandle({})", self.inner.label)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn bad_input(e: impl std::fmt::Display) -> NodeError {
    NodeError::InvalidInput(e.to_string())
}

pub struct LegacyNode;

impl LegacyNode {
    /// Starts a legacy node on its configured relays (`crate::relay::Pool`).
    pub async fn start(cfg: LegacyConfig) -> Result<LegacyHandle, NodeError> {
        let relays = cfg.relays.clone();
        let factory: TransportFactory = Arc::new(move || {
            Arc::new(crate::relay::Pool::new(relays.clone())) as Arc<dyn Transport>
        });
        Self::start_with(cfg, factory).await
    }

    /// Starts a legacy node on a transport built by `factory` (tests use an in-process bus).
    pub async fn start_with(
        cfg: LegacyConfig,
        factory: TransportFactory,
    ) -> Result<LegacyHandle, NodeError> {
        cfg.group.check_share(&cfg.share).map_err(bad_input)?;
        let secret = cfg.share.seckey.duplicate();
        let me = cfg.share.transport_pubkey().map_err(bad_input)?;
        let mut peers = BTreeMap::new();
        for c in &cfg.group.commits {
            let x = c.xonly();
            if x == me {
                continue;
            }
            let policy = cfg.policies.get(&x).copied().unwrap_or(PeerPolicy {
                send: true,
                recv: true,
            });
            peers.insert(
                x,
                Peer {
                    idx: c.idx,
                    last_seen: None,
                    rtt_ms: None,
                    policy,
                },
            );
        }
        let transport = factory();
        let inner = Arc::new(Inner {
            verify_events: !transport.verifies_events(),
            group: cfg.group,
            share: cfg.share,
            secret,
            me,
            me_hex: hex::encode(me),
            transport,
            peers: Mutex::new(peers),
            keys: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
            ecdh_cache: Mutex::new(HashMap::new()),
            timeout: cfg.timeout,
            ping_stale_secs: cfg.ping_stale_secs,
            tick: cfg.tick,
            clock: cfg.clock,
            heartbeat: cfg.heartbeat,
            relays: cfg.relays,
            label: cfg.label,
            dropped: AtomicU64::new(0),
            served: AtomicU64::new(0),
            stop: Notify::new(),
            stopped: AtomicBool::new(false),
            activity: Default::default(),
        });
        let rx = inner
            .transport
            .subscribe(
                &format!("frostr-legacy-{}", &inner.me_hex[..16]),
                vec![inner.filter()],
            )
            .await;
        tokio::spawn(receive_loop(inner.clone(), rx));
        tokio::spawn(supervisor(inner.clone()));
        tracing::warn!(node = %inner.label, "legacy FROSTR 1.0.x node started (kind {KIND}). {LEGACY_WARNING}");
        Ok(LegacyHandle { inner })
    }
}

impl Inner {
    fn now(&self) -> u64 {
        (self.clock)()
    }

    /// FROSTR.md §7.7: kind 20004, authors = every member (self included), `#p` = self.
    fn filter(&self) -> Filter {
        let authors: Vec<[u8; 32]> = self.group.commits.iter().map(|c| c.xonly()).collect();
        Filter::new()
            .kinds([KIND])
            .authors(authors)
            .p_tags([self.me])
    }

    fn key_for(&self, peer: &[u8; 32]) -> Result<Secret32, NodeError> {
        if let Some(k) = lock(&self.keys).get(peer) {
            return Ok(k.duplicate());
        }
        let k =
            transport_key(&self.secret, peer).map_err(|e| NodeError::Transport(e.to_string()))?;
        lock(&self.keys).insert(*peer, k.duplicate());
        Ok(k)
    }

    fn seal(&self, to: &[u8; 32], env: &Envelope) -> Result<Event, NodeError> {
        let key = self.key_for(to)?;
        let content = encrypt_content(&key, &encode_envelope(env))
            .map_err(|e| NodeError::Transport(e.to_string()))?;
        Event::sign_random(
            &self.secret,
            self.now(),
            KIND,
            vec![vec!["p".into(), hex::encode(to)]],
            content,
        )
        .map_err(|e| NodeError::Transport(e.to_string()))
    }

    async fn send(&self, to: &[u8; 32], env: &Envelope) -> Result<(), NodeError> {
        let ev = self.seal(to, env)?;
        self.transport
            .publish(&ev)
            .await
            .map_err(|e| NodeError::Transport(format!("publish to {}: {e}", hex::encode(to))))
    }

    /// Why an event is dropped (logged), or the author and envelope.
    fn open(&self, ev: &Event) -> Result<([u8; 32], Envelope), String> {
        if ev.kind != KIND {
            return Err(format!("kind {} is not {KIND}", ev.kind));
        }
        if !ev
            .tags
            .iter()
            .any(|t| t.len() >= 2 && t[0] == "p" && t[1] == self.me_hex)
        {
            return Err("no p tag for us".into());
        }
        if ev.pubkey == self.me {
            return Err("event is from ourselves".into());
        }
        if !lock(&self.peers).contains_key(&ev.pubkey) {
            return Err(format!(
                "author {} is not a group member",
                hex::encode(ev.pubkey)
            ));
        }
        if self.verify_events && ev.verify().is_err() {
            return Err(format!(
                "event from {} has a bad id or signature",
                hex::encode(ev.pubkey)
            ));
        }
        let key = self.key_for(&ev.pubkey).map_err(|e| e.to_string())?;
        let plain = decrypt_content(&key, &ev.content)
            .map_err(|e| format!("cannot decrypt from {}: {e}", hex::encode(ev.pubkey)))?;
        let env = decode_envelope(&plain)
            .map_err(|e| format!("malformed envelope from {}: {e}", hex::encode(ev.pubkey)))?;
        Ok((ev.pubkey, env))
    }

    fn touch(&self, peer: &[u8; 32]) {
        let now = self.now();
        if let Some(p) = lock(&self.peers).get_mut(peer) {
            p.last_seen = Some(now);
            self.activity.heard(peer, now);
        }
    }

    fn policy_of(&self, peer: &[u8; 32]) -> Option<(u32, PeerPolicy)> {
        lock(&self.peers).get(peer).map(|p| (p.idx, p.policy))
    }

    fn handle_event(self: &Arc<Self>, ev: Event) {
        let (from, env) = match self.open(&ev) {
            Ok(x) => x,
            Err(r) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(node = %self.label, "dropped legacy event {}: {r}", ev.id_hex());
                return;
            }
        };
        self.touch(&from);
        // A reply to one of our requests (JS matches by id only; we also require the author
        // to be one of the targets).
        {
            let mut pend = lock(&self.pending);
            if let Some(p) = pend.get_mut(&env.id)
                && let Some(pos) = p.waiting.iter().position(|w| *w == from)
            {
                p.waiting.swap_remove(pos);
                p.got.push((from, env.data));
                if p.waiting.is_empty()
                    && let Some(done) = pend.remove(&env.id)
                    && let Some(tx) = done.tx
                {
                    let _ = tx.send(done.got);
                }
                return;
            }
        }
        let me = self.clone();
        tokio::spawn(async move {
            let probe = me
                .activity
                .request(&from, super::activity::legacy_method(&env.tag));
            let r = me.respond(&from, &env);
            me.activity.replied(probe, &r);
            match r {
                Ok(Some(reply)) => {
                    if let Err(e) = me.send(&from, &reply).await {
                        tracing::warn!(node = %me.label, "legacy reply not sent: {e}");
                    }
                }
                Ok(None) => {}
                Err(r) => {
                    me.dropped.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(node = %me.label, peer = %hex::encode(from), "legacy {} rejected: {r}", env.tag);
                }
            }
        });
    }

    /// Responder side (FROSTR.md §5.5, §6.2, §7.5.1, §7.8). `Ok(None)`: nothing to send.
    fn respond(&self, from: &[u8; 32], env: &Envelope) -> Result<Option<Envelope>, String> {
        let Some((_, policy)) = self.policy_of(from) else {
            return Err("not a peer".into());
        };
        let reply = |tag: &str, data: String| {
            Ok(Some(Envelope {
                tag: tag.to_string(),
                id: env.id.clone(),
                data,
            }))
        };
        match env.tag.as_str() {
            tags::PING_REQ => {
                let p = serde_json::to_string(&policy).map_err(|e| e.to_string())?;
                reply(tags::PING_RES, p)
            }
            tags::SIGN_REQ => {
                if !policy.recv {
                    return Err("local policy refuses requests from this peer".into());
                }
                let session = SessionPackage::from_json(&env.data).map_err(|e| e.to_string())?;
                if !session.members.contains(&self.share.idx) {
                    return Err(format!(
                        "our index {} is not in the session members {:?}",
                        self.share.idx, session.members
                    ));
                }
                let (pidx, _) = self.policy_of(from).unwrap_or((0, policy));
                if !session.members.contains(&pidx) {
                    return Err(format!(
                        "requester index {pidx} is not in the session members {:?}",
                        session.members
                    ));
                }
                let ctx = SessionContext::new(&self.group, &session).map_err(|e| e.to_string())?;
                let psig = ctx
                    .sign(&self.group, &self.share)
                    .map_err(|e| e.to_string())?;
                self.served.fetch_add(1, Ordering::Relaxed);
                tracing::info!(node = %self.label, peer = %hex::encode(from), sid = %session.sid, "legacy partial signature sent (static nonces)");
                reply(tags::SIGN_RES, psig.to_json())
            }
            tags::ECDH_REQ => {
                if !policy.recv {
                    return Err("local policy refuses requests from this peer".into());
                }
                let req = EcdhPackage::from_json(&env.data).map_err(|e| e.to_string())?;
                if !req.members.contains(&self.share.idx) {
                    return Err(format!(
                        "our index {} is not in the ECDH members {:?}",
                        self.share.idx, req.members
                    ));
                }
                let pkg = create_ecdh_pkg(&self.share, &req.members, &req.ecdh_pk)
                    .map_err(|e| e.to_string())?;
                self.served.fetch_add(1, Ordering::Relaxed);
                reply(tags::ECDH_RES, pkg.to_json())
            }
            // Late replies (timed-out requests), echoes and unknown tags: nothing to answer.
            _ => Ok(None),
        }
    }

    /// Sends `tag`/`data` under one fresh id to every target; waits for all replies.
    async fn request(
        &self,
        op: Op,
        tag: &str,
        data: String,
        targets: &[[u8; 32]],
    ) -> Result<Replies, NodeError> {
        if self.stopped.load(Ordering::SeqCst) {
            return Err(NodeError::Stopped);
        }
        let round = self.activity.round_to(op, targets);
        let id = new_message_id();
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(
            id.clone(),
            Pending {
                waiting: targets.to_vec(),
                got: Vec::new(),
                tx: Some(tx),
            },
        );
        let env = Envelope {
            tag: tag.to_string(),
            id: id.clone(),
            data,
        };
        let sends = targets.iter().map(|t| self.send(t, &env));
        // Publishing is bounded by the request timeout too: a relay connection that never
        // acknowledges must end in an error, not an await that never returns.
        let sent =
            match tokio::time::timeout(self.timeout, futures_util::future::join_all(sends)).await {
                Ok(results) => results,
                Err(_) => vec![Err(NodeError::Transport("publish timed out".into()))],
            };
        for r in sent {
            if let Err(e) = r {
                lock(&self.pending).remove(&id);
                return Err(e);
            }
        }
        let res = match tokio::time::timeout(self.timeout, rx).await {
            Ok(Ok(got)) => Ok(got),
            Ok(Err(_)) => Err(NodeError::Stopped),
            Err(_) => {
                let missing = lock(&self.pending)
                    .remove(&id)
                    .map(|p| p.waiting.iter().map(hex::encode).collect())
                    .unwrap_or_default();
                Err(NodeError::Timeout { op, peers: missing })
            }
        };
        self.activity.ended(round, &res);
        res
    }

    /// `t − 1` send-enabled peers, most recently seen first.
    fn select(&self, op: Op) -> Result<Vec<([u8; 32], u32)>, NodeError> {
        let need = (self.group.threshold as usize).saturating_sub(1);
        let mut c: Vec<([u8; 32], u32, Option<u64>)> = lock(&self.peers)
            .iter()
            .filter(|(_, p)| p.policy.send)
            .map(|(k, p)| (*k, p.idx, p.last_seen))
            .collect();
        c.sort_by_key(|x| std::cmp::Reverse(x.2));
        if c.len() < need {
            return Err(NodeError::NotEnoughPeers {
                op,
                need,
                have: c.len(),
            });
        }
        Ok(c.into_iter().take(need).map(|(k, i, _)| (k, i)).collect())
    }

    fn idx_of(&self, peer: &[u8; 32]) -> u32 {
        self.policy_of(peer).map(|p| p.0).unwrap_or(0)
    }

    async fn sign(&self, msg32: [u8; 32]) -> Result<[u8; 64], NodeError> {
        let chosen = self.select(Op::Sign)?;
        let mut members: Vec<u32> = chosen.iter().map(|c| c.1).collect();
        members.push(self.share.idx);
        let session = SessionPackage::create(
            &self.group,
            members,
            vec![vec![hex::encode(msg32)]],
            None,
            "message",
            self.now(),
        )
        .map_err(|e| NodeError::Frost(e.to_string()))?;
        let ctx = SessionContext::new(&self.group, &session)
            .map_err(|e| NodeError::Frost(e.to_string()))?;
        let own = ctx
            .sign(&self.group, &self.share)
            .map_err(|e| NodeError::Frost(e.to_string()))?;
        let targets: Vec<[u8; 32]> = chosen.iter().map(|c| c.0).collect();
        let replies = self
            .request(Op::Sign, tags::SIGN_REQ, session.to_json(), &targets)
            .await?;
        let mut pkgs = vec![own];
        for (from, data) in replies {
            let invalid = |reason: String| NodeError::InvalidPeerResponse {
                op: Op::Sign,
                peer: hex::encode(from),
                reason,
            };
            let pkg = PsigPackage::from_json(&data).map_err(|e| invalid(e.to_string()))?;
            if pkg.idx != self.idx_of(&from) {
                return Err(invalid(format!(
                    "reply claims index {} but the author is member {}",
                    pkg.idx,
                    self.idx_of(&from)
                )));
            }
            ctx.verify(&self.group, &pkg)
                .map_err(|e| invalid(e.to_string()))?;
            pkgs.push(pkg);
        }
        let sigs = ctx
            .aggregate(&self.group, &session, &pkgs)
            .map_err(|e| NodeError::Frost(e.to_string()))?;
        let first = sigs
            .first()
            .ok_or_else(|| NodeError::Frost("no signature aggregated".into()))?;
        let mut out = [0u8; 64];
        hex::decode_to_slice(&first.signature, &mut out)
            .map_err(|e| NodeError::Frost(e.to_string()))?;
        Ok(out)
    }

    async fn ecdh(&self, peer_xonly: [u8; 32]) -> Result<[u8; 32], NodeError> {
        if let Some(x) = lock(&self.ecdh_cache).get(&peer_xonly) {
            return Ok(*x);
        }
        let chosen = self.select(Op::Ecdh)?;
        let mut members: Vec<u32> = chosen.iter().map(|c| c.1).collect();
        members.push(self.share.idx);
        // Group-commit order (JS: not sorted by string).
        members.sort_unstable();
        let own = create_ecdh_pkg(&self.share, &members, &hex::encode(peer_xonly))
            .map_err(|e| NodeError::InvalidInput(e.to_string()))?;
        let targets: Vec<[u8; 32]> = chosen.iter().map(|c| c.0).collect();
        let replies = self
            .request(Op::Ecdh, tags::ECDH_REQ, own.to_json(), &targets)
            .await?;
        let mut pkgs = vec![own];
        for (from, data) in replies {
            let invalid = |reason: String| NodeError::InvalidPeerResponse {
                op: Op::Ecdh,
                peer: hex::encode(from),
                reason,
            };
            let pkg = EcdhPackage::from_json(&data).map_err(|e| invalid(e.to_string()))?;
            if pkg.idx != self.idx_of(&from) {
                return Err(invalid(format!(
                    "reply claims index {} but the author is member {}",
                    pkg.idx,
                    self.idx_of(&from)
                )));
            }
            pkgs.push(pkg);
        }
        let pt =
            combine_ecdh(&pkgs, Some(&self.group)).map_err(|e| NodeError::Frost(e.to_string()))?;
        let mut x = [0u8; 32];
        x.copy_from_slice(&pt[1..]);
        lock(&self.ecdh_cache).insert(peer_xonly, x);
        Ok(x)
    }

    async fn ping(&self, peer: [u8; 32]) -> Result<Duration, NodeError> {
        if !lock(&self.peers).contains_key(&peer) {
            return Err(NodeError::UnknownPeer(hex::encode(peer)));
        }
        let t0 = Instant::now();
        let replies = self
            .request(Op::Ping, tags::PING_REQ, "ping".into(), &[peer])
            .await?;
        let rtt = t0.elapsed();
        for (from, data) in replies {
            serde_json::from_str::<PeerPolicy>(&data).map_err(|e| {
                NodeError::InvalidPeerResponse {
                    op: Op::Ping,
                    peer: hex::encode(from),
                    reason: format!("ping reply is not a policy: {e}"),
                }
            })?;
        }
        if let Some(p) = lock(&self.peers).get_mut(&peer) {
            p.rtt_ms = Some(u64::try_from(rtt.as_millis()).unwrap_or(u64::MAX));
        }
        Ok(rtt)
    }

    fn online(&self, p: &Peer, now: u64) -> bool {
        super::peers::is_online(p.last_seen, now)
    }

    fn stale_peers(&self, now: u64) -> Vec<[u8; 32]> {
        lock(&self.peers)
            .iter()
            .filter(|(_, p)| {
                p.last_seen
                    .is_none_or(|t| now.saturating_sub(t) >= self.ping_stale_secs)
            })
            .map(|(k, _)| *k)
            .collect()
    }
}

async fn receive_loop(inner: Arc<Inner>, mut rx: tokio::sync::mpsc::Receiver<Event>) {
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Some(ev) => inner.handle_event(ev),
                None => {
                    if !inner.stopped.load(Ordering::SeqCst) {
                        tracing::warn!(node = %inner.label, "legacy subscription closed");
                    }
                    return;
                }
            },
            _ = inner.stop.notified() => return,
        }
    }
}

async fn ping_all(inner: &Arc<Inner>, peers: Vec<[u8; 32]>) {
    let futs = peers.into_iter().map(|p| {
        let me = inner.clone();
        async move {
            if let Err(e) = me.ping(p).await {
                tracing::debug!(node = %me.label, "legacy ping {}: {e}", hex::encode(p));
            }
        }
    });
    futures_util::future::join_all(futs).await;
}

async fn supervisor(inner: Arc<Inner>) {
    for _ in 0..200 {
        if inner.transport.connected() > 0 || inner.stopped.load(Ordering::SeqCst) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let all: Vec<[u8; 32]> = lock(&inner.peers).keys().copied().collect();
    ping_all(&inner, all).await;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(inner.tick) => {}
            _ = inner.stop.notified() => return,
        }
        if inner.stopped.load(Ordering::SeqCst) {
            return;
        }
        // Beats while the loop runs, relay or not (see the current-generation supervisor).
        if let Some(hb) = &inner.heartbeat {
            hb(&inner.label);
        }
        inner.activity.sweep(inner.now());
        if inner.transport.connected() == 0 {
            continue;
        }
        let due = inner.stale_peers(inner.now());
        if !due.is_empty() {
            let me = inner.clone();
            tokio::spawn(async move { ping_all(&me, due).await });
        }
    }
}

impl LegacyHandle {
    /// Threshold-signs a 32-byte message (an event id or any sighash) with a legacy session.
    pub async fn sign(&self, msg32: [u8; 32]) -> Result<[u8; 64], NodeError> {
        self.inner.sign(msg32).await
    }

    /// Threshold ECDH: the shared x with `peer_xonly` (cached per key, like JS).
    pub async fn ecdh(&self, peer_xonly: [u8; 32]) -> Result<[u8; 32], NodeError> {
        self.inner.ecdh(peer_xonly).await
    }

    /// `/ping/req` → `/ping/res`; the round-trip time.
    pub async fn ping(&self, peer_xonly: [u8; 32]) -> Result<Duration, NodeError> {
        self.inner.ping(peer_xonly).await
    }

    /// Live activity of this node (requests served/refused, own rounds, peer presence).
    pub fn subscribe_activity(&self) -> tokio::sync::broadcast::Receiver<super::Activity> {
        self.inner.activity.subscribe()
    }

    /// x-only group key.
    pub fn group_pk(&self) -> [u8; 32] {
        self.inner.group.npub()
    }

    /// This member's transport key (x-only share pubkey).
    pub fn pubkey(&self) -> [u8; 32] {
        self.inner.me
    }

    /// At least `t − 1` send-enabled peers seen recently and a relay connected.
    pub fn ready(&self) -> bool {
        self.info().ready
    }

    /// Counters: (dropped/rejected inbound messages, requests served).
    pub fn counters(&self) -> (u64, u64) {
        (
            self.inner.dropped.load(Ordering::Relaxed),
            self.inner.served.load(Ordering::Relaxed),
        )
    }

    fn info(&self) -> NodeStatusInfo {
        let inner = &self.inner;
        let now = inner.now();
        let peers = lock(&inner.peers).clone();
        let need = (inner.group.threshold as usize).saturating_sub(1);
        let usable = peers
            .values()
            .filter(|p| p.policy.send && inner.online(p, now))
            .count();
        let connected = inner.transport.connected();
        let reachable = usable >= need;
        let mut warnings = vec![MIGRATE_HINT.to_string()];
        if connected == 0 {
            warnings.push("no relay connected".into());
        }
        if !reachable {
            warnings.push(format!(
                "threshold not reachable: {usable} of {need} needed co-signers online (seen in the last {PEER_ONLINE_GRACE_SECS} s)"
            ));
        }
        NodeStatusInfo {
            ready: reachable && connected > 0,
            threshold_reachable: reachable,
            threshold: u16::try_from(inner.group.threshold).unwrap_or(u16::MAX),
            total: u16::try_from(inner.group.commits.len()).unwrap_or(u16::MAX),
            group_pk: hex::encode(inner.group.npub()),
            self_pubkey: inner.me_hex.clone(),
            legacy: true,
            relays: inner.relays.clone(),
            peers: peers
                .iter()
                .map(|(k, p)| PeerInfo {
                    pubkey: hex::encode(k),
                    online: inner.online(p, now),
                    last_seen: p.last_seen,
                    rtt_ms: p.rtt_ms,
                    allow_send: p.policy.send,
                    allow_receive: p.policy.recv,
                    nonces_in: None,
                    nonces_out: None,
                })
                .collect(),
            warnings,
            duplicate_share: None,
        }
    }

    /// Stops the node's tasks and closes its relay connections.
    pub async fn shutdown(&self) {
        self.inner.stopped.store(true, Ordering::SeqCst);
        self.inner.stop.notify_waiters();
        for (_, p) in lock(&self.inner.pending).drain() {
            drop(p.tx);
        }
        self.inner.transport.shutdown().await;
    }
}

fn call_err(e: NodeError) -> NodeCallError {
    match e {
        NodeError::NotEnoughPeers { .. } | NodeError::Stopped => {
            NodeCallError::NotReady(e.to_string())
        }
        NodeError::Timeout { .. } => NodeCallError::Timeout,
        NodeError::InvalidPeerResponse { .. } | NodeError::PeerRejected { .. } => {
            NodeCallError::Rejected(e.to_string())
        }
        NodeError::InvalidInput(_) | NodeError::UnknownPeer(_) => {
            NodeCallError::BadInput(e.to_string())
        }
        _ => NodeCallError::Failed(e.to_string()),
    }
}

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

impl SignerNode for LegacyHandle {
    fn sign(&self, msg32: [u8; 32]) -> BoxFut<'_, Result<[u8; 64], NodeCallError>> {
        Box::pin(async move { self.inner.sign(msg32).await.map_err(call_err) })
    }

    fn ecdh(&self, peer_xonly: [u8; 32]) -> BoxFut<'_, Result<[u8; 32], NodeCallError>> {
        Box::pin(async move { self.inner.ecdh(peer_xonly).await.map_err(call_err) })
    }

    fn ping(&self, peer: Vec<u8>) -> BoxFut<'_, Result<Duration, NodeCallError>> {
        Box::pin(async move {
            let k = peer_key(&peer)?;
            self.inner.ping(k).await.map_err(call_err)
        })
    }

    fn status(&self) -> NodeStatusInfo {
        self.info()
    }

    fn subscribe_activity(&self) -> Option<tokio::sync::broadcast::Receiver<super::Activity>> {
        Some(LegacyHandle::subscribe_activity(self))
    }

    fn set_peer_policy(
        &self,
        peer: Vec<u8>,
        allow_send: bool,
        allow_receive: bool,
    ) -> Result<(), NodeCallError> {
        let k = peer_key(&peer)?;
        match lock(&self.inner.peers).get_mut(&k) {
            Some(p) => {
                p.policy = PeerPolicy {
                    send: allow_send,
                    recv: allow_receive,
                };
                Ok(())
            }
            None => Err(NodeCallError::BadInput(format!(
                "{} is not a peer of this keyset",
                hex::encode(k)
            ))),
        }
    }
}
