//! The running node: engine + codec + transport + timers + supervisor, behind a `NodeHandle`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, oneshot};

use crate::frost::NonceLedger;
use crate::frostr::next::group::GroupPackage;
use crate::frostr::next::wire::{Envelope, Payload};
use crate::nostr::Event;
use crate::vault::secret::Secret32;

use super::codec::Codec;
use super::engine::{
    Computed, Deferred, Engine, EngineConfig, Handled, NodeError, Op, Outcome, Outgoing,
    PreparedSign, Reject, Started, StockRefiller,
};
use super::peers::NodeStatus;
use super::policy::{Method, Policy};
use super::transport::{Transport, TransportFactory};

/// Unix seconds. Injected so tests can run at a transcript's time.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    })
}

/// Initiator timeouts (§4.3).
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub sign: Duration,
    pub ecdh: Duration,
    pub ping: Duration,
    pub onboard: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            sign: Duration::from_secs(30),
            ecdh: Duration::from_secs(30),
            ping: Duration::from_secs(15),
            onboard: Duration::from_secs(30),
        }
    }
}

/// Supervisor settings.
#[derive(Debug, Clone, Copy)]
pub struct SupervisorConfig {
    /// How often the supervisor checks the transport and beats the heartbeat.
    pub tick: Duration,
    /// Peers not seen for this long (or low on nonces) get pinged.
    pub ping_stale_secs: u64,
    /// No inbound traffic for this long and all probes failing → re-create the transport.
    pub silent_after: Duration,
    /// Transport down for this long → re-create it.
    pub disconnected_after: Duration,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
}

impl Default for SupervisorConfig {
    fn default() -> Self {
        Self {
            tick: Duration::from_secs(5),
            ping_stale_secs: 60,
            silent_after: Duration::from_secs(180),
            disconnected_after: Duration::from_secs(30),
            backoff_min: Duration::from_millis(250),
            backoff_max: Duration::from_secs(60),
        }
    }
}

/// Called by the supervisor on every tick, relay or not (wire to `crate::health::Liveness::beat`).
pub type Heartbeat = Arc<dyn Fn(&str) + Send + Sync>;

/// Everything needed to run one keyset's node.
pub struct NodeConfig {
    pub group: GroupPackage,
    pub share: Secret32,
    pub relays: Vec<String>,
    pub ledger: Arc<dyn NonceLedger>,
    pub policy: Policy,
    pub engine: EngineConfig,
    pub timeouts: Timeouts,
    pub supervisor: SupervisorConfig,
    /// Cross-check every fresh ECDH result with a second quorum when one is reachable.
    pub ecdh_cross_check: bool,
    /// Legacy 1.0.x transport (kind 20004). Not implemented by this node: `start` refuses it.
    pub legacy: bool,
    pub clock: Clock,
    pub heartbeat: Option<Heartbeat>,
    /// Name used in logs and heartbeats (e.g. the profile id).
    pub label: String,
    /// The relay embedded in this process and the URL it is reached at: a configured relay
    /// with that URL is linked in-process ([`super::transport::EmbeddedLink`]) instead of over
    /// a loopback WebSocket. `None` (the default) = every relay through the pool.
    pub embedded: Option<(String, crate::relay::Relay)>,
}

impl NodeConfig {
    pub fn new(
        group: GroupPackage,
        share: Secret32,
        relays: Vec<String>,
        ledger: Arc<dyn NonceLedger>,
    ) -> Self {
        Self {
            group,
            share,
            relays,
            ledger,
            policy: Policy::default(),
            engine: EngineConfig::default(),
            timeouts: Timeouts::default(),
            supervisor: SupervisorConfig::default(),
            ecdh_cross_check: false,
            legacy: false,
            clock: system_clock(),
            heartbeat: None,
            label: String::from("node"),
            embedded: None,
        }
    }
}

type Waiter = oneshot::Sender<Result<Outcome, NodeError>>;

/// Attempts to publish one reply (50 ms, 200 ms, 800 ms apart).
const REPLY_ATTEMPTS: u32 = 4;

