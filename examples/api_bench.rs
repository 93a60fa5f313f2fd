//! Bench binary for the API and storage (not a timed test):
//!
//!   cargo build --release && cargo run --release --example api_bench -- target/release/frostbox
//!
//! Measures process start → first 200 on /ready, idle RSS, RSS after N requests, and sequential
//! request latency. Prints a Markdown table for BENCHMARKS.md.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(18_002)
}

fn request(addr: SocketAddr, raw: &str) -> Option<u16> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(raw.as_bytes()).ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let head = String::from_utf8_lossy(&buf[..buf.len().min(16)]).to_string();
    head.split(' ').nth(1)?.parse().ok()
}

fn get(addr: SocketAddr, path: &str) -> Option<u16> {
    request(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    )
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    if v.is_empty() {
        return 0.0;
    }
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let bin = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/release/frostbox".into());
    let runs: usize = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let mut starts = Vec::new();
    let mut idle = Vec::new();
    let mut after = 0u64;
    let mut lat = Vec::new();
    for run in 0..runs {
        let dir = tempfile::tempdir().expect("tmp");
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let t0 = Instant::now();
        let mut child = Command::new(&bin)
            .args(["serve", "--port", &port.to_string(), "--data"])
            .arg(dir.path())
            .env("ADMIN_SECRET", "bench-admin-secret")
            .env("RATE_LIMIT_ENABLED", "false")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        loop {
            if get(addr, "/ready") == Some(200) {
                break;
            }
            assert!(t0.elapsed() < Duration::from_secs(10), "never ready");
            std::thread::sleep(Duration::from_micros(500));
        }
        starts.push(t0.elapsed().as_secs_f64() * 1000.0);
        if run == 0 {
            std::thread::sleep(Duration::from_secs(2));
            idle.push(rss_kib(child.id()));
            let n = 10_000;
            for i in 0..n {
                let t = Instant::now();
                let code = if i % 4 == 0 {
                    request(
                        addr,
                        "POST /api/sign HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer bench-admin-secret\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"message\":1}",
                    )
                } else {
                    get(addr, "/api/status")
                };
                assert!(code.is_some());
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            after = rss_kib(child.id());
        } else {
            idle.push(rss_kib(child.id()));
        }
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let _ = child.wait();
    }
    // Argon2id record parameters on this machine (Pi 4 ≈ 3.5-4.5x slower, see vault::at_rest).
    let t = Instant::now();
    let _ = frostbox::vault::at_rest::KdfParams::RECORD.derive(b"password", b"0123456789abcdef");
    let kdf_ms = t.elapsed().as_secs_f64() * 1000.0;
    let mut s2 = starts.clone();
    let mut i2: Vec<f64> = idle.iter().map(|k| *k as f64 / 1024.0).collect();
    println!("| metric | value |");
    println!("|---|---|");
    println!(
        "| start → first 200 on /ready (median / p90 / max of {runs}) | {:.1} / {:.1} / {:.1} ms |",
        pct(&mut s2.clone(), 0.5),
        pct(&mut s2, 0.9),
        starts.iter().cloned().fold(0.0, f64::max)
    );
    println!(
        "| idle RSS after ready (median) | {:.1} MiB |",
        pct(&mut i2, 0.5)
    );
    println!(
        "| RSS after 10,000 requests (status + rejected sign) | {:.1} MiB |",
        after as f64 / 1024.0
    );
    println!(
        "| sequential request latency incl. connect (p50 / p99) | {:.2} / {:.2} ms |",
        pct(&mut lat.clone(), 0.5),
        pct(&mut lat, 0.99)
    );
    println!("| Argon2id m=64 MiB t=3 p=1 (one derivation) | {kdf_ms:.0} ms |");
}
