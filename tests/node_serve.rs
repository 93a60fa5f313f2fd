//! End-to-end through the node factory: a real `frostbox serve` process (port 0) gets a keyset
//! through the API, a second node holding another share runs on the process's embedded relay,
//! then `/api/status` turns ready and `POST /api/sign` produces a signature under the group key.
//! A re-import must leave exactly one node on the share (no duplicate responses). Legacy
//! credentials are refused without `FROSTR_LEGACY` and served by a legacy node with it.

mod api_support;

use api_support::{get, post, procs};
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
/// shows the server's log (it never holds secrets: see api_process).
struct Served {
    p: procs::Proc,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for Served {
    type Target = procs::Proc;
    fn deref(&self) -> &procs::Proc {
        &self.p
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Ok(g) = self.p.log.lock()
        {
            eprintln!("--- frostbox serve log ---\n{g}");
        }
    }
}

fn spawn(envs: &[(&str, &str)]) -> Served {
    let dir = tempfile::tempdir().expect("tmp");
    let mut all = vec![("ADMIN_SECRET", ADMIN), ("RUST_LOG", "info")];
    all.extend_from_slice(envs);
    Served {
        p: procs::spawn(&dir.path().join("data"), &all),
        _dir: dir,
    }
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
    let msg2 = [0x5b; 32];
    let sig2 = peer.sign(msg2).await.expect("peer-initiated legacy sign");
    assert!(keys::verify_bip340(&npub, &msg2, &sig2));
    let log = p.log.lock().map(|g| g.clone()).unwrap_or_default();
    assert!(
        log.contains("static signing nonces"),
        "the §0.2 warning is logged at start"
    );
    peer.shutdown().await;
}
