//! systemd notify protocol against a fake `NOTIFY_SOCKET`: READY=1 then periodic WATCHDOG=1,
//! pings withheld once the process "hangs" (test fault switch), STOPPING=1 on SIGTERM, and a
//! normal run without `NOTIFY_SOCKET`.
//!
//! Drives `examples/notify_probe.rs`, which calls the same `crate::health` hooks as `serve`.

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// `target/<profile>/examples/notify_probe`, built on demand if `cargo test` did not build
/// examples (e.g. `cargo test --test suite notify::`).
fn probe_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("test exe path");
        let profile_dir = exe
            .parent()
            .and_then(|p| p.parent())
            .expect("target/<profile>/deps layout");
        let bin = profile_dir.join("examples").join("notify_probe");
        if !bin.exists() {
            let st = Command::new(env!("CARGO"))
                // The test profile: its frostbox lib and dependencies are the ones `cargo test`
                // just built, so this compiles one example instead of a second dev-profile tree
                // (which cost CI three minutes).
                .args(["build", "--profile", "test", "--example", "notify_probe"])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .expect("run cargo build --example notify_probe");
            assert!(st.success(), "building notify_probe failed");
        }
        assert!(bin.exists(), "{} missing", bin.display());
        bin
    })
    .clone()
}

struct Msg {
    at: Duration,
    text: String,
}

fn recv_until(sock: &UnixDatagram, start: Instant, until: Duration, out: &mut Vec<Msg>) {
    let mut buf = [0u8; 4096];
    loop {
        let left = until.saturating_sub(start.elapsed());
        if left.is_zero() {
            return;
        }
        sock.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match sock.recv(&mut buf) {
            Ok(n) => out.push(Msg {
                at: start.elapsed(),
                text: String::from_utf8_lossy(&buf[..n]).into_owned(),
            }),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return;
            }
            Err(e) => panic!("recv: {e}"),
        }
    }
}

fn has(m: &Msg, line: &str) -> bool {
    m.text.lines().any(|l| l == line)
}

fn sigterm(child: &Child) {
    let st = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let t = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if t.elapsed() > within {
            let _ = child.kill();
            panic!("process did not exit within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn ready_then_watchdog_then_silence_when_hung_then_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    let hang_ms = 1500u64;
    let start = Instant::now();
    let mut child = Command::new(probe_bin())
        .env("NOTIFY_SOCKET", &path)
        .env("WATCHDOG_USEC", "200000") // 200 ms → pings every 100 ms
        .env_remove("WATCHDOG_PID")
        .env("FROSTBOX_TEST_HANG_AFTER_MS", hang_ms.to_string())
        .env_remove("JOURNAL_STREAM")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut msgs = Vec::new();
    recv_until(
        &sock,
        start,
        Duration::from_millis(hang_ms + 2500),
        &mut msgs,
    );
    assert!(child.try_wait().unwrap().is_none(), "probe exited early");

    let ready = msgs
        .iter()
        .position(|m| has(m, "READY=1"))
        .expect("no READY=1");
    assert!(
        msgs[ready].text.lines().any(|l| l.starts_with("STATUS=")),
        "READY without STATUS: {:?}",
        msgs[ready].text
    );
    let pings: Vec<Duration> = msgs
        .iter()
        .filter(|m| has(m, "WATCHDOG=1"))
        .map(|m| m.at)
        .collect();
    let before_hang = pings
        .iter()
        .filter(|t| t.as_millis() < hang_ms as u128)
        .count();
    assert!(
        before_hang >= 5,
        "only {before_hang} pings before the hang: {pings:?}"
    );
    // No ping precedes READY.
    assert!(
        msgs[..ready].iter().all(|m| !has(m, "WATCHDOG=1")),
        "WATCHDOG before READY"
    );
    // Heartbeats go stale ≤ 500 ms (node max age) after the hang; allow 700 ms, then expect
    // silence for the rest of the window (≥ 1.8 s, i.e. ≥ 9 missed ping periods).
    let quiet_from = Duration::from_millis(hang_ms + 700);
    let late: Vec<_> = pings.iter().filter(|t| **t > quiet_from).collect();
    assert!(late.is_empty(), "pings after the node hung: {late:?}");
    assert!(
        msgs.iter()
            .any(|m| m.text.lines().any(|l| l.starts_with("STATUS=unhealthy"))),
        "no unhealthy STATUS"
    );

    sigterm(&child);
    let mut tail = Vec::new();
    recv_until(&sock, Instant::now(), Duration::from_secs(3), &mut tail);
    assert!(tail.iter().any(|m| has(m, "STOPPING=1")), "no STOPPING=1");
    let st = wait_exit(&mut child, Duration::from_secs(5));
    assert!(st.success(), "exit status {st:?}");
}

#[test]
fn watchdog_pings_continue_while_healthy() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    let start = Instant::now();
    let mut child = Command::new(probe_bin())
        .env("NOTIFY_SOCKET", &path)
        .env("WATCHDOG_USEC", "200000")
        .env_remove("WATCHDOG_PID")
        .env_remove("FROSTBOX_TEST_HANG_AFTER_MS")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut msgs = Vec::new();
    recv_until(&sock, start, Duration::from_secs(3), &mut msgs);
    let pings: Vec<Duration> = msgs
        .iter()
        .filter(|m| has(m, "WATCHDOG=1"))
        .map(|m| m.at)
        .collect();
    // Pings keep coming through the whole window, with no gap near the 200 ms limit.
    assert!(pings.len() >= 15, "{} pings in 3 s", pings.len());
    let max_gap = pings
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default();
    assert!(max_gap < Duration::from_millis(190), "gap {max_gap:?}");
    assert!(
        pings
            .last()
            .is_some_and(|t| *t > Duration::from_millis(2500)),
        "pings stopped early: {pings:?}"
    );
    sigterm(&child);
    assert!(wait_exit(&mut child, Duration::from_secs(5)).success());
}

#[test]
fn watchdog_pid_of_another_process_disables_pings() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    let start = Instant::now();
    let mut child = Command::new(probe_bin())
        .env("NOTIFY_SOCKET", &path)
        .env("WATCHDOG_USEC", "200000")
        .env("WATCHDOG_PID", "1") // meant for someone else
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut msgs = Vec::new();
    recv_until(&sock, start, Duration::from_millis(1200), &mut msgs);
    assert!(msgs.iter().any(|m| has(m, "READY=1")), "no READY");
    assert!(
        !msgs.iter().any(|m| has(m, "WATCHDOG=1")),
        "pinged for pid 1"
    );
    sigterm(&child);
    assert!(wait_exit(&mut child, Duration::from_secs(5)).success());
}