struct Inner {
    engine: Mutex<Engine>,
    /// Tops up the engine's burned nonce stock on a blocking thread, so generating a batch and
    /// its ledger fsync do not run on the request path under the engine lock.
    refiller: Arc<StockRefiller>,
    codec: Codec,
    transport: RwLock<Arc<dyn Transport>>,
    factory: TransportFactory,
    waiters: Mutex<HashMap<String, Waiter>>,
    clock: Clock,
    timeouts: Timeouts,
    sup: SupervisorConfig,
    cross_check: bool,
    legacy: bool,
    group_pk: [u8; 32],
    relays: Vec<String>,
    label: String,
    heartbeat: Option<Heartbeat>,
    last_inbound: AtomicU64,
    restarts: AtomicU64,
    dropped: AtomicU64,
    reconnect: Notify,
    stop: Notify,
    stopped: AtomicBool,
    activity: super::activity::ActivityHub,
    /// Peers with an early inventory ping in flight (see [`Inner::refresh_observation`]). Apart
    /// from the supervisor's probe batch, which waits out the ping timeout of any absent member.
    refreshing: Mutex<std::collections::HashSet<[u8; 32]>>,
}

/// Cheap, cloneable handle to a running node. Used by the API, the NIP-46 signer and the CLI.
#[derive(Clone)]
pub struct NodeHandle {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for NodeHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NodeHandle({})", self.inner.label)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub struct Node;

impl Node {
    /// Starts a node on its configured relays (`crate::relay::Pool`).
    pub async fn start(cfg: NodeConfig) -> Result<NodeHandle, NodeError> {
        let relays = cfg.relays.clone();
        // The node answers NIP-42 AUTH challenges with its share key: Frostbox's relay then
        // knows the connection is a group member's and exempts it from the per-connection
        // rate limit meant for strangers (a sustained signer publishes far above it).
        let auth_key = Arc::new(cfg.share.duplicate());
        let pool = move |urls: Vec<String>| {
            let pool_cfg = crate::relay::client::PoolConfig {
                auth_key: Some(auth_key.clone()),
                ..Default::default()
            };
            crate::relay::Pool::with_config(urls, pool_cfg)
        };
        let embedded = cfg.embedded.clone().and_then(|(url, relay)| {
            relays
                .iter()
                .find(|u| super::transport::same_relay_url(u, &url))
                .map(|u| (u.clone(), relay))
        });
        let factory: TransportFactory = match embedded {
            Some((url, relay)) => {
                let others: Vec<String> = relays
                    .iter()
                    .filter(|u| !super::transport::same_relay_url(u, &url))
                    .cloned()
                    .collect();
                Arc::new(move || {
                    let p = (!others.is_empty()).then(|| pool(others.clone()));
                    Arc::new(super::transport::EmbeddedLink::new(
                        relay.clone(),
                        url.clone(),
                        p,
                    )) as Arc<dyn Transport>
                })
            }
            None => Arc::new(move || Arc::new(pool(relays.clone())) as Arc<dyn Transport>),
        };
        Self::start_with(cfg, factory).await
    }

