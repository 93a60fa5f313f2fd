//! Several keysets in one box (issue 4/5): a real `frostbox serve` process holds two keysets of
//! two different groups, each with its own co-signer node (another share of that group, in
//! this test process). `/api/sign` and `/api/nip44/*` act on the keyset named by `?keyset=` or
//! `X-Frostbox-Keyset`; signatures verify under the respective group keys; an unattended
//! restart brings both nodes back; deleting one leaves the other signing; an unknown keyset is
//! a 404. The second test runs both keysets (one through the single-keyset routes, as
//! `default`) over the box's embedded relay.

use crate::api_support;

use api_support::groups::{Group, SHARE_PW, Served};
use api_support::{Resp, get, post, procs, req};
use frostbox::frostr::next::credential::BfProfile;
use frostbox::nostr::{keys, nip44};
use frostbox::vault::secret::Secret32;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;

const ADMIN: &str = "keysets-admin-secret-7c2e91";
const METRICS_TOKEN: &str = "keysets-metrics-token-5d1a";

fn auth() -> String {
    format!("Bearer {ADMIN}")
}

fn spawn(data: &std::path::Path, envs: &[(&str, &str)]) -> Served {
    let mut all = vec![("ADMIN_SECRET", ADMIN), ("RUST_LOG", "info")];
    all.extend_from_slice(envs);
    Served(procs::spawn(data, &all))
}

/// A relay in this process (127.0.0.1:0) that both groups may write to.
async fn test_relay(groups: &[&Group]) -> String {
    api_support::relay::for_groups(groups).await.0
}

async fn import(a: SocketAddr, id: &str, label: &str, profile: &str) {
    let k = api_support::groups::import_labelled(a, &auth(), id, label, profile).await;
    assert_eq!(k["id"], id);
    assert_eq!(k["label"], label);
}

