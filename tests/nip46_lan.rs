//! NIP-46 in a real `frostbox serve` on the LAN (issue 7):
//! * `bunker://` URIs name the embedded relay the way the operator reached the box (the `Host`
//!   of the request, `wss://` behind a trusted TLS proxy, else `frostbox.local:<port>`), not its
//!   loopback address; configured `RELAYS` win.
//! * SIGTERM stops the bunker and the node before exiting (exit 0 within 5 s), and the client
//!   session is still there, and still answered, after a restart.

use crate::api_support;

use api_support::nip46_client::Client;
use api_support::procs::{Proc, bearer, sigterm_and_wait, spawn};
use api_support::{Resp, get, post, raw};
use frostbox::frost;
use frostbox::frostr::next::credential::BfProfile;
use frostbox::frostr::next::group::GroupPackage;
use frostbox::nip46::BunkerUri;
use frostbox::nostr::keys;
use frostbox::vault::secret::Secret32;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const ADMIN: &str = api_support::procs::CLUSTER_ADMIN;
const PW: &str = "nip46-lan-profile-pw";

fn serve(data: &std::path::Path, extra: &[(&str, &str)]) -> Proc {
    let mut env = vec![("ADMIN_SECRET", ADMIN), ("RATE_LIMIT_ENABLED", "false")];
    env.extend_from_slice(extra);
    spawn(data, &env)
}

fn log_of(p: &Proc) -> String {
    p.log.lock().map(|l| l.clone()).unwrap_or_default()
}

/// Imports share 1 of a fresh 2-of-3 group (a bfprofile naming `relay`), unattended, and waits
/// for the bunker; returns the group pubkey and the bunker status.
async fn import(p: &Proc, relay: &str) -> ([u8; 32], Value) {
    let ks = frost::keygen(2, 3).expect("keygen");
    let group = GroupPackage::from_keys("lan", &ks.group);
    let cred = BfProfile::new(
        "dev1",
        ks.shares[0].secret.duplicate(),
        vec![relay.to_string()],
        vec![],
        group.clone(),
    )
    .expect("profile")
    .encode(PW)
    .expect("encode");
    let h = bearer();
    let r = post(
        p.addr,
        "/api/keyset",
        &[("Authorization", &h)],
        &json!({ "share_cred": cred, "share_password": PW, "mode": "unattended" }).to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "import: {}", r.body);
    (group.group_pk, wait_bunker(p).await)
}

