//! The relay client pool: N relays (ws:// and wss:// via rustls + webpki roots, `ring`),
//! subscriptions with de-duplication across relays and reconnects, publishing with per-relay
//! OK tracking and timeout, reconnect with exponential backoff + jitter, resubscription after
//! reconnect, per-relay status. URLs are used exactly as given (loopback and LAN relays work).
//!
//! Every received event is verified (id + BIP-340) and checked against the subscription's
//! filters before it reaches the caller.

use super::proto::{self, RelayMessage};
use crate::nostr::{Event, Filter};
use crate::vault::secret::Secret32;
use futures_util::{SinkExt, StreamExt};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Pool tuning. `Pool::new` uses the defaults.
#[derive(Clone, Debug)]
pub struct PoolConfig {
    /// First reconnect delay; doubles per failed attempt up to `backoff_max` (±25 % jitter).
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    pub connect_timeout: Duration,
    /// How long `publish` waits for each relay's OK.
    pub publish_timeout: Duration,
    /// WebSocket ping interval (also measures RTT). A relay silent for 3 intervals is reconnected.
    pub ping_interval: Duration,
    /// Capacity of each subscription's channel; events beyond it are dropped (and counted).
    pub sub_buffer: usize,
    /// Event ids remembered per subscription for de-duplication.
    pub dedup_window: usize,
    pub max_message_bytes: usize,
    /// Key used to answer NIP-42 AUTH challenges (None = never authenticate).
    pub auth_key: Option<Arc<Secret32>>,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            publish_timeout: Duration::from_secs(5),
            ping_interval: Duration::from_secs(20),
            sub_buffer: 1024,
            dedup_window: 16_384,
            max_message_bytes: 1024 * 1024,
            auth_key: None,
        }
    }
}

/// Per-relay state for the API.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct RelayStatus {
    pub url: String,
    pub connected: bool,
    pub last_error: Option<String>,
    pub rtt_ms: Option<u64>,
    /// Successful connections so far (1 after the first connect).
    pub connects: u64,
    /// Unix seconds of the last successful connect.
    pub connected_since: Option<u64>,
    /// Events dropped because a subscriber did not keep up.
    pub dropped_events: u64,
}

/// What one relay said about a published event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublishOutcome {
    /// `OK true` (the message may be e.g. `duplicate: …`).
    Accepted(String),
    /// `OK false` with the relay's reason.
    Rejected(String),
    Timeout,
    NotConnected,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayPublish {
    pub url: String,
    pub outcome: PublishOutcome,
}

/// Result of [`Pool::publish`]: one outcome per relay. `is_ok()` when at least one accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishResult {
    pub event_id: [u8; 32],
    pub relays: Vec<RelayPublish>,
}

impl PublishResult {
    pub fn is_ok(&self) -> bool {
        self.accepted() > 0
    }
    pub fn accepted(&self) -> usize {
        self.relays
            .iter()
            .filter(|r| matches!(r.outcome, PublishOutcome::Accepted(_)))
            .count()
    }
}

struct Dedup {
    set: HashSet<[u8; 32]>,
    order: VecDeque<[u8; 32]>,
    cap: usize,
}

impl Dedup {
    fn first_time(&mut self, id: [u8; 32]) -> bool {
        if !self.set.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > self.cap
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        true
    }
}

struct PoolSub {
    filters: Vec<Filter>,
    tx: mpsc::Sender<Event>,
    seen: Dedup,
}

type OkWaiters = HashMap<String, oneshot::Sender<(bool, String)>>;

struct RelayConn {
    url: String,
    cmd: mpsc::Sender<String>,
    status: Mutex<RelayStatus>,
    oks: Mutex<OkWaiters>,
}

struct Shared {
    cfg: PoolConfig,
    subs: Mutex<HashMap<String, PoolSub>>,
}

struct PoolInner {
    shared: Arc<Shared>,
    relays: Vec<Arc<RelayConn>>,
    shutdown: watch::Sender<bool>,
}

/// The relay pool (cheap to clone). Must be created inside a tokio runtime.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<PoolInner>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("relays", &self.status())
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Installs rustls' `ring` provider once per process (idempotent, ignores an existing one).
pub fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

impl Pool {
    /// Connects to `urls` in the background and keeps reconnecting. Invalid URLs (not ws:// or
    /// wss://) show up in `status()` with an error and are never connected.
    pub fn new(urls: Vec<String>) -> Pool {
        Pool::with_config(urls, PoolConfig::default())
    }

