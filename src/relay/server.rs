//! The embedded ephemeral Nostr relay (NIP-01, NIP-11, NIP-40, NIP-42, NIP-45 COUNT).
//!
//! Hot path: each connection task parses and verifies its own events (no lock held while
//! verifying), then takes the store write lock for an O(log n) insert, then fans out to live
//! subscriptions through bounded per-connection queues. A connection whose queue is full is a
//! slow consumer and is disconnected; nothing is buffered without bound. Stored EVENTs and the
//! EOSE of a REQ go to the writer as one batch and are flushed together (with `TCP_NODELAY` set
//! by [`nodelay`] on the listener, a REQ by id is answered in well under a millisecond).
//!
//! Event content is never logged.

use super::proto::{self, ClientMessage};
use super::store::{Insert, Store, StoredEvent};
use crate::nostr::{Event, Filter};
use axum::Router;
use axum::extract::ws::{
    Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection,
};
use axum::extract::{ConnectInfo, Extension, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{Notify, mpsc};

/// Relay limits and access policy. Defaults are close to strfry's.
#[derive(Clone, Debug)]
pub struct RelayConfig {
    /// `true` = public relay (anyone may read and write). Default `false` (restricted).
    pub open: bool,
    /// Operator allowlist of x-only pubkeys that may write (in addition to [`Relay::allow_pubkeys`]).
    pub allowlist: Vec<[u8; 32]>,
    /// When restricted, also accept *ephemeral* events from unknown authors if they `p`-tag an
    /// allowed pubkey (lets a new NIP-46 client or onboarding device reach us). Default `true`.
    pub accept_ephemeral_to_allowed: bool,
    /// Our public URL for the NIP-42 `relay` tag check; `None` = not checked.
    pub relay_url: Option<String>,
    pub name: String,
    pub description: String,
    /// Largest WebSocket frame/message accepted (bytes). Default 128 KiB.
    pub max_frame_bytes: usize,
    /// Largest event accepted (bytes of JSON). Default 64 KiB.
    pub max_event_bytes: usize,
    pub max_event_tags: usize,
    pub max_subs_per_conn: usize,
    pub max_filters_per_req: usize,
    pub max_sub_id_len: usize,
    /// Cap on `limit` (and the default when a filter has none).
    pub max_limit: usize,
    pub max_conns: usize,
    pub max_conns_per_ip: usize,
    /// Use the first `X-Forwarded-For` address for per-IP limits (behind a trusted proxy only).
    pub trust_forwarded_for: bool,
    /// Per-connection token bucket: messages per second and burst.
    pub rate_per_sec: f64,
    pub rate_burst: f64,
    /// Token bucket of a connection that authenticated (NIP-42) as an allowed key (a group
    /// member's node, an approved NIP-46 client). A co-signer answers one event per signature,
    /// so a signer under sustained load publishes far above `rate_per_sec`; with the stranger
    /// limit its replies were refused ("rate-limited") and the initiator hit its 30 s timeout.
    pub member_rate_per_sec: f64,
    pub member_rate_burst: f64,
    pub max_stored_events: usize,
    pub max_stored_bytes: usize,
    /// Stored events are dropped this long after they were received. Default 5 min.
    pub ttl: Duration,
    /// Per-connection outbound queue (messages). Full = slow consumer = disconnected.
    pub outbound_queue: usize,
    /// Reject events whose `created_at` is further than this in the future.
    pub max_future_secs: u64,
    /// Server ping interval; a connection silent for 3 intervals is dropped.
    pub ping_interval: Duration,
    /// Ephemeral event ids remembered for duplicate detection.
    pub ephemeral_dedup: usize,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            open: false,
            allowlist: Vec::new(),
            accept_ephemeral_to_allowed: true,
            relay_url: None,
            name: "frostbox".into(),
            description:
                "Frostbox embedded ephemeral relay (FROSTR / NIP-46); nothing is written to disk"
                    .into(),
            max_frame_bytes: 128 * 1024,
            max_event_bytes: 64 * 1024,
            max_event_tags: 2000,
            max_subs_per_conn: 20,
            max_filters_per_req: 16,
            max_sub_id_len: 64,
            max_limit: 500,
            max_conns: 1024,
            max_conns_per_ip: 32,
            trust_forwarded_for: false,
            rate_per_sec: 50.0,
            rate_burst: 200.0,
            member_rate_per_sec: 20_000.0,
            member_rate_burst: 20_000.0,
            max_stored_events: 50_000,
            max_stored_bytes: 64 * 1024 * 1024,
            ttl: Duration::from_secs(300),
            outbound_queue: 1024,
            max_future_secs: 900,
            ping_interval: Duration::from_secs(30),
            ephemeral_dedup: 65_536,
        }
    }
}

