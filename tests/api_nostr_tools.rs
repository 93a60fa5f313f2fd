//! `/api/nip44/*` and `/api/nip04/*` against the real `nostr-tools` npm package
//! (tests/interop/nostr-tools, lockfile pinned), on a running `frostbox serve` whose signer is a
//! 2-of-3 group with a second `frostbox serve` on the same embedded relay: the shared secret is
//! a real threshold ECDH. nostr-tools decrypts what the API encrypts (with the peer's key and the
//! group pubkey) and the API decrypts what nostr-tools encrypts, on both nodes.
//!
//! Needs `npm ci` in tests/interop/nostr-tools, so it is `#[ignore]`d in plain `cargo test`;
//! `ci/steps/41-interop-nostr-tools.sh` installs and runs it with `--ignored`.

use crate::api_support;

use api_support::post;
use api_support::procs::{bearer, cluster};
use frostbox::nostr::keys;
use frostbox::vault::Secret32;
use serde_json::{Value, json};

fn plaintexts() -> Vec<String> {
    vec![
        "hello from nostr-tools".into(),
        "unicode ✓ é 🦄 \"quoted\" \\ back\nslash".into(),
        "x".into(),
        "a".repeat(1000),
        "b".repeat(65_535),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs node + npm ci in tests/interop/nostr-tools (run by ci/steps/41-interop-nostr-tools.sh)"]
async fn nostr_tools_decrypts_the_api_and_back() {
    let dir = api_support::npm::interop_dir("nostr-tools", "nostr-tools");
    let c = cluster(&[], &[]).await;
    let h = bearer();
    let h = [("Authorization", h.as_str())];
    let peer_sk = Secret32::random();
    let peer_pk = hex::encode(keys::xonly_pubkey(&peer_sk).expect("pk"));

    // The API encrypts (node a for NIP-44, node b for NIP-04).
    let mut nip44_from_api = Vec::new();
    let mut nip04_from_api = Vec::new();
    for p in plaintexts() {
        let body = json!({ "peer_pubkey": peer_pk, "content": p }).to_string();
        let r = post(c.a.addr, "/api/nip44/encrypt", &h, &body).await;
        assert_eq!(r.status, 200, "nip44 encrypt: {}", r.body);
        nip44_from_api.push(json!({ "plaintext": p, "payload": r.json()["result"] }));
        let r = post(c.b.addr, "/api/nip04/encrypt", &h, &body).await;
        assert_eq!(r.status, 200, "nip04 encrypt: {}", r.body);
        nip04_from_api.push(json!({ "plaintext": p, "payload": r.json()["result"] }));
    }
    let spec = json!({
        "peer_secret": hex::encode(peer_sk.expose()),
        "group_pk": hex::encode(c.group_pk),
        "nip44_from_api": nip44_from_api,
        "nip04_from_api": nip04_from_api,
        "plaintexts_for_api": plaintexts(),
    });
    let tmp = tempfile::tempdir().expect("tmp");
    let spec_path = tmp.path().join("spec.json");
    let out_path = tmp.path().join("out.json");
    std::fs::write(&spec_path, spec.to_string()).expect("write spec");
    // The servers are other processes: blocking this worker while node runs is fine.
    let node = std::process::Command::new("node")
        .arg("api.mjs")
        .arg(&spec_path)
        .arg(&out_path)
        .current_dir(&dir)
        .output()
        .expect("run node");
    assert!(
        node.status.success(),
        "nostr-tools failed:\n{}\n{}",
        String::from_utf8_lossy(&node.stdout),
        String::from_utf8_lossy(&node.stderr)
    );
    let out: Value =
        serde_json::from_slice(&std::fs::read(&out_path).expect("out")).expect("out json");
    assert_eq!(out["peer_pubkey"], peer_pk.as_str());
    assert_eq!(out["checks"], 1 + 2 * plaintexts().len());

    // The API decrypts what nostr-tools encrypted (the other node each time).
    for (path, key, addr) in [
        ("/api/nip44/decrypt", "nip44_for_api", c.b.addr),
        ("/api/nip04/decrypt", "nip04_for_api", c.a.addr),
    ] {
        let items = out[key].as_array().expect("array");
        assert_eq!(items.len(), plaintexts().len());
        for it in items {
            let body = json!({ "peer_pubkey": peer_pk, "content": it["payload"] }).to_string();
            let r = post(addr, path, &h, &body).await;
            assert_eq!(r.status, 200, "{path}: {}", r.body);
            assert_eq!(r.json()["result"], it["plaintext"], "{path}");
        }
        // A tampered nostr-tools payload is a 400, never a wrong plaintext.
        let mut bad = items[0]["payload"].as_str().expect("payload").to_string();
        let i = 60.min(bad.len() / 2);
        let flip = if &bad[i..i + 1] == "A" { "B" } else { "A" };
        bad.replace_range(i..i + 1, flip);
        let body = json!({ "peer_pubkey": peer_pk, "content": bad }).to_string();
        let r = post(addr, path, &h, &body).await;
        assert_eq!(r.status, 400, "{path} tampered: {}", r.body);
    }
}
