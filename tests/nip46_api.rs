//! `/api/nip46/*` routes served on 127.0.0.1:0, driven with raw HTTP/1.1.

use frostbox::nip46::{Bunker, BunkerConfig, BunkerUri, Event, MemStore, local_signer};
use frostbox::nostr::{keys, nip44};
use frostbox::vault::secret::Secret32;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, String, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.expect("read");
    let text = String::from_utf8_lossy(&out).to_string();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, head.to_string(), rest.to_string())
}

async fn json_req(addr: SocketAddr, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let (code, _, b) = http(addr, method, path, body).await;
    (code, serde_json::from_str(&b).unwrap_or(Value::Null))
}

fn req_event(sk: &Secret32, to: &[u8; 32], id: &str, method: &str, params: Value) -> Event {
    crate::api_support::nip46_client::request_event(sk, to, id, method, params)
}

fn read(sk: &Secret32, ev: &Event) -> Value {
    let k = nip44::conversation_key(sk, &ev.pubkey).expect("conv");
    serde_json::from_str(&nip44::decrypt(&k, &ev.content).expect("dec")).expect("json")
}

#[tokio::test]
async fn routes_cover_tokens_sessions_policy_requests_audit_qr() {
    let identity = Secret32::random();
    let cfg = BunkerConfig {
        relays: vec!["ws://127.0.0.1:7".into()],
        pending_timeout: Duration::from_secs(10),
        ..Default::default()
    };
    let (bunker, mut io) = Bunker::new(
        cfg,
        Arc::new(local_signer(identity.duplicate())),
        Arc::new(MemStore::new()),
    )
    .expect("bunker");
    let app = frostbox::nip46::api::routes(bunker.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });

    let (code, st) = json_req(addr, "GET", "/api/nip46/status", None).await;
    assert_eq!(code, 200);
    assert_eq!(
        st["transport_pubkey"],
        hex::encode(bunker.transport_pubkey())
    );
    assert_eq!(
        st["identity_pubkey"],
        hex::encode(keys::xonly_pubkey(&identity).expect("pk"))
    );
    assert!(st["npub"].as_str().expect("npub").starts_with("npub1"));
    let (_, t) = json_req(addr, "GET", "/api/nip46/transport", None).await;
    assert!(
        t.get("transport_sk").is_none(),
        "the transport secret never leaves"
    );

    // bunker token with a pre-approved grant
    let (code, tok) = json_req(
        addr,
        "POST",
        "/api/nip46/bunker",
        Some(json!({"label": "phone", "perms": "sign_event:1"})),
    )
    .await;
    assert_eq!(code, 200, "{tok}");
    let uri = BunkerUri::parse(tok["uri"].as_str().expect("uri")).expect("parse");
    assert_eq!(uri.signer_pubkey, bunker.transport_pubkey());
    assert_eq!(uri.relays, vec!["ws://127.0.0.1:7"]);
    assert!(tok["qr_svg"].as_str().expect("svg").starts_with("<svg"));
    let (_, toks) = json_req(addr, "GET", "/api/nip46/bunker", None).await;
    assert_eq!(toks["tokens"][0]["label"], "phone");
    assert!(
        !toks
            .to_string()
            .contains(uri.secret.as_deref().expect("secret")),
        "secret not listed"
    );
    let (code, e) = json_req(
        addr,
        "POST",
        "/api/nip46/bunker",
        Some(json!({"perms": "format_disk"})),
    )
    .await;
    assert_eq!(code, 400, "{e}");

    // a client connects with it
    let csk = Secret32::random();
    let cpk = keys::xonly_pubkey(&csk).expect("pk");
    let signer = bunker.transport_pubkey();
    bunker
        .handle_event(req_event(
            &csk,
            &signer,
            "c",
            "connect",
            json!([hex::encode(signer), uri.secret.clone().expect("s")]),
        ))
        .await;
    assert_eq!(
        read(&csk, &io.outbox.try_recv().expect("ack"))["result"],
        "ack"
    );
    let (_, ss) = json_req(addr, "GET", "/api/nip46/sessions?history=true", None).await;
    assert_eq!(ss["sessions"][0]["pubkey"], hex::encode(cpk));
    assert_eq!(ss["sessions"][0]["status"], "active");
    assert_eq!(ss["sessions"][0]["policy"]["kinds"]["1"], true);

    // policy edit (igloo shape), then a kind outside policy waits and is approved over HTTP
    let path = format!("/api/nip46/sessions/{}/policy", hex::encode(cpk));
    let (code, _) = json_req(
        addr,
        "PUT",
        &path,
        Some(json!({"kinds": {"1": true, "4": false}})),
    )
    .await;
    assert_eq!(code, 200);
    let (code, _) = json_req(addr, "PUT", &path, Some(json!({"kinds": {"x": true}}))).await;
    assert_eq!(code, 400);
    let tpl = json!({"kind": 7, "content": "+", "tags": []}).to_string();
    let b2 = bunker.clone();
    let ev = req_event(&csk, &signer, "s7", "sign_event", json!([tpl]));
    let task = tokio::spawn(async move { b2.handle_event(ev).await });
    let mut pending = Value::Null;
    for _ in 0..50 {
        let (_, r) = json_req(addr, "GET", "/api/nip46/requests?status=pending", None).await;
        if r["requests"].as_array().is_some_and(|a| !a.is_empty()) {
            pending = r;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rid = pending["requests"][0]["id"]
        .as_str()
        .expect("pending id")
        .to_string();
    assert_eq!(pending["requests"][0]["kind"], 7);
    let (code, r) = json_req(
        addr,
        "POST",
        "/api/nip46/requests",
        Some(json!({"id": rid, "action": "approve"})),
    )
    .await;
    assert_eq!(code, 200, "{r}");
    task.await.expect("join");
    let v = read(&csk, &io.outbox.try_recv().expect("signed"));
    let ev = Event::from_json(v["result"].as_str().expect("r")).expect("event");
    ev.verify().expect("valid");
    let (code, _) = json_req(
        addr,
        "POST",
        "/api/nip46/requests",
        Some(json!({"id": rid, "action": "approve"})),
    )
    .await;
    assert_eq!(code, 400, "already resolved");
    let (code, _) = json_req(addr, "GET", "/api/nip46/requests?status=bogus", None).await;
    assert_eq!(code, 400);

    // audit and history
    let (_, a) = json_req(
        addr,
        "GET",
        &format!("/api/nip46/audit?client={}", hex::encode(cpk)),
        None,
    )
    .await;
    let outcomes: Vec<&str> = a["entries"]
        .as_array()
        .expect("a")
        .iter()
        .filter_map(|e| e["outcome"].as_str())
        .collect();
    assert!(
        outcomes.contains(&"pending") && outcomes.contains(&"ok"),
        "{outcomes:?}"
    );
    let (_, h) = json_req(addr, "GET", "/api/nip46/history", None).await;
    assert_eq!(h["sessions"][0]["recent_kinds"], json!([7]));

    // nostrconnect pairing and QR
    let other = hex::encode([0x11u8; 32]);
    let nc = format!(
        "nostrconnect://{other}?relay=ws%3A%2F%2F127.0.0.1%3A8&secret=zz&perms=nip44_encrypt&name=Web"
    );
    let (code, s) = json_req(addr, "POST", "/api/nip46/connect", Some(json!({"uri": nc}))).await;
    assert_eq!(code, 200, "{s}");
    assert_eq!(s["session"]["profile"]["name"], "Web");
    let (code, _) = json_req(
        addr,
        "POST",
        "/api/nip46/connect",
        Some(json!({"uri": "nostrconnect://bad"})),
    )
    .await;
    assert_eq!(code, 400);
    let (code, head, body) = http(
        addr,
        "GET",
        "/api/nip46/qr?text=nostrconnect%3A%2F%2Fabc",
        None,
    )
    .await;
    assert_eq!(code, 200);
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: image/svg+xml")
            && body.starts_with("<svg")
    );

    // revocation
    let (_, d) = json_req(
        addr,
        "DELETE",
        &format!("/api/nip46/sessions/{}", hex::encode(cpk)),
        None,
    )
    .await;
    assert_eq!(d["ok"], true);
    let (_, d) = json_req(
        addr,
        "DELETE",
        &format!("/api/nip46/sessions/{}", hex::encode(cpk)),
        None,
    )
    .await;
    assert_eq!(d["ok"], false);
    let (_, r) = json_req(
        addr,
        "PUT",
        "/api/nip46/relays",
        Some(json!({"relays": ["wss://r.example"]})),
    )
    .await;
    assert_eq!(r["relays"], json!(["wss://r.example"]));
    let (code, _) = json_req(
        addr,
        "PUT",
        "/api/nip46/relays",
        Some(json!({"relays": ["http://x"]})),
    )
    .await;
    assert_eq!(code, 400);
}

