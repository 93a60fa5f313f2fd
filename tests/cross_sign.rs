//! Two real `frostbox serve` processes of a 2-of-2 group sign together over node A's embedded
//! relay; each one coordinates a signature the other co-signs, and both signatures verify
//! (BIP340) against the group key.
//!
//! Node B is the native test binary, or, with `FROSTBOX_CROSS_BIN=<path>`, another build run
//! through `FROSTBOX_CROSS_RUNNER` (default `qemu-aarch64-static`): steps 70 and 85 run this with
//! the static aarch64 and armv7 release binaries, so each cross build is shown to sign with a
//! native peer.

use crate::api_support;

use api_support::procs::{self, free_port};
use api_support::{Resp, get, post};
use frostbox::frostr::next::credential::BfProfile;
use frostbox::frostr::next::group::GroupPackage;
use std::time::{Duration, Instant};

const API_KEY: &str = "cross-sign-api-key-0123456789";
const PROFILE_PW: &str = "cross-sign-profile-password";

/// One signer process and its data directory.
type Node = procs::Owned;

fn spawn(cmd_line: &[String], port: u16, profile: &str, relay: &str) -> Node {
    let envs = [
        ("HOST_NAME", "127.0.0.1"),
        ("API_KEY", API_KEY),
        ("SHARE_CRED", profile),
        ("SHARE_PASSWORD", PROFILE_PW),
        ("RELAYS", relay),
        ("LOG_LEVEL", "info"),
        ("RUST_LOG", "info"),
    ];
    procs::Owned::in_tempdir(|d| procs::spawn_cmd(cmd_line, port, d, &envs))
}

fn logs(n: &Node) -> String {
    n.log_text()
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
