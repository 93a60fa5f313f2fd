//! Bench binary for the API and storage (not a timed test):
//!
//!   cargo build --release && cargo run --release --example api_bench -- target/release/frostbox
//!
//! Measures process start → first 200 on /ready, idle RSS, RSS after N requests, and sequential
//! request latency; then `POST /api/sign` with a Frostbox co-signer: a 2-of-3 keyset, share 1 in
//! one `frostbox serve` (imported through `POST /api/keyset`), share 2 in a second one on the
//! first one's embedded relay. Sign p50/p99 sequential (one keep-alive connection), throughput
//! with 8 concurrent keep-alive clients, RSS of both processes before/after 10,000 signs.
//! Prints Markdown tables for BENCHMARKS.md.
//!
//! `API_BENCH_SIGN_ONLY=1` skips the start/idle part; `API_BENCH_LOG_DIR=DIR` keeps both
//! servers' logs (`signer.log`, `cosigner.log`, at `RUST_LOG` or info); the sign part also
//! prints the CPU time (utime+stime from /proc) each process spent per signature.
//! `API_BENCH_SOAK=N` then signs N more rounds of 10,000 (8 concurrent clients) and prints both
//! processes' RSS after each, to show whether memory levels off.

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

/// utime+stime of a process in milliseconds (/proc/PID/stat, USER_HZ = 100).
fn cpu_ms(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1.to_string();
            let f: Vec<&str> = rest.split_whitespace().collect();
            let u: f64 = f.get(11)?.parse().ok()?;
            let k: f64 = f.get(12)?.parse().ok()?;
            Some((u + k) * 10.0)
        })
        .unwrap_or(0.0)
}

/// This process's own CPU (the HTTP clients), milliseconds.
fn self_cpu_ms() -> f64 {
    cpu_ms(std::process::id())
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
    if std::env::var("API_BENCH_SIGN_ONLY").is_ok_and(|v| v == "1") {
        sign_bench(&bin);
        return;
    }
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
    sign_bench(&bin);
}

/// A keep-alive HTTP/1.1 connection.
struct Conn {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    fn open(addr: SocketAddr) -> Conn {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_nodelay(true).expect("nodelay");
        s.set_read_timeout(Some(Duration::from_secs(60)))
            .expect("timeout");
        Conn { s, buf: Vec::new() }
    }
    /// Sends one request; returns (status, body).
    fn call(&mut self, method: &str, path: &str, auth: &str, body: &str) -> (u16, String) {
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {auth}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.s.write_all(req.as_bytes()).expect("write");
        let mut tmp = [0u8; 8192];
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end]).to_string();
                let status = head
                    .split(' ')
                    .nth(1)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                while self.buf.len() < end + 4 + len {
                    let n = self.s.read(&mut tmp).expect("read");
                    assert!(n > 0, "connection closed");
                    self.buf.extend_from_slice(&tmp[..n]);
                }
                let body = String::from_utf8_lossy(&self.buf[end + 4..end + 4 + len]).to_string();
                self.buf.drain(..end + 4 + len);
                return (status, body);
            }
            let n = self.s.read(&mut tmp).expect("read");
            assert!(n > 0, "connection closed");
            self.buf.extend_from_slice(&tmp[..n]);
        }
    }
}

const SECRET: &str = "bench-admin-secret";

fn spawn_serve(
    bin: &str,
    port: u16,
    data: &std::path::Path,
    env: &[(&str, &str)],
    log: &str,
) -> std::process::Child {
    let mut c = Command::new(bin);
    let stderr = match std::env::var("API_BENCH_LOG_DIR") {
        Ok(dir) => std::fs::File::create(std::path::Path::new(&dir).join(log))
            .map(Stdio::from)
            .unwrap_or_else(|_| Stdio::null()),
        Err(_) => Stdio::null(),
    };
    c.args(["serve", "--port", &port.to_string(), "--data"])
        .arg(data)
        .env("ADMIN_SECRET", SECRET)
        .env("RATE_LIMIT_ENABLED", "false")
        .env_remove("RELAYS")
        .env_remove("SHARE_CRED")
        .stdout(Stdio::null())
        .stderr(stderr);
    for (k, v) in env {
        c.env(k, v);
    }
    c.spawn().expect("spawn")
}

