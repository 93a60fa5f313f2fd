//! Benchmark: NIP-46 `sign_event` round trip on loopback through the embedded relay.
//!
//!   cargo run --release --example nip46_bench -- [N] [--local]
//!
//! A client publishes a NIP-44-encrypted kind-24133 `sign_event` request to the Frostbox relay,
//! the bunker decrypts it, checks policy, signs, encrypts the response, and the client receives
//! and decrypts it. By default the identity is a FROSTR 2-of-2 group: the bunker's node and a
//! Frostbox co-signer node (both on the same embedded relay), so every `sign_event` is a full
//! threshold round (request → co-signer partial signature → aggregate). `--local` signs with a
//! plain local key instead (the NIP-46 overhead alone). Prints p50/p95/p99/mean over N
//! sequential requests; every returned event is verified.

use frostbox::frost::{self, MemoryNonceLedger};
use frostbox::frostr::next::group::GroupPackage;
use frostbox::frostr::node::{Node, NodeConfig, NodeHandle};
use frostbox::nip46::transport::{NostrPool, spawn_with_relay_pool};
use frostbox::nip46::{
    Bunker, BunkerConfig, BunkerUri, Event, MemStore, Policy, ThresholdSigner, local_signer,
};
use frostbox::nostr::{Filter, keys, nip44};
use frostbox::relay::Pool;
use frostbox::relay::{Relay, RelayConfig};
use frostbox::vault::secret::Secret32;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let local = std::env::args().any(|a| a == "--local");
    let relay = Relay::new(RelayConfig {
        rate_per_sec: 10_000.0,
        rate_burst: 10_000.0,
        ..Default::default()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("ws://127.0.0.1:{}", listener.local_addr()?.port());
    tokio::spawn(frostbox::relay::server::serve(listener, relay.clone()));

    let mut nodes: Vec<NodeHandle> = Vec::new();
    let (signer, label): (Arc<dyn ThresholdSigner>, &str) = if local {
        (
            Arc::new(local_signer(Secret32::random())),
            "local key (single signer, no FROSTR round)",
        )
    } else {
        let ks = frost::keygen(2, 2)?;
        let group = GroupPackage::from_keys("nip46 bench", &ks.group);
        relay.allow_pubkeys(group.members.iter().map(|m| m.xonly()));
        for s in &ks.shares {
            let mut cfg = NodeConfig::new(
                group.clone(),
                s.secret.duplicate(),
                vec![url.clone()],
                Arc::new(MemoryNonceLedger::new()),
            );
            cfg.label = format!("m{}", s.idx);
            nodes.push(Node::start(cfg).await?);
        }
        let mut ready = false;
        for _ in 0..500 {
            if nodes.iter().all(|n| n.status().ready) {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if !ready {
            return Err("FROSTR nodes not ready".into());
        }
        (
            Arc::new(frostbox::nip46::node_signer(nodes[0].clone())),
            "FROSTR 2-of-2: bunker node + Frostbox co-signer node, same embedded relay",
        )
    };
    let cfg = BunkerConfig {
        relays: vec![url.clone()],
        rate_burst: 100_000,
        rate_per_sec: 100_000.0,
        ..Default::default()
    };
    let (bunker, io) = Bunker::new(cfg, signer, Arc::new(MemStore::new()))?;
    relay.allow_pubkeys([bunker.transport_pubkey()]);
    let _stop = spawn_with_relay_pool(bunker.clone(), io);
    let (_, uri) =
        bunker.create_bunker_uri("bench", Some(Policy::from_perms("sign_event").0), None)?;
    let uri = BunkerUri::parse(&uri)?;

    let sk = Secret32::random();
    let pk = keys::xonly_pubkey(&sk)?;
    let conv = nip44::conversation_key(&sk, &uri.signer_pubkey)?;
    let pool = Pool::new(vec![url.clone()]);
    let mut rx = NostrPool::subscribe(
        &pool,
        "bench",
        vec![
            Filter::new()
                .kinds([24133])
                .authors([uri.signer_pubkey])
                .p_tags([pk]),
        ],
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut call = async |id: String,
                          method: &str,
                          params: serde_json::Value|
           -> Result<String, Box<dyn std::error::Error>> {
        let body = json!({"id": id, "method": method, "params": params}).to_string();
        let content = nip44::encrypt(&conv, &body, nip44::B64::Padded)?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs();
        let ev = Event::sign_random(
            &sk,
            now,
            24133,
            vec![vec!["p".into(), hex::encode(uri.signer_pubkey)]],
            content,
        )?;
        let _ = pool.publish(&ev).await;
        loop {
            let resp = tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await?
                .ok_or("closed")?;
            let v: serde_json::Value =
                serde_json::from_str(&nip44::decrypt(&conv, &resp.content)?)?;
            if v["id"] == id.as_str() {
                return Ok(v["result"].as_str().unwrap_or("").to_string());
            }
        }
    };
    let ack = call(
        "connect".into(),
        "connect",
        json!([
            hex::encode(uri.signer_pubkey),
            uri.secret.clone().unwrap_or_default()
        ]),
    )
    .await?;
    assert_eq!(ack, "ack");
    for i in 0..20 {
        call(format!("w{i}"), "ping", json!([])).await?;
    }
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let tpl = json!({"kind": 1, "content": format!("bench {i}"), "tags": []}).to_string();
        let t0 = Instant::now();
        let r = call(format!("s{i}"), "sign_event", json!([tpl])).await?;
        times.push(t0.elapsed());
        Event::from_json(&r)?.verify()?;
    }
    times.sort();
    let pct = |p: f64| times[((times.len() as f64 - 1.0) * p).round() as usize];
    let mean = times.iter().sum::<Duration>() / times.len() as u32;
    for node in &nodes {
        node.shutdown().await;
    }
    println!("signer: {label}");
    println!(
        "n={n} p50={:?} p95={:?} p99={:?} mean={mean:?} max={:?}",
        pct(0.5),
        pct(0.95),
        pct(0.99),
        times[times.len() - 1]
    );
    Ok(())
}
