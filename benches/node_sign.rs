//! Bench binary: a full 2-of-3 sign round between two Frostbox nodes through the embedded relay
//! on loopback (`cargo bench --bench node_sign`). Reports p50/p90/p99 latency and CPU time per
//! signature: for the whole process (both nodes + relay) and for the initiating node alone — it
//! runs on its own tokio runtime (threads `bench-node`, plus the main thread that drives it),
//! while the relay and the co-signing node run on another (`bench-peer`), so per-thread CPU
//! (`/proc/self/task/*/schedstat`) separates them.
//!
//! Env: `NODE_BENCH_N` (signatures, default 2000), `NODE_BENCH_WARMUP` (default 200).

use std::sync::Arc;
use std::time::{Duration, Instant};

use frostbox::frost::{self, MemoryNonceLedger};
use frostbox::frostr::next::group::GroupPackage;
use frostbox::frostr::node::{Node, NodeConfig};
use frostbox::relay::{Relay, RelayConfig};

/// CPU time of this process: the sum of every thread's on-CPU nanoseconds
/// (`/proc/self/task/*/schedstat`, ns resolution; the runtime's threads live for the whole run),
/// else utime + stime from `/proc/self/stat` — the same figure `getrusage(RUSAGE_SELF)` reports,
/// at clock-tick resolution (no `libc`/unsafe needed).
fn cpu_time() -> Option<Duration> {
    cpu_time_schedstat(|_| true).or_else(cpu_time_stat)
}

/// On-CPU time of the threads whose tid/name `keep` accepts.
fn cpu_time_schedstat(keep: impl Fn(&(u32, String)) -> bool) -> Option<Duration> {
    let mut ns: u64 = 0;
    for t in std::fs::read_dir("/proc/self/task").ok()? {
        let path = t.ok()?.path();
        let tid: u32 = path.file_name()?.to_str()?.parse().ok()?;
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if !keep(&(tid, name.trim().to_string())) {
            continue;
        }
        let s = std::fs::read_to_string(path.join("schedstat")).ok()?;
        ns += s.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(ns))
}

/// CPU of the initiating node: its runtime's threads and the main thread (which drives it).
fn node_cpu_time() -> Option<Duration> {
    let main = std::process::id();
    cpu_time_schedstat(|(tid, name)| *tid == main || name.starts_with("bench-node"))
}

fn cpu_time_stat() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    // CLK_TCK is 100 on every Linux this runs on.
    Some(Duration::from_millis(ticks * 10))
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing useful: run short.
    let quick = !std::env::args().any(|a| a == "--bench");
    let n: usize = std::env::var("NODE_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 20 } else { 2000 });
    let warm: usize = std::env::var("NODE_BENCH_WARMUP")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 5 } else { 200 });
    // The relay and the co-signer on one runtime, the measured node on another.
    let peer_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("bench-peer")
        .enable_all()
        .build()
        .expect("peer runtime");
    let node_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("bench-node")
        .enable_all()
        .build()
        .expect("node runtime");
    let ks = frost::keygen(2, 3).expect("keygen");
    let group = GroupPackage::from_keys("bench", &ks.group);
    let (url, peer) = peer_rt.block_on(async {
        let relay = Relay::new(RelayConfig {
            rate_per_sec: 1.0e6,
            rate_burst: 1.0e6,
            ..RelayConfig::default()
        });
        relay.allow_pubkeys(group.members.iter().map(|m| m.xonly()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!(
            "ws://127.0.0.1:{}",
            listener.local_addr().expect("addr").port()
        );
        tokio::spawn(frostbox::relay::server::serve(listener, relay));
        let cfg = NodeConfig::new(
            group.clone(),
            ks.shares[1].secret.duplicate(),
            vec![url.clone()],
            Arc::new(MemoryNonceLedger::new()),
        );
        (url, Node::start(cfg).await.expect("start peer"))
    });
    node_rt.block_on(async move {
        let cfg = NodeConfig::new(
            group.clone(),
            ks.shares[0].secret.duplicate(),
            vec![url.clone()],
            Arc::new(MemoryNonceLedger::new()),
        );
        let node = Node::start(cfg).await.expect("start");
        for _ in 0..500 {
            if node.status().ready {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(node.status().ready, "node not ready");
        let mut k: u64 = 0;
        let mut next_msg = || {
            k += 1;
            let mut m = [0u8; 32];
            m[..8].copy_from_slice(&k.to_be_bytes());
            m
        };
        for _ in 0..warm {
            node.sign(next_msg()).await.expect("warm-up sign");
        }
        let cpu0 = cpu_time();
        let node0 = node_cpu_time();
        let t0 = Instant::now();
        let mut lat = Vec::with_capacity(n);
        for _ in 0..n {
            let msg = next_msg();
            let t = Instant::now();
            let sig = node.sign(msg).await.expect("sign");
            lat.push(t.elapsed());
            debug_assert!(frost::verify_bip340(&group.group_pk, &msg, &sig));
        }
        let wall = t0.elapsed();
        let cpu = cpu_time().zip(cpu0).map(|(a, b)| a.saturating_sub(b));
        let node_cpu = node_cpu_time().zip(node0).map(|(a, b)| a.saturating_sub(b));
        lat.sort_unstable();
        println!("node_sign: 2-of-3 sign round, 2 Frostbox nodes + embedded relay, loopback");
        println!("  signatures   {n}");
        println!(
            "  latency      p50 {:?}  p90 {:?}  p99 {:?}  max {:?}",
            pct(&lat, 0.5),
            pct(&lat, 0.9),
            pct(&lat, 0.99),
            lat[lat.len() - 1]
        );
        println!(
            "  throughput   {:.0} sig/s (sequential)",
            n as f64 / wall.as_secs_f64()
        );
        if let Some(cpu) = node_cpu {
            println!(
                "  node CPU     {:.3} ms/signature (initiating node: its runtime + main thread)",
                cpu.as_secs_f64() * 1000.0 / n as f64
            );
        }
        if let Some(cpu) = cpu {
            println!(
                "  process CPU  {:.3} ms/signature (both nodes + relay)",
                cpu.as_secs_f64() * 1000.0 / n as f64
            );
        }
        node.shutdown().await;
    });
    peer_rt.block_on(peer.shutdown());
}
