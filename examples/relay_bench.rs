//! Relay load benchmark on loopback (a bench binary, not a test).
//!
//!   CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
//!     cargo run --release --example relay_bench -- [events_per_conn] [publishers]
//!
//! Measures: verified EVENT ingest/s with several publishing connections (pre-signed events,
//! pipelined, every OK counted), REQ→EOSE latency by id and by author (p50/p95), kind-20000
//! fan-out latency to 20 subscribers, and RSS with the store at its cap. Relay and load
//! generator share the process and its 2-worker runtime, so the numbers are a lower bound.

use frostbox::nostr::{Event, Filter, keys};
use frostbox::relay::{Relay, RelayConfig, proto};
use frostbox::vault::secret::Secret32;
use futures_util::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio_tungstenite::tungstenite::Message;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn pct(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    if v.is_empty() {
        return 0.0;
    }
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i].as_secs_f64() * 1000.0
}

fn sign_many(authors: &[Secret32], n: usize, kind: u16, tag: &str) -> Vec<Event> {
    let t = now() - 60;
    (0..n)
        .map(|i| {
            let sk = &authors[i % authors.len()];
            Event::sign(
                sk,
                t + (i % 50) as u64,
                kind,
                vec![vec!["t".into(), tag.into()]],
                format!("bench event {i} {}", "x".repeat(64)),
                [0; 32],
            )
            .unwrap_or_else(|e| panic!("sign: {e}"))
        })
        .collect()
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: &str) -> Ws {
    let (ws, _) = tokio_tungstenite::connect_async_with_config(url, None, true)
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    ws
}

/// Sends all events pipelined and counts the OKs; returns accepted count.
async fn publish_all(url: String, events: Arc<Vec<Event>>, range: std::ops::Range<usize>) -> usize {
    let ws = connect(&url).await;
    let (mut tx, mut rx) = ws.split();
    let n = range.len();
    let frames: Vec<String> = events[range].iter().map(proto::client_event_msg).collect();
    let sender = tokio::spawn(async move {
        for f in frames {
            if tx.feed(Message::Text(f.into())).await.is_err() {
                break;
            }
        }
        let _ = tx.flush().await;
        tx
    });
    let mut ok = 0;
    let mut seen = 0;
    while seen < n {
        match rx.next().await {
            Some(Ok(Message::Text(t))) => {
                if t.as_str().starts_with("[\"OK\"") {
                    seen += 1;
                    if t.as_str().contains(",true,") {
                        ok += 1;
                    }
                }
            }
            Some(Ok(_)) => {}
            _ => break,
        }
    }
    let _ = sender.await;
    ok
}