/// Counters for the API / metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct RelayStats {
    pub connections: usize,
    pub subscriptions: usize,
    pub stored_events: usize,
    pub stored_bytes: usize,
    pub events_received: u64,
    pub events_accepted: u64,
    pub events_ephemeral: u64,
    pub events_rejected: u64,
    pub events_duplicate: u64,
    pub rate_limited: u64,
    pub reqs: u64,
    pub slow_consumers_disconnected: u64,
    pub connections_refused: u64,
    /// Events an in-process subscriber ([`Relay::subscribe_local`]) had no room for.
    pub local_dropped: u64,
}

#[derive(Default)]
struct Counters {
    received: AtomicU64,
    accepted: AtomicU64,
    ephemeral: AtomicU64,
    rejected: AtomicU64,
    duplicate: AtomicU64,
    rate_limited: AtomicU64,
    reqs: AtomicU64,
    slow: AtomicU64,
    refused: AtomicU64,
    local_dropped: AtomicU64,
}

/// How [`Inner::ingest`] checks an event's signature.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sig {
    /// Untrusted source (a client connection, [`Relay::submit`]): id and BIP-340 signature.
    Verify,
    /// Signed by this process a moment ago ([`Relay::publish_own`]): the id only.
    SignedHere,
}

type IndexFallback = Arc<dyn Fn(&HeaderMap) -> Response + Send + Sync>;

struct RecentIds {
    set: HashSet<[u8; 32]>,
    order: VecDeque<[u8; 32]>,
    cap: usize,
}