    /// Starts a node on transports built by `factory` (tests use an in-process bus).
    pub async fn start_with(
        cfg: NodeConfig,
        factory: TransportFactory,
    ) -> Result<NodeHandle, NodeError> {
        if cfg.legacy {
            return Err(NodeError::InvalidInput(
                "legacy 1.0.x (kind 20004) transport is not available in this build; run \
                 `frostbox migrate` to move the keyset to the current generation"
                    .into(),
            ));
        }
        let mut engine = Engine::new(cfg.group, cfg.share.duplicate(), cfg.ledger, cfg.engine)?;
        *engine.policy_mut() = cfg.policy;
        let mut codec = Codec::new(cfg.share, engine.peer_keys())
            .map_err(|e| NodeError::InvalidInput(e.to_string()))?;
        let transport = factory();
        if transport.verifies_events() {
            codec = codec.trust_transport_verification();
        }
        let inner = Arc::new(Inner {
            group_pk: engine.group_pk(),
            refiller: Arc::new(engine.stock_refiller()),
            engine: Mutex::new(engine),
            codec,
            transport: RwLock::new(transport),
            factory,
            waiters: Mutex::new(HashMap::new()),
            clock: cfg.clock,
            timeouts: cfg.timeouts,
            sup: cfg.supervisor,
            cross_check: cfg.ecdh_cross_check,
            legacy: cfg.legacy,
            relays: cfg.relays,
            label: cfg.label,
            heartbeat: cfg.heartbeat,
            last_inbound: AtomicU64::new(0),
            restarts: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            reconnect: Notify::new(),
            stop: Notify::new(),
            stopped: AtomicBool::new(false),
            activity: Default::default(),
            refreshing: Mutex::default(),
        });
        // Subscribe before returning so that nothing addressed to us is missed.
        let rx = inner
            .current_transport()
            .subscribe(&inner.sub_id(), vec![inner.codec.filter()])
            .await;
        tokio::spawn(receive_loop(inner.clone(), rx));
        tokio::spawn(supervisor(inner.clone()));
        tracing::info!(node = %inner.label, "frostr node started");
        Ok(NodeHandle { inner })
    }
}

impl Inner {
    fn now(&self) -> u64 {
        (self.clock)()
    }
    fn sub_id(&self) -> String {
        format!("frostr-{}", &hex::encode(self.codec.me())[..16])
    }
    fn current_transport(&self) -> Arc<dyn Transport> {
        self.transport
            .read()
            .map(|g| g.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    async fn send(&self, outgoing: Vec<Outgoing>) -> Result<(), NodeError> {
        // A stopped node says nothing more (a reply computed just before the stop included).
        if self.stopped.load(Ordering::SeqCst) {
            return Err(NodeError::Stopped);
        }
        let t = self.current_transport();
        let mut events: Vec<Event> = Vec::with_capacity(outgoing.len());
        for o in &outgoing {
            let ev = self
                .codec
                .seal(&o.to, &o.envelope)
                .map_err(|e| NodeError::Transport(e.to_string()))?;
            events.push(ev);
        }
        let results = futures_util::future::join_all(events.iter().map(|ev| t.publish(ev))).await;
        let mut first_err = None;
        for (r, o) in results.into_iter().zip(&outgoing) {
            if let Err(e) = r {
                tracing::warn!(node = %self.label, peer = %hex::encode(o.to), "publish failed: {e}");
                first_err.get_or_insert(e);
            }
        }
        match first_err {
            Some(e) => Err(NodeError::Transport(e)),
            None => Ok(()),
        }
    }

    /// Starts a background refill when the nonce stock is low (at most one at a time).
    fn maybe_refill(&self) {
        if self.stopped.load(Ordering::SeqCst) || !self.refiller.claim() {
            return;
        }
        let r = self.refiller.clone();
        let label = self.label.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = r.refill() {
                tracing::warn!(node = %label, "nonce stock refill failed: {e}");
            }
        });
    }

    fn complete(&self, request_id: &str, result: Result<Outcome, NodeError>) {
        if let Some(tx) = lock(&self.waiters).remove(request_id) {
            let _ = tx.send(result);
        }
    }

    fn handle_event(self: &Arc<Self>, ev: Event) {
        // `stop.notify_waiters` wakes only a receive loop parked in its select, so a loop busy at
        // that instant would go on serving queued events; the flag closes that window.
        if self.stopped.load(Ordering::SeqCst) {
            return;
        }
        let (from, env) = match self.codec.open(&ev) {
            Ok(x) => x,
            Err(r) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(node = %self.label, "dropped event {}: {r}", hex::encode(ev.id));
                return;
            }
        };
        self.last_inbound.store(self.now(), Ordering::Relaxed);
        let probe = self.activity.inbound(&from, &env, self.now());
        let (mut h, refused) = {
            let mut eng = lock(&self.engine);
            eng.handle_answering_deferred(&from, env, self.now())
        };
        self.maybe_refill();
        let (h, refused) = match h.deferred.take() {
            // Aggregating our own round reuses what our partial signature derived (≈ 30 µs,
            // BENCHMARKS.md): cheaper here than a task and a thread wake-up. Never under the
            // engine lock.
            Some(job @ Deferred::Aggregate(_)) => {
                let computed = job.run();
                lock(&self.engine).finish(computed)
            }
            // A co-signer's partial signatures run on their own task, without the engine lock:
            // the receive loop goes on with the next event and several rounds use several cores.
            Some(job) => {
                let me = self.clone();
                tokio::spawn(async move {
                    let computed = job.run();
                    let (h, refused) = match computed {
                        Computed::Reply { result: Ok(o), .. } => (
                            Handled {
                                outgoing: vec![o],
                                ..Handled::default()
                            },
                            None,
                        ),
                        c => lock(&me.engine).finish(c),
                    };
                    let out = me.after_handled(probe, h, refused);
                    if !out.is_empty() {
                        me.refresh_observation(&out);
                        me.send_reply(out).await;
                    }
                });
                return;
            }
            None => (h, refused),
        };
        let out = self.after_handled(probe, h, refused);
        if !out.is_empty() {
            self.refresh_observation(&out);
            let me = self.clone();
            tokio::spawn(async move { me.send_reply(out).await });
        }
    }

