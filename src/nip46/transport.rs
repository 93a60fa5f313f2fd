//! Relay transport for the bunker: listens for kind-24133 requests p-tagged to the transport
//! pubkey on every relay the bunker uses, publishes responses, rebuilds when the relay set
//! changes, and resubscribes after reconnects.
//!
//! The transport is generic over [`NostrPool`]; `crate::relay::Pool` implements it (after the
//! relay client lands) and [`WsPool`] is a small built-in client used until then and in tests.

use super::service::{Bunker, BunkerIo};
use super::{Event, KIND_NIP46, now_secs};
use crate::nostr::Filter;
use futures_util::future::BoxFuture;
use futures_util::{SinkExt, StreamExt};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// What the bunker needs from a relay client pool.
pub trait NostrPool: Send + Sync + 'static {
    /// Subscribes on every relay (and again after each reconnect); events arrive deduplicated.
    fn subscribe(&self, id: &str, filters: Vec<Filter>) -> BoxFuture<'_, mpsc::Receiver<Event>>;
    fn publish(&self, ev: Event) -> BoxFuture<'_, ()>;
    fn shutdown(&self) -> BoxFuture<'_, ()>;
}

/// Builds a pool for a relay set.
pub type PoolFactory<P> = Arc<dyn Fn(Vec<String>) -> P + Send + Sync>;

/// The subscription filter: requests to us, from a little before now.
pub fn request_filter(transport_pk: [u8; 32]) -> Filter {
    Filter::new()
        .kinds([KIND_NIP46])
        .p_tags([transport_pk])
        .since(now_secs().saturating_sub(30))
}

/// Runs the bunker on relays until `stop` turns true. One pool per relay URL, so adding a
/// relay (a `nostrconnect://` client's) does not disturb the others. One task per incoming
/// request, so a request waiting for the operator does not hold up the others.
pub async fn run<P: NostrPool>(
    bunker: Bunker,
    mut io: BunkerIo,
    make_pool: PoolFactory<P>,
    mut stop: watch::Receiver<bool>,
) {
    let (merged_tx, mut merged_rx) = mpsc::channel::<Event>(1024);
    let mut pools: HashMap<String, (Arc<P>, tokio::task::JoinHandle<()>)> = HashMap::new();
    let mut seen: SeenSet = (HashSet::new(), VecDeque::new());
    let mut sync = true;
    loop {
        if sync {
            sync = false;
            let want: HashSet<String> = io.relays.borrow_and_update().iter().cloned().collect();
            let gone: Vec<String> = pools
                .keys()
                .filter(|u| !want.contains(*u))
                .cloned()
                .collect();
            for url in gone {
                if let Some((p, h)) = pools.remove(&url) {
                    h.abort();
                    p.shutdown().await;
                }
            }
            for url in want {
                if pools.contains_key(&url) {
                    continue;
                }
                let pool = Arc::new(make_pool(vec![url.clone()]));
                let mut rx = pool
                    .subscribe("nip46", vec![request_filter(bunker.transport_pubkey())])
                    .await;
                let tx = merged_tx.clone();
                let h = tokio::spawn(async move {
                    while let Some(ev) = rx.recv().await {
                        if tx.send(ev).await.is_err() {
                            break;
                        }
                    }
                });
                pools.insert(url, (pool, h));
            }
            tracing::info!(relays = ?pools.keys().collect::<Vec<_>>(), "nip46: bunker listening");
        }
        tokio::select! {
            biased;
            _ = stop.changed() => {
                if *stop.borrow() { break; }
            }
            ch = io.relays.changed() => {
                if ch.is_err() { break; }
                sync = true;
            }
            out = io.outbox.recv() => match out {
                Some(ev) => {
                    for (p, _) in pools.values() {
                        p.publish(ev.clone()).await;
                    }
                }
                None => break,
            },
            ev = merged_rx.recv() => {
                let Some(ev) = ev else { break };
                if !seen.0.insert(ev.id) {
                    continue;
                }
                seen.1.push_back(ev.id);
                if seen.1.len() > SEEN_CAP && let Some(old) = seen.1.pop_front() {
                    seen.0.remove(&old);
                }
                let b = bunker.clone();
                tokio::spawn(async move { b.handle_event(ev).await });
            }
        }
    }
    for (_, (p, h)) in pools {
        h.abort();
        p.shutdown().await;
    }
}

/// Spawns [`run`] with the built-in [`WsPool`]; returns the stop switch.
pub fn spawn_with_ws_pool(bunker: Bunker, io: BunkerIo) -> watch::Sender<bool> {
    let (tx, rx) = watch::channel(false);
    let factory: PoolFactory<WsPool> = Arc::new(WsPool::new);
    tokio::spawn(run(bunker, io, factory, rx));
    tx
}

