//! The NIP-46 bunker inside a real `frostbox serve` process: a bfprofile of a 2-of-3 group
//! (FROSTR-NEXT vectors, share 1) is imported, a second node (share 2, in this test process)
//! co-signs over the embedded relay, and NIP-46 clients reach the bunker through the same
//! port. Checks: `/api/nip46/*` answers 409 JSON before a signer runs, 401 without auth; a
//! frostbox-generated `bunker://` URI connects and signs under the group key; a re-import
//! replaces the bunker (exactly one answer per request); a restart keeps the remote-signer
//! pubkey and the client session.
//!
//! `nostr_tools_against_serve` (ignored; ci/steps/45-interop-nip46.sh) runs the npm
//! `nostr-tools` BunkerSigner (tests/interop/nip46, lockfile) against the same setup, and
//! `nostr_tools_against_a_legacy_keysets_bunker` the same flows against the bunker of a legacy
//! (FROSTR 1.0.x, opted-in) keyset.

use crate::api_support;

use api_support::nip46_client::{self, Client};
use api_support::procs::{self, Proc, free_port};
use api_support::{Resp, get, groups, npm, post, req};
use frostbox::frost::MemoryNonceLedger;
use frostbox::frostr::next::group::GroupPackage;
use frostbox::frostr::node::{Node, NodeConfig, NodeHandle};
use frostbox::nip46::{BunkerUri, Event};
use frostbox::vault::secret::Secret32;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

const ADMIN: &str = "nip46-serve-admin-secret-41c9";

fn keyset() -> Value {
    api_support::shared::vector_json("bifrost-rs-keyset.json")
}

/// `frostbox serve` on `port` (kept across a restart), its own relay its only one.
fn spawn(data: &std::path::Path, port: u16) -> Proc {
    let relays = format!("ws://127.0.0.1:{port}");
    procs::spawn_cmd(
        &[env!("CARGO_BIN_EXE_frostbox").to_string()],
        port,
        data,
        &[
            ("ADMIN_SECRET", ADMIN),
            ("RELAYS", &relays),
            ("RATE_LIMIT_ENABLED", "false"),
            ("RUST_LOG", "info"),
        ],
    )
}

fn auth() -> String {
    format!("Bearer {ADMIN}")
}