    /// A sign response of ours carries `replenish` only while our view of the initiator's
    /// holdings (its `held_peer_nonce_codes`) has fallen below `min_threshold` (FROSTR-NEXT
    /// §6.1), and that view changes only when a ping arrives. Waiting for the supervisor's tick
    /// would resend up to 70 nonces (≈ 15 KB, sealed, signed, verified and parsed at both ends)
    /// with every signature until then; one ping now refreshes the view, so the next ~50 answers
    /// carry none. One such ping per peer is in flight at a time.
    fn refresh_observation(self: &Arc<Self>, out: &[Outgoing]) {
        for o in out {
            if !matches!(&o.envelope.payload, Payload::SignResponse(p) if p.replenish.is_some()) {
                continue;
            }
            let peer = o.to;
            if !lock(&self.refreshing).insert(peer) {
                continue;
            }
            let me = self.clone();
            tokio::spawn(async move {
                if me.ping_many(vec![peer]).await == 0 {
                    tracing::debug!(node = %me.label, "inventory ping to {} unanswered", hex::encode(peer));
                }
                lock(&me.refreshing).remove(&peer);
            });
        }
    }

    /// Reports and completes what handling one inbound event produced; returns what to send.
    fn after_handled(
        &self,
        probe: Option<super::activity::InboundProbe>,
        h: Handled,
        refused: Option<Reject>,
    ) -> Vec<Outgoing> {
        self.activity.answered(probe, &h, refused.as_ref());
        if let Some(r) = refused {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            if h.outgoing.is_empty() {
                tracing::warn!(node = %self.label, "rejected message: {r}");
            } else {
                tracing::warn!(node = %self.label, "refused request (answered with an error): {r}");
            }
        }
        if let Some(c) = h.completion {
            self.complete(&c.request_id, c.result);
        }
        h.outgoing
    }

    /// Sends replies; a publish no relay accepted (rate limit, reconnect in progress) is
    /// retried a few times, since the initiator otherwise waits for its full timeout.
    async fn send_reply(&self, outgoing: Vec<Outgoing>) {
        let mut delay = Duration::from_millis(50);
        for attempt in 1..=REPLY_ATTEMPTS {
            match self.send(outgoing.clone()).await {
                Ok(()) => return,
                Err(e) if attempt == REPLY_ATTEMPTS || self.stopped.load(Ordering::SeqCst) => {
                    tracing::warn!(node = %self.label, "reply not sent after {attempt} attempt(s): {e}");
                    return;
                }
                Err(e) => {
                    tracing::debug!(node = %self.label, "reply not sent (attempt {attempt}), retrying in {delay:?}: {e}");
                    tokio::time::sleep(delay).await;
                    delay *= 4;
                }
            }
        }
    }

    /// Runs one local operation to completion (or timeout).
    async fn run_op(
        &self,
        op: Op,
        timeout: Duration,
        start: impl FnOnce(&mut Engine, u64) -> Result<Started, NodeError>,
    ) -> Result<Outcome, NodeError> {
        if self.stopped.load(Ordering::SeqCst) {
            return Err(NodeError::Stopped);
        }
        let now = self.now();
        let started = start(&mut lock(&self.engine), now)?;
        self.run_started(op, timeout, started).await
    }

    /// Runs a sign round. Only picking the nonces and registering the round hold the engine
    /// lock; our partial signature (≈ 65 µs) is computed between the two, so concurrent
    /// signs (and the answers and aggregations of other rounds) run on all cores.
    async fn run_sign(&self, msg: [u8; 32]) -> Result<Outcome, NodeError> {
        if self.stopped.load(Ordering::SeqCst) {
            return Err(NodeError::Stopped);
        }
        let now = self.now();
        let prepared = lock(&self.engine).prepare_sign(msg, now);
        self.maybe_refill();
        let prepared = prepared?;
        let started = match prepared {
            PreparedSign::Done(o) => Started::Done(o),
            PreparedSign::Round(job) => {
                let signed = job.run()?;
                lock(&self.engine).register_sign(signed)
            }
        };
        self.run_started(Op::Sign, self.timeouts.sign, started)
            .await
    }

