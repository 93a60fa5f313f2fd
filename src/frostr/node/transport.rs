//! What the node needs from a relay connection: subscribe, publish, connection count.
//! Implemented for `crate::relay::Pool`, and by an in-process bus for tests.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::nostr::{Event, Filter};

pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub trait Transport: Send + Sync + 'static {
    /// Opens (or replaces) subscription `id`; events arrive on the receiver, deduplicated.
    fn subscribe<'a>(
        &'a self,
        id: &'a str,
        filters: Vec<Filter>,
    ) -> BoxFut<'a, mpsc::Receiver<Event>>;
    /// Publishes an event; `Ok` when at least one relay accepted it.
    fn publish<'a>(&'a self, ev: &'a Event) -> BoxFut<'a, Result<(), String>>;
    /// Relays currently connected.
    fn connected(&self) -> usize;
    /// Closes all connections.
    fn shutdown(&self) -> BoxFut<'_, ()>;
    /// True when every delivered event's id and signature were already verified.
    fn verifies_events(&self) -> bool {
        false
    }
    /// Per-relay connection state (empty for transports without relays).
    fn relay_status(&self) -> Vec<crate::relay::RelayStatus> {
        Vec::new()
    }
}

/// Builds a fresh transport (the supervisor re-creates one after a failure).
pub type TransportFactory = Arc<dyn Fn() -> Arc<dyn Transport> + Send + Sync>;

impl Transport for crate::relay::Pool {
    fn subscribe<'a>(
        &'a self,
        id: &'a str,
        filters: Vec<Filter>,
    ) -> BoxFut<'a, mpsc::Receiver<Event>> {
        Box::pin(crate::relay::Pool::subscribe(self, id, filters))
    }
    fn publish<'a>(&'a self, ev: &'a Event) -> BoxFut<'a, Result<(), String>> {
        Box::pin(async move {
            let r = crate::relay::Pool::publish(self, ev).await;
            if r.is_ok() {
                Ok(())
            } else {
                Err(format!("{r:?}"))
            }
        })
    }
    fn connected(&self) -> usize {
        crate::relay::Pool::connected(self)
    }
    fn verifies_events(&self) -> bool {
        true
    }
    fn relay_status(&self) -> Vec<crate::relay::RelayStatus> {
        crate::relay::Pool::status(self)
    }
    fn shutdown(&self) -> BoxFut<'_, ()> {
        Box::pin(crate::relay::Pool::shutdown(self))
    }
}

type Subs = Arc<Mutex<Vec<(Vec<Filter>, mpsc::Sender<Event>)>>>;

/// In-process relay stand-in: every published event goes to every matching subscription.
#[derive(Clone, Default)]
pub struct LocalBus {
    subs: Subs,
    down: Arc<std::sync::atomic::AtomicBool>,
}

impl LocalBus {
    pub fn new() -> Self {
        Self::default()
    }
    /// Simulates a dead relay: drops all subscriptions and refuses publishes.
    pub fn kill(&self) {
        self.down.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Ok(mut g) = self.subs.lock() {
            g.clear();
        }
    }
    pub fn revive(&self) {
        self.down.store(false, std::sync::atomic::Ordering::SeqCst);
    }
    fn is_down(&self) -> bool {
        self.down.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Transport for LocalBus {
    fn subscribe<'a>(
        &'a self,
        _id: &'a str,
        filters: Vec<Filter>,
    ) -> BoxFut<'a, mpsc::Receiver<Event>> {
        Box::pin(async move {
            let (tx, rx) = mpsc::channel(1024);
            if !self.is_down()
                && let Ok(mut g) = self.subs.lock()
            {
                g.push((filters, tx));
            }
            rx
        })
    }
    fn publish<'a>(&'a self, ev: &'a Event) -> BoxFut<'a, Result<(), String>> {
        Box::pin(async move {
            if self.is_down() {
                return Err("bus is down".into());
            }
            let targets: Vec<mpsc::Sender<Event>> = match self.subs.lock() {
                Ok(mut g) => {
                    g.retain(|(_, tx)| !tx.is_closed());
                    g.iter()
                        .filter(|(fs, _)| fs.iter().any(|f| f.matches(ev)))
                        .map(|(_, tx)| tx.clone())
                        .collect()
                }
                Err(_) => return Err("bus lock poisoned".into()),
            };
            for tx in targets {
                let _ = tx.send(ev.clone()).await;
            }
            Ok(())
        })
    }
    fn connected(&self) -> usize {
        usize::from(!self.is_down())
    }
    fn shutdown(&self) -> BoxFut<'_, ()> {
        Box::pin(async {})
    }
}

/// Events remembered per merged subscription to drop the copy of an event that reached us
/// both from the embedded relay and from an external one.
const MERGE_DEDUP: usize = 16_384;

/// Buffer of the in-process subscription (same as a pool subscription's).
const LOCAL_BUFFER: usize = 1024;