async fn wait_bunker(p: &Proc) -> Value {
    let h = bearer();
    let t0 = Instant::now();
    loop {
        let r = get(p.addr, "/api/nip46/status", &[("Authorization", &h)]).await;
        if r.status == 200 {
            return r.json();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "bunker not started ({} {}); log:\n{}",
            r.status,
            r.body,
            log_of(p)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `POST /api/nip46/bunker` with exactly the given header lines (`Host` included or not).
async fn bunker_uri_with(addr: SocketAddr, version: &str, headers: &[&str]) -> (Resp, BunkerUri) {
    let body = json!({ "label": "lan", "perms": "sign_event:1" }).to_string();
    let mut r = format!(
        "POST /api/nip46/bunker {version}\r\nConnection: close\r\nAuthorization: Bearer {ADMIN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for h in headers {
        r.push_str(h);
        r.push_str("\r\n");
    }
    r.push_str("\r\n");
    r.push_str(&body);
    let resp = raw(addr, r.as_bytes()).await;
    assert_eq!(resp.status, 200, "{headers:?}: {}", resp.body);
    let uri = BunkerUri::parse(resp.json()["uri"].as_str().expect("uri")).expect("parse");
    (resp, uri)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bunker_uri_names_the_address_the_operator_used() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = serve(dir.path(), &[]);
    let port = p.addr.port();
    let local = format!("ws://127.0.0.1:{port}");
    let (_, status) = import(&p, &local).await;
    // The bunker itself listens on the embedded relay through loopback …
    assert_eq!(status["relays"], json!([local]), "{status}");

    // … but the URI a phone scans names it as the operator's browser reached the box.
    let (resp, uri) = bunker_uri_with(p.addr, "HTTP/1.1", &["Host: 192.168.1.20:8002"]).await;
    assert_eq!(uri.relays, vec!["ws://192.168.1.20:8002".to_string()]);
    assert_eq!(
        resp.json()["token"]["relays"],
        json!(["ws://192.168.1.20:8002"]),
        "the token lists what the URI names"
    );
    assert!(uri.secret.is_some_and(|s| s.len() == 64));
    let (_, uri) = bunker_uri_with(p.addr, "HTTP/1.1", &["Host: Frostbox.LAN"]).await;
    assert_eq!(uri.relays, vec!["ws://frostbox.lan".to_string()]);
    // Proxy headers count only with TRUST_PROXY (not set here).
    let (_, uri) = bunker_uri_with(
        p.addr,
        "HTTP/1.1",
        &[
            "Host: 192.168.1.20:8002",
            "X-Forwarded-Host: evil.example",
            "X-Forwarded-Proto: https",
        ],
    )
    .await;
    assert_eq!(uri.relays, vec!["ws://192.168.1.20:8002".to_string()]);
    // No Host (HTTP/1.0): the box's mDNS name with the port it listens on.
    let (_, uri) = bunker_uri_with(p.addr, "HTTP/1.0", &[]).await;
    assert_eq!(uri.relays, vec![format!("ws://frostbox.local:{port}")]);

    // The named relay is the embedded one: a client that reaches the box as `localhost`
    // connects through the URI's relay and gets the group key's bunker.
    let (_, uri) = bunker_uri_with(
        p.addr,
        "HTTP/1.1",
        &[format!("Host: localhost:{port}").as_str()],
    )
    .await;
    assert_eq!(uri.relays, vec![format!("ws://localhost:{port}")]);
    let mut c = Client::new(&uri.relays[0], uri.signer_pubkey, Secret32::random()).await;
    let v = c.connect("1", &uri).await;
    assert_eq!(v["result"], "ack", "{v}");
    // get_relays / switch_relays name the relay this client was given, never the loopback
    // address the bunker itself listens on (a phone told to switch there would be cut off).
    let v = c.call("2", "get_relays", json!([])).await;
    let listed: Value = serde_json::from_str(v["result"].as_str().expect("result")).expect("json");
    assert!(
        listed.get(format!("ws://localhost:{port}")).is_some(),
        "{v}"
    );
    assert!(!v["result"].to_string().contains("127.0.0.1"), "{v}");
    let v = c.call("3", "switch_relays", json!([])).await;
    assert_eq!(
        v["result"],
        json!([format!("ws://localhost:{port}")]).to_string(),
        "{v}"
    );
    // A request outside the grant: the NIP-46 auth challenge names the web UI the way this
    // client's URI was made (Host `localhost:<port>`), once; the operator's denial follows.
    let tpl = json!({"kind": 4, "content": "x", "tags": []}).to_string();
    c.send("4", "sign_event", json!([tpl])).await;
    let url = c
        .wait_auth_url("4", Duration::from_secs(10))
        .await
        .expect("auth_url");
    let h = bearer();
    let pending = get(
        p.addr,
        "/api/nip46/requests?status=pending",
        &[("Authorization", &h)],
    )
    .await
    .json();
    let rid = pending["requests"][0]["id"]
        .as_str()
        .expect("pending")
        .to_string();
    assert_eq!(
        url,
        format!("http://localhost:{port}/#/apps/{}/{rid}", hex::encode(c.pk))
    );
    let r = post(
        p.addr,
        &format!("/api/nip46/requests/{rid}/deny"),
        &[("Authorization", &h)],
        "{}",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = c.recv_counted("4", "sign_event", Duration::ZERO).await.0;
    assert_eq!(v["error"], "request denied by the operator", "{v}");
    assert_eq!(c.auth_urls_for("4"), vec![url]);
    drop(c);

    // Configured RELAYS win: a second box on the first one's relay ignores the Host.
    let dir2 = tempfile::tempdir().expect("tmp");
    let p2 = serve(dir2.path(), &[("RELAYS", &local)]);
    import(&p2, &local).await;
    let (_, uri) = bunker_uri_with(p2.addr, "HTTP/1.1", &["Host: 192.168.1.21:8002"]).await;
    assert!(uri.relays.contains(&local), "{:?}", uri.relays);
    assert!(
        !uri.relays.iter().any(|r| r.contains("192.168.1.21")),
        "{:?}",
        uri.relays
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_bunker_and_node_and_keeps_the_session() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut p = serve(dir.path(), &[]);
    let local = format!("ws://{}", p.addr);
    let (group_pk, status) = import(&p, &local).await;
    let transport = status["transport_pubkey"]
        .as_str()
        .expect("tpk")
        .to_string();
    let host = format!("Host: {}", p.addr);
    let (_, uri) = bunker_uri_with(p.addr, "HTTP/1.1", &[host.as_str()]).await;
    assert_eq!(uri.relays, vec![local.clone()]);
    let csk = Secret32::random();
    let mut c = Client::new(&local, uri.signer_pubkey, csk.duplicate()).await;
    let v = c.connect("1", &uri).await;
    assert_eq!(v["result"], "ack", "{v}");
    assert_eq!(
        c.call("2", "get_public_key", json!([])).await["result"],
        hex::encode(group_pk)
    );

    // SIGTERM with the client still connected to the embedded relay.
    let (code, took) = sigterm_and_wait(&mut p);
    let log = log_of(&p);
    assert_eq!(code, 0, "exit code; log:\n{log}");
    assert!(took < Duration::from_secs(5), "took {took:?}; log:\n{log}");
    let at = |needle: &str| {
        log.find(needle)
            .unwrap_or_else(|| panic!("log lacks {needle:?}:\n{log}"))
    };
    // Bunker first (its relay connections closed), then the node, then the process.
    assert!(at("shutting down") < at("nip46: bunker stopped"), "{log}");
    assert!(at("nip46: bunker stopped") < at("signer stopped"), "{log}");
    assert!(at("signer stopped") < at("frostbox: stopped"), "{log}");
    assert!(
        !log.contains("did not stop in time") && !log.contains("did not close in time"),
        "{log}"
    );
    drop(c);

    // Restart (unattended): same remote-signer key, the session is still there and answered.
    let p2 = serve(dir.path(), &[]);
    let status2 = wait_bunker(&p2).await;
    assert_eq!(status2["transport_pubkey"], transport.as_str());
    let h = bearer();
    let sessions = get(p2.addr, "/api/nip46/sessions", &[("Authorization", &h)])
        .await
        .json();
    let me = keys::xonly_pubkey(&csk).expect("pk");
    let s = sessions["sessions"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["pubkey"] == hex::encode(me)).cloned())
        .unwrap_or_else(|| panic!("session lost: {sessions}"));
    assert_eq!(s["status"], "active", "{s}");
    let relay2 = format!("ws://{}", p2.addr);
    let mut c2 = Client::new(&relay2, uri.signer_pubkey, csk).await;
    assert_eq!(
        c2.call("3", "get_public_key", json!([])).await["result"],
        hex::encode(group_pk),
        "the restored session is answered without a new connect"
    );
}