async fn api(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> Resp {
    let a = auth();
    req(addr, method, path, &[("Authorization", a.as_str())], body).await
}

/// The co-signer: share 2 of the vector group on the box's embedded relay.
async fn second_node(port: u16) -> NodeHandle {
    let ks = keyset();
    let group: GroupPackage =
        serde_json::from_value(ks["keyset"]["group_package_json"].clone()).expect("group");
    let share = &ks["keyset"]["shares"][1];
    assert_eq!(share["idx"], 2);
    let mut sk = [0u8; 32];
    hex::decode_to_slice(share["seckey"].as_str().expect("seckey"), &mut sk).expect("hex");
    let mut cfg = NodeConfig::new(
        group,
        Secret32::new(sk),
        vec![format!("ws://127.0.0.1:{port}")],
        Arc::new(MemoryNonceLedger::new()),
    );
    cfg.label = "co-signer".into();
    Node::start(cfg).await.expect("second node")
}

fn group_pk() -> [u8; 32] {
    let mut g = [0u8; 32];
    hex::decode_to_slice(
        keyset()["keyset"]["group_package_json"]["group_pk"]
            .as_str()
            .expect("group_pk"),
        &mut g,
    )
    .expect("hex");
    g
}

async fn import_profile(addr: SocketAddr) {
    let ks = keyset();
    let body = json!({
        "share_cred": ks["credentials"]["bfprofile"]["string"],
        "share_password": ks["credentials"]["password"],
        "mode": "unattended",
    })
    .to_string();
    let r = api(addr, "POST", "/api/keyset", Some(&body)).await;
    assert_eq!(r.status, 200, "import: {}", r.body);
}

/// Waits until the bunker answers and the node reaches its threshold.
async fn wait_ready(p: &Proc) -> Value {
    for _ in 0..600 {
        let s = api(p.addr, "GET", "/api/nip46/status", None).await;
        let peers = api(p.addr, "GET", "/api/peers", None).await;
        if s.status == 200 && peers.status == 200 && peers.json()["thresholdReachable"] == true {
            return s.json();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "bunker/node not ready; log:\n{}",
        p.log.lock().map(|l| l.clone()).unwrap_or_default()
    );
}

async fn sign_check(c: &mut Client, id: &str) -> Event {
    let tpl = json!({"kind": 1, "content": format!("threshold-signed {id}"), "tags": [], "created_at": frostbox::store::now()}).to_string();
    let v = c.call(id, "sign_event", json!([tpl])).await;
    let ev = verified_event(&v);
    assert_eq!(ev.pubkey, group_pk(), "signed under the group key");
    ev
}

use nip46_client::verified_event;

/// Approves pending request `rid` once through the API.
async fn approve(addr: SocketAddr, rid: &str) {
    let r = api(
        addr,
        "POST",
        &format!("/api/nip46/requests/{rid}/approve"),
        Some("{}"),
    )
    .await;
    assert_eq!(r.status, 200, "approve {rid}: {}", r.body);
}

/// The id of the pending `sign_event` request of `kind` (waits until it is listed).
async fn pending_id(addr: SocketAddr, kind: u16) -> String {
    nip46_client::pending_id(addr, &auth(), None, kind).await
}

async fn new_bunker_uri(addr: SocketAddr, perms: &str) -> String {
    let r = api(
        addr,
        "POST",
        "/api/nip46/bunker",
        Some(&json!({"label": "test", "perms": perms}).to_string()),
    )
    .await;
    assert_eq!(r.status, 200, "bunker uri: {}", r.body);
    r.json()["uri"].as_str().expect("uri").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_runs_the_bunker_on_the_node() {
    let dir = tempfile::tempdir().expect("tmp");
    let port = free_port();
    let mut p = spawn(dir.path(), port);
    let relay = format!("ws://127.0.0.1:{port}");

    // No signer yet: JSON 409 (not 404/500); auth before anything.
    let r = api(p.addr, "GET", "/api/nip46/status", None).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.json()["code"], "NODE_UNAVAILABLE");
    assert!(r.json()["error"].as_str().is_some_and(|e| !e.is_empty()));
    let r = get(p.addr, "/api/nip46/status", &[]).await;
    assert_eq!(r.status, 401, "{}", r.body);
    let r = post(p.addr, "/api/nip46/bunker", &[], "{}").await;
    assert_eq!(r.status, 401, "{}", r.body);
    let r = api(p.addr, "GET", "/api/nip46/nope", None).await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(r.json()["error"].is_string());

    let co = second_node(port).await;
    import_profile(p.addr).await;
    let status = wait_ready(&p).await;
    assert_eq!(status["identity_pubkey"], hex::encode(group_pk()));
    assert!(
        status["relays"]
            .as_array()
            .is_some_and(|r| r.iter().any(|x| x == relay.as_str())),
        "{status}"
    );
    let transport_hex = status["transport_pubkey"]
        .as_str()
        .expect("tpk")
        .to_string();

    // bunker:// from the API → connect → sign under the group key (threshold with the co-signer)
    let uri = BunkerUri::parse(&new_bunker_uri(p.addr, "sign_event:1,nip44_encrypt").await)
        .expect("parse");
    assert_eq!(hex::encode(uri.signer_pubkey), transport_hex);
    assert!(uri.relays.contains(&relay), "{:?}", uri.relays);
    let csk = Secret32::random();
    let mut c = Client::new(&relay, uri.signer_pubkey, csk.duplicate()).await;
    let v = c.connect("1", &uri).await;
    assert_eq!(v["result"], "ack", "{v}");
    assert_eq!(
        c.call("2", "get_public_key", json!([])).await["result"],
        hex::encode(group_pk())
    );
    sign_check(&mut c, "3").await;
    // In-policy requests are answered without an auth challenge.
    for id in ["1", "2", "3"] {
        assert!(c.auth_urls_for(id).is_empty(), "{:?}", c.auth_urls);
    }
    // Outside the grant (kind 4): queued for the operator; the client first gets one NIP-46
    // auth challenge naming the web UI page of that request on the address the operator used
    // to create the bunker:// URI; the operator denies it → NIP-46 error, nothing signed.
    let tpl = json!({"kind": 4, "content": "x", "tags": []}).to_string();
    c.send("4", "sign_event", json!([tpl])).await;
    let url = c
        .wait_auth_url("4", Duration::from_secs(10))
        .await
        .expect("an auth_url for the pending request");
    let rid = pending_id(p.addr, 4).await;
    assert_eq!(
        url,
        format!("http://{}/#/apps/{}/{rid}", p.addr, hex::encode(c.pk)),
        "the box's host, the app, the request"
    );
    let r = api(
        p.addr,
        "POST",
        &format!("/api/nip46/requests/{rid}/deny"),
        Some("{}"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let (v, n) = c
        .recv_counted("4", "sign_event", Duration::from_millis(300))
        .await;
    assert!(v["result"].is_null() || v["result"] == "", "{v}");
    assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
    assert_eq!(n, 1, "one answer");
    assert_eq!(
        c.auth_urls_for("4").len(),
        1,
        "one challenge: {:?}",
        c.auth_urls
    );
    // Outside the grant (kind 7), approved through the API: the challenge, then the
    // threshold signature under the same request id.
    let tpl = json!({"kind": 7, "content": "+", "tags": [], "created_at": frostbox::store::now()})
        .to_string();
    c.send("4b", "sign_event", json!([tpl])).await;
    let url = c
        .wait_auth_url("4b", Duration::from_secs(10))
        .await
        .expect("an auth_url for the pending request");
    let rid = pending_id(p.addr, 7).await;
    assert!(
        url.ends_with(&format!("/#/apps/{}/{rid}", hex::encode(c.pk))),
        "{url}"
    );
    approve(p.addr, &rid).await;
    let (v, _) = c.recv_counted("4b", "sign_event", Duration::ZERO).await;
    let ev = verified_event(&v);
    assert_eq!((ev.kind, ev.pubkey), (7, group_pk()));
    assert_eq!(c.auth_urls_for("4b").len(), 1, "{:?}", c.auth_urls);
    let sessions = api(p.addr, "GET", "/api/nip46/sessions", None).await.json();
    assert!(
        sessions["sessions"]
            .as_array()
            .is_some_and(|s| s.iter().any(|x| x["pubkey"] == hex::encode(c.pk))),
        "{sessions}"
    );

    // Negative cases: malformed request, unknown method, revoked client.
    c.send_plain("this is not JSON").await;
    let v = c.call("m1", "no_such_method", json!([])).await;
    assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
    // (An expired token is covered in tests/nip46_core.rs: the minimum TTL is 60 s.)
    let other = BunkerUri::parse(&new_bunker_uri(p.addr, "sign_event:1").await).expect("parse");
    let mut gone = Client::new(&relay, other.signer_pubkey, Secret32::random()).await;
    let v = gone.connect("r1", &other).await;
    assert_eq!(v["result"], "ack", "{v}");
    let r = api(
        p.addr,
        "DELETE",
        &format!("/api/nip46/sessions/{}", hex::encode(gone.pk)),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = gone
        .call(
            "r2",
            "sign_event",
            json!([json!({"kind": 1, "content": "revoked", "tags": []}).to_string()]),
        )
        .await;
    assert!(
        v["result"].is_null() || v["result"] == "",
        "a revoked client signed: {v}"
    );
    assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
    let audit = api(p.addr, "GET", "/api/nip46/audit?limit=1000", None)
        .await
        .json();
    let entries = audit["entries"].as_array().cloned().unwrap_or_default();
    let has = |client: &[u8; 32], what: &dyn Fn(&Value) -> bool| {
        entries
            .iter()
            .any(|e| e["client"] == hex::encode(client) && what(e))
    };
    assert!(
        has(&c.pk, &|e| e["detail"]
            .as_str()
            .is_some_and(|d| d.contains("not JSON"))),
        "{audit}"
    );
    assert!(
        has(&c.pk, &|e| e["method"] == "no_such_method"
            && e["outcome"] != "ok"),
        "{audit}"
    );
    assert!(
        has(&c.pk, &|e| e["kind"] == 4 && e["outcome"] != "ok"),
        "{audit}"
    );
    assert!(
        has(&gone.pk, &|e| e["method"] == "sign_event"
            && e["outcome"] != "ok"),
        "{audit}"
    );

    // Re-import: the bunker is replaced (same identity → same transport key), one answer only.
    import_profile(p.addr).await;
    let started = || {
        p.log
            .lock()
            .map(|l| l.matches("nip46: bunker started").count())
            .unwrap_or(0)
    };
    for _ in 0..600 {
        if started() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(started(), 2, "the re-import started a new bunker");
    let status2 = wait_ready(&p).await;
    assert_eq!(status2["transport_pubkey"], transport_hex.as_str());
    let (v, n) = c
        .call_counted("5", "get_public_key", json!([]), Duration::from_secs(1))
        .await;
    assert_eq!(v["result"], hex::encode(group_pk()));
    assert_eq!(n, 1, "exactly one bunker answers");
    sign_check(&mut c, "6").await;

    // Restart: same remote-signer pubkey, the client's session survives.
    let _ = Command::new("kill")
        .args(["-TERM", &p.child.id().to_string()])
        .status();
    let _ = p.child.wait();
    co.shutdown().await;
    drop(c);
    let p2 = spawn(dir.path(), port);
    let co2 = second_node(port).await;
    let status3 = wait_ready(&p2).await;
    assert_eq!(status3["transport_pubkey"], transport_hex.as_str());
    let mut c2 = Client::new(&relay, uri.signer_pubkey, csk).await;
    sign_check(&mut c2, "7").await;

    // Everything was audited.
    let audit = api(p2.addr, "GET", "/api/nip46/audit?limit=500", None)
        .await
        .json();
    let entries = audit["entries"].as_array().cloned().unwrap_or_default();
    assert!(
        entries
            .iter()
            .any(|e| e["method"] == "sign_event" && e["outcome"] == "ok"),
        "{audit}"
    );
    co2.shutdown().await;
    p = p2;
    drop(p);
}

/// nostr-tools (npm, tests/interop/nip46 with its lockfile) against `frostbox serve`: a
/// frostbox-generated `bunker://` URI and a `nostrconnect://` URI paired through
/// `POST /api/nip46/connect`, every method; signatures verify under the group npub, NIP-44 and
/// NIP-04 results match nostr-tools' own computation (see test.mjs); wrong and reused
/// secrets are refused and audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs node + npm ci in tests/interop/nip46 (ci/steps/45-interop-nip46.sh)"]
async fn nostr_tools_against_serve() {
    npm::interop_dir("nip46", "nostr-tools"); // `npm ci` ran: checked before any set-up
    let dir = tempfile::tempdir().expect("tmp");
    let port = free_port();
    let p = spawn(dir.path(), port);
    let relay = format!("ws://127.0.0.1:{port}");
    let co = second_node(port).await;
    import_profile(p.addr).await;
    wait_ready(&p).await;
    nostr_tools_flows(&p, None, &relay, group_pk(), "current").await;
    co.shutdown().await;
}

/// The same nostr-tools flows against the bunker of a LEGACY (FROSTR 1.0.x) keyset, imported
/// with the per-keyset opt-in next to nothing else, its co-signer a legacy node on the box's
/// embedded relay (the legacy keyset's only relay): `get_public_key` is the legacy group key,
/// `sign_event` verifies under it (nostr-tools' verifyEvent), NIP-44/NIP-04 come from legacy
/// threshold ECDH and match nostr-tools' computation with that key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs node + npm ci in tests/interop/nip46 (ci/steps/45-interop-nip46.sh)"]
async fn nostr_tools_against_a_legacy_keysets_bunker() {
    npm::interop_dir("nip46", "nostr-tools"); // `npm ci` ran: checked before any set-up
    let dir = tempfile::tempdir().expect("tmp");
    let p = groups::Served(procs::spawn(
        dir.path(),
        &[
            ("ADMIN_SECRET", ADMIN),
            ("RATE_LIMIT_ENABLED", "false"),
            ("RUST_LOG", "info"),
        ],
    ));
    let a = p.0.addr;
    let legacy = groups::Legacy::generate();
    legacy.import(a, &auth(), "l").await;
    let peer = legacy.cosigner(a).await;
    let st = groups::wait_bunkers(a, &auth(), &["l"]).await;
    assert_eq!(st[0]["identity_pubkey"], hex::encode(legacy.pk()), "{st:?}");
    assert_eq!(st[0]["legacy"], true, "{st:?}");
    nostr_tools_flows(&p.0, Some("l"), &format!("ws://{a}"), legacy.pk(), "legacy").await;
    peer.shutdown().await;
}

/// Runs tests/interop/nip46/test.mjs against the bunker of keyset `keyset` (else the default
/// one) of the box `p`, whose bunker talks on `relay` and signs as `group`: bunker:// (every
/// method, the secret single-use), a wrong secret, nostrconnect:// paired through the API,
/// and the auth_url flow (with and without `onauth`); then checks the bunker's audit log.
/// `kind` ("current", "legacy") names the keyset in the script's output.
async fn nostr_tools_flows(
    p: &Proc,
    keyset: Option<&str>,
    relay: &str,
    group: [u8; 32],
    kind: &str,
) {
    let q = keyset.map(|k| format!("?keyset={k}")).unwrap_or_default();
    let and_q = keyset.map(|k| format!("&keyset={k}")).unwrap_or_default();
    let status = api(p.addr, "GET", &format!("/api/nip46/status{q}"), None)
        .await
        .json();
    let mut transport = [0u8; 32];
    hex::decode_to_slice(
        status["transport_pubkey"].as_str().expect("tpk"),
        &mut transport,
    )
    .expect("hex");
    let bunker_uri = async |perms: &str| {
        let r = api(
            p.addr,
            "POST",
            &format!("/api/nip46/bunker{q}"),
            Some(&json!({"label": "test", "perms": perms}).to_string()),
        )
        .await;
        assert_eq!(r.status, 200, "bunker uri: {}", r.body);
        let uri = r.json()["uri"].as_str().expect("uri").to_string();
        let parsed = BunkerUri::parse(&uri).expect("parse");
        assert_eq!(parsed.signer_pubkey, transport);
        assert!(parsed.relays.iter().any(|r| r == relay), "{uri}");
        uri
    };
    let good =
        bunker_uri("sign_event,nip04_encrypt,nip04_decrypt,nip44_encrypt,nip44_decrypt").await;
    let bad = BunkerUri {
        signer_pubkey: transport,
        relays: vec![relay.to_string()],
        secret: Some("00".repeat(32)),
    }
    .to_uri();
    // Kind-1 signing only: anything else waits for the operator (auth_url flow).
    let limited = bunker_uri("sign_event:1").await;
    let limited2 = bunker_uri("sign_event:1").await;
    let pending = async |kind: u16| nip46_client::pending_id(p.addr, &auth(), keyset, kind).await;
    let approve = async |rid: &str| {
        let path = format!("/api/nip46/requests/{rid}/approve{q}");
        let r = api(p.addr, "POST", &path, Some("{}")).await;
        assert_eq!(r.status, 200, "approve {rid}: {}", r.body);
    };

    let mut node = npm::bunker_script(
        &good,
        &bad,
        relay,
        &group,
        &[
            ("LIMITED_URI", &limited),
            ("LIMITED_URI_2", &limited2),
            ("KEYSET_KIND", kind),
        ],
        Duration::from_secs(180),
    );
    let mut auth_urls = 0;
    while let Some(line) = node.line().await {
        if let Some(uri) = line.strip_prefix("NOSTRCONNECT ") {
            // the operator pastes the app's nostrconnect:// URI into the API
            let r = api(
                p.addr,
                "POST",
                &format!("/api/nip46/connect{q}"),
                Some(&json!({ "uri": uri }).to_string()),
            )
            .await;
            assert_eq!(r.status, 200, "connect: {}", r.body);
        } else if let Some(url) = line.strip_prefix("AUTH_URL ") {
            // The page the app opened names this box as the operator reached it (the
            // Host of the request that created the link) and the pending request.
            let prefix = format!("http://{}/#/apps/", p.addr);
            let rest = url
                .strip_prefix(&prefix)
                .unwrap_or_else(|| panic!("{url} does not start with {prefix}"));
            let (app, rid) = rest.split_once('/').expect("/#/apps/<app>/<request>");
            // A non-default keyset's page names the keyset: `…/<request>?keyset=<id>`.
            let (rid, sel) = rid.split_once('?').unwrap_or((rid, ""));
            assert_eq!(sel, q.trim_start_matches('?'), "the URL names the keyset");
            assert_eq!(
                rid,
                pending(30023).await,
                "the URL names the pending request"
            );
            let r = api(
                p.addr,
                "GET",
                &format!("/api/nip46/sessions/{app}{q}"),
                None,
            )
            .await;
            assert_eq!(r.status, 200, "the URL names a connected app: {}", r.body);
            auth_urls += 1;
            approve(rid).await;
        } else if let Some(kind) = line.strip_prefix("APPROVE_KIND ") {
            let rid = pending(kind.parse().expect("kind")).await;
            approve(&rid).await;
        }
    }
    node.finish(|| format!("; log:\n{}", p.log_text())).await;
    let results = &node.results;
    assert_eq!(results.len(), 3, "all three flows ran: {results:?}");
    assert_eq!(auth_urls, 1, "onauth received one auth_url");

    let audit = api(
        p.addr,
        "GET",
        &format!("/api/nip46/audit?limit=2000{and_q}"),
        None,
    )
    .await
    .json();
    let entries = audit["entries"].as_array().cloned().unwrap_or_default();
    for m in nip46_client::INTEROP_METHODS {
        assert!(
            entries
                .iter()
                .any(|e| e["method"] == m && e["outcome"] == "ok"),
            "audited ok {m}: {audit}"
        );
    }
    for why in ["already used", "invalid connection secret"] {
        assert!(
            entries.iter().any(|e| e["outcome"] == "denied"
                && e["detail"].as_str().is_some_and(|d| d.contains(why))),
            "audited denial ({why}): {audit}"
        );
    }
}