    /// Sends a started round and waits for its completion (or timeout).
    async fn run_started(
        &self,
        op: Op,
        timeout: Duration,
        started: Started,
    ) -> Result<Outcome, NodeError> {
        let (rid, outgoing, rx) = match started {
            Started::Done(o) => return Ok(o),
            Started::Round {
                request_id,
                outgoing,
            } => {
                let (tx, rx) = oneshot::channel();
                lock(&self.waiters).insert(request_id.clone(), tx);
                (request_id, outgoing, rx)
            }
        };
        // If the caller drops this future (client gone, the other quorum of a cross-check
        // failed), the round is forgotten instead of lingering in the engine.
        let round = self.activity.round(op, &outgoing);
        let mut guard = CancelGuard {
            inner: self,
            rid: Some(rid.clone()),
        };
        if let Err(e) = self.send(outgoing).await {
            guard.rid = None;
            lock(&self.engine).expire(&rid);
            lock(&self.waiters).remove(&rid);
            return Err(e);
        }
        let r = tokio::time::timeout(timeout, rx).await;
        guard.rid = None;
        let res = match r {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(NodeError::Stopped),
            Err(_) => {
                lock(&self.waiters).remove(&rid);
                let c = lock(&self.engine).expire(&rid);
                match c {
                    Some(c) => c.result,
                    None => Err(NodeError::Timeout { op, peers: vec![] }),
                }
            }
        };
        self.activity.finished(round, &res);
        res
    }

    async fn ping_many(self: &Arc<Self>, peers: Vec<[u8; 32]>) -> usize {
        let futs = peers.into_iter().map(|p| {
            let me = self.clone();
            async move {
                me.run_op(Op::Ping, me.timeouts.ping, |e, now| e.start_ping(&p, now))
                    .await
                    .is_ok()
            }
        });
        futures_util::future::join_all(futs)
            .await
            .into_iter()
            .filter(|ok| *ok)
            .count()
    }
}

struct CancelGuard<'a> {
    inner: &'a Inner,
    rid: Option<String>,
}

impl Drop for CancelGuard<'_> {
    fn drop(&mut self) {
        if let Some(rid) = self.rid.take() {
            lock(&self.inner.waiters).remove(&rid);
            lock(&self.inner.engine).cancel(&rid);
        }
    }
}

async fn receive_loop(inner: Arc<Inner>, mut rx: tokio::sync::mpsc::Receiver<Event>) {
    let mut backoff = inner.sup.backoff_min;
    loop {
        let healthy_since = Instant::now();
        loop {
            tokio::select! {
                ev = rx.recv() => match ev {
                    Some(ev) => inner.handle_event(ev),
                    None => break,
                },
                _ = inner.reconnect.notified() => break,
                _ = inner.stop.notified() => return,
            }
        }
        if inner.stopped.load(Ordering::SeqCst) {
            return;
        }
        // Subscription lost or supervisor asked: re-create the transport with backoff.
        if healthy_since.elapsed() > inner.sup.backoff_max {
            backoff = inner.sup.backoff_min;
        }
        inner.restarts.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(node = %inner.label, "relay subscription lost; reconnecting in {backoff:?}");
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = inner.stop.notified() => return,
        }
        backoff = (backoff * 2).min(inner.sup.backoff_max);
        let old = inner.current_transport();
        let fresh = (inner.factory)();
        if let Ok(mut g) = inner.transport.write() {
            *g = fresh.clone();
        }
        old.shutdown().await;
        rx = fresh
            .subscribe(&inner.sub_id(), vec![inner.codec.filter()])
            .await;
    }
}

/// Shared between the supervisor loop and its probe task.
struct ProbeState {
    in_flight: AtomicBool,
    /// When a probe was last answered (or none was needed): the silent-node check reads it.
    last_ok: Mutex<Instant>,
}

