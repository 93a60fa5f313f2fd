//! Two real `frostbox serve` processes holding shares 1 and 2 of a 2-of-3 group, on the first
//! one's embedded relay: `POST /api/sign` with a Frostbox co-signer, and peer policies (set
//! through the API or `PEER_POLICIES`) enforced by the running node.

use crate::api_support;

use api_support::procs::{self, Cluster, bearer, cluster, cluster_with};
use api_support::{Resp, get, post, req};
use serde_json::json;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

async fn sign(addr: SocketAddr, msg: [u8; 32]) -> Resp {
    let h = bearer();
    post(
        addr,
        "/api/sign",
        &[("Authorization", &h)],
        &json!({ "message": hex::encode(msg) }).to_string(),
    )
    .await
}

fn assert_valid(c: &Cluster, r: &Resp, msg: [u8; 32]) {
    assert_eq!(r.status, 200, "{}", r.body);
    let sig = hex::decode(r.json()["signature"].as_str().expect("sig")).expect("hex");
    let pk = secp256k1::XOnlyPublicKey::from_byte_array(c.group_pk).expect("pk");
    secp256k1::schnorr::Signature::from_byte_array(sig.try_into().expect("64 bytes"))
        .verify(&msg, &pk)
        .expect("BIP-340 signature by the group key");
}

/// A refused sign: the co-signer answered `peer_denied` (502), or the requester already knows
/// from the co-signer's policy profile that it will not answer (503). Never a signature.
fn assert_refused(r: &Resp) {
    assert!(
        r.status == 502 || r.status == 503,
        "expected a refusal, got {} {}",
        r.status,
        r.body
    );
    assert!(!r.body.contains("signature"), "{}", r.body);
}

/// Pings `target` from `from` so the two exchange their current policy profiles.
async fn ping(from: SocketAddr, target: &[u8; 32]) {
    let h = bearer();
    let r = post(
        from,
        "/api/peers/ping",
        &[("Authorization", &h)],
        &json!({ "target": hex::encode(target) }).to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// Retries a sign on `addr` until it succeeds (a peer may need a ping round to hear that it is
/// allowed again); fails after 20 s.
async fn sign_eventually(c: &Cluster, addr: SocketAddr, peer: &[u8; 32], seed: u8) {
    let t0 = Instant::now();
    for i in 0u8.. {
        let msg = [seed.wrapping_add(i); 32];
        let r = sign(addr, msg).await;
        if r.status == 200 {
            assert_valid(c, &r, msg);
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "never signed again: {} {}",
            r.status,
            r.body
        );
        ping(addr, peer).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_set_through_the_api_reaches_the_running_node() {
    let c = cluster(&[], &[]).await;
    let h = bearer();
    let h = [("Authorization", h.as_str())];
    let (a_pk, b_pk) = (c.members[0], c.members[1]);

    // Both sign with the other as co-signer; full events too.
    assert_valid(&c, &sign(c.b.addr, [1; 32]).await, [1; 32]);
    assert_valid(&c, &sign(c.a.addr, [2; 32]).await, [2; 32]);
    let ev = json!({ "event": { "kind": 1, "created_at": 1_700_000_000u64, "content": "hi", "tags": [] } });
    let r = post(c.b.addr, "/api/sign", &h, &ev.to_string()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let signed: frostbox::nostr::Event =
        serde_json::from_value(r.json()["event"].clone()).expect("event");
    signed
        .verify()
        .expect("a valid Nostr event by the group key");
    assert_eq!(signed.pubkey, c.group_pk);

    // a stops answering b (compressed key form, as the group lists it).
    let path = format!("/api/peers/{}/policy", c.member_hex[1]);
    let r = procs::put_policy(
        c.a.addr,
        &c.member_hex[1],
        r#"{"allowReceive":false,"label":"b"}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let p = r.json()["policy"].clone();
    assert_eq!(
        (p["effectiveReceive"].clone(), p["effectiveSend"].clone()),
        (json!(false), json!(true))
    );
    assert_eq!(p["source"], "stored");
    let peers = get(c.a.addr, "/api/peers", &h).await.json();
    let b_row = peers["peers"]
        .as_array()
        .and_then(|v| v.iter().find(|p| p["pubkey"] == hex::encode(b_pk)).cloned())
        .expect("b listed");
    assert_eq!(b_row["policy"]["effectiveReceive"], false);

    // b's requests are refused by a's node; a can still use b (the switch is one-way).
    assert_refused(&sign(c.b.addr, [3; 32]).await);
    ping(c.a.addr, &b_pk).await;
    assert_refused(&sign(c.b.addr, [4; 32]).await);
    assert_valid(&c, &sign(c.a.addr, [5; 32]).await, [5; 32]);
    // Removing the policy restores service.
    let r = req(c.a.addr, "DELETE", &path, &h, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["policy"]["source"], "default");
    ping(c.a.addr, &b_pk).await;
    sign_eventually(&c, c.b.addr, &a_pk, 10).await;

    // allowSend=false on b: b no longer asks a (its only co-signer), a still asks b.
    let path = format!("/api/peers/{}/policy", hex::encode(a_pk));
    let r = req(c.b.addr, "PUT", &path, &h, Some(r#"{"allowSend":false}"#)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = sign(c.b.addr, [40; 32]).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_valid(&c, &sign(c.a.addr, [41; 32]).await, [41; 32]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_policies_env_holds_from_the_first_message() {
    // b starts with PEER_POLICIES refusing a; a's requests are refused, b's go through.
    let deny_a = |m: &[[u8; 32]]| {
        vec![(
            "PEER_POLICIES".to_string(),
            json!([{ "pubkey": hex::encode(m[0]), "allowReceive": false, "note": "from env" }])
                .to_string(),
        )]
    };
    let c = cluster_with(&|_| vec![], &deny_a, false).await;
    let h = bearer();
    let h = [("Authorization", h.as_str())];
    assert_valid(&c, &sign(c.b.addr, [7; 32]).await, [7; 32]);
    assert_refused(&sign(c.a.addr, [8; 32]).await);

    let pol = get(c.b.addr, "/api/peers/policies", &h).await.json();
    let list = pol["policies"].as_array().expect("list");
    assert_eq!(list.len(), 1, "{pol}");
    assert_eq!(list[0]["source"], "env");
    assert_eq!(list[0]["effectiveReceive"], false);
    assert_eq!(list[0]["note"], "from env");

    // A stored policy overrides the seed; deleting it falls back to the seed, not to "allow".
    let path = format!("/api/peers/{}/policy", hex::encode(c.members[0]));
    let r = req(c.b.addr, "PUT", &path, &h, Some(r#"{"allowReceive":true}"#)).await;
    assert_eq!(r.json()["policy"]["source"], "stored");
    ping(c.b.addr, &c.members[0]).await;
    sign_eventually(&c, c.a.addr, &c.members[1], 20).await;
    let r = req(c.b.addr, "DELETE", &path, &h, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["policy"]["source"], "env");
    assert_refused(&sign(c.a.addr, [30; 32]).await);
}