// ------------------------------------------------------------------ built-in minimal pool

type SubEntry = (String, Vec<Filter>, mpsc::Sender<Event>);
type SeenSet = (HashSet<[u8; 32]>, VecDeque<[u8; 32]>);

struct WsShared {
    subs: Mutex<Vec<SubEntry>>,
    seen: Mutex<SeenSet>,
    /// Per-relay outgoing queues (survive reconnects).
    queues: Vec<mpsc::UnboundedSender<String>>,
    /// Per relay: connected?
    connected: Mutex<Vec<bool>>,
    stop: watch::Sender<bool>,
    inflight: AtomicUsize,
    resub: tokio::sync::broadcast::Sender<()>,
}

/// A small relay client: one WebSocket per relay, reconnect with backoff (0.5 s → 30 s),
/// resubscribe after reconnect, dedup by event id, outgoing messages queued while down.
#[derive(Clone)]
pub struct WsPool {
    shared: Arc<WsShared>,
}

const SEEN_CAP: usize = 8192;

impl WsPool {
    pub fn new(relays: Vec<String>) -> WsPool {
        let (stop, _) = watch::channel(false);
        let (resub, _) = tokio::sync::broadcast::channel(16);
        let mut queues = Vec::new();
        let mut rxs = Vec::new();
        for _ in &relays {
            let (tx, rx) = mpsc::unbounded_channel();
            queues.push(tx);
            rxs.push(rx);
        }
        let shared = Arc::new(WsShared {
            subs: Mutex::new(Vec::new()),
            seen: Mutex::new((HashSet::new(), VecDeque::new())),
            queues,
            connected: Mutex::new(vec![false; relays.len()]),
            stop,
            inflight: AtomicUsize::new(0),
            resub,
        });
        for (i, (url, rx)) in relays.into_iter().zip(rxs).enumerate() {
            tokio::spawn(relay_task(shared.clone(), i, url, rx));
        }
        WsPool { shared }
    }

    /// Per relay: connected or not.
    pub fn connected(&self) -> Vec<bool> {
        self.shared
            .connected
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default()
    }
}

fn req_frame(id: &str, filters: &[Filter]) -> String {
    let mut v = vec![serde_json::json!("REQ"), serde_json::json!(id)];
    for f in filters {
        v.push(serde_json::from_str(&f.to_json()).unwrap_or(serde_json::Value::Null));
    }
    serde_json::Value::Array(v).to_string()
}

async fn relay_task(
    shared: Arc<WsShared>,
    idx: usize,
    url: String,
    mut queue: mpsc::UnboundedReceiver<String>,
) {
    let mut backoff = Duration::from_millis(500);
    let mut stop = shared.stop.subscribe();
    let mut pending: Option<String> = None;
    loop {
        if *stop.borrow() {
            return;
        }
        let conn = tokio::select! {
            c = tokio::time::timeout(Duration::from_secs(10), tokio_tungstenite::connect_async_with_config(url.as_str(), None, true)) => c,
            _ = stop.changed() => return,
        };
        let ws = match conn {
            Ok(Ok((ws, _))) => ws,
            Ok(Err(e)) => {
                tracing::debug!(%url, error = %e, "nip46 pool: connect failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
                continue;
            }
            Err(_) => {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
                continue;
            }
        };
        backoff = Duration::from_millis(500);
        if let Ok(mut c) = shared.connected.lock()
            && let Some(x) = c.get_mut(idx)
        {
            *x = true;
        }
        let (mut sink, mut stream) = ws.split();
        let subs: Vec<String> = shared
            .subs
            .lock()
            .map(|s| s.iter().map(|(id, f, _)| req_frame(id, f)).collect())
            .unwrap_or_default();
        let mut ok = true;
        for s in subs {
            if sink
                .send(tokio_tungstenite::tungstenite::Message::text(s))
                .await
                .is_err()
            {
                ok = false;
            }
        }
        if let Some(p) = pending.take()
            && ok
            && sink
                .send(tokio_tungstenite::tungstenite::Message::text(p.clone()))
                .await
                .is_err()
        {
            pending = Some(p);
            ok = false;
        }
        let mut resub = shared.resub.subscribe();
        while ok {
            tokio::select! {
                msg = stream.next() => match msg {
                    Some(Ok(tokio_tungstenite::tungstenite::Message::Text(t))) => on_message(&shared, t.as_str()).await,
                    Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_))) | None | Some(Err(_)) => ok = false,
                    Some(Ok(_)) => {}
                },
                out = queue.recv() => match out {
                    Some(frame) => {
                        if sink.send(tokio_tungstenite::tungstenite::Message::text(frame.clone())).await.is_err() {
                            pending = Some(frame);
                            ok = false;
                        } else {
                            shared.inflight.fetch_sub(1, Ordering::Relaxed);
                        }
                    }
                    None => return,
                },
                r = resub.recv() => {
                    if r.is_ok() {
                        let subs: Vec<String> = shared.subs.lock().map(|s| s.iter().map(|(id, f, _)| req_frame(id, f)).collect()).unwrap_or_default();
                        for s in subs {
                            if sink.send(tokio_tungstenite::tungstenite::Message::text(s)).await.is_err() { ok = false; }
                        }
                    }
                }
                _ = stop.changed() => {
                    let _ = sink.send(tokio_tungstenite::tungstenite::Message::Close(None)).await;
                    return;
                }
            }
        }
        if let Ok(mut c) = shared.connected.lock()
            && let Some(x) = c.get_mut(idx)
        {
            *x = false;
        }
        tokio::time::sleep(backoff).await;
    }
}