#[test]
fn no_notify_socket_runs_normally() {
    let mut child = Command::new(probe_bin())
        .env_remove("NOTIFY_SOCKET")
        .env_remove("WATCHDOG_USEC")
        .env_remove("JOURNAL_STREAM")
        .env_remove("LOG_FORMAT")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    assert!(
        child.try_wait().unwrap().is_none(),
        "exited without NOTIFY_SOCKET"
    );
    sigterm(&child);
    let st = wait_exit(&mut child, Duration::from_secs(5));
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(st.success(), "exit {st:?}: {err}");
    assert!(err.contains("watchdog disabled"), "{err}");
    assert!(err.contains("ready"), "{err}");
    assert!(err.contains("stopping"), "{err}");
}

#[test]
fn json_log_format() {
    let mut child = Command::new(probe_bin())
        .env_remove("NOTIFY_SOCKET")
        .env_remove("JOURNAL_STREAM")
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(600));
    sigterm(&child);
    wait_exit(&mut child, Duration::from_secs(5));
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<_> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty());
    for l in lines {
        let v: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
        assert!(v.get("level").is_some(), "{l}");
    }
}

#[test]
fn circuit_breaker_exits_non_zero() {
    let bin = probe_bin();
    let t = Instant::now();
    let mut child = Command::new(bin)
        .arg("fail")
        .env_remove("NOTIFY_SOCKET")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let st = wait_exit(&mut child, Duration::from_secs(10));
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        st.code(),
        Some(frostbox::health::EXIT_CIRCUIT_OPEN),
        "{err}"
    );
    assert!(err.contains("circuit open"), "{err}");
    assert!(t.elapsed() < Duration::from_secs(5));
}

/// The real server: `frostbox serve` (port 0, temp data dir) sends READY=1 after binding, pings
/// the watchdog, stops pinging once the fault switch hangs it, and sends STOPPING=1 on SIGTERM.
#[test]
fn frostbox_serve_ready_watchdog_hang_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    let hang_ms = 2000u64;
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_frostbox"))
        .arg("serve")
        .env("HOST_NAME", "127.0.0.1")
        .env("HOST_PORT", "0")
        .env("FROSTBOX_DATA", &data)
        .env("ADMIN_SECRET", "notify-test-admin-secret")
        .env("NOTIFY_SOCKET", &path)
        .env("WATCHDOG_USEC", "200000")
        .env_remove("WATCHDOG_PID")
        .env("FROSTBOX_TEST_HANG_AFTER_MS", hang_ms.to_string())
        .env_remove("JOURNAL_STREAM")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut msgs = Vec::new();
    recv_until(
        &sock,
        start,
        Duration::from_millis(hang_ms + 2500),
        &mut msgs,
    );
    assert!(child.try_wait().unwrap().is_none(), "serve exited early");
    let ready = msgs
        .iter()
        .position(|m| has(m, "READY=1"))
        .expect("no READY=1 from serve");
    assert!(
        msgs[ready].text.contains("STATUS=listening on 127.0.0.1:"),
        "{:?}",
        msgs[ready].text
    );
    let pings: Vec<Duration> = msgs
        .iter()
        .filter(|m| has(m, "WATCHDOG=1"))
        .map(|m| m.at)
        .collect();
    let before = pings
        .iter()
        .filter(|t| t.as_millis() < hang_ms as u128)
        .count();
    assert!(
        before >= 3,
        "only {before} pings before the hang: {pings:?}"
    );
    let quiet_from = Duration::from_millis(hang_ms + 700);
    assert!(
        pings.iter().all(|t| *t <= quiet_from),
        "serve kept pinging after it hung: {pings:?}"
    );
    sigterm(&child);
    let mut tail = Vec::new();
    recv_until(&sock, Instant::now(), Duration::from_secs(3), &mut tail);
    assert!(tail.iter().any(|m| has(m, "STOPPING=1")), "no STOPPING=1");
    let st = wait_exit(&mut child, Duration::from_secs(6));
    assert!(st.success(), "exit {st:?}");
}
