//! End-to-end through the node factory: a real `frostbox serve` process (port 0) gets a keyset
//! through the API, a second node holding another share runs on the process's embedded relay,
//! then `/api/status` turns ready and `POST /api/sign` produces a signature under the group key.
//! A re-import must leave exactly one node on the share (no duplicate responses). Legacy
//! credentials are refused without `FROSTR_LEGACY` and served by a legacy node with it.
//! `/api/events` shows what the node does (issue 4/5): co-signing for a peer, a refusal by peer
//! policy, own rounds, peers coming online, filtered per keyset, and a stopped peer going
//! offline (ignored: it waits out the 120 s online grace; ci/steps/45-interop-nip46.sh).

use crate::api_support;

use api_support::groups::{Group, import_keyset};
use api_support::{events, get, post, procs};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use frostbox::frost::{self, MemoryNonceLedger};
use frostbox::frostr::next::credential::BfProfile;
use frostbox::frostr::next::group::GroupPackage;
use frostbox::frostr::node::{LegacyConfig, LegacyNode, Node, NodeConfig};
use frostbox::nostr::keys;
use serde_json::{Value, json};

const ADMIN: &str = "node-serve-admin-secret-5b1d";
const USER_PW: &str = "Node-Serve-Password-42";
const SHARE_PW: &str = "share-password-for-e2e";

/// A `frostbox serve` (the shared `api_support::procs::spawn`) with its data dir; a failing test
/// shows the server's log.
fn spawn(envs: &[(&str, &str)]) -> procs::Owned {
    let mut all = vec![("ADMIN_SECRET", ADMIN), ("RUST_LOG", "info")];
    all.extend_from_slice(envs);
    procs::Owned::in_tempdir(|d| procs::spawn(&d.join("data"), &all))
}

/// Onboards the admin and returns a session cookie.
async fn admin_cookie(a: SocketAddr) -> String {
    let r = post(
        a,
        "/api/onboarding/setup",
        &[("Authorization", &format!("Bearer {ADMIN}"))],
        &json!({"username": "owner", "password": USER_PW}).to_string(),
    )
    .await;
    assert!(r.status < 300, "setup: {} {}", r.status, r.body);
    let login = post(
        a,
        "/api/auth/login",
        &[],
        &json!({"username": "owner", "password": USER_PW}).to_string(),
    )
    .await;
    assert_eq!(login.status, 200, "{}", login.body);
    format!("session={}", login.session_cookie().expect("cookie"))
}