fn wait_ready(addr: SocketAddr) {
    let t0 = Instant::now();
    while get(addr, "/ready") != Some(200) {
        assert!(t0.elapsed() < Duration::from_secs(20), "never ready");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn sign_body(i: u64) -> String {
    let mut m = [0u8; 32];
    m[..8].copy_from_slice(&i.to_be_bytes());
    m[8..16].copy_from_slice(&std::process::id().to_be_bytes().repeat(2));
    format!("{{\"message\":\"{}\"}}", hex::encode(m))
}

/// `clients` keep-alive connections each signing `per` distinct messages (numbered from
/// `first`), all at once; returns when every signature came back 200.
fn sign_concurrently(addr: SocketAddr, clients: u64, per: u64, first: u64) {
    let hs: Vec<_> = (0..clients)
        .map(|k| {
            std::thread::spawn(move || {
                let mut c = Conn::open(addr);
                for i in 0..per {
                    let body = sign_body(first + 100_000 * (k + 1) + i);
                    let (st, body) = c.call("POST", "/api/sign", SECRET, &body);
                    assert_eq!(st, 200, "{body}");
                }
            })
        })
        .collect();
    for h in hs {
        h.join().expect("client");
    }
}

fn sign_bench(bin: &str) {
    use frostbox::frostr::next::credential::BfProfile;
    use frostbox::frostr::next::group::GroupPackage;
    let (da, db) = (
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    );
    let (pa, pb) = (free_port(), free_port());
    let a_addr: SocketAddr = format!("127.0.0.1:{pa}").parse().expect("addr");
    let b_addr: SocketAddr = format!("127.0.0.1:{pb}").parse().expect("addr");
    let relay = format!("ws://127.0.0.1:{pa}");
    let mut a = spawn_serve(bin, pa, da.path(), &[], "signer.log");
    wait_ready(a_addr);
    let ks = frostbox::frost::keygen(2, 3).expect("keygen");
    let group = GroupPackage::from_keys("bench", &ks.group);
    let pw = "bench-profile-password";
    let profile = |i: usize| {
        BfProfile::new(
            "bench",
            ks.shares[i].secret.duplicate(),
            vec![relay.clone()],
            vec![],
            group.clone(),
        )
        .expect("profile")
        .encode(pw)
        .expect("encode")
    };
    let import = format!(
        "{{\"share_cred\":\"{}\",\"share_password\":\"{pw}\",\"mode\":\"unattended\"}}",
        profile(0)
    );
    let (st, body) = Conn::open(a_addr).call("POST", "/api/keyset", SECRET, &import);
    assert_eq!(st, 200, "{body}");
    let p1 = profile(1);
    let mut b = spawn_serve(
        bin,
        pb,
        db.path(),
        &[
            ("SHARE_CRED", &p1),
            ("SHARE_PASSWORD", pw),
            ("RELAYS", &relay),
        ],
        "cosigner.log",
    );
    wait_ready(b_addr);
    let t0 = Instant::now();
    loop {
        let (_, body) = Conn::open(a_addr).call("GET", "/api/status", SECRET, "");
        if body.contains("\"thresholdReachable\":true") {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "signer not ready: {body}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut c = Conn::open(a_addr);
    for i in 0..200 {
        let (st, body) = c.call("POST", "/api/sign", SECRET, &sign_body(i));
        assert_eq!(st, 200, "{body}");
    }
    let (ra0, rb0) = (rss_kib(a.id()), rss_kib(b.id()));
    let (ca0, cb0, cc0) = (cpu_ms(a.id()), cpu_ms(b.id()), self_cpu_ms());
    let seq = 2000u64;
    let mut lat = Vec::with_capacity(seq as usize);
    for i in 0..seq {
        let t = Instant::now();
        let (st, body) = c.call("POST", "/api/sign", SECRET, &sign_body(1_000 + i));
        assert_eq!(st, 200, "{body}");
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let (ca1, cb1, cc1) = (cpu_ms(a.id()), cpu_ms(b.id()), self_cpu_ms());
    let clients = 8u64;
    let per = (10_000 - seq) / clients;
    let t = Instant::now();
    sign_concurrently(a_addr, clients, per, 0);
    let conc_s = t.elapsed().as_secs_f64();
    let (ca2, cb2, cc2) = (cpu_ms(a.id()), cpu_ms(b.id()), self_cpu_ms());
    let (ra1, rb1) = (rss_kib(a.id()), rss_kib(b.id()));
    println!();
    println!("| POST /api/sign, Frostbox co-signer (2-of-3, shared embedded relay) | value |");
    println!("|---|---|");
    println!(
        "| sequential, one keep-alive client (p50 / p95 / p99 / max of {seq}) | {:.2} / {:.2} / {:.2} / {:.2} ms |",
        pct(&mut lat.clone(), 0.5),
        pct(&mut lat.clone(), 0.95),
        pct(&mut lat.clone(), 0.99),
        pct(&mut lat.clone(), 1.0)
    );
    let seq_sum: f64 = lat.iter().sum();
    println!(
        "| sequential throughput | {:.0} signs/s |",
        seq as f64 * 1000.0 / seq_sum
    );
    let per_sign = |a: f64, b: f64, n: f64| (b - a) / n;
    println!(
        "| CPU per sign, sequential: signer (API+node+relay) / co-signer / HTTP client | {:.2} / {:.2} / {:.2} ms |",
        per_sign(ca0, ca1, seq as f64),
        per_sign(cb0, cb1, seq as f64),
        per_sign(cc0, cc1, seq as f64)
    );
    let nc = (per * clients) as f64;
    println!(
        "| CPU per sign, 8 concurrent: signer / co-signer / HTTP clients | {:.2} / {:.2} / {:.2} ms |",
        per_sign(ca1, ca2, nc),
        per_sign(cb1, cb2, nc),
        per_sign(cc1, cc2, nc)
    );
    println!(
        "| 8 concurrent keep-alive clients ({} signs) | {:.0} signs/s |",
        per * clients,
        (per * clients) as f64 / conc_s
    );
    println!(
        "| RSS signer / co-signer before → after 10,000 signs | {:.1} → {:.1} MiB / {:.1} → {:.1} MiB |",
        ra0 as f64 / 1024.0,
        ra1 as f64 / 1024.0,
        rb0 as f64 / 1024.0,
        rb1 as f64 / 1024.0
    );
    let soak: u64 = std::env::var("API_BENCH_SOAK")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if soak > 0 {
        println!();
        println!("| signs so far | RSS signer | RSS co-signer | signs/s in this round |");
        println!("|---|---|---|---|");
        println!(
            "| 10,000 | {:.1} MiB | {:.1} MiB | |",
            ra1 as f64 / 1024.0,
            rb1 as f64 / 1024.0
        );
    }
    for round in 1..=soak {
        let t = Instant::now();
        sign_concurrently(a_addr, clients, 10_000 / clients, 10_000_000 * round);
        println!(
            "| {} | {:.1} MiB | {:.1} MiB | {:.0} |",
            10_000 * (round + 1),
            rss_kib(a.id()) as f64 / 1024.0,
            rss_kib(b.id()) as f64 / 1024.0,
            10_000.0 / t.elapsed().as_secs_f64()
        );
    }
    for ch in [&mut a, &mut b] {
        let _ = Command::new("kill")
            .args(["-TERM", &ch.id().to_string()])
            .status();
        let _ = ch.wait();
    }
}