impl RecentIds {
    /// `false` if the id was already present.
    fn insert(&mut self, id: [u8; 32]) -> bool {
        if !self.set.insert(id) {
            return false;
        }
        self.order.push_back(id);
        while self.order.len() > self.cap {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        true
    }
}

struct Inner {
    cfg: RelayConfig,
    store: RwLock<Store>,
    allowed: RwLock<HashSet<[u8; 32]>>,
    conns: RwLock<HashMap<u64, Arc<Conn>>>,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    next_conn: AtomicU64,
    counters: Counters,
    recent_ephemeral: Mutex<RecentIds>,
    index: RwLock<Option<IndexFallback>>,
    sweeper: AtomicBool,
    /// In-process subscribers ([`Relay::subscribe_local`]), by id.
    locals: Mutex<HashMap<u64, LocalSub>>,
    next_local: AtomicU64,
}

/// An in-process subscriber (the node running in this process): live events only, handed over
/// as the `Event` the relay verified at ingest, with no JSON or WebSocket in between.
struct LocalSub {
    filters: Vec<Filter>,
    tx: mpsc::Sender<Event>,
}

/// Lock helpers: a poisoned lock (a panic elsewhere) must not take the relay down.
fn r<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}
fn w<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}
fn m<T>(l: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    l.lock().unwrap_or_else(|e| e.into_inner())
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

enum Out {
    One(String),
    Batch(Vec<String>),
    Ping,
}

struct Sub {
    filters: Vec<Filter>,
    /// Only stored events with a larger sequence number are delivered live (the rest were in
    /// the REQ's stored replay).
    after_seq: u64,
}

struct Conn {
    tx: mpsc::Sender<Out>,
    subs: Mutex<HashMap<String, Sub>>,
    kill: Notify,
    killed: AtomicBool,
    authed: Mutex<Option<[u8; 32]>>,
}

impl Conn {
    /// Queues a message; a full queue marks the connection as a slow consumer and kills it.
    fn send(&self, out: Out, counters: &Counters) -> bool {
        if self.killed.load(Ordering::Relaxed) {
            return false;
        }
        match self.tx.try_send(out) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                counters.slow.fetch_add(1, Ordering::Relaxed);
                tracing::debug!("relay: disconnecting slow consumer");
                self.kill();
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
    fn kill(&self) {
        self.killed.store(true, Ordering::Relaxed);
        self.kill.notify_one();
    }
}

/// The relay handle (cheap to clone).
#[derive(Clone)]
pub struct Relay {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("stats", &self.stats())
            .finish()
    }
}

impl Relay {
    pub fn new(cfg: RelayConfig) -> Relay {
        let store = Store::new(
            cfg.max_stored_events,
            cfg.max_stored_bytes,
            cfg.ttl.as_secs(),
        );
        let allowed: HashSet<[u8; 32]> = cfg.allowlist.iter().copied().collect();
        let cap = cfg.ephemeral_dedup.max(1);
        Relay {
            inner: Arc::new(Inner {
                cfg,
                store: RwLock::new(store),
                allowed: RwLock::new(allowed),
                conns: RwLock::new(HashMap::new()),
                per_ip: Mutex::new(HashMap::new()),
                next_conn: AtomicU64::new(1),
                counters: Counters::default(),
                recent_ephemeral: Mutex::new(RecentIds {
                    set: HashSet::new(),
                    order: VecDeque::new(),
                    cap,
                }),
                index: RwLock::new(None),
                sweeper: AtomicBool::new(false),
                locals: Mutex::new(HashMap::new()),
                next_local: AtomicU64::new(1),
            }),
        }
    }

    pub fn config(&self) -> &RelayConfig {
        &self.inner.cfg
    }

    /// Axum routes: `GET /` with a WebSocket upgrade → NIP-01; `GET /` with
    /// `Accept: application/nostr+json` → NIP-11; any other `GET /` goes to the handler set by
    /// [`Relay::set_index_handler`] (the UI), else 404.
    pub fn router(&self) -> Router {
        self.start_sweeper();
        Router::new()
            .route("/", get(root))
            .with_state(self.inner.clone())
    }

    /// What a plain `GET /` (no upgrade, no NIP-11 Accept) returns, e.g. the UI's index page.
    pub fn set_index_handler(&self, f: impl Fn(&HeaderMap) -> Response + Send + Sync + 'static) {
        *w(&self.inner.index) = Some(Arc::new(f));
    }

    /// Pubkeys allowed to write when the relay is restricted (group members, NIP-46 clients).
    pub fn allow_pubkeys(&self, keys: impl IntoIterator<Item = [u8; 32]>) {
        w(&self.inner.allowed).extend(keys);
    }

    /// Removes pubkeys from the allowlist (a revoked NIP-46 client).
    pub fn disallow_pubkeys(&self, keys: impl IntoIterator<Item = [u8; 32]>) {
        let mut a = w(&self.inner.allowed);
        for k in keys {
            a.remove(&k);
        }
    }

    pub fn is_allowed(&self, key: &[u8; 32]) -> bool {
        r(&self.inner.allowed).contains(key)
    }

    pub fn stats(&self) -> RelayStats {
        let i = &self.inner;
        let (stored_events, stored_bytes) = {
            let s = r(&i.store);
            (s.len(), s.bytes())
        };
        let (connections, subscriptions) = {
            let c = r(&i.conns);
            (c.len(), c.values().map(|c| m(&c.subs).len()).sum())
        };
        let c = &i.counters;
        RelayStats {
            connections,
            subscriptions,
            stored_events,
            stored_bytes,
            events_received: c.received.load(Ordering::Relaxed),
            events_accepted: c.accepted.load(Ordering::Relaxed),
            events_ephemeral: c.ephemeral.load(Ordering::Relaxed),
            events_rejected: c.rejected.load(Ordering::Relaxed),
            events_duplicate: c.duplicate.load(Ordering::Relaxed),
            rate_limited: c.rate_limited.load(Ordering::Relaxed),
            reqs: c.reqs.load(Ordering::Relaxed),
            slow_consumers_disconnected: c.slow.load(Ordering::Relaxed),
            connections_refused: c.refused.load(Ordering::Relaxed),
            local_dropped: c.local_dropped.load(Ordering::Relaxed),
        }
    }

    /// Injects an event as if a client had published it (in-process producers). Returns the
    /// NIP-01 OK `(accepted, message)`.
    pub fn submit(&self, ev: Event) -> (bool, String) {
        let json = ev.to_json();
        self.inner.ingest(ev, json.len(), Some(json), Sig::Verify)
    }

    /// Publishes an event that this process has just signed itself (the in-process node's
    /// [`crate::frostr::node::transport::EmbeddedLink`]): every check of a client's EVENT
    /// applies (size, kind, time, write allowlist, duplicates, the id), except the BIP-340
    /// verification — the signature came out of our own signer a moment ago and never crossed a
    /// process boundary, so verifying it would only spend ~60–90 µs per message. Never call it
    /// with an event that came from outside the process: use [`Relay::submit`].
    pub fn publish_own(&self, ev: &Event) -> (bool, String) {
        let json = ev.to_json();
        self.inner
            .ingest(ev.clone(), json.len(), Some(json), Sig::SignedHere)
    }

    /// In-process subscription: every event the relay accepts from now on (from any client,
    /// [`Relay::submit`] or [`Relay::publish_own`]) that matches one of `filters` is sent to the
    /// returned receiver, after the relay's own verification at ingest (id and BIP-340
    /// signature, or our own signature for `publish_own`). No stored replay. Events that do not
    /// fit in the `buffer` are dropped (counted in `local_dropped`). Ends when the receiver is
    /// dropped or [`Relay::unsubscribe_local`] is called.
    pub fn subscribe_local(
        &self,
        filters: Vec<Filter>,
        buffer: usize,
    ) -> (u64, mpsc::Receiver<Event>) {
        let (tx, rx) = mpsc::channel(buffer.max(1));
        let id = self.inner.next_local.fetch_add(1, Ordering::Relaxed);
        m(&self.inner.locals).insert(id, LocalSub { filters, tx });
        (id, rx)
    }

    /// Ends an in-process subscription (its receiver then yields `None`).
    pub fn unsubscribe_local(&self, id: u64) {
        m(&self.inner.locals).remove(&id);
    }

    /// Number of live in-process subscriptions.
    pub fn local_subscriptions(&self) -> usize {
        let mut g = m(&self.inner.locals);
        g.retain(|_, s| !s.tx.is_closed());
        g.len()
    }

    /// The NIP-11 document.
    pub fn nip11(&self) -> serde_json::Value {
        self.inner.nip11()
    }

    /// Drops expired and over-TTL events now (also done on insert and every few seconds).
    pub fn purge(&self) -> usize {
        w(&self.inner.store).purge(now_secs())
    }

    fn start_sweeper(&self) {
        if self.inner.sweeper.swap(true, Ordering::SeqCst) {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            self.inner.sweeper.store(false, Ordering::SeqCst);
            return;
        };
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        handle.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { break };
                w(&inner.store).purge(now_secs());
            }
        });
    }
}

