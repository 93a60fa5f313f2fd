//! Relay transport for the bunker: listens for kind-24133 requests p-tagged to the transport
//! pubkey on every relay the bunker uses, publishes responses, rebuilds when the relay set
//! changes, and resubscribes after reconnects.
//!
//! The transport is generic over [`NostrPool`]; `crate::relay::Pool` implements it (the only
//! relay client: reconnect with backoff, resubscribe, dedup, OK tracking).

use super::service::{Bunker, BunkerIo};
use super::{Event, KIND_NIP46, now_secs};
use crate::nostr::Filter;
use futures_util::future::BoxFuture;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
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

type SeenSet = (HashSet<[u8; 32]>, VecDeque<[u8; 32]>);

const SEEN_CAP: usize = 8192;

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