async fn wait_status(a: SocketAddr, cookie: &str, what: &str, f: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..300 {
        let r = get(a, "/api/status", &[("Cookie", cookie)]).await;
        last = r.json();
        if f(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}; last status {last}");
}

async fn api_sign(a: SocketAddr, cookie: &str, msg: [u8; 32]) -> [u8; 64] {
    let r = post(
        a,
        "/api/sign",
        &[("Cookie", cookie)],
        &json!({"message": hex::encode(msg)}).to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "sign: {}", r.body);
    let v = r.json();
    let mut sig = [0u8; 64];
    hex::decode_to_slice(v["signature"].as_str().expect("signature"), &mut sig).expect("hex");
    sig
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_imports_bfprofile_and_signs_with_a_peer_reimport_keeps_one_node() {
    let ks = frost::keygen(2, 3).expect("keygen");
    let group = GroupPackage::from_keys("e2e", &ks.group);
    let p = spawn(&[]);
    let a = p.addr;
    let cookie = admin_cookie(a).await;
    let relay = format!("ws://{a}");
    // A bfprofile names at least one relay: the serve process's own.
    let profile = BfProfile::new(
        "box",
        ks.shares[0].secret.duplicate(),
        vec![relay.clone()],
        vec![],
        group.clone(),
    )
    .expect("profile")
    .encode(SHARE_PW)
    .expect("encode");

    // The co-signer: another share, on the serve process's embedded relay.
    let peer = Node::start(NodeConfig::new(
        group.clone(),
        ks.shares[1].secret.duplicate(),
        vec![relay],
        Arc::new(MemoryNonceLedger::new()),
    ))
    .await
    .expect("peer node");

    let import = json!({"share_cred": profile, "share_password": SHARE_PW}).to_string();
    let r = post(a, "/api/keyset", &[("Cookie", &cookie)], &import).await;
    assert_eq!(r.status, 200, "import: {}", r.body);
    let st = wait_status(a, &cookie, "node ready", |v| v["node"]["ready"] == true).await;
    assert_eq!(st["node"]["legacy"], false);
    assert_eq!(
        st["node"]["groupPubkey"],
        json!(hex::encode(group.group_pk))
    );

    for k in 0..3u8 {
        let msg = [k + 1; 32];
        let sig = api_sign(a, &cookie, msg).await;
        assert!(
            keys::verify_bip340(&group.group_pk, &msg, &sig),
            "API signature must verify under the group key"
        );
    }

    // Re-import: the factory shuts the first node down before the second starts.
    let r = post(a, "/api/keyset", &[("Cookie", &cookie)], &import).await;
    assert_eq!(r.status, 200, "re-import: {}", r.body);
    tokio::time::sleep(Duration::from_millis(300)).await;
    wait_status(a, &cookie, "node ready after re-import", |v| {
        v["node"]["ready"] == true
    })
    .await;
    let msg = [0x77; 32];
    let sig = api_sign(a, &cookie, msg).await;
    assert!(keys::verify_bip340(&group.group_pk, &msg, &sig));

    // The peer initiates: with two nodes on share 0 it would get a second (duplicate)
    // response, which its engine rejects and counts. Exactly one node → no extra rejects.
    let (dropped_before, _) = peer.counters();
    let box_x = {
        let m = group
            .members
            .iter()
            .find(|m| m.idx == ks.shares[0].idx)
            .expect("member");
        m.xonly()
    };
    // Pings, not signs: the peer still holds nonces the first node issued, which the new node
    // cannot know (outgoing nonces are not persisted across a node restart; open item in the
    // issue notes), so a peer-initiated sign would spend a stale code first.
    for _ in 0..3u8 {
        peer.ping(box_x).await.expect("ping the box");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (dropped_after, _) = peer.counters();
    assert_eq!(
        dropped_after, dropped_before,
        "duplicate responses reached the peer: more than one node runs on the share"
    );
    let log = p.log.lock().map(|g| g.clone()).unwrap_or_default();
    assert_eq!(
        log.matches("signer started").count(),
        2,
        "one start per import:\n{log}"
    );
    peer.shutdown().await;
}

/// The box's share also loaded in a second signer (an in-process node here, as a browser
/// extension or another box would be): a request of the group that names the other signer's
/// nonce reaches the box too, and the box reports it in `/api/status` (`node.duplicateShare`) and
/// in `/api/peers/self`'s warnings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reports_a_second_signer_with_the_same_share() {
    // 2-of-3; share 2 never comes online, so the peer's co-signer is always share 0's key.
    let g = Group::new("twin");
    // An open relay: the twin and the peer talk on it before the box serves their keyset.
    let p = spawn(&[("RELAY_OPEN", "true")]);
    let a = p.addr;
    let cookie = admin_cookie(a).await;
    let relay = format!("ws://{a}");
    // The twin (share 0, like the box) and the peer (share 1) first, so the nonces the peer
    // holds for share 0's key are the twin's: its next request names one the box never made.
    let twin = Node::start(NodeConfig::new(
        g.pkg.clone(),
        g.shares[0].secret.duplicate(),
        vec![relay.clone()],
        Arc::new(MemoryNonceLedger::new()),
    ))
    .await
    .expect("twin");
    let peer = g.cosigner(&relay).await;
    for _ in 0..300 {
        if peer.status().peers.iter().any(|x| x.incoming_nonces > 0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        peer.status().peers.iter().any(|x| x.incoming_nonces > 0),
        "the peer never got the twin's nonces: {:?}",
        peer.status()
    );

    let import =
        json!({"share_cred": g.profile(&relay), "share_password": api_support::groups::SHARE_PW});
    let r = post(
        a,
        "/api/keyset",
        &[("Cookie", &cookie)],
        &import.to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "import: {}", r.body);
    let st = wait_status(a, &cookie, "node ready", |v| v["node"]["ready"] == true).await;
    assert_eq!(st["node"]["duplicateShare"], Value::Null, "{st}");

    let peer_hex = hex::encode(peer.pubkey());
    let mut flagged = Value::Null;
    for k in 0..10u8 {
        // A round may fail here (the box refuses the twin's nonce): that is what is reported.
        let _ = peer.sign([0x90 + k; 32]).await;
        flagged =
            get(a, "/api/status", &[("Cookie", &cookie)]).await.json()["node"]["duplicateShare"]
                .clone();
        if !flagged.is_null() {
            break;
        }
    }
    assert_eq!(flagged["peer"], json!(peer_hex), "status: {flagged}");
    assert!(
        flagged["codes"].as_u64().is_some_and(|n| n >= 1),
        "{flagged}"
    );
    assert!(flagged["lastAt"].as_u64().is_some(), "{flagged}");
    let me = get(a, "/api/peers/self", &[("Cookie", &cookie)])
        .await
        .json();
    assert!(
        me["warnings"].as_array().is_some_and(|w| w
            .iter()
            .any(|x| x.as_str().is_some_and(|s| s.contains("another signer")))),
        "{me}"
    );
    p.wait_log("never generated").await;
    twin.shutdown().await;
    peer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_keyset_refused_without_switch_and_served_with_it() {
    use frostbox::frostr::legacy::keygen;
    let (group, shares) = keygen(2, 3, None).expect("legacy keygen");
    let import = json!({
        "group_cred": group.encode(),
        "share_cred": shares[0].encode().as_str(),
    })
    .to_string();

    // Without FROSTR_LEGACY: refused at import, with the risk and the way out explained.
    {
        let p = spawn(&[]);
        let cookie = admin_cookie(p.addr).await;
        let r = post(p.addr, "/api/keyset", &[("Cookie", &cookie)], &import).await;
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.body.contains("frostbox migrate"), "{}", r.body);
        assert!(r.body.contains("FROSTR_LEGACY=true"), "{}", r.body);
        assert!(r.body.contains("static signing nonces"), "{}", r.body);
    }

    // With the switch: a legacy node (kind 20004) serves the keyset.
    let p = spawn(&[("FROSTR_LEGACY", "true")]);
    let a = p.addr;
    let cookie = admin_cookie(a).await;
    let mut cfg = LegacyConfig::new(
        group.clone(),
        shares[1].duplicate(),
        vec![format!("ws://{a}")],
    );
    cfg.label = "peer".into();
    let peer = LegacyNode::start(cfg).await.expect("legacy peer");
    let r = post(a, "/api/keyset", &[("Cookie", &cookie)], &import).await;
    assert_eq!(r.status, 200, "import: {}", r.body);
    let st = wait_status(a, &cookie, "legacy node ready", |v| {
        v["node"]["ready"] == true
    })
    .await;
    assert_eq!(st["node"]["legacy"], true);
    assert!(
        st["node"]["legacyWarning"]
            .as_str()
            .is_some_and(|w| w.contains("frostbox migrate")),
        "{st}"
    );
    let npub = group.npub();
    let msg = [0x5a; 32];
    let sig = api_sign(a, &cookie, msg).await;
    assert!(keys::verify_bip340(&npub, &msg, &sig));
    let mut on_box = events(a, "", &[("Cookie", &cookie)]).await;
    let msg2 = [0x5b; 32];
    let sig2 = peer.sign(msg2).await.expect("peer-initiated legacy sign");
    assert!(keys::verify_bip340(&npub, &msg2, &sig2));
    // The legacy node reports its co-signing on the event stream too.
    let v = on_box
        .wait_for("legacy co-signing", EV_WAIT, |v| {
            v["type"] == "sign" && v["data"]["kind"] == "served"
        })
        .await;
    assert_eq!(v["data"]["peer"], json!(hex::encode(peer.pubkey())), "{v}");
    assert_eq!(v["data"]["keyset"], "default");
    let log = p.log.lock().map(|g| g.clone()).unwrap_or_default();
    assert!(
        log.contains("static signing nonces"),
        "the §0.2 warning is logged at start"
    );
    peer.shutdown().await;
}

const EV_WAIT: Duration = Duration::from_secs(20);

/// Two boxes of one 2-of-3 group (the shared cluster helper): a client on a's `/api/events`
/// sees a `sign` event naming b's key and the keyset when b signs through `/api/sign`; b's
/// stream shows its own round with a as the co-signer; after a's operator denies b through
/// `/api/peers/{pk}/policy`, b's next request shows on a as a `warning` refusal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_stream_shows_cosigning_and_policy_refusals() {
    let c = procs::cluster(&[], &[]).await;
    let auth = procs::bearer();
    let h = [("Authorization", auth.as_str())];
    let (a_hex, b_hex) = (hex::encode(c.members[0]), hex::encode(c.members[1]));
    let mut on_a = events(c.a.addr, "", &h).await;
    let mut on_b = events(c.b.addr, "", &h).await;

    let sign_on_b = |m: u8| {
        let body = json!({ "message": hex::encode([m; 32]) }).to_string();
        async move { post(c.b.addr, "/api/sign", &h, &body).await }
    };
    let r = sign_on_b(1).await;
    assert_eq!(r.status, 200, "sign: {}", r.body);
    let v = on_a
        .wait_for("a co-signs for b", EV_WAIT, |v| {
            v["type"] == "sign" && v["data"]["kind"] == "served"
        })
        .await;
    assert_eq!(v["data"]["peer"], json!(b_hex), "{v}");
    assert_eq!(v["data"]["keyset"], "default", "{v}");
    assert_eq!(v["data"]["method"], "sign");
    assert_eq!(v["data"]["ok"], true);
    assert!(v["data"]["ms"].is_u64(), "{v}");
    let short = format!("{}…{}", &b_hex[..4], &b_hex[62..]);
    assert!(
        v["message"]
            .as_str()
            .is_some_and(|m| m.starts_with(&format!("co-signed for {short} ("))),
        "{v}"
    );
    let v = on_b
        .wait_for("b's own round", EV_WAIT, |v| {
            v["type"] == "sign" && v["data"]["kind"] == "round_ok"
        })
        .await;
    assert_eq!(v["data"]["peers"], json!([a_hex]), "{v}");
    assert_eq!(v["data"]["keyset"], "default");

    // a stops answering b: b's next request is refused, and a's operator sees it.
    let r = procs::put_policy(c.a.addr, &c.member_hex[1], r#"{"allowReceive":false}"#).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = sign_on_b(2).await;
    assert_ne!(r.status, 200, "a denied b: {}", r.body);
    let v = on_a
        .wait_for("refusal", EV_WAIT, |v| v["type"] == "warning")
        .await;
    assert_eq!(v["data"]["kind"], "refused", "{v}");
    assert_eq!(v["data"]["peer"], json!(b_hex));
    assert_eq!(v["data"]["method"], "sign");
    assert_eq!(v["data"]["ok"], false);
    assert!(
        v["data"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("denied")),
        "{v}"
    );
    let v = on_b
        .wait_for("b's failed round", EV_WAIT, |v| {
            v["type"] == "sign" && v["data"]["kind"] == "round_failed"
        })
        .await;
    assert_eq!(v["data"]["ok"], false, "{v}");
    // Nothing on a's stream claims it served b after the denial.
    let served_b = on_a
        .seen
        .iter()
        .filter(|v| v["data"]["kind"] == "served" && v["data"]["peer"] == json!(b_hex))
        .count();
    assert_eq!(served_b, 1, "{:?}", on_a.seen);
}

/// A box with two keysets of two groups: `?keyset=kb` sees kb's peer come online, kb's own
/// rounds and kb's co-signing/ECDH for its peer, and nothing of keyset ka, whose events the
/// unfiltered stream shows; an unknown keyset is a 404 (query or header).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_stream_follows_one_keyset() {
    let (ga, gb) = (Group::new("ga"), Group::new("gb"));
    let p = spawn(&[]);
    let a = p.addr;
    let auth = format!("Bearer {ADMIN}");
    let h = [("Authorization", auth.as_str())];
    let relay = format!("ws://{a}");
    import_keyset(a, &auth, "ka", &ga.profile(&relay)).await;
    import_keyset(a, &auth, "kb", &gb.profile(&relay)).await;

    for (q, hd) in [
        ("?keyset=nope", None),
        ("", Some("nope")),
        ("?keyset=NOT%20AN%20ID", None),
    ] {
        let mut hh = h.to_vec();
        if let Some(k) = hd {
            hh.push(("X-Frostbox-Keyset", k));
        }
        let r = get(a, &format!("/api/events{q}"), &hh).await;
        assert_eq!(r.status, 404, "{q} {hd:?}: {}", r.body);
        assert_eq!(r.json()["code"], "UNKNOWN_KEYSET", "{}", r.body);
    }

    let mut all = events(a, "", &h).await;
    let mut only_b = events(a, "?keyset=kb", &h).await;
    let mut hb = h.to_vec();
    hb.push(("X-Frostbox-Keyset", "kb"));
    let mut only_b_hdr = events(a, "", &hb).await;

    // The peers start: each keyset's node hears its co-signer (a ping) and reports it online.
    let cos_b = gb.cosigner(&relay).await;
    let cb_hex = hex::encode(gb.share_xonly(1));
    for s in [&mut only_b, &mut only_b_hdr] {
        let v = s
            .wait_for("kb's peer online", EV_WAIT, |v| v["type"] == "peer-status")
            .await;
        assert_eq!(v["data"]["keyset"], "kb", "{v}");
        assert_eq!(v["data"]["peer"], json!(cb_hex), "{v}");
        assert_eq!(v["data"]["ok"], true);
        assert!(
            v["message"]
                .as_str()
                .is_some_and(|m| m.ends_with(" online")),
            "{v}"
        );
    }
    let cos_a = ga.cosigner(&relay).await;
    let ca_hex = hex::encode(ga.share_xonly(1));
    all.wait_for("ka's peer online", EV_WAIT, |v| {
        v["type"] == "peer-status"
            && v["data"]["keyset"] == "ka"
            && v["data"]["peer"] == json!(ca_hex)
    })
    .await;

    // Own rounds of each keyset (the box initiates), once both nodes can sign.
    let sign = |id: &'static str, m: u8| {
        let body = json!({ "message": hex::encode([m; 32]) }).to_string();
        async move {
            let t0 = std::time::Instant::now();
            loop {
                let r = post(a, &format!("/api/sign?keyset={id}"), &h, &body).await;
                if r.status == 200 {
                    return;
                }
                assert!(t0.elapsed() < EV_WAIT, "sign {id}: {} {}", r.status, r.body);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    sign("ka", 1).await;
    all.wait_for("ka's round", EV_WAIT, |v| {
        v["data"]["keyset"] == "ka" && v["data"]["kind"] == "round_ok"
    })
    .await;
    sign("kb", 2).await;
    let v = only_b
        .wait_for("kb's round", EV_WAIT, |v| v["data"]["kind"] == "round_ok")
        .await;
    assert_eq!(v["type"], "sign");
    assert_eq!(v["data"]["keyset"], "kb");
    assert_eq!(v["data"]["peers"], json!([cb_hex]), "{v}");

    // kb's co-signer asks the box: a signature and an ECDH.
    let t0 = std::time::Instant::now();
    while !cos_b.status().threshold_reachable {
        assert!(t0.elapsed() < EV_WAIT, "co-signer b never ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let msg = [3u8; 32];
    let sig = cos_b.sign(msg).await.expect("co-signer signs with the box");
    assert!(keys::verify_bip340(&gb.pk(), &msg, &sig));
    let v = only_b
        .wait_for("kb co-signed", EV_WAIT, |v| v["data"]["kind"] == "served")
        .await;
    assert_eq!(v["type"], "sign", "{v}");
    assert_eq!(v["data"]["peer"], json!(cb_hex));
    cos_b
        .ecdh(ga.share_xonly(0))
        .await
        .expect("co-signer ECDH with the box");
    let v = only_b
        .wait_for("kb ECDH", EV_WAIT, |v| v["type"] == "ecdh")
        .await;
    assert_eq!(v["data"]["kind"], "served", "{v}");
    assert_eq!(v["data"]["peer"], json!(cb_hex));

    // Broadcast order is kept: ka's round came before kb's ECDH, so a filtered stream that had
    // let it through would have shown it by now.
    only_b_hdr
        .wait_for("kb ECDH (header selector)", EV_WAIT, |v| {
            v["type"] == "ecdh"
        })
        .await;
    for s in [&only_b, &only_b_hdr] {
        let foreign: Vec<&Value> = s
            .seen
            .iter()
            .filter(|v| v["data"]["keyset"].as_str().is_some_and(|k| k != "kb"))
            .collect();
        assert!(
            foreign.is_empty(),
            "kb's stream shows other keysets: {foreign:?}"
        );
        assert!(s.seen.iter().any(|v| v["data"]["kind"] == "round_ok"));
    }
    let v = all
        .wait_for("kb's ECDH on the unfiltered stream", EV_WAIT, |v| {
            v["type"] == "ecdh" && v["data"]["keyset"] == "kb"
        })
        .await;
    assert_eq!(v["data"]["peer"], json!(cb_hex));
    assert!(all.seen.iter().any(|v| v["data"]["keyset"] == "ka"));
    cos_a.shutdown().await;
    cos_b.shutdown().await;
}

/// Issue 4, peer offline end to end: two boxes of one 2-of-3 group (the shared cluster
/// helper, b started only once a client watches a's `/api/events`). The client sees a
/// `peer-status` event with b's key going online, and `/api/peers` on a lists b online; b is
/// stopped (SIGTERM, a clean exit); within the node's offline bound (the peer-online grace,
/// `PEER_ONLINE_GRACE_SECS`, plus one supervisor tick and the whole-second rounding) a's stream
/// shows b going offline, and `/api/peers` agrees. No knob shortens the grace, so this waits
/// it out (≈ 2 min): ignored in plain `cargo test`; CI starts it in the background in
/// ci/steps/45-interop-nip46.sh and collects it in step 70 (node_bus covers the same
/// supervisor path in 2 s with a stepped clock).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "waits out the node's fixed 120 s peer-online grace (CI runs it in the background from step 45)"]
async fn event_stream_shows_a_stopped_peer_going_offline() {
    use frostbox::frostr::node::SupervisorConfig;
    use frostbox::frostr::node::peers::PEER_ONLINE_GRACE_SECS;
    let auth = procs::bearer();
    let h = [("Authorization", auth.as_str())];
    let half = procs::ClusterA::start(&|_| vec![]).await;
    let mut on_a = events(half.a.addr, "", &h).await;
    let mut c = half.add_b(&|_| vec![], true).await;
    let b_hex = hex::encode(c.members[1]);
    let b_row = |peers: &Value| -> Value {
        peers["peers"]
            .as_array()
            .and_then(|v| v.iter().find(|p| p["pubkey"] == json!(b_hex)).cloned())
            .unwrap_or_else(|| panic!("b is listed: {peers}"))
    };

    let v = on_a
        .wait_for("b online", EV_WAIT, |v| {
            v["type"] == "peer-status" && v["data"]["peer"] == json!(b_hex)
        })
        .await;
    assert_eq!(v["data"]["kind"], "peer_online", "{v}");
    assert_eq!(v["data"]["ok"], true, "{v}");
    assert_eq!(v["data"]["keyset"], "default", "{v}");
    let short = format!("{}…{}", &b_hex[..4], &b_hex[62..]);
    assert_eq!(v["message"], format!("peer {short} online"), "{v}");
    let peers = get(c.a.addr, "/api/peers", &h).await.json();
    assert_eq!(b_row(&peers)["online"], true, "{peers}");

    let (code, took) = procs::sigterm_and_wait(&mut c.b);
    assert_eq!(code, 0, "b exits cleanly ({took:?})");
    // a last heard b at the latest now: offline once the grace has passed in whole seconds
    // (> GRACE, so up to GRACE + 1 s), noticed at the next supervisor tick; 10 s of slack for a
    // loaded machine.
    let bound = Duration::from_secs(PEER_ONLINE_GRACE_SECS + 1)
        + SupervisorConfig::default().tick
        + Duration::from_secs(10);
    let t0 = std::time::Instant::now();
    let waited = tokio::time::timeout(
        bound,
        on_a.wait_for("b offline", bound + Duration::from_secs(5), |v| {
            v["type"] == "peer-status" && v["data"]["peer"] == json!(b_hex)
        }),
    )
    .await;
    let Ok(v) = waited else {
        panic!(
            "a's stream showed no b offline within {bound:?}; a's log:\n{}",
            c.a.log_text()
        );
    };
    let after = t0.elapsed();
    assert_eq!(v["data"]["kind"], "peer_offline", "{v}");
    assert_eq!(v["data"]["ok"], false, "{v}");
    assert_eq!(v["data"]["keyset"], "default", "{v}");
    assert_eq!(v["message"], format!("peer {short} offline"), "{v}");
    eprintln!("b offline on a's stream {after:?} after its stop (bound {bound:?})");
    let peers = get(c.a.addr, "/api/peers", &h).await.json();
    assert_eq!(b_row(&peers)["online"], false, "{peers}");
    assert_eq!(peers["online"], 0, "{peers}");
    assert_eq!(peers["thresholdReachable"], false, "{peers}");
}
