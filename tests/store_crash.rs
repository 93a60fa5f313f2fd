//! Crash safety: a helper process does a burst of acknowledged writes and is SIGKILLed
//! mid-burst; after reopening, every acknowledged write is present and the file opens cleanly.

use frostbox::store::{Session, Store};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const HELPER_ENV: &str = "FROSTBOX_CRASH_HELPER_PATH";

fn code(i: u64) -> [u8; 32] {
    let mut c = [0u8; 32];
    c[..8].copy_from_slice(&i.to_be_bytes());
    c[31] = 0xaa;
    c
}

/// Not a test on its own: when the env var is set it becomes the writer process.
#[test]
fn crash_helper() {
    let Ok(path) = std::env::var(HELPER_ENV) else {
        return;
    };
    let start: u64 = std::env::var("FROSTBOX_CRASH_START")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let store = Store::open(std::path::Path::new(&path)).expect("open");
    let out = std::io::stdout();
    for i in start.. {
        // Three kinds of writes per step; "ack" is printed only after all returned Ok.
        store.record_consumed(&code(i)).expect("ledger");
        store
            .put_session(
                &code(i),
                &Session {
                    user_id: i,
                    created_at: i,
                    expires_at: u64::MAX,
                },
            )
            .expect("session");
        store
            .set_settings(&[(format!("k{i}"), format!("v{i}"))])
            .expect("settings");
        let mut o = out.lock();
        let _ = writeln!(o, "ack {i}");
        let _ = o.flush();
    }
}

fn run_and_kill(path: &std::path::Path, start: u64, min_acks: u64) -> u64 {
    let exe = std::env::current_exe().expect("exe");
    let mut child = Command::new(exe)
        // the helper's name in the suite binary (tests/suite.rs: this file is its module)
        .args([
            "store_crash::crash_helper",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HELPER_ENV, path)
        .env("FROSTBOX_CRASH_START", start.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn helper");
    let stdout = child.stdout.take().expect("stdout");
    let mut last = None;
    let t0 = Instant::now();
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        if let Some(n) = line.strip_prefix("ack ") {
            last = n.trim().parse::<u64>().ok();
            if last.is_some_and(|l| l >= start + min_acks) || t0.elapsed() > Duration::from_secs(60)
            {
                break;
            }
        }
    }
    // SIGKILL while it keeps writing.
    child.kill().expect("kill");
    let _ = child.wait();
    last.expect("helper acknowledged at least one write")
}

#[test]
fn sigkill_during_write_burst_keeps_acknowledged_writes() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("frostbox.redb");
    let mut start = 0;
    for round in 0..3 {
        let last = run_and_kill(&path, start, 100);
        let store = Store::open(&path).unwrap_or_else(|e| panic!("round {round}: reopen: {e}"));
        for i in 0..=last {
            assert!(
                store.is_consumed(&code(i)).expect("query"),
                "round {round}: nonce {i} lost"
            );
            assert!(
                store.session(&code(i)).expect("query").is_some(),
                "session {i} lost"
            );
            assert_eq!(
                store.setting(&format!("k{i}")).expect("query"),
                Some(format!("v{i}")),
                "setting {i} lost"
            );
        }
        assert!(!store.is_consumed(&code(last + 1000)).expect("query"));
        drop(store);
        start = last + 1;
    }
}