    pub fn with_config(urls: Vec<String>, cfg: PoolConfig) -> Pool {
        install_crypto_provider();
        let shared = Arc::new(Shared {
            cfg,
            subs: Mutex::new(HashMap::new()),
        });
        let (shutdown, _) = watch::channel(false);
        let mut relays = Vec::new();
        let mut seen = HashSet::new();
        for url in urls {
            let url = url.trim().to_owned();
            if !seen.insert(url.clone()) {
                continue;
            }
            let (cmd, cmd_rx) = mpsc::channel(1024);
            let rc = Arc::new(RelayConn {
                url: url.clone(),
                cmd,
                status: Mutex::new(RelayStatus {
                    url: url.clone(),
                    ..Default::default()
                }),
                oks: Mutex::new(HashMap::new()),
            });
            let lower = url.to_ascii_lowercase();
            if lower.starts_with("ws://") || lower.starts_with("wss://") {
                tokio::spawn(relay_task(
                    shared.clone(),
                    rc.clone(),
                    cmd_rx,
                    shutdown.subscribe(),
                ));
            } else {
                lock(&rc.status).last_error = Some("unsupported URL (need ws:// or wss://)".into());
            }
            relays.push(rc);
        }
        Pool {
            inner: Arc::new(PoolInner {
                shared,
                relays,
                shutdown,
            }),
        }
    }

    /// Subscribes on every relay (and again after each reconnect). Events are verified,
    /// filter-checked and de-duplicated by id across relays. Re-using an id replaces the old
    /// subscription. Dropping the receiver ends the subscription at the next event.
    pub async fn subscribe(&self, id: &str, filters: Vec<Filter>) -> mpsc::Receiver<Event> {
        let cfg = &self.inner.shared.cfg;
        let (tx, rx) = mpsc::channel(cfg.sub_buffer.max(1));
        let msg = proto::client_req_msg(id, &filters);
        lock(&self.inner.shared.subs).insert(
            id.to_owned(),
            PoolSub {
                filters,
                tx,
                seen: Dedup {
                    set: HashSet::new(),
                    order: VecDeque::new(),
                    cap: cfg.dedup_window.max(1),
                },
            },
        );
        for rc in &self.inner.relays {
            if lock(&rc.status).connected {
                let _ = rc.cmd.try_send(msg.clone());
            }
        }
        rx
    }

    pub async fn unsubscribe(&self, id: &str) {
        if lock(&self.inner.shared.subs).remove(id).is_some() {
            let msg = proto::client_close_msg(id);
            for rc in &self.inner.relays {
                let _ = rc.cmd.try_send(msg.clone());
            }
        }
    }

    /// Sends the event to every connected relay and waits (up to `publish_timeout`) for each OK.
    pub async fn publish(&self, ev: &Event) -> PublishResult {
        let msg = proto::client_event_msg(ev);
        let id_hex = ev.id_hex();
        let timeout = self.inner.shared.cfg.publish_timeout;
        let futs = self.inner.relays.iter().map(|rc| {
            let msg = msg.clone();
            let id_hex = id_hex.clone();
            async move {
                let outcome = if !lock(&rc.status).connected {
                    PublishOutcome::NotConnected
                } else {
                    let (tx, rx) = oneshot::channel();
                    lock(&rc.oks).insert(id_hex.clone(), tx);
                    if rc.cmd.try_send(msg).is_err() {
                        lock(&rc.oks).remove(&id_hex);
                        PublishOutcome::NotConnected
                    } else {
                        match tokio::time::timeout(timeout, rx).await {
                            Ok(Ok((true, m))) => PublishOutcome::Accepted(m),
                            Ok(Ok((false, m))) => PublishOutcome::Rejected(m),
                            Ok(Err(_)) => PublishOutcome::NotConnected,
                            Err(_) => {
                                lock(&rc.oks).remove(&id_hex);
                                PublishOutcome::Timeout
                            }
                        }
                    }
                };
                RelayPublish {
                    url: rc.url.clone(),
                    outcome,
                }
            }
        });
        let relays = futures_util::future::join_all(futs).await;
        PublishResult {
            event_id: ev.id,
            relays,
        }
    }

    pub fn status(&self) -> Vec<RelayStatus> {
        self.inner
            .relays
            .iter()
            .map(|rc| lock(&rc.status).clone())
            .collect()
    }