/// Sets `TCP_NODELAY` on every accepted connection (use it for the listener the relay is
/// served on: `axum::serve(relay::server::nodelay(listener), app)`).
/// Works with `into_make_service_with_connect_info::<SocketAddr>()` (per-IP limits need it).
pub fn nodelay(listener: tokio::net::TcpListener) -> NodelayListener {
    use axum::serve::ListenerExt;
    fn set(tcp: &mut tokio::net::TcpStream) {
        let _ = tcp.set_nodelay(true);
    }
    listener.tap_io(set as fn(&mut tokio::net::TcpStream))
}

/// The listener type returned by [`nodelay`].
pub type NodelayListener =
    axum::serve::TapIo<tokio::net::TcpListener, fn(&mut tokio::net::TcpStream)>;

/// Serves a relay alone on `listener` (TCP_NODELAY, peer addresses for per-IP limits) until the
/// future is dropped. Tests, benches and `examples/relay.rs` use this.
pub async fn serve(listener: tokio::net::TcpListener, relay: Relay) -> std::io::Result<()> {
    let app = relay
        .router()
        .into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(nodelay(listener), app).await
}

fn is_ephemeral_kind(k: u16) -> bool {
    (20000..30000).contains(&k)
}

fn only_ephemeral(f: &Filter) -> bool {
    f.kinds
        .as_ref()
        .is_some_and(|k| k.iter().all(|k| is_ephemeral_kind(*k)))
}

impl Inner {
    fn nip11(&self) -> serde_json::Value {
        let c = &self.cfg;
        serde_json::json!({
            "name": c.name,
            "description": c.description,
            "software": "https://github.com/frostbox/frostbox",
            "version": env!("CARGO_PKG_VERSION"),
            "supported_nips": [1, 11, 40, 42, 45],
            "limitation": {
                "max_message_length": c.max_frame_bytes,
                "max_content_length": c.max_event_bytes,
                "max_event_tags": c.max_event_tags,
                "max_subscriptions": c.max_subs_per_conn,
                "max_filters": c.max_filters_per_req,
                "max_limit": c.max_limit,
                "default_limit": c.max_limit,
                "max_subid_length": c.max_sub_id_len,
                "auth_required": !c.open,
                "restricted_writes": !c.open,
                "payment_required": false,
                "created_at_upper_limit": c.max_future_secs,
            },
            "retention": [{"time": c.ttl.as_secs(), "count": c.max_stored_events}],
        })
    }

    fn write_allowed(&self, ev: &Event) -> bool {
        if self.cfg.open {
            return true;
        }
        let allowed = r(&self.allowed);
        if allowed.contains(&ev.pubkey) {
            return true;
        }
        self.cfg.accept_ephemeral_to_allowed
            && ev.is_ephemeral()
            && ev.tags.iter().any(|t| {
                t.len() >= 2 && t[0] == "p" && {
                    let mut k = [0u8; 32];
                    hex::decode_to_slice(&t[1], &mut k).is_ok() && allowed.contains(&k)
                }
            })
    }

