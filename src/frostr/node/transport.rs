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
