//! The client pool against real relays on loopback: reconnect + resubscribe after the relay is
//! killed and restarted on the same port (within the backoff bound, no duplicate delivery),
//! OK tracking, timeouts, rogue-relay events, NIP-42.

use frostbox::nostr::{Event, Filter, keys};
use frostbox::relay::proto;
use frostbox::relay::{Pool, PoolConfig, PublishOutcome, Relay, RelayConfig};
use frostbox::vault::secret::Secret32;
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

use frostbox::store::now;

fn key(n: u8) -> Secret32 {
    Secret32::new([n; 32])
}

fn ev(n: u8, kind: u16, content: &str) -> Event {
    Event::sign(&key(n), now(), kind, vec![], content.to_owned(), [0; 32]).expect("sign")
}

use crate::api_support::relay::open_cfg;

fn fast_pool_cfg() -> PoolConfig {
    PoolConfig {
        backoff_min: Duration::from_millis(100),
        backoff_max: Duration::from_millis(800),
        publish_timeout: Duration::from_secs(2),
        ping_interval: Duration::from_secs(1),
        ..PoolConfig::default()
    }
}

/// A relay on its own runtime, so that killing it really drops every socket.
struct KillableRelay {
    rt: Option<tokio::runtime::Runtime>,
    port: u16,
}

