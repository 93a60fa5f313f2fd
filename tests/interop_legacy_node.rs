//! Legacy node interop: a Frostbox legacy node (`frostr::node::legacy`) and two real
//! `@frostr/bifrost@1.0.7` `BifrostNode`s (`tests/interop/legacy/node.mjs`, lockfile-pinned) on
//! Frostbox's own embedded relay. Pings both ways; Frostbox requests signatures (an event id and
//! a random 32-byte message) and an ECDH with each JS node as co-signer; each JS node requests a
//! signature and an ECDH with Frostbox as co-signer. Every signature is verified under BIP-340
//! against the group key (here and in the JS driver); every ECDH equals the standard shared x.
//!
//! Every step has a deadline (and the whole test one of 90 s): a lost message fails with a message
//! naming the step, never a hang.
//!
//! Needs `npm ci` in tests/interop/legacy; run by `ci/steps/40-interop-legacy.sh` with `--ignored`.

#[path = "interop/legacy/js_node.rs"]
mod js_node;

use std::time::Duration;

use frostbox::frostr::legacy::{GroupPackage, keygen};
use frostbox::frostr::node::{LegacyConfig, LegacyHandle, LegacyNode};
use frostbox::nostr::{Event, keys};
use js_node::JsNode;
use serde_json::{Value, json};

use crate::api_support::keys::{hex32, random_secret};

async fn embedded_relay(group: &GroupPackage) -> String {
    crate::api_support::relay::allowing(group.commits.iter().map(|c| c.xonly()))
        .await
        .0
}

/// Frostbox pings `peer` until it answers (its relay connection may still be opening).
async fn ping_until_answered(fb: &LegacyHandle, peer: [u8; 32], within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    let mut last = None;
    while tokio::time::Instant::now() < deadline {
        match tokio::time::timeout_at(deadline, fb.ping(peer)).await {
            Ok(Ok(_rtt)) => return,
            Ok(Err(e)) => last = Some(e.to_string()),
            Err(_) => last = Some("deadline".into()),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "JS node {} never answered Frostbox's ping within {within:?}: {last:?}",
        hex::encode(peer)
    );
}

async fn wait_ready(node: &LegacyHandle) {
    for _ in 0..100 {
        if node.ready() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("legacy node not ready after pinging the JS peers");
}

/// Runs `f` with a deadline; on expiry the test fails naming `what`.
async fn step<T>(what: &str, secs: u64, f: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(secs), f).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: no result within {secs} s"),
    }
}

async fn js_call(js: &mut JsNode, cmd: Value) -> Value {
    js.call(cmd).await.unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs `npm ci` in tests/interop/legacy; run by ci/steps/40-interop-legacy.sh"]
async fn frostbox_legacy_node_with_two_bifrost_js_nodes() {
    step("the whole interop run", 90, run()).await;
}

async fn run() {
    let (group, shares) = keygen(2, 3, None).expect("keygen");
    let npub = group.npub();
    let relay = embedded_relay(&group).await;
    let gstr = group.encode();

    let mut js1 = JsNode::spawn("js1", &gstr, shares[1].encode().as_str(), &relay)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut js2 = JsNode::spawn("js2", &gstr, shares[2].encode().as_str(), &relay)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut cfg = LegacyConfig::new(group.clone(), shares[0].duplicate(), vec![relay.clone()]);
    cfg.label = "frostbox-legacy".into();
    cfg.timeout = Duration::from_secs(5);
    let fb = LegacyNode::start(cfg).await.expect("start legacy node");
    let fb_hex = hex::encode(fb.pubkey());

    // Frostbox pings both JS nodes (answered with their policy) and becomes ready.
    for js in [&js1, &js2] {
        ping_until_answered(&fb, hex32(&js.pubkey), Duration::from_secs(15)).await;
    }
    wait_ready(&fb).await;

    // Frostbox as initiator: an event id and a random 32-byte message, then ECDH.
    let author = random_secret();
    let author_pk = keys::xonly_pubkey(&author).expect("pk");
    let event_id = Event::compute_id(&author_pk, 1_750_000_000, 1, &[], "hello from frostbox");
    let random_msg = *random_secret().expose();
    for msg in [event_id, random_msg] {
        let sig = step("Frostbox-initiated sign", 10, fb.sign(msg))
            .await
            .expect("Frostbox-initiated legacy sign");
        assert!(
            keys::verify_bip340(&npub, &msg, &sig),
            "signature must verify under the group key"
        );
    }
    let peer = random_secret();
    let peer_x = keys::xonly_pubkey(&peer).expect("pk");
    let x = step("Frostbox-initiated ECDH", 10, fb.ecdh(peer_x))
        .await
        .expect("Frostbox-initiated ECDH");
    assert_eq!(
        &x,
        keys::ecdh_x(&peer, &npub).expect("ecdh").expose(),
        "threshold ECDH must equal the standard shared x"
    );

    // Each JS node as initiator, with Frostbox as its co-signer.
    for js in [&mut js1, &mut js2] {
        let pong = js_call(js, json!({"op":"ping","pubkey": fb_hex})).await;
        assert_eq!(pong["policy"], json!({"send": true, "recv": true}));
        for msg in [
            hex::encode(event_id),
            hex::encode(*random_secret().expose()),
        ] {
            let r = js_call(js, json!({"op":"sign","msg": msg, "peers":[fb_hex]})).await;
            let entry = &r["sigs"][0];
            assert_eq!(entry[0], json!(msg));
            assert_eq!(
                entry[1].as_str().and_then(|s| s.get(2..)),
                Some(hex::encode(npub).as_str()),
                "JS reports the group key as the signing key"
            );
            let mut sig = [0u8; 64];
            hex::decode_to_slice(entry[2].as_str().expect("sig"), &mut sig).expect("hex");
            assert!(
                keys::verify_bip340(&npub, &hex32(&msg), &sig),
                "JS-initiated signature with Frostbox's partial must verify"
            );
        }
        let other = random_secret();
        let other_x = keys::xonly_pubkey(&other).expect("pk");
        let r = js_call(
            js,
            json!({"op":"ecdh","pk": hex::encode(other_x), "peers":[fb_hex]}),
        )
        .await;
        let secret = r["secret"].as_str().expect("secret");
        assert_eq!(secret.len(), 66, "JS returns a compressed point: {secret}");
        assert_eq!(
            &secret[2..],
            hex::encode(keys::ecdh_x(&other, &npub).expect("ecdh").expose()),
            "JS ECDH with Frostbox's key share must equal the standard shared x"
        );
    }

    // The JS nodes really served Frostbox's requests (the JS driver counts handler replies).
    let s1 = js_call(&mut js1, json!({"op":"served"})).await["served"].clone();
    let s2 = js_call(&mut js2, json!({"op":"served"})).await["served"].clone();
    for s in [&s1, &s2] {
        assert!(s["ping"].as_u64().unwrap_or(0) >= 1, "{s}");
    }
    let signs = s1["sign"].as_u64().unwrap_or(0) + s2["sign"].as_u64().unwrap_or(0);
    let ecdhs = s1["ecdh"].as_u64().unwrap_or(0) + s2["ecdh"].as_u64().unwrap_or(0);
    assert_eq!(signs, 2, "the JS nodes co-signed Frostbox's two requests");
    assert_eq!(ecdhs, 1, "a JS node answered Frostbox's ECDH");
    let (_dropped, served) = fb.counters();
    assert_eq!(
        served, 6,
        "Frostbox served 2 signs + 1 ECDH to each JS node"
    );

    fb.shutdown().await;
    js1.quit();
    js2.quit();
}