async fn on_message(shared: &WsShared, text: &str) {
    let Ok(serde_json::Value::Array(a)) = serde_json::from_str::<serde_json::Value>(text) else {
        return;
    };
    if a.first().and_then(|v| v.as_str()) != Some("EVENT") || a.len() < 3 {
        return;
    }
    let sub_id = a[1].as_str().unwrap_or("");
    let Ok(ev) = Event::from_json(&a[2].to_string()) else {
        return;
    };
    {
        let Ok(mut seen) = shared.seen.lock() else {
            return;
        };
        if !seen.0.insert(ev.id) {
            return;
        }
        seen.1.push_back(ev.id);
        if seen.1.len() > SEEN_CAP
            && let Some(old) = seen.1.pop_front()
        {
            seen.0.remove(&old);
        }
    }
    let tx = shared.subs.lock().ok().and_then(|s| {
        s.iter()
            .find(|(id, _, _)| id == sub_id)
            .map(|(_, _, tx)| tx.clone())
    });
    if let Some(tx) = tx {
        let _ = tx.send(ev).await;
    }
}

impl NostrPool for WsPool {
    fn subscribe(&self, id: &str, filters: Vec<Filter>) -> BoxFuture<'_, mpsc::Receiver<Event>> {
        let id = id.to_string();
        Box::pin(async move {
            let (tx, rx) = mpsc::channel(1024);
            if let Ok(mut s) = self.shared.subs.lock() {
                s.retain(|(x, _, _)| *x != id);
                s.push((id, filters, tx));
            }
            let _ = self.shared.resub.send(());
            rx
        })
    }

    fn publish(&self, ev: Event) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let frame = format!("[\"EVENT\",{}]", ev.to_json());
            for q in &self.shared.queues {
                if q.send(frame.clone()).is_ok() {
                    self.shared.inflight.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            // give queued frames a moment to leave
            for _ in 0..20 {
                if self.shared.inflight.load(Ordering::Relaxed) == 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            let _ = self.shared.stop.send(true);
        })
    }
}

// ------------------------------------------------------------------ crate::relay::Pool

impl NostrPool for crate::relay::Pool {
    fn subscribe(&self, id: &str, filters: Vec<Filter>) -> BoxFuture<'_, mpsc::Receiver<Event>> {
        let id = id.to_string();
        Box::pin(async move { crate::relay::Pool::subscribe(self, &id, filters).await })
    }

    /// Publishes in the background (the bunker never waits for relay OKs); while the relay is
    /// not connected yet (a freshly added `nostrconnect://` relay) it retries for ~5 s.
    fn publish(&self, ev: Event) -> BoxFuture<'_, ()> {
        let pool = self.clone();
        Box::pin(async move {
            tokio::spawn(async move {
                for _ in 0..20 {
                    let r = crate::relay::Pool::publish(&pool, &ev).await;
                    let reached = r
                        .relays
                        .iter()
                        .any(|x| !matches!(x.outcome, crate::relay::PublishOutcome::NotConnected));
                    if reached {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                tracing::debug!("nip46: response not published, no relay connected");
            });
        })
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move { crate::relay::Pool::shutdown(self).await })
    }
}

/// Spawns [`run`] on `crate::relay::Pool` (one pool per relay URL); returns the stop switch.
/// This is what `serve` should use.
pub fn spawn_with_relay_pool(bunker: Bunker, io: BunkerIo) -> watch::Sender<bool> {
    let (tx, rx) = watch::channel(false);
    let factory: PoolFactory<crate::relay::Pool> = Arc::new(crate::relay::Pool::new);
    tokio::spawn(run(bunker, io, factory, rx));
    tx
}