impl ProbeState {
    /// Pings `peers` in a task of its own unless a batch is still in flight.
    fn spawn(self: &Arc<Self>, inner: &Arc<Inner>, peers: Vec<[u8; 32]>) {
        if peers.is_empty() || self.in_flight.swap(true, Ordering::SeqCst) {
            return;
        }
        let (me, st) = (inner.clone(), self.clone());
        tokio::spawn(async move {
            let n = peers.len();
            if me.ping_many(peers).await > 0 {
                *lock(&st.last_ok) = Instant::now();
            } else {
                tracing::debug!(node = %me.label, "{n} peer probe(s) unanswered");
            }
            st.in_flight.store(false, Ordering::SeqCst);
        });
    }
}

async fn supervisor(inner: Arc<Inner>) {
    // Fill nonce pools as soon as a relay is connected.
    for _ in 0..200 {
        if inner.current_transport().connected() > 0 || inner.stopped.load(Ordering::SeqCst) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Probes run beside the loop, never inside it: awaiting them (up to the ping timeout, 15 s)
    // stretched the 5 s tick to 20 s whenever a peer was away, which delayed both offline
    // detection and the watchdog heartbeat. One probe batch is in flight at a time.
    let probes = Arc::new(ProbeState {
        in_flight: AtomicBool::new(false),
        last_ok: Mutex::new(Instant::now()),
    });
    let peers = lock(&inner.engine).peer_keys();
    probes.spawn(&inner, peers);
    let mut down_since: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(inner.sup.tick) => {}
            _ = inner.stop.notified() => return,
        }
        if inner.stopped.load(Ordering::SeqCst) {
            return;
        }
        // The heartbeat says this loop runs, not that relays answer: a relay outage is the
        // loop's to handle (it re-creates the transport); withholding the beat would have
        // systemd's watchdog restart the whole box every 30 s while the user's relay is down.
        if let Some(hb) = &inner.heartbeat {
            hb(&inner.label);
        }
        let now = inner.now();
        inner.activity.sweep(now);
        let connected = inner.current_transport().connected();
        if connected == 0 {
            let since = *down_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= inner.sup.disconnected_after {
                tracing::warn!(node = %inner.label, "no relay connected; re-creating transport");
                inner.reconnect.notify_one();
                down_since = None;
            }
            continue;
        }
        down_since = None;
        let due = lock(&inner.engine).peers_needing_ping(now, inner.sup.ping_stale_secs);
        if due.is_empty() {
            *lock(&probes.last_ok) = Instant::now();
        } else {
            probes.spawn(&inner, due);
        }
        let last_probe_ok = *lock(&probes.last_ok);
        let last_in = inner.last_inbound.load(Ordering::Relaxed);
        let silent = now.saturating_sub(last_in) >= inner.sup.silent_after.as_secs();
        if silent && last_probe_ok.elapsed() >= inner.sup.silent_after {
            tracing::warn!(node = %inner.label, "node is silent (no traffic, probes failing); re-creating transport");
            inner.reconnect.notify_one();
            *lock(&probes.last_ok) = Instant::now();
            continue;
        }
    }
}

impl NodeHandle {
    /// Threshold-signs a 32-byte message (for Nostr: the event id). BIP-340 under `group_pk`.
    ///
    /// When a peer refuses our nonce from it (`nonce_unavailable`: it restarted and lost its
    /// pool) or an online peer is short of nonces, the node pings it (a fresh nonce inventory)
    /// and tries once more, instead of failing or waiting for the timeout.
    pub async fn sign(&self, msg32: [u8; 32]) -> Result<[u8; 64], NodeError> {
        let inner = &self.inner;
        let first = inner.run_sign(msg32).await;
        let err = match first {
            Ok(o) => return Self::signature(o),
            Err(e) => e,
        };
        let refresh: Vec<[u8; 32]> = match &err {
            NodeError::PeerRejected { peer, code, .. }
                if code == super::engine::NONCE_UNAVAILABLE =>
            {
                super::super::next::hexser::decode_fixed::<32>(peer)
                    .ok()
                    .into_iter()
                    .collect()
            }
            NodeError::NotEnoughPeers { .. } => {
                lock(&inner.engine).online_peers_short_of_nonces(inner.now())
            }
            _ => Vec::new(),
        };
        if refresh.is_empty() {
            return Err(err);
        }
        tracing::info!(node = %inner.label, "sign: {err}; refreshing nonces from {} peer(s), then retrying", refresh.len());
        if inner.ping_many(refresh).await == 0 {
            return Err(err);
        }
        let outcome = inner.run_sign(msg32).await?;
        Self::signature(outcome)
    }