async fn req_latency(ws: &mut Ws, filter: Filter, expect: usize) -> Duration {
    let t0 = Instant::now();
    ws.send(Message::Text(proto::client_req_msg("q", &[filter]).into()))
        .await
        .unwrap_or_else(|e| panic!("send: {e}"));
    let mut events = 0;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => {
                let s = t.as_str();
                if s.starts_with("[\"EVENT\"") {
                    events += 1;
                } else if s.starts_with("[\"EOSE\"") {
                    break;
                }
            }
            Some(Ok(_)) => {}
            other => panic!("connection ended: {other:?}"),
        }
    }
    let dt = t0.elapsed();
    assert_eq!(events, expect, "REQ returned {events} events");
    ws.send(Message::Text(proto::client_close_msg("q").into()))
        .await
        .unwrap_or_else(|e| panic!("send: {e}"));
    dt
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let per_conn: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(25_000);
    let publishers: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(4);
    let cap = 50_000;
    let cfg = RelayConfig {
        open: true,
        rate_per_sec: 1e9,
        rate_burst: 1e9,
        max_stored_events: cap,
        max_stored_bytes: 256 * 1024 * 1024,
        outbound_queue: 65_536,
        ..RelayConfig::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let url = format!(
        "ws://{}",
        listener
            .local_addr()
            .unwrap_or_else(|e| panic!("addr: {e}"))
    );
    let relay = Relay::new(cfg);
    tokio::spawn(frostbox::relay::server::serve(listener, relay.clone()));
    let rss0 = rss_kib();

    let authors: Vec<Secret32> = (1..=100u8).map(|i| Secret32::new([i; 32])).collect();
    let total = per_conn * publishers;
    eprintln!("signing {total} events...");
    let events = Arc::new(sign_many(&authors, total, 1, "ingest"));
    let t = Instant::now();
    for e in events.iter().take(10_000) {
        e.verify().unwrap_or_else(|e| panic!("verify: {e}"));
    }
    let verify_us = t.elapsed().as_secs_f64() * 1e6 / 10_000.0;

    // 1. ingest
    let t0 = Instant::now();
    let mut handles = Vec::new();
    for p in 0..publishers {
        handles.push(tokio::spawn(publish_all(
            url.clone(),
            events.clone(),
            p * per_conn..(p + 1) * per_conn,
        )));
    }
    let mut accepted = 0;
    for h in handles {
        accepted += h.await.unwrap_or(0);
    }
    let dt = t0.elapsed();
    let eps = total as f64 / dt.as_secs_f64();
    assert_eq!(accepted, total, "every event accepted");
    let st = relay.stats();
    let rss_full = rss_kib();

    // 2. REQ by id / by author (store holds the newest `cap` events)
    let mut ws = connect(&url).await;
    let stored_ids: Vec<[u8; 32]> = events[total.saturating_sub(cap.min(total))..]
        .iter()
        .map(|e| e.id)
        .collect();
    let mut by_id = Vec::new();
    for i in 0..2000 {
        let id = stored_ids[(i * 7919) % stored_ids.len()];
        by_id.push(req_latency(&mut ws, Filter::new().ids([id]), 1).await);
    }
    let mut by_author = Vec::new();
    for i in 0..1000 {
        let pk =
            keys::xonly_pubkey(&authors[i % authors.len()]).unwrap_or_else(|e| panic!("pk: {e}"));
        by_author.push(req_latency(&mut ws, Filter::new().authors([pk]).limit(10), 10).await);
    }

    // 3. kind-20000 fan-out to 20 subscribers
    let target = [0x42u8; 32];
    let sent_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::new(Mutex::new(HashMap::new()));
    let lat: Arc<Mutex<Vec<Duration>>> = Arc::new(Mutex::new(Vec::new()));
    let fan_n = 1000;
    let mut subs = Vec::new();
    for _ in 0..20 {
        let mut s = connect(&url).await;
        let f = Filter::new().kinds([20000]).p_tags([target]);
        s.send(Message::Text(proto::client_req_msg("f", &[f]).into()))
            .await
            .unwrap_or_else(|e| panic!("send: {e}"));
        while let Some(Ok(m)) = s.next().await {
            if m.to_text().is_ok_and(|t| t.starts_with("[\"EOSE\"")) {
                break;
            }
        }
        let (sent_at, lat) = (sent_at.clone(), lat.clone());
        subs.push(tokio::spawn(async move {
            let mut got = 0;
            while got < fan_n {
                match tokio::time::timeout(Duration::from_secs(10), s.next()).await {
                    Ok(Some(Ok(Message::Text(t)))) => {
                        let now = Instant::now();
                        if let Some(id) = t
                            .as_str()
                            .split("\"id\":\"")
                            .nth(1)
                            .and_then(|r| r.get(..64))
                        {
                            if let Some(t0) =
                                sent_at.lock().unwrap_or_else(|e| e.into_inner()).get(id)
                            {
                                lat.lock()
                                    .unwrap_or_else(|e| e.into_inner())
                                    .push(now - *t0);
                            }
                            got += 1;
                        }
                    }
                    Ok(Some(Ok(_))) => {}
                    _ => break,
                }
            }
            got
        }));
    }
    let sk = Secret32::new([0x77; 32]);
    let eph: Vec<Event> = (0..fan_n)
        .map(|i| {
            Event::sign(
                &sk,
                now(),
                20000,
                vec![vec!["p".into(), hex::encode(target)]],
                format!("fan {i}"),
                [0; 32],
            )
            .unwrap_or_else(|e| panic!("{e}"))
        })
        .collect();
    let mut pubws = connect(&url).await;
    for e in &eph {
        sent_at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(e.id_hex(), Instant::now());
        pubws
            .send(Message::Text(proto::client_event_msg(e).into()))
            .await
            .unwrap_or_else(|e| panic!("send: {e}"));
        while let Some(Ok(m)) = pubws.next().await {
            if m.to_text().is_ok_and(|t| t.starts_with("[\"OK\"")) {
                break;
            }
        }
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
    let mut delivered = 0;
    for s in subs {
        delivered += s.await.unwrap_or(0);
    }
    let mut fan = lat.lock().unwrap_or_else(|e| e.into_inner()).clone();

    // 4. memory at the cap: push another 2× cap through and compare RSS
    let more = Arc::new(sign_many(&authors, 2 * cap, 1, "more"));
    let mut handles = Vec::new();
    for p in 0..publishers {
        let chunk = more.len() / publishers;
        handles.push(tokio::spawn(publish_all(
            url.clone(),
            more.clone(),
            p * chunk..(p + 1) * chunk,
        )));
    }
    for h in handles {
        let _ = h.await;
    }
    drop(more);
    let st2 = relay.stats();
    let rss_after = rss_kib();

    println!("## relay_bench results");
    println!("- BIP-340 event verify (id + sig), single thread: {verify_us:.1} µs/event");
    println!(
        "- ingest: {total} verified events over {publishers} connections in {:.2} s = **{eps:.0} events/s** (stored {} / cap {cap}, {} bytes)",
        dt.as_secs_f64(),
        st.stored_events,
        st.stored_bytes
    );
    println!(
        "- REQ by id → EOSE (1 event): p50 {:.3} ms, p95 {:.3} ms (n={})",
        pct(&mut by_id, 0.5),
        pct(&mut by_id, 0.95),
        by_id.len()
    );
    println!(
        "- REQ by author limit 10 → EOSE (10 events): p50 {:.3} ms, p95 {:.3} ms (n={})",
        pct(&mut by_author, 0.5),
        pct(&mut by_author, 0.95),
        by_author.len()
    );
    println!(
        "- kind-20000 fan-out to 20 subscribers: {delivered}/{} delivered, latency p50 {:.3} ms, p95 {:.3} ms, max {:.3} ms",
        20 * fan_n,
        pct(&mut fan, 0.5),
        pct(&mut fan, 0.95),
        pct(&mut fan, 1.0)
    );
    println!(
        "- RSS: start {} MiB, store at cap after ingest {} MiB, after {} more events {} MiB (stored {} events / {} MiB accounted)",
        rss0 / 1024,
        rss_full / 1024,
        2 * cap,
        rss_after / 1024,
        st2.stored_events,
        st2.stored_bytes / (1024 * 1024)
    );
}
