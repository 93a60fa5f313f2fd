//! The NIP-46 bunker inside a real `frostbox serve` process: a bfprofile of a 2-of-3 group
//! (FROSTR-NEXT vectors, share 1) is imported, a second node (share 2, in this test process)
//! co-signs over the embedded relay, and NIP-46 clients reach the bunker through the same
//! port. Checks: `/api/nip46/*` answers 409 JSON before a signer runs, 401 without auth; a
//! frostbox-generated `bunker://` URI connects and signs under the group key; a re-import
//! replaces the bunker (exactly one answer per request); a restart keeps the remote-signer
//! pubkey and the client session.
//!
//! `nostr_tools_against_serve` (ignored; ci/steps/45-interop-nip46.sh) runs the npm
//! `nostr-tools` BunkerSigner (tests/interop/nip46, lockfile) against the same setup.

use crate::api_support;

use api_support::nip46_client::Client;
use api_support::{Resp, get, post, req};
use frostbox::frost::MemoryNonceLedger;
use frostbox::frostr::next::group::GroupPackage;
use frostbox::frostr::node::{Node, NodeConfig, NodeHandle};
use frostbox::nip46::{BunkerUri, Event};
use frostbox::vault::secret::Secret32;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use vectors::*;

const ADMIN: &str = "nip46-serve-admin-secret-41c9";

mod vectors {
    pub fn shared_dir() -> std::path::PathBuf {
        std::env::var_os("FROSTBOX_SHARED")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared"))
            })
    }

    pub fn keyset() -> serde_json::Value {
        let p = shared_dir().join("protocol/vectors/bifrost-rs-keyset.json");
        let s = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        serde_json::from_str(&s).expect("keyset json")
    }
}

struct Proc {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<String>>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

fn spawn(data: &std::path::Path, port: u16) -> Proc {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_frostbox"));
    cmd.args(["serve", "--port", &port.to_string(), "--data"])
        .arg(data)
        .env("ADMIN_SECRET", ADMIN)
        .env("RELAYS", format!("ws://127.0.0.1:{port}"))
        .env("RATE_LIMIT_ENABLED", "false")
        .env_remove("API_KEY")
        .env_remove("FROSTBOX_DATA")
        .env_remove("SHARE_CRED")
        .env_remove("GROUP_CRED")
        .env_remove("JOURNAL_STREAM")
        .env("RUST_LOG", "info")
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
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("frostbox printed its address")
        .parse()
        .expect("addr");
    Proc { child, addr, log }
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

/// The signed event in a `sign_event` reply, its signature checked.
fn verified_event(v: &Value) -> Event {
    let ev = Event::from_json(
        v["result"]
            .as_str()
            .unwrap_or_else(|| panic!("signed: {v}")),
    )
    .expect("event");
    ev.verify().expect("threshold signature verifies");
    ev
}

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
    for _ in 0..100 {
        let r = api(addr, "GET", "/api/nip46/requests?status=pending", None).await;
        assert_eq!(r.status, 200, "{}", r.body);
        if let Some(id) = r.json()["requests"].as_array().and_then(|a| {
            a.iter()
                .find(|x| x["kind"] == kind)
                .and_then(|x| x["id"].as_str().map(str::to_string))
        }) {
            return id;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no pending request of kind {kind}");
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
    let js = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/nip46");
    assert!(
        std::path::Path::new(js)
            .join("node_modules/nostr-tools")
            .exists(),
        "run `npm ci` in {js} first"
    );
    let dir = tempfile::tempdir().expect("tmp");
    let port = free_port();
    let p = spawn(dir.path(), port);
    let relay = format!("ws://127.0.0.1:{port}");
    let co = second_node(port).await;
    import_profile(p.addr).await;
    let status = wait_ready(&p).await;
    let mut transport = [0u8; 32];
    hex::decode_to_slice(
        status["transport_pubkey"].as_str().expect("tpk"),
        &mut transport,
    )
    .expect("hex");
    let good = new_bunker_uri(
        p.addr,
        "sign_event,nip04_encrypt,nip04_decrypt,nip44_encrypt,nip44_decrypt",
    )
    .await;
    let bad = BunkerUri {
        signer_pubkey: transport,
        relays: vec![relay.clone()],
        secret: Some("00".repeat(32)),
    }
    .to_uri();
    // Kind-1 signing only: anything else waits for the operator (auth_url flow).
    let limited = new_bunker_uri(p.addr, "sign_event:1").await;
    let limited2 = new_bunker_uri(p.addr, "sign_event:1").await;

    let mut child = Command::new("node")
        .arg("test.mjs")
        .current_dir(js)
        .env("BUNKER_URI", &good)
        .env("BAD_URI", &bad)
        .env("RELAY_URL", &relay)
        .env("GROUP_PK", hex::encode(group_pk()))
        .env("LIMITED_URI", &limited)
        .env("LIMITED_URI_2", &limited2)
        .stdout(Stdio::piped())
        .spawn()
        .expect("node");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut ok = false;
    let mut results = Vec::new();
    let mut auth_urls = 0;
    let run = async {
        while let Some(line) = rx.recv().await {
            println!("node: {line}");
            if let Some(uri) = line.strip_prefix("NOSTRCONNECT ") {
                // the operator pastes the app's nostrconnect:// URI into the API
                let r = api(
                    p.addr,
                    "POST",
                    "/api/nip46/connect",
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
                let pending = pending_id(p.addr, 30023).await;
                assert_eq!(rid, pending, "the URL names the pending request");
                let r = api(p.addr, "GET", &format!("/api/nip46/sessions/{app}"), None).await;
                assert_eq!(r.status, 200, "the URL names a connected app: {}", r.body);
                auth_urls += 1;
                approve(p.addr, rid).await;
            } else if let Some(kind) = line.strip_prefix("APPROVE_KIND ") {
                let rid = pending_id(p.addr, kind.parse().expect("kind")).await;
                approve(p.addr, &rid).await;
            } else if let Some(r) = line.strip_prefix("RESULT ") {
                results.push(r.to_string());
            } else if line == "OK" {
                ok = true;
            }
        }
    };
    let finished = tokio::time::timeout(Duration::from_secs(180), run).await;
    if finished.is_err() {
        let _ = child.kill();
    }
    let status = child.wait().expect("wait");
    assert!(
        finished.is_ok(),
        "node test timed out; log:\n{}",
        p.log.lock().map(|l| l.clone()).unwrap_or_default()
    );
    assert!(status.success() && ok, "node test failed ({status})");
    assert_eq!(results.len(), 3, "all three flows ran: {results:?}");
    assert_eq!(auth_urls, 1, "onauth received one auth_url");

    let audit = api(p.addr, "GET", "/api/nip46/audit?limit=2000", None)
        .await
        .json();
    let entries = audit["entries"].as_array().cloned().unwrap_or_default();
    for m in [
        "connect",
        "sign_event",
        "nip44_encrypt",
        "nip44_decrypt",
        "nip04_encrypt",
        "nip04_decrypt",
        "ping",
        "get_public_key",
        "get_relays",
        "switch_relays",
        "logout",
    ] {
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
    co.shutdown().await;
}