    fn signature(o: Outcome) -> Result<[u8; 64], NodeError> {
        match o {
            Outcome::Signature(s) => Ok(s),
            o => Err(NodeError::Frost(format!("unexpected outcome {o:?}"))),
        }
    }

    /// Threshold ECDH with an x-only key: the shared x (= NIP-04/NIP-44 `shared_x` of the group
    /// key and `peer_xonly`). With cross-check on, a fresh result is confirmed by a second quorum
    /// when one is reachable.
    pub async fn ecdh(&self, peer_xonly: [u8; 32]) -> Result<[u8; 32], NodeError> {
        let inner = &self.inner;
        let t = usize::from(lock(&inner.engine).threshold().saturating_sub(1));
        let cands = lock(&inner.engine).candidates(Method::Ecdh, inner.now());
        if !inner.cross_check || cands.len() <= t {
            return match inner
                .run_op(Op::Ecdh, inner.timeouts.ecdh, |e, now| {
                    e.start_ecdh(peer_xonly, now)
                })
                .await?
            {
                Outcome::Ecdh(x) => Ok(x),
                o => Err(NodeError::Frost(format!("unexpected outcome {o:?}"))),
            };
        }
        let first: Vec<[u8; 32]> = cands[..t].to_vec();
        let second: Vec<[u8; 32]> = cands[1..=t].to_vec();
        // try_join: a refusal (or invalid answer) in either quorum fails the call at once.
        let (a, b) = tokio::try_join!(
            inner.run_op(Op::Ecdh, inner.timeouts.ecdh, |e, now| e
                .start_ecdh_with(peer_xonly, &first, now)),
            inner.run_op(Op::Ecdh, inner.timeouts.ecdh, |e, now| e
                .start_ecdh_with(peer_xonly, &second, now)),
        )?;
        let (Outcome::Ecdh(a), Outcome::Ecdh(b)) = (a, b) else {
            return Err(NodeError::Frost("unexpected ECDH outcome".into()));
        };
        if a != b {
            let eng = lock(&inner.engine);
            let ids = |s: &[[u8; 32]]| {
                let mut v: Vec<u16> = s.iter().filter_map(|p| eng.peer_idx(p)).collect();
                v.push(eng.idx());
                v.sort_unstable();
                v
            };
            let err = NodeError::EcdhMismatch {
                first: ids(&first),
                second: ids(&second),
            };
            drop(eng);
            lock(&inner.engine).forget_ecdh(&peer_xonly);
            return Err(err);
        }
        Ok(a)
    }

    /// Pings a peer (also syncs nonce inventories and policy); returns the round-trip time.
    pub async fn ping(&self, peer_xonly: [u8; 32]) -> Result<Duration, NodeError> {
        let t0 = Instant::now();
        self.inner
            .run_op(Op::Ping, self.inner.timeouts.ping, |e, now| {
                e.start_ping(&peer_xonly, now)
            })
            .await?;
        Ok(t0.elapsed())
    }

    /// Readiness ("threshold reachable now", from all peers), per-peer status, legacy flag.
    pub fn status(&self) -> NodeStatus {
        let now = self.inner.now();
        let mut st = lock(&self.inner.engine).status(now);
        st.relays_connected = self.inner.current_transport().connected();
        st.ready = st.threshold_reachable && st.relays_connected > 0;
        st.legacy = self.inner.legacy;
        st
    }

    pub fn group_pk(&self) -> [u8; 32] {
        self.inner.group_pk
    }

    /// This member's x-only key (its Nostr identity on the relays).
    pub fn pubkey(&self) -> [u8; 32] {
        self.inner.codec.me()
    }

    /// Replaces the local policy overrides (takes effect for the next message).
    pub fn set_policy(&self, policy: Policy) {
        let mut eng = lock(&self.inner.engine);
        let observed_keep = eng.policy().clone();
        let mut p = policy;
        p.merge_observed(&observed_keep);
        *eng.policy_mut() = p;
    }

    /// The relays this node was configured with.
    pub fn relays(&self) -> Vec<String> {
        self.inner.relays.clone()
    }

