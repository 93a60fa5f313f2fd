//! Two real `frostbox serve` processes of a 2-of-2 group sign together over node A's embedded
//! relay; each one coordinates a signature the other co-signs, and both signatures verify
//! (BIP340) against the group key.
//!
//! Node B is the native test binary, or, with `FROSTBOX_CROSS_BIN=<path>`, another build run
//! through `FROSTBOX_CROSS_RUNNER` (default `qemu-aarch64-static`): step 70 runs this with the
//! static aarch64 release binary, so the cross build is shown to sign with a native peer.

use crate::api_support;

use api_support::{Resp, get, post};
use frostbox::frostr::next::credential::BfProfile;
use frostbox::frostr::next::group::GroupPackage;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const API_KEY: &str = "cross-sign-api-key-0123456789";
const PROFILE_PW: &str = "cross-sign-profile-password";

struct Node {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<String>>,
    _dir: tempfile::TempDir,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn spawn(cmd_line: &[String], port: u16, profile: &str, relay: &str) -> Node {
    let dir = tempfile::tempdir().expect("tmp");
    let mut cmd = Command::new(&cmd_line[0]);
    cmd.args(&cmd_line[1..])
        .args(["serve", "--port", &port.to_string(), "--data"])
        .arg(dir.path())
        .env_remove("ADMIN_SECRET")
        .env_remove("FROSTBOX_DATA")
        .env_remove("GROUP_CRED")
        .env("HOST_NAME", "127.0.0.1")
        .env("API_KEY", API_KEY)
        .env("SHARE_CRED", profile)
        .env("SHARE_PASSWORD", PROFILE_PW)
        .env("RELAYS", relay)
        .env("LOG_LEVEL", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn frostbox");
    let stderr = child.stderr.take().expect("stderr");
    let log = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let l2 = log.clone();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.split("listening on http://").nth(1)
                && let (Some(t), Some(a)) = (tx.take(), rest.split_whitespace().next())
            {
                let _ = t.send(a.to_string());
            }
            if let Ok(mut g) = l2.lock() {
                g.push_str(&line);
                g.push('\n');
            }
        }
    });
    let addr = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(a) => a.parse().expect("addr"),
        Err(_) => panic!(
            "{cmd_line:?} did not print its address; log:\n{}",
            log.lock().map(|g| g.clone()).unwrap_or_default()
        ),
    };
    Node {
        child,
        addr,
        log,
        _dir: dir,
    }
}

fn logs(n: &Node) -> String {
    n.log.lock().map(|g| g.clone()).unwrap_or_default()
}

/// POST /api/sign until it succeeds (the peer may still be connecting) or 120 s pass.
async fn sign(n: &Node, msg: &[u8; 32]) -> (Resp, Duration) {
    let body = serde_json::json!({ "message": hex::encode(msg) }).to_string();
    let t0 = Instant::now();
    loop {
        let r = post(n.addr, "/api/sign", &[("X-API-Key", API_KEY)], &body).await;
        if r.status == 200 || t0.elapsed() > Duration::from_secs(120) {
            return (r, t0.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn check_sig(r: &Resp, msg: &[u8; 32], group_pk: &[u8; 32], who: &str, a: &Node, b: &Node) {
    assert_eq!(
        r.status,
        200,
        "{who}: sign failed: {}\n--- node A log\n{}\n--- node B log\n{}",
        r.body,
        logs(a),
        logs(b)
    );
    let v: serde_json::Value = serde_json::from_str(&r.body).expect("json");
    assert_eq!(v["id"].as_str(), Some(hex::encode(msg).as_str()));
    let sig_hex = v["signature"].as_str().expect("signature");
    let sig: [u8; 64] = hex::decode(sig_hex)
        .expect("hex")
        .try_into()
        .expect("64 bytes");
    assert!(
        frostbox::nostr::keys::verify_bip340(group_pk, msg, &sig),
        "{who}: signature does not verify under the group key"
    );
    let mut bad = *msg;
    bad[0] ^= 1;
    assert!(
        !frostbox::nostr::keys::verify_bip340(group_pk, &bad, &sig),
        "{who}: signature verifies a different message"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_sign_together() {
    let secret = frostbox::vault::Secret32::random();
    let ks = frostbox::frost::keys::split(&secret, 2, 2).expect("split");
    let group = GroupPackage::from_keys("cross", &ks.group);
    let port_a = free_port();
    let relay = format!("ws://127.0.0.1:{port_a}");
    let profiles: Vec<String> = ks
        .shares
        .iter()
        .map(|sh| {
            BfProfile::new(
                "dev",
                sh.secret.duplicate(),
                vec![relay.clone()],
                vec![],
                group.clone(),
            )
            .expect("profile")
            .encode(PROFILE_PW)
            .expect("encode")
        })
        .collect();

    let native = vec![env!("CARGO_BIN_EXE_frostbox").to_string()];
    let b_cmd = match std::env::var("FROSTBOX_CROSS_BIN") {
        Ok(bin) if !bin.is_empty() => {
            let runner = std::env::var("FROSTBOX_CROSS_RUNNER")
                .unwrap_or_else(|_| "qemu-aarch64-static".to_string());
            if runner.is_empty() {
                vec![bin]
            } else {
                vec![runner, bin]
            }
        }
        _ => native.clone(),
    };
    eprintln!("node A: {native:?}; node B: {b_cmd:?}");

    let a = spawn(&native, port_a, &profiles[0], &relay);
    let b = spawn(&b_cmd, free_port(), &profiles[1], &relay);
    // /ready is 503 while the node starts (profile KDF + relay connect; slow under qemu-user).
    // Wait for it, but let the signatures below be the verdict: they need both nodes running.
    for n in [&a, &b] {
        let t0 = Instant::now();
        while get(n.addr, "/ready", &[]).await.status != 200
            && t0.elapsed() < Duration::from_secs(30)
        {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    let m1: [u8; 32] = rand::random();
    let (r, t) = sign(&b, &m1).await;
    check_sig(&r, &m1, &group.group_pk, "node B coordinating", &a, &b);
    eprintln!("node B coordinated a signature in {t:?} (incl. peer discovery)");

    let m2: [u8; 32] = rand::random();
    let (r, t) = sign(&a, &m2).await;
    check_sig(&r, &m2, &group.group_pk, "node A coordinating", &a, &b);
    eprintln!("node A coordinated a signature in {t:?}");
}