    /// Validates, verifies, stores and fans out one event. Returns the OK `(accepted, message)`.
    fn ingest(&self, ev: Event, json_len: usize, json: Option<String>, sig: Sig) -> (bool, String) {
        let c = &self.counters;
        c.received.fetch_add(1, Ordering::Relaxed);
        let reject = |msg: String| {
            c.rejected.fetch_add(1, Ordering::Relaxed);
            (false, msg)
        };
        let cfg = &self.cfg;
        if json_len > cfg.max_event_bytes {
            return reject(format!(
                "invalid: event too large (max {} bytes)",
                cfg.max_event_bytes
            ));
        }
        if ev.tags.len() > cfg.max_event_tags {
            return reject(format!(
                "invalid: too many tags (max {})",
                cfg.max_event_tags
            ));
        }
        if ev.kind == 22242 {
            return reject("invalid: kind 22242 belongs in an AUTH message".into());
        }
        let now = now_secs();
        if ev.created_at > now.saturating_add(cfg.max_future_secs) {
            return reject("invalid: created_at is too far in the future".into());
        }
        if ev.expiration().is_some_and(|t| t <= now) {
            return reject("invalid: event has expired".into());
        }
        if !self.write_allowed(&ev) {
            return reject("blocked: this relay only accepts events from its own group members and allowed keys".into());
        }
        if !ev.is_ephemeral() && r(&self.store).contains(&ev.id) {
            c.duplicate.fetch_add(1, Ordering::Relaxed);
            return (true, "duplicate: already have this event".into());
        }
        let checked = match sig {
            Sig::Verify => ev.verify(),
            Sig::SignedHere => ev.verify_id(),
        };
        if let Err(e) = checked {
            return reject(match e {
                crate::nostr::Error::IdMismatch => {
                    "invalid: event id does not match the event".into()
                }
                _ => "invalid: bad signature".into(),
            });
        }
        if ev.is_ephemeral() {
            if !m(&self.recent_ephemeral).insert(ev.id) {
                c.duplicate.fetch_add(1, Ordering::Relaxed);
                return (true, "duplicate: already have this event".into());
            }
            c.ephemeral.fetch_add(1, Ordering::Relaxed);
            let json = json.unwrap_or_else(|| ev.to_json());
            self.broadcast(&ev, &json, u64::MAX);
            return (true, String::new());
        }
        let se = StoredEvent::new(ev, now);
        if se.bytes > cfg.max_stored_bytes {
            return reject("blocked: event larger than the relay's store".into());
        }
        let res = w(&self.store).insert(se, now);
        match res {
            Insert::Stored(se) => {
                c.accepted.fetch_add(1, Ordering::Relaxed);
                self.broadcast(&se.event, &se.json, se.seq);
                (true, String::new())
            }
            Insert::Duplicate => {
                c.duplicate.fetch_add(1, Ordering::Relaxed);
                (true, "duplicate: already have this event".into())
            }
            Insert::Outdated => {
                c.duplicate.fetch_add(1, Ordering::Relaxed);
                (
                    false,
                    "duplicate: a newer version of this replaceable event is stored".into(),
                )
            }
        }
    }

    fn broadcast(&self, ev: &Event, json: &str, seq: u64) {
        {
            let mut locals = m(&self.locals);
            if !locals.is_empty() {
                let counters = &self.counters;
                locals.retain(|_, s| {
                    if !s.filters.iter().any(|f| f.matches(ev)) {
                        return !s.tx.is_closed();
                    }
                    match s.tx.try_send(ev.clone()) {
                        Ok(()) => true,
                        Err(mpsc::error::TrySendError::Full(_)) => {
                            counters.local_dropped.fetch_add(1, Ordering::Relaxed);
                            true
                        }
                        Err(mpsc::error::TrySendError::Closed(_)) => false,
                    }
                });
            }
        }
        let conns = r(&self.conns);
        for conn in conns.values() {
            if conn.killed.load(Ordering::Relaxed) {
                continue;
            }
            let subs = m(&conn.subs);
            for (sid, sub) in subs.iter() {
                if seq <= sub.after_seq {
                    continue;
                }
                if sub.filters.iter().any(|f| f.matches(ev))
                    && !conn.send(Out::One(proto::event_msg(sid, json)), &self.counters)
                {
                    break;
                }
            }
        }
    }