    /// Per-relay connection state of the current transport.
    pub fn relay_status(&self) -> Vec<crate::relay::RelayStatus> {
        self.inner.current_transport().relay_status()
    }

    /// Whether `peer` (x-only) is another member of this keyset.
    pub fn is_peer(&self, peer: &[u8; 32]) -> bool {
        lock(&self.inner.engine).is_member(peer)
    }

    /// Local inbound policy towards a peer given as x-only hex (any request method allowed).
    pub fn allows_inbound_hex(&self, peer_hex: &str) -> bool {
        let Ok(k) = super::super::next::hexser::decode_fixed::<32>(peer_hex) else {
            return false;
        };
        let eng = lock(&self.inner.engine);
        eng.policy().allows_inbound(&k, Method::Sign)
    }

    /// Edits the local overrides towards one peer.
    pub fn update_peer_policy(
        &self,
        peer: &[u8; 32],
        f: impl FnOnce(&mut super::policy::PeerPolicy),
    ) {
        let mut eng = lock(&self.inner.engine);
        let mut p = eng.policy().local(peer);
        f(&mut p);
        eng.policy_mut().set_peer(*peer, p);
    }

    /// Counters: (dropped/rejected inbound messages, transport re-creations).
    pub fn counters(&self) -> (u64, u64) {
        (
            self.inner.dropped.load(Ordering::Relaxed),
            self.inner.restarts.load(Ordering::Relaxed),
        )
    }

    /// Stops the node's tasks and closes its relay connections.
    pub async fn shutdown(&self) {
        self.inner.stopped.store(true, Ordering::SeqCst);
        self.inner.stop.notify_waiters();
        for (_, tx) in lock(&self.inner.waiters).drain() {
            let _ = tx.send(Err(NodeError::Stopped));
        }
        self.inner.current_transport().shutdown().await;
    }

    /// Live activity of this node (requests served/refused, own rounds, peer presence).
    pub fn subscribe_activity(&self) -> tokio::sync::broadcast::Receiver<super::Activity> {
        self.inner.activity.subscribe()
    }

    /// Sends an arbitrary envelope (tests and tools).
    pub async fn send_raw(&self, to: [u8; 32], envelope: Envelope) -> Result<(), NodeError> {
        self.inner.send(vec![Outgoing { to, envelope }]).await
    }
}

/// Several keysets in one process, keyed by profile id.
#[derive(Clone, Default)]
pub struct Nodes {
    map: Arc<RwLock<BTreeMap<String, NodeHandle>>>,
}

impl Nodes {
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds (or replaces, shutting the old one down) the node of `profile_id`.
    pub async fn insert(&self, profile_id: String, node: NodeHandle) {
        let old = self
            .map
            .write()
            .ok()
            .and_then(|mut g| g.insert(profile_id, node));
        if let Some(old) = old {
            old.shutdown().await;
        }
    }
    pub fn get(&self, profile_id: &str) -> Option<NodeHandle> {
        self.map
            .read()
            .ok()
            .and_then(|g| g.get(profile_id).cloned())
    }
    /// The only node, when exactly one keyset is loaded (the common case).
    pub fn single(&self) -> Option<NodeHandle> {
        let g = self.map.read().ok()?;
        if g.len() == 1 {
            g.values().next().cloned()
        } else {
            None
        }
    }
    pub async fn remove(&self, profile_id: &str) -> bool {
        let old = self.map.write().ok().and_then(|mut g| g.remove(profile_id));
        match old {
            Some(n) => {
                n.shutdown().await;
                true
            }
            None => false,
        }
    }
    pub fn ids(&self) -> Vec<String> {
        self.map
            .read()
            .map(|g| g.keys().cloned().collect())
            .unwrap_or_default()
    }
    pub fn statuses(&self) -> Vec<(String, NodeStatus)> {
        let nodes: Vec<(String, NodeHandle)> = self
            .map
            .read()
            .map(|g| g.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        nodes.into_iter().map(|(k, n)| (k, n.status())).collect()
    }
    pub async fn shutdown_all(&self) {
        let nodes: Vec<NodeHandle> = self
            .map
            .write()
            .map(|mut g| std::mem::take(&mut *g).into_values().collect())
            .unwrap_or_default();
        for n in nodes {
            n.shutdown().await;
        }
    }
}