/// The node's link to the relay embedded in this same process, plus a [`crate::relay::Pool`]
/// for any other configured relays.
///
/// The embedded relay is reached without a WebSocket: [`crate::relay::Relay::publish_own`]
/// takes the events this node has just signed (the relay checks everything but the signature
/// it knows we made), and [`crate::relay::Relay::subscribe_local`] hands over the events the
/// relay accepted, each already verified once in this process at ingest (a peer's event
/// arrives over the peer's own WebSocket and is verified there). Before, the node's pool
/// connection made the relay verify our own events and the pool verify every peer event a
/// second time, with JSON and WebSocket framing both ways. Events from external relays still
/// go through the pool, which verifies each one.
pub struct EmbeddedLink {
    relay: crate::relay::Relay,
    url: String,
    pool: Option<crate::relay::Pool>,
    subs: Mutex<Vec<u64>>,
    down: std::sync::atomic::AtomicBool,
}

impl EmbeddedLink {
    /// `url`: how the embedded relay is named in the node's relay list (shown in status);
    /// `pool`: the other relays, if any.
    pub fn new(relay: crate::relay::Relay, url: String, pool: Option<crate::relay::Pool>) -> Self {
        Self {
            relay,
            url,
            pool,
            subs: Mutex::new(Vec::new()),
            down: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn is_down(&self) -> bool {
        self.down.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Whether two relay URLs name the same relay (case, surrounding space and a trailing `/`
/// ignored).
pub fn same_relay_url(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.trim().trim_end_matches('/').to_ascii_lowercase();
    norm(a) == norm(b)
}

/// Forwards two subscriptions into one, dropping an event id already forwarded. Ends when
/// either source ends (the node then re-creates its transport) or the receiver is dropped.
async fn merge(
    mut a: mpsc::Receiver<Event>,
    mut b: mpsc::Receiver<Event>,
    out: mpsc::Sender<Event>,
) {
    let mut seen = std::collections::HashSet::new();
    let mut order = std::collections::VecDeque::new();
    loop {
        let ev = tokio::select! {
            ev = a.recv() => ev,
            ev = b.recv() => ev,
            _ = out.closed() => return,
        };
        let Some(ev) = ev else { return };
        if !seen.insert(ev.id) {
            continue;
        }
        order.push_back(ev.id);
        if order.len() > MERGE_DEDUP
            && let Some(old) = order.pop_front()
        {
            seen.remove(&old);
        }
        if out.send(ev).await.is_err() {
            return;
        }
    }
}

impl Transport for EmbeddedLink {
    fn subscribe<'a>(
        &'a self,
        id: &'a str,
        filters: Vec<Filter>,
    ) -> BoxFut<'a, mpsc::Receiver<Event>> {
        Box::pin(async move {
            if self.is_down() {
                // A closed receiver: the node re-creates its transport.
                return mpsc::channel(1).1;
            }
            let (sid, local) = self.relay.subscribe_local(filters.clone(), LOCAL_BUFFER);
            if let Ok(mut g) = self.subs.lock() {
                g.push(sid);
            }
            match &self.pool {
                None => local,
                Some(pool) => {
                    let remote = crate::relay::Pool::subscribe(pool, id, filters).await;
                    let (tx, rx) = mpsc::channel(LOCAL_BUFFER);
                    tokio::spawn(merge(local, remote, tx));
                    rx
                }
            }
        })
    }

    fn publish<'a>(&'a self, ev: &'a Event) -> BoxFut<'a, Result<(), String>> {
        Box::pin(async move {
            if self.is_down() {
                return Err("transport shut down".into());
            }
            let (ok, why) = self.relay.publish_own(ev);
            let local = if ok {
                Ok(())
            } else {
                Err(format!("embedded relay refused the event: {why}"))
            };
            match &self.pool {
                None => local,
                Some(pool) => {
                    let r = crate::relay::Pool::publish(pool, ev).await;
                    if r.is_ok() {
                        Ok(())
                    } else {
                        local.map_err(|e| format!("{e}; {r:?}"))
                    }
                }
            }
        })
    }

    fn connected(&self) -> usize {
        if self.is_down() {
            return 0;
        }
        1 + self.pool.as_ref().map_or(0, crate::relay::Pool::connected)
    }

    fn verifies_events(&self) -> bool {
        // The embedded relay verified every event it delivers (ingest); the pool verifies
        // every event from an external relay.
        true
    }

    fn relay_status(&self) -> Vec<crate::relay::RelayStatus> {
        let mut v = vec![crate::relay::RelayStatus {
            url: self.url.clone(),
            connected: !self.is_down(),
            rtt_ms: Some(0),
            connects: 1,
            ..Default::default()
        }];
        if let Some(p) = &self.pool {
            v.extend(crate::relay::Pool::status(p));
        }
        v
    }

    fn shutdown(&self) -> BoxFut<'_, ()> {
        Box::pin(async move {
            self.down.store(true, std::sync::atomic::Ordering::SeqCst);
            let ids = self
                .subs
                .lock()
                .map(|mut g| std::mem::take(&mut *g))
                .unwrap_or_default();
            for id in ids {
                self.relay.unsubscribe_local(id);
            }
            if let Some(p) = &self.pool {
                crate::relay::Pool::shutdown(p).await;
            }
        })
    }
}