    fn read_allowed(&self, conn: &Conn) -> Result<(), String> {
        if self.cfg.open {
            return Ok(());
        }
        match *m(&conn.authed) {
            None => Err("auth-required: this relay serves stored events to authenticated group members only (NIP-42)".into()),
            Some(pk) if r(&self.allowed).contains(&pk) => Ok(()),
            Some(_) => Err("restricted: this pubkey may not read stored events here".into()),
        }
    }
}

// ---- HTTP ----

async fn root(
    State(inner): State<Arc<Inner>>,
    ci: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    match ws {
        Ok(ws) => upgrade(
            inner,
            ws,
            ci.map(|Extension(ConnectInfo(a))| a.ip()),
            &headers,
        ),
        Err(rej) => {
            let wants_ws = headers
                .get(header::UPGRADE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
            if wants_ws {
                return rej.into_response();
            }
            let nip11 = headers
                .get_all(header::ACCEPT)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .any(|v| v.contains("application/nostr+json"));
            if nip11 {
                let body = inner.nip11().to_string();
                let mut resp = (StatusCode::OK, body).into_response();
                let h = resp.headers_mut();
                h.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/nostr+json"),
                );
                h.insert(
                    header::ACCESS_CONTROL_ALLOW_ORIGIN,
                    HeaderValue::from_static("*"),
                );
                h.insert(
                    header::ACCESS_CONTROL_ALLOW_HEADERS,
                    HeaderValue::from_static("*"),
                );
                h.insert(
                    header::ACCESS_CONTROL_ALLOW_METHODS,
                    HeaderValue::from_static("GET"),
                );
                return resp;
            }
            let fallback = r(&inner.index).clone();
            match fallback {
                Some(f) => f(&headers),
                None => (
                    StatusCode::NOT_FOUND,
                    "Frostbox relay: connect with a WebSocket\n",
                )
                    .into_response(),
            }
        }
    }
}

/// Holds a connection slot (global + per IP); released on drop.
struct Slot {
    inner: Arc<Inner>,
    ip: Option<IpAddr>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(ip) = self.ip {
            let mut per = m(&self.inner.per_ip);
            if let Some(n) = per.get_mut(&ip) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    per.remove(&ip);
                }
            }
        }
    }
}

fn upgrade(
    inner: Arc<Inner>,
    ws: WebSocketUpgrade,
    peer: Option<IpAddr>,
    headers: &HeaderMap,
) -> Response {
    let ip = if inner.cfg.trust_forwarded_for {
        headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|s| s.trim().parse().ok())
            .or(peer)
    } else {
        peer
    };
    if r(&inner.conns).len() >= inner.cfg.max_conns {
        inner.counters.refused.fetch_add(1, Ordering::Relaxed);
        return (StatusCode::SERVICE_UNAVAILABLE, "too many connections\n").into_response();
    }
    if let Some(ip) = ip {
        let mut per = m(&inner.per_ip);
        let n = per.entry(ip).or_insert(0);
        if *n >= inner.cfg.max_conns_per_ip {
            inner.counters.refused.fetch_add(1, Ordering::Relaxed);
            return (
                StatusCode::TOO_MANY_REQUESTS,
                "too many connections from this address\n",
            )
                .into_response();
        }
        *n += 1;
    }
    let slot = Slot {
        inner: inner.clone(),
        ip,
    };
    let max = inner.cfg.max_frame_bytes;
    ws.max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| async move {
            run_conn(inner, socket).await;
            drop(slot);
        })
}

// ---- connection ----

struct TokenBucket {
    tokens: f64,
    rate: f64,
    burst: f64,
    last: Instant,
}

