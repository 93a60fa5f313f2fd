//! Benchmark: legacy 1.0.x sign rounds between a Frostbox legacy node and a real
//! `@frostr/bifrost@1.0.7` node (`tests/interop/legacy/node.mjs`, needs `npm ci` there) on
//! Frostbox's embedded relay, loopback, 2-of-3 keyset (throwaway: legacy nonces leak shares).
//!
//!   cargo run --release --example legacy_js_bench -- [N]
//!
//! * `frostbox→js`: `LegacyHandle::sign` — session, `/sign/req` to the JS node, its partial
//!   signature back, verify + aggregate; every signature is BIP-340-verified (outside the timing).
//! * `js→frostbox`: the JS node's `node.req.sign` with Frostbox as co-signer, timed from Rust
//!   around the driver command (includes the stdin/stdout hop, well under 1 ms); the driver
//!   verifies each signature.
//!
//! Prints p50/p95/p99/mean over N sequential rounds each (after 5 warm-up rounds).

#[path = "../tests/interop/legacy/js_node.rs"]
mod js_node;

use std::time::{Duration, Instant};

use frostbox::frostr::legacy::keygen;
use frostbox::frostr::node::{LegacyConfig, LegacyNode};
use frostbox::nostr::keys;
use frostbox::relay::{Relay, RelayConfig};
use serde_json::json;

fn stats(label: &str, mut v: Vec<Duration>) {
    v.sort();
    let pct = |p: f64| {
        let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
        v[i].as_secs_f64() * 1e3
    };
    let mean = v.iter().map(|d| d.as_secs_f64()).sum::<f64>() / v.len() as f64 * 1e3;
    println!(
        "{label:14} n={:4}  p50 {:7.2} ms  p95 {:7.2} ms  p99 {:7.2} ms  mean {:7.2} ms",
        v.len(),
        pct(0.50),
        pct(0.95),
        pct(0.99),
        mean
    );
}

fn random32() -> [u8; 32] {
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100)
        .max(1);
    let (group, shares) = keygen(2, 3, None)?;
    let npub = group.npub();
    let relay = Relay::new(RelayConfig {
        rate_per_sec: 10_000.0,
        rate_burst: 10_000.0,
        ..Default::default()
    });
    relay.allow_pubkeys(group.commits.iter().map(|c| c.xonly()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("ws://127.0.0.1:{}", listener.local_addr()?.port());
    tokio::spawn(frostbox::relay::server::serve(listener, relay));

    let mut js = js_node::JsNode::spawn("js", &group.encode(), shares[1].encode().as_str(), &url)
        .await
        .map_err(|e| e.to_string())?;
    let mut cfg = LegacyConfig::new(group.clone(), shares[0].duplicate(), vec![url.clone()]);
    cfg.timeout = Duration::from_secs(5);
    let fb = LegacyNode::start(cfg).await?;
    let mut peer = [0u8; 32];
    hex::decode_to_slice(js.pubkey.as_str(), &mut peer)?;
    let deadline = Instant::now() + Duration::from_secs(15);
    while fb.ping(peer).await.is_err() {
        if Instant::now() > deadline {
            return Err("the JS node never answered Frostbox's ping".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The third member is offline: Frostbox must pick the JS node (most recently seen).
    let fb_hex = hex::encode(fb.pubkey());

    let mut out = Vec::with_capacity(n);
    for i in 0..n + 5 {
        let msg = random32();
        let t0 = Instant::now();
        let sig = fb.sign(msg).await?;
        let dt = t0.elapsed();
        if !keys::verify_bip340(&npub, &msg, &sig) {
            return Err("aggregate signature does not verify".into());
        }
        if i >= 5 {
            out.push(dt);
        }
    }
    let mut inb = Vec::with_capacity(n);
    for i in 0..n + 5 {
        let msg = hex::encode(random32());
        let t0 = Instant::now();
        js.call(json!({"op":"sign","msg": msg, "peers":[fb_hex]}))
            .await
            .map_err(|e| e.to_string())?;
        let dt = t0.elapsed();
        if i >= 5 {
            inb.push(dt);
        }
    }
    println!(
        "legacy 2-of-3 sign round, Frostbox legacy node + bifrost 1.0.7 (node) on the embedded relay, loopback"
    );
    stats("frostbox→js", out);
    stats("js→frostbox", inb);
    fb.shutdown().await;
    js.quit();
    Ok(())
}