/// Every `(method, path)` of `ROUTE_LIST` is served by `routes` (no 404/405 from the router
/// itself) and documented in the OpenAPI spec with a 409 answer; without a bunker the same
/// routes (through `routes_on` on an empty source) answer 409 JSON.
#[tokio::test]
async fn route_list_is_served_and_documented() {
    use frostbox::nip46::api::{BunkerSource, ROUTE_LIST, routes_on};
    let (bunker, _io) = Bunker::new(
        BunkerConfig {
            relays: vec!["ws://127.0.0.1:7".into()],
            ..Default::default()
        },
        Arc::new(local_signer(Secret32::random())),
        Arc::new(MemStore::new()),
    )
    .expect("bunker");
    #[derive(Clone)]
    struct NoBunker;
    impl BunkerSource for NoBunker {
        fn current(&self) -> Option<Bunker> {
            None
        }
    }
    let serve = async |app: axum::Router| {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let a = l.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(l, app).await });
        a
    };
    let with = serve(frostbox::nip46::api::routes(bunker)).await;
    let without = serve(routes_on::<NoBunker>().with_state(NoBunker)).await;
    let spec = frostbox::api::openapi::spec();
    for (m, p) in ROUTE_LIST {
        let concrete = p
            .replace("{pubkey}", &"ab".repeat(32))
            .replace("{id}", "00");
        let (code, head, _) = http(with, m, &concrete, Some(json!({}))).await;
        assert!(
            code != 405 && (code != 404 || head.contains("application/json")),
            "{m} {p} is not routed: {head}"
        );
        let op = &spec["paths"][*p][m.to_lowercase()];
        assert!(op["responses"]["409"].is_object(), "{m} {p} not documented");
        if *p != "/api/nip46/qr" {
            let (code, body) = json_req(without, m, &concrete, Some(json!({}))).await;
            assert_eq!(code, 409, "{m} {p}");
            assert_eq!(body["code"], "NODE_UNAVAILABLE", "{m} {p}");
        }
    }
}