impl TokenBucket {
    fn take(&mut self) -> bool {
        let now = Instant::now();
        let dt = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

struct ConnState {
    id: u64,
    challenge: String,
    bucket: TokenBucket,
}

async fn writer_loop(
    mut sink: futures_util::stream::SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<Out>,
) {
    async fn feed(
        sink: &mut futures_util::stream::SplitSink<WebSocket, Message>,
        o: Out,
    ) -> Result<(), axum::Error> {
        match o {
            Out::One(s) => sink.feed(Message::Text(s.into())).await,
            Out::Batch(v) => {
                for s in v {
                    sink.feed(Message::Text(s.into())).await?;
                }
                Ok(())
            }
            Out::Ping => sink.feed(Message::Ping(Default::default())).await,
        }
    }
    while let Some(first) = rx.recv().await {
        if feed(&mut sink, first).await.is_err() {
            return;
        }
        for _ in 0..256 {
            match rx.try_recv() {
                Ok(o) => {
                    if feed(&mut sink, o).await.is_err() {
                        return;
                    }
                }
                Err(_) => break,
            }
        }
        if sink.flush().await.is_err() {
            return;
        }
    }
    let _ = sink.close().await;
}

async fn run_conn(inner: Arc<Inner>, socket: WebSocket) {
    let cfg = &inner.cfg;
    let (tx, rx) = mpsc::channel(cfg.outbound_queue.max(2));
    let conn = Arc::new(Conn {
        tx,
        subs: Mutex::new(HashMap::new()),
        kill: Notify::new(),
        killed: AtomicBool::new(false),
        authed: Mutex::new(None),
    });
    let id = inner.next_conn.fetch_add(1, Ordering::Relaxed);
    w(&inner.conns).insert(id, conn.clone());
    let (sink, mut stream) = socket.split();
    let writer = tokio::spawn(writer_loop(sink, rx));
    let challenge = {
        use rand::RngCore;
        let mut b = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut b);
        hex::encode(b)
    };
    let mut st = ConnState {
        id,
        challenge,
        bucket: TokenBucket {
            tokens: cfg.rate_burst,
            rate: cfg.rate_per_sec,
            burst: cfg.rate_burst,
            last: Instant::now(),
        },
    };
    if !cfg.open {
        conn.send(Out::One(proto::auth_msg(&st.challenge)), &inner.counters);
    }
    let mut ping = tokio::time::interval(cfg.ping_interval);
    ping.tick().await;
    let mut last_seen = Instant::now();
    loop {
        if conn.killed.load(Ordering::Relaxed) {
            break;
        }
        tokio::select! {
            _ = conn.kill.notified() => break,
            _ = ping.tick() => {
                if last_seen.elapsed() > cfg.ping_interval * 3 {
                    break;
                }
                conn.send(Out::Ping, &inner.counters);
            }
            msg = stream.next() => {
                last_seen = Instant::now();
                match msg {
                    Some(Ok(Message::Text(t))) => handle_text(&inner, &conn, &mut st, t.as_str()),
                    Some(Ok(Message::Binary(_))) => {
                        conn.send(Out::One(proto::notice_msg("invalid: binary frames are not supported")), &inner.counters);
                    }
                    Some(Ok(Message::Close(_))) | None => break,
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        // Oversized frames end here (tungstenite enforces max_frame_bytes).
                        let msg = format!("error: connection closed: {}", e.to_string().chars().take(120).collect::<String>());
                        conn.send(Out::One(proto::notice_msg(&msg)), &inner.counters);
                        break;
                    }
                }
            }
        }
    }
    w(&inner.conns).remove(&st.id);
    let killed = conn.killed.load(Ordering::Relaxed);
    drop(conn);
    if killed {
        writer.abort();
    } else {
        let abort = writer.abort_handle();
        if tokio::time::timeout(Duration::from_secs(2), writer)
            .await
            .is_err()
        {
            abort.abort();
        }
    }
}

fn handle_text(inner: &Inner, conn: &Conn, st: &mut ConnState, text: &str) {
    let counters = &inner.counters;
    let msg = match proto::parse_client(text) {
        Ok(m) => m,
        Err(e) => {
            let out = if let Some(id) = e.event_id {
                counters.received.fetch_add(1, Ordering::Relaxed);
                counters.rejected.fetch_add(1, Ordering::Relaxed);
                proto::ok_msg(&id, false, &e.message)
            } else if let Some(sid) = e.sub_id {
                proto::closed_msg(&sid, &e.message)
            } else {
                proto::notice_msg(&e.message)
            };
            conn.send(Out::One(out), counters);
            return;
        }
    };
    let limited = !st.bucket.take();
    if limited {
        counters.rate_limited.fetch_add(1, Ordering::Relaxed);
    }
    const SLOW: &str = "rate-limited: slow down";
    match msg {
        ClientMessage::Event(ev) => {
            let out = if limited {
                proto::ok_msg(&ev.id_hex(), false, SLOW)
            } else {
                let id = ev.id_hex();
                let (ok, why) = inner.ingest(*ev, text.len().saturating_sub(12), None, Sig::Verify);
                proto::ok_msg(&id, ok, &why)
            };
            conn.send(Out::One(out), counters);
        }
        ClientMessage::Req { sub_id, filters } => {
            counters.reqs.fetch_add(1, Ordering::Relaxed);
            if limited {
                conn.send(Out::One(proto::closed_msg(&sub_id, SLOW)), counters);
                return;
            }
            handle_req(inner, conn, sub_id, filters);
        }
        ClientMessage::Count { sub_id, filters } => {
            if limited {
                conn.send(Out::One(proto::closed_msg(&sub_id, SLOW)), counters);
                return;
            }
            if let Err(why) = check_req(inner, conn, &sub_id, &filters) {
                conn.send(Out::One(proto::closed_msg(&sub_id, &why)), counters);
                return;
            }
            let n = r(&inner.store).count(&filters, now_secs());
            conn.send(Out::One(proto::count_msg(&sub_id, n)), counters);
        }
        ClientMessage::Close(sub_id) => {
            m(&conn.subs).remove(&sub_id);
        }
        ClientMessage::Auth(ev) => {
            let id = ev.id_hex();
            let res = check_auth(inner, &ev, &st.challenge);
            let out = match res {
                Ok(()) => {
                    *m(&conn.authed) = Some(ev.pubkey);
                    if r(&inner.allowed).contains(&ev.pubkey) {
                        let cfg = &inner.cfg;
                        st.bucket.rate = st.bucket.rate.max(cfg.member_rate_per_sec);
                        st.bucket.burst = st.bucket.burst.max(cfg.member_rate_burst);
                        st.bucket.tokens = st.bucket.tokens.max(cfg.member_rate_burst);
                    }
                    proto::ok_msg(&id, true, "")
                }
                Err(why) => proto::ok_msg(&id, false, &why),
            };
            conn.send(Out::One(out), counters);
        }
    }
}