impl KillableRelay {
    fn start(port: u16, cfg: RelayConfig) -> KillableRelay {
        let std_listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind");
        std_listener.set_nonblocking(true).expect("nonblocking");
        let port = std_listener.local_addr().expect("addr").port();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("rt");
        rt.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(std_listener).expect("listener");
            let _ = frostbox::relay::server::serve(listener, Relay::new(cfg)).await;
        });
        KillableRelay { rt: Some(rt), port }
    }
    fn url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }
    fn kill(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl Drop for KillableRelay {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn start_local(cfg: RelayConfig) -> String {
    crate::api_support::relay::start(cfg).await.0
}

async fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    t0.elapsed()
}

async fn next_event(rx: &mut mpsc::Receiver<Event>, wait: Duration) -> Option<Event> {
    tokio::time::timeout(wait, rx.recv()).await.ok().flatten()
}

async fn raw_publish(url: &str, e: &Event) {
    let t = crate::api_support::relay::ws_publish(url, e)
        .await
        .expect("an OK frame");
    assert!(t.contains(",true,"), "{t}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_resubscribe_no_duplicates() {
    let mut a = KillableRelay::start(0, open_cfg());
    let url_a = a.url();
    let port_a = a.port;
    let url_b = start_local(open_cfg()).await;
    let cfg = fast_pool_cfg();
    let bound = cfg.backoff_max.mul_f64(1.25) + Duration::from_millis(1500);
    let pool = Pool::with_config(vec![url_a.clone(), url_b.clone(), url_a.clone()], cfg);
    assert_eq!(pool.status().len(), 2, "duplicate URLs are merged");
    wait_for("both relays", Duration::from_secs(5), || {
        pool.connected() == 2
    })
    .await;
    let mut rx = pool.subscribe("s", vec![Filter::new().kinds([1])]).await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    let e1 = ev(1, 1, "one");
    let res = pool.publish(&e1).await;
    assert!(res.is_ok());
    assert_eq!(res.accepted(), 2, "{res:?}");
    assert_eq!(
        next_event(&mut rx, Duration::from_secs(2)).await,
        Some(e1.clone())
    );
    assert_eq!(
        next_event(&mut rx, Duration::from_millis(400)).await,
        None,
        "delivered once across two relays"
    );

    // kill A: the pool notices, publishing still works through B
    a.kill();
    wait_for("A to drop", Duration::from_secs(5), || {
        !pool.status()[0].connected
    })
    .await;
    assert!(pool.status()[0].last_error.is_some());
    let e2 = ev(1, 1, "two");
    let res = pool.publish(&e2).await;
    assert!(res.is_ok());
    assert_eq!(res.relays[0].outcome, PublishOutcome::NotConnected);
    assert_eq!(
        res.relays[1].outcome,
        PublishOutcome::Accepted(String::new())
    );
    assert_eq!(
        next_event(&mut rx, Duration::from_secs(2)).await,
        Some(e2.clone())
    );

    // restart A on the same port: reconnect within the backoff bound
    let a2 = KillableRelay::start(port_a, open_cfg());
    let took = wait_for("A to reconnect", bound, || pool.status()[0].connected).await;
    assert!(took <= bound, "reconnected after {took:?}");
    assert_eq!(pool.status()[0].connects, 2);
    tokio::time::sleep(Duration::from_millis(200)).await;

    // resubscribed: an event published only to the new A reaches us
    let e3 = ev(2, 1, "three, only on A");
    raw_publish(&a2.url(), &e3).await;
    assert_eq!(
        next_event(&mut rx, Duration::from_secs(3)).await,
        Some(e3.clone())
    );
    // an event we already delivered, arriving again via A, is not delivered twice
    raw_publish(&a2.url(), &e1).await;
    raw_publish(&url_b, &e3).await;
    assert_eq!(next_event(&mut rx, Duration::from_millis(500)).await, None);

    // unsubscribe: nothing more arrives
    pool.unsubscribe("s").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    raw_publish(&url_b, &ev(3, 1, "after unsubscribe")).await;
    assert_eq!(next_event(&mut rx, Duration::from_millis(300)).await, None);

    pool.shutdown().await;
    assert_eq!(pool.connected(), 0);
}

#[tokio::test]
async fn publish_rejected_and_timeout() {
    // a restricted relay rejects a stranger
    let restricted = start_local(RelayConfig::default()).await;
    // a relay that accepts the socket but never answers
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let silent_url = format!("ws://{}", silent.local_addr().expect("addr"));
    tokio::spawn(async move {
        while let Ok((tcp, _)) = silent.accept().await {
            tokio::spawn(async move {
                if let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await {
                    while let Some(Ok(_)) = ws.next().await {}
                }
            });
        }
    });
    let cfg = PoolConfig {
        publish_timeout: Duration::from_millis(300),
        ..fast_pool_cfg()
    };
    let pool = Pool::with_config(
        vec![restricted, silent_url, "http://example.invalid".into()],
        cfg,
    );
    wait_for("relays", Duration::from_secs(5), || pool.connected() == 2).await;
    let res = pool.publish(&ev(7, 1, "x")).await;
    assert!(!res.is_ok());
    match &res.relays[0].outcome {
        PublishOutcome::Rejected(m) => assert!(m.starts_with("blocked:"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(res.relays[1].outcome, PublishOutcome::Timeout);
    assert_eq!(res.relays[2].outcome, PublishOutcome::NotConnected);
    assert!(
        pool.status()[2]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("ws://"))
    );
    pool.shutdown().await;
}

#[tokio::test]
async fn rogue_relay_events_are_verified_and_filtered() {
    let good = ev(1, 1, "good");
    let mut forged = ev(1, 1, "forged");
    forged.sig[3] ^= 1;
    let wrong_kind = ev(1, 2, "kind 2");
    let frames = vec![
        proto::event_msg("s", &forged.to_json()),
        proto::event_msg("s", &wrong_kind.to_json()),
        proto::event_msg("other", &good.to_json()),
        "garbage".into(),
        proto::event_msg("s", &good.to_json()),
        proto::event_msg("s", &good.to_json()),
    ];
    let url = crate::api_support::relay::scripted(frames, None).await;
    let pool = Pool::with_config(vec![url], fast_pool_cfg());
    let mut rx = pool.subscribe("s", vec![Filter::new().kinds([1])]).await;
    assert_eq!(
        next_event(&mut rx, Duration::from_secs(5)).await,
        Some(good)
    );
    assert_eq!(next_event(&mut rx, Duration::from_millis(300)).await, None);
    pool.shutdown().await;
}

#[tokio::test]
async fn nip42_auth_then_stored_reads() {
    let member = key(1);
    let member_pk = keys::xonly_pubkey(&member).expect("pk");
    let url = start_local(RelayConfig {
        allowlist: vec![member_pk],
        ..RelayConfig::default()
    })
    .await;
    let stored = ev(1, 10000, "backup");
    raw_publish(&url, &stored).await;
    let cfg = PoolConfig {
        auth_key: Some(Arc::new(member.duplicate())),
        ..fast_pool_cfg()
    };
    let pool = Pool::with_config(vec![url.clone()], cfg);
    let mut rx = pool
        .subscribe("b", vec![Filter::new().kinds([10000]).authors([member_pk])])
        .await;
    assert_eq!(
        next_event(&mut rx, Duration::from_secs(5)).await,
        Some(stored)
    );
    pool.shutdown().await;
    // without a key the subscription is refused (CLOSED auth-required) and nothing arrives
    let pool = Pool::with_config(vec![url], fast_pool_cfg());
    let mut rx = pool
        .subscribe("b", vec![Filter::new().kinds([10000])])
        .await;
    assert_eq!(next_event(&mut rx, Duration::from_millis(800)).await, None);
    assert!(
        pool.status()[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("auth-required")),
        "{:?}",
        pool.status()
    );
    pool.shutdown().await;
}