async fn keysets(a: SocketAddr) -> Vec<Value> {
    let r = get(a, "/api/keysets", &[("Authorization", &auth())]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["keysets"].as_array().cloned().unwrap_or_default()
}

async fn wait_ready(a: SocketAddr, ids: &[&str]) -> Vec<Value> {
    let mut last = Vec::new();
    for _ in 0..300 {
        last = keysets(a).await;
        let ok = ids.iter().all(|id| {
            last.iter()
                .any(|k| k["id"] == json!(id) && k["state"] == "ready")
        });
        if ok {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("keysets {ids:?} not ready: {last:?}");
}

enum Sel<'a> {
    Default,
    Query(&'a str),
    Header(&'a str),
}

async fn call(a: SocketAddr, path: &str, sel: &Sel<'_>, body: &Value) -> Resp {
    let auth = auth();
    let mut h = vec![("Authorization", auth.as_str())];
    let path = match sel {
        Sel::Default => path.to_string(),
        Sel::Query(id) => format!("{path}?keyset={id}"),
        Sel::Header(id) => {
            h.push(("X-Frostbox-Keyset", id));
            path.to_string()
        }
    };
    req(a, "POST", &path, &h, Some(&body.to_string())).await
}

async fn sign(a: SocketAddr, sel: &Sel<'_>, msg: [u8; 32]) -> [u8; 64] {
    let r = call(a, "/api/sign", sel, &json!({ "message": hex::encode(msg) })).await;
    assert_eq!(r.status, 200, "sign: {}", r.body);
    let mut sig = [0u8; 64];
    hex::decode_to_slice(r.json()["signature"].as_str().expect("sig"), &mut sig).expect("hex");
    sig
}

fn assert_signed_by(g: &Group, other: &Group, msg: &[u8; 32], sig: &[u8; 64]) {
    assert!(
        keys::verify_bip340(&g.pk(), msg, sig),
        "signature must verify under its keyset's group key"
    );
    assert!(
        !keys::verify_bip340(&other.pk(), msg, sig),
        "signature must not verify under the other keyset's group key"
    );
}

/// NIP-44 both ways between keyset `sel` (group `g`) and a local key.
async fn nip44_round_trip(a: SocketAddr, sel: &Sel<'_>, g: &Group, text: &str) {
    let me = Secret32::random();
    let me_x = keys::xonly_pubkey(&me).expect("pk");
    let conv = nip44::conversation_key(&me, &g.pk()).expect("conv");
    let body = json!({ "peer_pubkey": hex::encode(me_x), "content": text });
    let r = call(a, "/api/nip44/encrypt", sel, &body).await;
    assert_eq!(r.status, 200, "nip44 encrypt: {}", r.body);
    let ct = r.json()["result"].as_str().expect("result").to_string();
    assert_eq!(
        nip44::decrypt(&conv, &ct).expect("decrypt locally"),
        text,
        "the box encrypted under this keyset's group key"
    );
    let back = format!("{text} (reply)");
    let ct2 = nip44::encrypt(&conv, &back, nip44::B64::Padded).expect("encrypt locally");
    let body = json!({ "peer_pubkey": hex::encode(me_x), "content": ct2 });
    let r = call(a, "/api/nip44/decrypt", sel, &body).await;
    assert_eq!(r.status, 200, "nip44 decrypt: {}", r.body);
    assert_eq!(r.json()["result"], json!(back));
}

async fn assert_unknown(a: SocketAddr, sel: &Sel<'_>) {
    let r = call(
        a,
        "/api/sign",
        sel,
        &json!({ "message": hex::encode([9u8; 32]) }),
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(
        r.json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("keyset"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_keysets_sign_and_encrypt_apart_survive_restart_and_delete() {
    let (ga, gb) = (Group::new("alpha"), Group::new("beta"));
    let relay = test_relay(&[&ga, &gb]).await;
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    let p = spawn(&data, &[]);
    let a = p.0.addr;

    import(a, "a", "Alpha", &ga.profile(&relay)).await;
    import(a, "b", "Beta", &gb.profile(&relay)).await;
    let dup = post(
        a,
        "/api/keysets",
        &[("Authorization", &auth())],
        &json!({ "id": "a", "share_cred": ga.profile(&relay), "share_password": SHARE_PW })
            .to_string(),
    )
    .await;
    assert_eq!(dup.status, 409, "an id is imported once: {}", dup.body);
    // Credentials that could never start are refused before anything is stored: a wrong
    // profile password (400), and a second share of a group this box already serves (409).
    let refused = [
        (
            ga.profile(&relay),
            "not-the-password",
            400,
            "INVALID_CREDENTIALS",
        ),
        (gb.profile(&relay), SHARE_PW, 409, "GROUP_SERVED"),
    ];
    for (profile, pw, status, code) in refused {
        let r = admin_req(
            a,
            "POST",
            "/api/keysets",
            Some(&json!({ "id": "c", "share_cred": profile, "share_password": pw })),
        )
        .await;
        assert_eq!(r.status, status, "{}", r.body);
        assert_eq!(r.json()["code"], code, "{}", r.body);
        assert!(r.json()["error"].as_str().is_some_and(|e| e.len() > 10));
    }
    assert!(entry(&keysets(a).await, "c").is_none(), "nothing stored");
    let (ca, cb) = (ga.cosigner(&relay).await, gb.cosigner(&relay).await);

    let list = wait_ready(a, &["a", "b"]).await;
    assert_eq!(list.len(), 2, "{list:?}");
    for (id, g) in [("a", &ga), ("b", &gb)] {
        let k = list.iter().find(|k| k["id"] == id).expect("listed");
        assert_eq!(k["groupPubkey"], json!(hex::encode(g.pk())));
        assert_eq!(k["threshold"], 2);
        assert_eq!(k["total"], 3);
        assert_eq!(k["generation"], "next");
        assert_eq!(k["mode"], "unattended");
        assert!(k["npub"].as_str().is_some_and(|n| n.starts_with("npub1")));
    }

    let m1 = [0x11; 32];
    assert_signed_by(&ga, &gb, &m1, &sign(a, &Sel::Query("a"), m1).await);
    assert_signed_by(&gb, &ga, &m1, &sign(a, &Sel::Header("b"), m1).await);
    nip44_round_trip(a, &Sel::Query("a"), &ga, "hello alpha").await;
    nip44_round_trip(a, &Sel::Header("b"), &gb, "hello beta").await;

    // Unknown keysets, a disagreeing selector, and the empty default keyset.
    assert_unknown(a, &Sel::Query("nope")).await;
    assert_unknown(a, &Sel::Header("nope")).await;
    let r = req(
        a,
        "GET",
        "/api/peers?keyset=a",
        &[("Authorization", &auth()), ("X-Frostbox-Keyset", "b")],
        None,
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = call(
        a,
        "/api/sign",
        &Sel::Default,
        &json!({ "message": hex::encode(m1) }),
    )
    .await;
    assert_eq!(r.status, 503, "no default keyset here: {}", r.body);

    // Status: igloo fields for the selected keyset plus every keyset; /ready covers both.
    let r = get(a, "/api/status?keyset=b", &[("Authorization", &auth())]).await;
    let st = r.json();
    assert_eq!(st["node"]["groupPubkey"], json!(hex::encode(gb.pk())));
    assert_eq!(st["keysets"].as_array().map(Vec::len), Some(2));
    assert_eq!(st["serverRunning"], true);
    // Not signed in: the selector is ignored (default keyset), so no 404 tells ids apart.
    let anon = get(a, "/api/status?keyset=no-such-keyset", &[]).await;
    assert_eq!(anon.status, 200, "{}", anon.body);
    assert!(anon.json().get("keysets").is_none());
    let r = get(a, "/ready", &[("Authorization", &auth())]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["keysets"]["a"], "ready");
    assert_eq!(r.json()["keysets"]["b"], "ready");
    let peers = get(a, "/api/peers?keyset=a", &[("Authorization", &auth())]).await;
    assert_eq!(peers.status, 200, "{}", peers.body);
    assert_eq!(peers.json()["total"], 2);

    // Restart (unattended): both nodes come back and sign.
    let mut p = p;
    let (code, _) = procs::sigterm_and_wait(&mut p.0);
    assert_eq!(code, 0);
    drop(p);
    let p = spawn(&data, &[]);
    let a = p.0.addr;
    wait_ready(a, &["a", "b"]).await;
    let m2 = [0x22; 32];
    assert_signed_by(&ga, &gb, &m2, &sign(a, &Sel::Query("a"), m2).await);
    assert_signed_by(&gb, &ga, &m2, &sign(a, &Sel::Query("b"), m2).await);

    // Deleting one leaves the other signing.
    let admin = [("Authorization", auth())];
    let admin: Vec<(&str, &str)> = admin.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let delete_a = || req(a, "DELETE", "/api/keysets/a", &admin, None);
    let r = delete_a().await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["removed"], true);
    let r = delete_a().await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert_unknown(a, &Sel::Query("a")).await;
    let m3 = [0x33; 32];
    assert_signed_by(&gb, &ga, &m3, &sign(a, &Sel::Header("b"), m3).await);
    nip44_round_trip(a, &Sel::Query("b"), &gb, "still here").await;
    let list = keysets(a).await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["id"], "b");
    let r = get(a, "/ready", &[]).await;
    assert_eq!(
        r.status, 200,
        "the deleted keyset no longer counts: {}",
        r.body
    );

    // The audit log names the keyset of each operation.
    let audit = get(a, "/api/admin/audit", &[("Authorization", &auth())]).await;
    assert!(audit.body.contains("keyset=b"), "{}", audit.body);
    assert!(audit.body.contains("keyset=a"), "{}", audit.body);
    ca.shutdown().await;
    cb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_and_second_keyset_share_the_embedded_relay() {
    let (gd, gb) = (Group::new("first"), Group::new("second"));
    let dir = tempfile::tempdir().expect("tmp");
    let p = spawn(&dir.path().join("data"), &[]);
    let a = p.0.addr;
    let relay = format!("ws://{a}");

    // The first keyset through the single-keyset route, as before: id `default`.
    let body = json!({ "share_cred": gd.profile(&relay), "share_password": SHARE_PW,
                       "mode": "unattended" });
    let r = post(
        a,
        "/api/keyset",
        &[("Authorization", &auth())],
        &body.to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    import(a, "second", "Second identity", &gb.profile(&relay)).await;
    // The co-signers reach the box's embedded relay: its allow-list covers both groups.
    let (cd, cb) = (gd.cosigner(&relay).await, gb.cosigner(&relay).await);
    wait_ready(a, &["default", "second"]).await;

    let m = [0x44; 32];
    assert_signed_by(&gd, &gb, &m, &sign(a, &Sel::Default, m).await);
    assert_signed_by(&gd, &gb, &m, &sign(a, &Sel::Query("default"), m).await);
    assert_signed_by(&gb, &gd, &m, &sign(a, &Sel::Query("second"), m).await);
    nip44_round_trip(a, &Sel::Default, &gd, "default keyset").await;
    nip44_round_trip(a, &Sel::Header("second"), &gb, "second keyset").await;

    // igloo-compatible status of the default keyset, plus the list.
    let st = get(a, "/api/status", &[("Authorization", &auth())])
        .await
        .json();
    assert_eq!(st["nodeActive"], true);
    assert_eq!(st["node"]["groupPubkey"], json!(hex::encode(gd.pk())));
    let ids: Vec<&str> = st["keysets"]
        .as_array()
        .map(|v| v.iter().filter_map(|k| k["id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(ids, ["default", "second"]);
    cd.shutdown().await;
    cb.shutdown().await;
}

fn log_of(p: &Served) -> String {
    p.0.log.lock().map(|g| g.clone()).unwrap_or_default()
}

async fn admin_req(a: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> Resp {
    let auth = auth();
    let body = body.map(Value::to_string);
    req(
        a,
        method,
        path,
        &[("Authorization", auth.as_str())],
        body.as_deref(),
    )
    .await
}

fn entry<'a>(list: &'a [Value], id: &str) -> Option<&'a Value> {
    list.iter().find(|k| k["id"] == json!(id))
}

/// Issue 4: legacy 1.0.x is an opt-in of one keyset. One box (no `FROSTR_LEGACY`) serves keyset
/// `a` (legacy, imported with `"legacy": true`) and keyset `b` (current generation) side by side;
/// a legacy import without the opt-in is refused with the risk explained and nothing stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_is_opted_into_per_keyset() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = spawn(&dir.path().join("data"), &[]);
    let a = p.0.addr;
    let relay = format!("ws://{a}");
    let legacy = api_support::groups::Legacy::generate();
    let (lgroup, lshares) = (&legacy.group, &legacy.shares);
    let legacy_body = |id: &str, opt_in: Option<bool>| {
        let mut b = json!({
            "id": id, "group_cred": lgroup.encode(), "share_cred": lshares[0].encode().as_str(),
            "mode": "unattended",
        });
        if let Some(o) = opt_in {
            b["legacy"] = json!(o);
        }
        b
    };

    // Without the opt-in: refused (both import routes), the way out named, nothing stored.
    for (path, body) in [
        ("/api/keysets", legacy_body("c", None)),
        ("/api/keysets", legacy_body("c", Some(false))),
        ("/api/keyset", {
            let mut b = legacy_body("x", None);
            b.as_object_mut().map(|o| o.remove("id"));
            b
        }),
    ] {
        let r = admin_req(a, "POST", path, Some(&body)).await;
        assert_eq!(r.status, 400, "{path}: {}", r.body);
        assert_eq!(r.json()["code"], "LEGACY_REFUSED", "{}", r.body);
        let e = r.json()["error"].as_str().unwrap_or_default().to_string();
        assert!(e.contains("static signing nonces"), "{e}");
        assert!(e.contains("frostbox migrate"), "{e}");
        assert!(e.contains("\"legacy\": true"), "{e}");
    }
    assert!(
        keysets(a).await.is_empty(),
        "a refused import stores nothing"
    );
    let v = admin_req(a, "GET", "/api/keyset", None).await;
    assert_eq!(v.json()["has_keyset"], false, "{}", v.body);

    // A legacy peer of group a on the box's relay; a current co-signer for b.
    let lpeer = legacy.cosigner(a).await;
    let r = admin_req(
        a,
        "POST",
        "/api/keysets",
        Some(&legacy_body("a", Some(true))),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["keyset"]["legacy"], true, "{}", r.body);
    let gb = Group::new("current");
    import(a, "b", "Current", &gb.profile(&relay)).await;
    let cb = gb.cosigner(&relay).await;
    let list = wait_ready(a, &["a", "b"]).await;

    let ka = entry(&list, "a").expect("a listed");
    assert_eq!(ka["generation"], "legacy");
    assert_eq!(ka["legacy"], true);
    assert!(
        ka["legacyWarning"]
            .as_str()
            .is_some_and(|w| w.contains("frostbox migrate")),
        "{ka}"
    );
    let kb = entry(&list, "b").expect("b listed");
    assert_eq!(kb["generation"], "next");
    assert_eq!(kb["legacy"], false);
    assert!(kb["legacyWarning"].is_null(), "{kb}");

    // Both sign, each under its own group key.
    let m = [0x6c; 32];
    let sig = sign(a, &Sel::Query("a"), m).await;
    assert!(keys::verify_bip340(&lgroup.npub(), &m, &sig));
    assert!(!keys::verify_bip340(&gb.pk(), &m, &sig));
    let sig = sign(a, &Sel::Header("b"), m).await;
    assert!(keys::verify_bip340(&gb.pk(), &m, &sig));

    // /api/status reports the selected keyset's legacy state, with the way out.
    let st = admin_req(a, "GET", "/api/status?keyset=a", None)
        .await
        .json();
    assert_eq!(st["legacy"]["active"], true, "{st}");
    assert_eq!(st["legacy"]["allowed"], true);
    assert_eq!(st["legacy"]["source"], "keyset");
    assert!(
        st["legacy"]["warning"]
            .as_str()
            .is_some_and(|w| w.contains("frostbox migrate")),
        "{st}"
    );
    assert_eq!(st["node"]["legacy"], true);
    let st = admin_req(a, "GET", "/api/status?keyset=b", None)
        .await
        .json();
    assert_eq!(st["legacy"]["active"], false, "{st}");
    assert_eq!(st["legacy"]["allowed"], false, "b did not opt in");
    assert!(st["legacy"]["source"].is_null());
    assert!(st["legacy"]["warning"].is_null());
    assert_eq!(st["node"]["legacy"], false);

    // The opt-in of a does not let b take legacy credentials.
    let mut to_b = legacy_body("b", None);
    to_b.as_object_mut().map(|o| o.remove("id"));
    let r = admin_req(a, "POST", "/api/keyset?keyset=b", Some(&to_b)).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["code"], "LEGACY_REFUSED");

    let log = log_of(&p);
    assert!(
        log.contains("keyset a runs legacy FROSTR 1.0.x (opted in at import)"),
        "the start warning names the keyset:\n{log}"
    );
    assert!(!log.contains("keyset b runs legacy"), "{log}");
    lpeer.shutdown().await;
    cb.shutdown().await;
}

/// Issue 5: peer policies belong to one keyset. A policy set on keyset `a` changes `a`'s node
/// only: keyset `b` keeps its policies (even for the same peer pubkey) and keeps signing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_policies_are_per_keyset() {
    let (ga, gb) = (Group::new("pol-a"), Group::new("pol-b"));
    let dir = tempfile::tempdir().expect("tmp");
    let p = spawn(&dir.path().join("data"), &[]);
    let a = p.0.addr;
    let relay = format!("ws://{a}");
    import(a, "a", "A", &ga.profile(&relay)).await;
    import(a, "b", "B", &gb.profile(&relay)).await;
    let (ca, cb) = (ga.cosigner(&relay).await, gb.cosigner(&relay).await);
    wait_ready(a, &["a", "b"]).await;
    let (a_peer, b_peer) = (hex::encode(ca.pubkey()), hex::encode(cb.pubkey()));

    // The same pubkey (b's co-signer) gets a deny-all policy on keyset a: b is untouched.
    let deny = json!({ "allowSend": false, "allowReceive": false });
    let path = |pk: &str, ks: &str| format!("/api/peers/{pk}/policy?keyset={ks}");
    let r = admin_req(a, "PUT", &path(&b_peer, "a"), Some(&deny)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["policy"]["source"], "stored");
    let r = admin_req(a, "GET", &path(&b_peer, "b"), None).await;
    assert_eq!(r.json()["policy"]["source"], "default", "{}", r.body);
    assert_eq!(r.json()["policy"]["effectiveSend"], true);
    let m = [0x71; 32];
    assert_signed_by(&gb, &ga, &m, &sign(a, &Sel::Query("b"), m).await);

    // a's own co-signer denied on a: a cannot sign, b still can.
    let r = admin_req(a, "PUT", &path(&a_peer, "a"), Some(&deny)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = call(
        a,
        "/api/sign",
        &Sel::Query("a"),
        &json!({ "message": hex::encode(m) }),
    )
    .await;
    assert_eq!(r.status, 503, "a has no allowed co-signer: {}", r.body);
    assert_signed_by(&gb, &ga, &m, &sign(a, &Sel::Header("b"), m).await);

    // The lists are per keyset; the default keyset has none.
    let list = |ks: &str| {
        let q = if ks.is_empty() {
            String::new()
        } else {
            format!("?keyset={ks}")
        };
        async move {
            let r = admin_req(a, "GET", &format!("/api/peers/policies{q}"), None).await;
            assert_eq!(r.status, 200, "{}", r.body);
            let mut pks: Vec<String> = r.json()["policies"]
                .as_array()
                .map(|v| {
                    v.iter()
                        .filter_map(|p| p["pubkey"].as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            pks.sort();
            pks
        }
    };
    let mut both = vec![a_peer.clone(), b_peer.clone()];
    both.sort();
    assert_eq!(list("a").await, both);
    assert!(list("b").await.is_empty());
    assert!(list("").await.is_empty());
    let peers = admin_req(a, "GET", "/api/peers?keyset=b", None)
        .await
        .json();
    assert!(
        peers["peers"]
            .as_array()
            .is_some_and(|v| v.iter().all(|p| p["policy"]["source"] == "default")),
        "{peers}"
    );

    // Deleting a's policy restores a; deleting it on b is a 404 (b never had one).
    let r = admin_req(a, "DELETE", &path(&b_peer, "b"), None).await;
    assert_eq!(r.status, 404, "{}", r.body);
    let r = admin_req(a, "DELETE", &path(&a_peer, "a"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut ok = false;
    for _ in 0..50 {
        let r = call(
            a,
            "/api/sign",
            &Sel::Query("a"),
            &json!({ "message": hex::encode(m) }),
        )
        .await;
        if r.status == 200 {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(ok, "a signs again once its policy is deleted");

    // Deleting keyset a drops its policies with it.
    let r = admin_req(a, "DELETE", "/api/keysets/a", None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = admin_req(a, "GET", &path(&b_peer, "b"), None).await;
    assert_eq!(r.json()["policy"]["source"], "default");
    ca.shutdown().await;
    cb.shutdown().await;
}

/// Issue 4/5: the administration routes take the selector (default `default`), `/api/lock`
/// without one locks every password-sealed keyset, `DELETE /api/keyset` stops the node, and the
/// public `/ready` and `/metrics` name keyset ids only to signed-in callers or `METRICS_TOKEN`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_routes_select_a_keyset_and_public_endpoints_hide_ids() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = spawn(
        &dir.path().join("data"),
        &[("METRICS_TOKEN", METRICS_TOKEN)],
    );
    let a = p.0.addr;
    let pw = "keysets-package-pw-22";
    let lock_pw = "keysets-lock-pw-9090";

    // Create under an id that does not exist yet; the default keyset stays empty.
    let create = json!({ "threshold": 2, "total": 2, "password": pw, "mode": "unattended" });
    let r = admin_req(a, "POST", "/api/keyset/create?keyset=fresh", Some(&create)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["keyset"], "fresh");
    let gpk = r.json()["group_pk"].as_str().expect("group_pk").to_string();
    let r = admin_req(a, "POST", "/api/keyset/create?keyset=fresh", Some(&create)).await;
    assert_eq!(r.status, 409, "an id is created once: {}", r.body);
    let r = admin_req(
        a,
        "POST",
        "/api/keyset/create?keyset=Bad%20Id",
        Some(&create),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(
        admin_req(a, "GET", "/api/keyset", None).await.json()["has_keyset"],
        false
    );
    let v = admin_req(a, "GET", "/api/keyset?keyset=fresh", None)
        .await
        .json();
    assert_eq!(v["has_keyset"], true, "{v}");
    assert_eq!(v["mode"], "unattended");

    // Backup of the selected keyset: its bfprofile opens with the backup password.
    let r = admin_req(
        a,
        "POST",
        "/api/keyset/backup?keyset=fresh",
        Some(&json!({ "password": "keysets-backup-pw-1" })),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let prof = BfProfile::decode(
        r.json()["bfprofile"].as_str().expect("bfprofile"),
        "keysets-backup-pw-1",
    )
    .expect("backup opens");
    assert_eq!(hex::encode(prof.group_package.group_pk), gpk);
    let r = admin_req(
        a,
        "POST",
        "/api/keyset/backup",
        Some(&json!({ "password": "keysets-backup-pw-1" })),
    )
    .await;
    assert_eq!(r.status, 404, "nothing under default: {}", r.body);

    // Public endpoints: aggregates for anyone, ids only for insiders.
    for _ in 0..100 {
        if keysets(a)
            .await
            .iter()
            .any(|k| k["id"] == "fresh" && k["state"] != "starting")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let list = keysets(a).await;
    let k = entry(&list, "fresh").expect("fresh listed");
    assert_eq!(k["groupPubkey"], json!(gpk), "{k}");
    let anon = get(a, "/ready", &[]).await;
    assert!(anon.json().get("keysets").is_none(), "{}", anon.body);
    assert!(!anon.body.contains("fresh"), "{}", anon.body);
    assert!(anon.json()["ready"].is_boolean());
    let wrong = get(a, "/ready", &[("Authorization", "Bearer not-the-token")]).await;
    assert!(!wrong.body.contains("fresh"), "{}", wrong.body);
    let bearer = format!("Bearer {METRICS_TOKEN}");
    for h in [bearer.as_str(), auth().as_str()] {
        let r = get(a, "/ready", &[("Authorization", h)]).await;
        assert_eq!(r.json()["keysets"]["fresh"], "running", "{}", r.body);
    }
    let m = get(a, "/metrics", &[]).await;
    assert_eq!(m.status, 200);
    assert!(
        !m.body.contains("fresh"),
        "anonymous metrics name no keyset:\n{}",
        m.body
    );
    assert!(m.body.contains("frostbox_keysets 1"), "{}", m.body);
    assert!(m.body.contains("frostbox_keysets_ready 0"), "{}", m.body);
    for h in [bearer.as_str(), auth().as_str()] {
        let m = get(a, "/metrics", &[("Authorization", h)]).await;
        assert!(
            m.body.contains("frostbox_keyset_ready{keyset=\"fresh\"} 0"),
            "{}",
            m.body
        );
    }
    let m = get(a, "/metrics", &[]).await;
    assert!(
        !m.body.contains("fresh"),
        "an insider's scrape leaks nothing later:\n{}",
        m.body
    );
    // The metrics token is not an API credential.
    let r = get(a, "/api/keysets", &[("Authorization", &bearer)]).await;
    assert_eq!(r.status, 401, "{}", r.body);

    // Mode → locked, lock (selected), unlock, lock (all).
    let r = admin_req(a, "POST", "/api/lock?keyset=fresh", None).await;
    assert_eq!(r.status, 409, "unattended cannot be locked: {}", r.body);
    let r = admin_req(
        a,
        "POST",
        "/api/keyset/mode?keyset=fresh",
        Some(&json!({ "mode": "locked", "password": lock_pw })),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["vault"]["mode"], "locked");
    assert_eq!(
        admin_req(a, "GET", "/api/keyset", None).await.json()["has_keyset"],
        false
    );
    let r = admin_req(a, "POST", "/api/lock?keyset=fresh", None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["locked"], json!(["fresh"]));
    assert_eq!(r.json()["vault"]["locked"], true);
    assert_eq!(
        entry(&keysets(a).await, "fresh").expect("listed")["state"],
        "locked"
    );
    let r = get(a, "/ready", &[("Authorization", &bearer)]).await;
    assert!(
        r.json()["keysets"].get("fresh").is_none(),
        "locked: no node: {}",
        r.body
    );
    let r = admin_req(
        a,
        "POST",
        "/api/keyset/unlock?keyset=fresh",
        Some(&json!({ "password": lock_pw })),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut running = false;
    for _ in 0..100 {
        if entry(&keysets(a).await, "fresh").is_some_and(|k| k["state"] == "running") {
            running = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(running, "unlocked keyset starts again");
    let r = admin_req(a, "POST", "/api/lock", None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json()["locked"],
        json!(["fresh"]),
        "no selector: every locked-mode keyset"
    );
    assert_eq!(
        entry(&keysets(a).await, "fresh").expect("listed")["state"],
        "locked"
    );

    // DELETE /api/keyset with the selector stops and deletes that keyset.
    let r = admin_req(a, "DELETE", "/api/keyset?keyset=fresh", None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["removed"], true);
    assert!(keysets(a).await.is_empty());
    let r = admin_req(a, "DELETE", "/api/keyset?keyset=fresh", None).await;
    assert_eq!(r.status, 404, "{}", r.body);

    // The default keyset through the old routes: DELETE /api/keyset stops its node for good.
    let r = admin_req(a, "POST", "/api/keyset/create", Some(&create)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["keyset"], "default");
    for _ in 0..100 {
        if log_of(&p).contains("signer started")
            && entry(&keysets(a).await, "default").is_some_and(|k| k["state"] == "running")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = admin_req(a, "DELETE", "/api/keyset", None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["removed"], true);
    let mut stopped = false;
    for _ in 0..50 {
        let log = log_of(&p);
        if log
            .lines()
            .any(|l| l.contains("signer stopped") && l.contains("keyset=default"))
        {
            stopped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        stopped,
        "the default node was stopped, not only detached:\n{}",
        log_of(&p)
    );
    assert!(keysets(a).await.is_empty());
}