    /// Number of relays currently connected.
    pub fn connected(&self) -> usize {
        self.inner
            .relays
            .iter()
            .filter(|rc| lock(&rc.status).connected)
            .count()
    }

    /// Stops every relay task and closes the sockets.
    pub async fn shutdown(&self) {
        let _ = self.inner.shutdown.send(true);
        lock(&self.inner.shared.subs).clear();
        for _ in 0..50 {
            if self.connected() == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

fn backoff(cfg: &PoolConfig, attempt: u32) -> Duration {
    use rand::Rng;
    let base =
        cfg.backoff_min.as_millis() as f64 * 2f64.powi(attempt.saturating_sub(1).min(20) as i32);
    let capped = base.min(cfg.backoff_max.as_millis() as f64);
    let jitter = rand::thread_rng().gen_range(0.75..=1.25);
    Duration::from_millis((capped * jitter) as u64)
}

async fn relay_task(
    shared: Arc<Shared>,
    rc: Arc<RelayConn>,
    mut cmd_rx: mpsc::Receiver<String>,
    mut shutdown: watch::Receiver<bool>,
) {
    let cfg = shared.cfg.clone();
    let mut attempt: u32 = 0;
    let ws_cfg = WebSocketConfig::default()
        .max_message_size(Some(cfg.max_message_bytes))
        .max_frame_size(Some(cfg.max_message_bytes));
    loop {
        if *shutdown.borrow() {
            break;
        }
        let started = Instant::now();
        let connect =
            tokio_tungstenite::connect_async_with_config(rc.url.as_str(), Some(ws_cfg), true);
        let res = tokio::select! {
            r = tokio::time::timeout(cfg.connect_timeout, connect) => r,
            _ = shutdown.changed() => break,
        };
        match res {
            Ok(Ok((ws, _resp))) => {
                attempt = 0;
                {
                    let mut st = lock(&rc.status);
                    st.connected = true;
                    st.connects += 1;
                    st.connected_since = Some(now_secs());
                    st.rtt_ms = Some(started.elapsed().as_millis() as u64);
                }
                tracing::debug!(url = %rc.url, "relay connected");
                let why = session(&shared, &rc, ws, &mut cmd_rx, &mut shutdown).await;
                {
                    let mut st = lock(&rc.status);
                    st.connected = false;
                    st.last_error = why.clone();
                }
                // Pending publishes on this connection will not get an OK.
                lock(&rc.oks).clear();
                if let Some(w) = why {
                    tracing::debug!(url = %rc.url, reason = %w, "relay disconnected");
                }
            }
            Ok(Err(e)) => lock(&rc.status).last_error = Some(format!("connect failed: {e}")),
            Err(_) => lock(&rc.status).last_error = Some("connect timed out".into()),
        }
        if *shutdown.borrow() {
            break;
        }
        attempt = attempt.saturating_add(1);
        tokio::select! {
            _ = tokio::time::sleep(backoff(&cfg, attempt)) => {}
            _ = shutdown.changed() => break,
        }
    }
    lock(&rc.status).connected = false;
}

type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One connected session; returns why it ended (`None` = shutdown).
async fn session(
    shared: &Shared,
    rc: &RelayConn,
    ws: WsStream,
    cmd_rx: &mut mpsc::Receiver<String>,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<String> {
    let (mut sink, mut stream) = ws.split();
    // Stale commands from before this connection are dropped: the subscription map is the truth.
    while cmd_rx.try_recv().is_ok() {}
    let reqs: Vec<String> = lock(&shared.subs)
        .iter()
        .map(|(id, s)| proto::client_req_msg(id, &s.filters))
        .collect();
    for r in reqs {
        if let Err(e) = sink.feed(Message::Text(r.into())).await {
            return Some(format!("send failed: {e}"));
        }
    }
    if let Err(e) = sink.flush().await {
        return Some(format!("send failed: {e}"));
    }
    let mut ping = tokio::time::interval(shared.cfg.ping_interval);
    ping.tick().await;
    let mut ping_sent: Option<Instant> = None;
    let mut last_rx = Instant::now();
    let mut auth_id: Option<String> = None;
    loop {
        tokio::select! {
            _ = shutdown.changed() => {
                let _ = sink.send(Message::Close(None)).await;
                return None;
            }
            cmd = cmd_rx.recv() => {
                let Some(text) = cmd else { return Some("pool dropped".into()) };
                if let Err(e) = sink.send(Message::Text(text.into())).await {
                    return Some(format!("send failed: {e}"));
                }
            }
            _ = ping.tick() => {
                if last_rx.elapsed() > shared.cfg.ping_interval * 3 {
                    return Some("relay stopped answering pings".into());
                }
                ping_sent = Some(Instant::now());
                if let Err(e) = sink.send(Message::Ping(Default::default())).await {
                    return Some(format!("send failed: {e}"));
                }
            }
            msg = stream.next() => {
                last_rx = Instant::now();
                match msg {
                    None => return Some("connection closed by relay".into()),
                    Some(Err(e)) => return Some(format!("connection error: {e}")),
                    Some(Ok(Message::Pong(_))) => {
                        if let Some(t) = ping_sent.take() {
                            lock(&rc.status).rtt_ms = Some(t.elapsed().as_millis() as u64);
                        }
                    }
                    Some(Ok(Message::Close(_))) => return Some("connection closed by relay".into()),
                    Some(Ok(Message::Text(t))) => {
                        if let Some(reply) = handle_relay_msg(shared, rc, t.as_str(), &mut auth_id)
                            && let Err(e) = sink.send(Message::Text(reply.into())).await
                        {
                            return Some(format!("send failed: {e}"));
                        }
                    }
                    Some(Ok(_)) => {}
                }
            }
        }
    }
}

/// Handles one relay frame; returns a frame to send back (AUTH answers, re-REQs after AUTH).
fn handle_relay_msg(
    shared: &Shared,
    rc: &RelayConn,
    text: &str,
    auth_id: &mut Option<String>,
) -> Option<String> {
    let msg = match proto::parse_relay(text) {
        Ok(m) => m,
        Err(e) => {
            lock(&rc.status).last_error = Some(format!("bad message from relay: {e}"));
            return None;
        }
    };
    match msg {
        RelayMessage::Event { sub_id, event } => {
            let mut subs = lock(&shared.subs);
            let sub = subs.get_mut(&sub_id)?;
            if !sub.filters.iter().any(|f| f.matches(&event)) {
                return None;
            }
            if !sub.seen.set.contains(&event.id) && event.verify().is_err() {
                lock(&rc.status).last_error =
                    Some("relay sent an event with a bad id or signature".into());
                return None;
            }
            if !sub.seen.first_time(event.id) {
                return None;
            }
            match sub.tx.try_send(*event) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => lock(&rc.status).dropped_events += 1,
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    subs.remove(&sub_id);
                    return Some(proto::client_close_msg(&sub_id));
                }
            }
            None
        }
        RelayMessage::Ok {
            event_id,
            accepted,
            message,
        } => {
            if auth_id.as_deref() == Some(event_id.as_str()) {
                *auth_id = None;
                if accepted {
                    // Subscriptions refused before authentication are retried now.
                    let reqs: Vec<String> = lock(&shared.subs)
                        .iter()
                        .map(|(id, s)| proto::client_req_msg(id, &s.filters))
                        .collect();
                    for r in reqs {
                        let _ = rc.cmd.try_send(r);
                    }
                    return None;
                }
                lock(&rc.status).last_error = Some(format!("AUTH refused: {message}"));
                return None;
            }
            if let Some(tx) = lock(&rc.oks).remove(&event_id) {
                let _ = tx.send((accepted, message));
            }
            None
        }
        RelayMessage::Closed { sub_id, message } => {
            lock(&rc.status).last_error = Some(format!("subscription {sub_id} closed: {message}"));
            None
        }
        RelayMessage::Notice(n) => {
            lock(&rc.status).last_error = Some(format!(
                "notice: {}",
                n.chars().take(200).collect::<String>()
            ));
            None
        }
        RelayMessage::Auth(challenge) => {
            let key = shared.cfg.auth_key.as_ref()?;
            let tags = vec![
                vec!["relay".to_owned(), rc.url.clone()],
                vec!["challenge".to_owned(), challenge],
            ];
            let ev = Event::sign_random(key, now_secs(), 22242, tags, String::new()).ok()?;
            *auth_id = Some(ev.id_hex());
            Some(proto::client_auth_msg(&ev))
        }
        RelayMessage::Eose(_) | RelayMessage::Count { .. } => None,
    }
}