fn check_req(inner: &Inner, conn: &Conn, sub_id: &str, filters: &[Filter]) -> Result<(), String> {
    let cfg = &inner.cfg;
    if sub_id.is_empty() || sub_id.chars().count() > cfg.max_sub_id_len {
        return Err(format!(
            "invalid: subscription id must be 1..={} characters",
            cfg.max_sub_id_len
        ));
    }
    if filters.is_empty() {
        return Err("invalid: at least one filter is required".into());
    }
    if filters.len() > cfg.max_filters_per_req {
        return Err(format!(
            "invalid: too many filters (max {})",
            cfg.max_filters_per_req
        ));
    }
    if !filters.iter().all(only_ephemeral) {
        inner.read_allowed(conn)?;
    }
    Ok(())
}

fn handle_req(inner: &Inner, conn: &Conn, sub_id: String, filters: Vec<Filter>) {
    let counters = &inner.counters;
    if let Err(why) = check_req(inner, conn, &sub_id, &filters) {
        conn.send(Out::One(proto::closed_msg(&sub_id, &why)), counters);
        return;
    }
    let mut subs = m(&conn.subs);
    if !subs.contains_key(&sub_id) && subs.len() >= inner.cfg.max_subs_per_conn {
        drop(subs);
        let why = format!(
            "blocked: too many subscriptions (max {})",
            inner.cfg.max_subs_per_conn
        );
        conn.send(Out::One(proto::closed_msg(&sub_id, &why)), counters);
        return;
    }
    // Snapshot + replay + registration are atomic with respect to inserts and fan-out: the store
    // read lock blocks inserts, and fan-out to this connection waits on `subs`.
    let store = r(&inner.store);
    let after_seq = store.current_seq();
    let found = if filters.iter().all(only_ephemeral) {
        Vec::new()
    } else {
        store.query(&filters, now_secs(), inner.cfg.max_limit)
    };
    let mut batch: Vec<String> = Vec::with_capacity(found.len() + 1);
    batch.extend(found.iter().map(|se| proto::event_msg(&sub_id, &se.json)));
    batch.push(proto::eose_msg(&sub_id));
    drop(store);
    if conn.send(Out::Batch(batch), counters) {
        subs.insert(sub_id, Sub { filters, after_seq });
    }
}

fn check_auth(inner: &Inner, ev: &Event, challenge: &str) -> Result<(), String> {
    if ev.kind != 22242 {
        return Err("invalid: AUTH event must be kind 22242".into());
    }
    ev.verify()
        .map_err(|_| "invalid: bad AUTH event signature".to_string())?;
    if ev.tag_value("challenge") != Some(challenge) {
        return Err("invalid: AUTH challenge does not match".into());
    }
    if ev.created_at.abs_diff(now_secs()) > 600 {
        return Err("invalid: AUTH event created_at is not within 10 minutes".into());
    }
    if let Some(url) = &inner.cfg.relay_url {
        let norm = |s: &str| s.trim().trim_end_matches('/').to_ascii_lowercase();
        if ev.tag_value("relay").map(norm) != Some(norm(url)) {
            return Err("invalid: AUTH relay tag does not name this relay".into());
        }
    }
    Ok(())
}
