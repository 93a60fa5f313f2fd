//! Relay conformance over real sockets (127.0.0.1, ephemeral ports): every NIP-01 message type
//! and every limit, with the relay still serving other clients afterwards.

use frostbox::nostr::{Event, Filter, keys};
use frostbox::relay::proto;
use frostbox::relay::{Relay, RelayConfig};
use frostbox::vault::secret::Secret32;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

use frostbox::store::now;

fn key(n: u8) -> Secret32 {
    Secret32::new([n; 32])
}

fn pk(n: u8) -> [u8; 32] {
    keys::xonly_pubkey(&key(n)).expect("pk")
}

fn ev(n: u8, created_at: u64, kind: u16, tags: Vec<Vec<String>>, content: &str) -> Event {
    Event::sign(&key(n), created_at, kind, tags, content.to_owned(), [0; 32]).expect("sign")
}

use crate::api_support::relay::open_cfg;

async fn start(cfg: RelayConfig) -> (String, u16, Relay) {
    let (url, relay) = crate::api_support::relay::start(cfg).await;
    let port = crate::api_support::relay::port_of(&url);
    (url, port, relay)
}

struct Client {
    ws: Ws,
}

impl Client {
    async fn connect(url: &str) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("connect");
        Client { ws }
    }
    async fn send(&mut self, s: &str) {
        self.ws.send(Message::Text(s.into())).await.expect("send");
    }
    async fn try_recv(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.ws.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => {
                    return Some(serde_json::from_str(t.as_str()).expect("relay sent JSON"));
                }
                Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) | Err(_) => {
                    return None;
                }
                Ok(Some(Ok(_))) => continue,
            }
        }
    }
    async fn recv(&mut self) -> Value {
        self.try_recv(Duration::from_secs(5))
            .await
            .expect("a message from the relay")
    }
    /// Next message that is not an AUTH challenge.
    async fn recv_skip_auth(&mut self) -> Value {
        loop {
            let v = self.recv().await;
            if v[0] != "AUTH" {
                return v;
            }
        }
    }
    async fn publish(&mut self, e: &Event) -> (bool, String) {
        self.send(&proto::client_event_msg(e)).await;
        let v = self.recv_skip_auth().await;
        assert_eq!(v[0], "OK", "{v}");
        assert_eq!(v[1], e.id_hex(), "{v}");
        (
            v[2].as_bool().expect("bool"),
            v[3].as_str().expect("msg").to_owned(),
        )
    }
    /// Sends a REQ and collects events until EOSE (or CLOSED).
    async fn req(&mut self, sub: &str, filters: &[Filter]) -> (Vec<Event>, Value) {
        self.send(&proto::client_req_msg(sub, filters)).await;
        let mut out = Vec::new();
        loop {
            let v = self.recv_skip_auth().await;
            match v[0].as_str() {
                Some("EVENT") => {
                    assert_eq!(v[1], sub);
                    out.push(Event::from_json(&v[2].to_string()).expect("event"));
                }
                Some("EOSE") | Some("CLOSED") => return (out, v),
                _ => panic!("unexpected {v}"),
            }
        }
    }
}

#[tokio::test]
async fn event_ok_prefixes_and_notices() {
    let (url, _, relay) = start(open_cfg()).await;
    let mut c = Client::connect(&url).await;
    let t = now();
    let e = ev(1, t, 1, vec![], "hello");
    assert_eq!(c.publish(&e).await, (true, String::new()));
    let (ok, msg) = c.publish(&e).await;
    assert!(ok && msg.starts_with("duplicate:"), "{msg}");
    // wrong id
    let mut bad = ev(1, t, 1, vec![], "other");
    bad.content = "tampered".into();
    let (ok, msg) = c.publish(&bad).await;
    assert!(!ok && msg.starts_with("invalid:"), "{msg}");
    // bad signature (id correct)
    let mut bad = ev(1, t, 1, vec![], "sig");
    bad.sig[10] ^= 0x40;
    let (ok, msg) = c.publish(&bad).await;
    assert!(
        !ok && msg.starts_with("invalid:") && msg.contains("signature"),
        "{msg}"
    );
    // structurally wrong event with a recognisable id → OK false
    let good = ev(1, t, 1, vec![], "kind as string");
    let text = proto::client_event_msg(&good).replace("\"kind\":1,", "\"kind\":\"1\",");
    c.send(&text).await;
    let v = c.recv().await;
    assert_eq!(v, json!(["OK", good.id_hex(), false, v[3]]));
    assert!(v[3].as_str().expect("msg").starts_with("invalid:"));
    // malformed JSON, unknown type, non-array → NOTICE
    for text in ["[\"EVENT\",{", "[\"HELLO\",1]", "{\"a\":1}", "[]"] {
        c.send(text).await;
        let v = c.recv().await;
        assert_eq!(v[0], "NOTICE", "{text} → {v}");
    }
    // far future
    let (ok, msg) = c.publish(&ev(1, t + 3600, 1, vec![], "future")).await;
    assert!(!ok && msg.starts_with("invalid:"), "{msg}");
    // expired (NIP-40)
    let expired = ev(
        1,
        t,
        1,
        vec![vec!["expiration".into(), (t - 1).to_string()]],
        "old",
    );
    let (ok, msg) = c.publish(&expired).await;
    assert!(!ok && msg.contains("expired"), "{msg}");
    // the connection is still fine
    let (found, eose) = c.req("s", &[Filter::new().ids([e.id])]).await;
    assert_eq!(eose, json!(["EOSE", "s"]));
    assert_eq!(found, vec![e]);
    let st = relay.stats();
    assert_eq!(st.events_accepted, 1);
    assert!(st.events_rejected >= 5);
}

#[tokio::test]
async fn req_order_limit_multi_filter_live_and_close() {
    let (url, _, _relay) = start(open_cfg()).await;
    let mut p = Client::connect(&url).await;
    let mut s = Client::connect(&url).await;
    let t = now() - 100;
    let mut evs = Vec::new();
    for i in 0..6 {
        let e = ev(
            1 + (i % 2) as u8,
            t + i,
            1 + (i % 3) as u16,
            vec![vec!["t".into(), format!("tag{i}")]],
            "x",
        );
        assert!(p.publish(&e).await.0);
        evs.push(e);
    }
    // newest first, limit honoured
    let (found, _) = s.req("a", &[Filter::new().limit(3)]).await;
    assert_eq!(found, vec![evs[5].clone(), evs[4].clone(), evs[3].clone()]);
    // limit 0 → EOSE only
    let (found, eose) = s.req("b", &[Filter::new().limit(0)]).await;
    assert!(found.is_empty());
    assert_eq!(eose, json!(["EOSE", "b"]));
    // several filters: union, deduplicated, newest first
    let (found, _) = s
        .req(
            "c",
            &[
                Filter::new().authors([pk(1)]),
                Filter::new().kinds([1]),
                Filter::new().tag('t', ["tag5".into()]),
            ],
        )
        .await;
    let want: Vec<Event> = evs
        .iter()
        .rev()
        .filter(|e| e.pubkey == pk(1) || e.kind == 1 || e.created_at == t + 5)
        .cloned()
        .collect();
    assert_eq!(found, want);
    // by id, since/until
    let (found, _) = s
        .req("d", &[Filter::new().ids([evs[2].id, evs[0].id])])
        .await;
    assert_eq!(found, vec![evs[2].clone(), evs[0].clone()]);
    let (found, _) = s.req("e", &[Filter::new().since(t + 2).until(t + 3)]).await;
    assert_eq!(found, vec![evs[3].clone(), evs[2].clone()]);
    // live: only matching subscriptions receive it, each once per subscription
    let (_, _) = s
        .req(
            "live",
            &[Filter::new().kinds([7]), Filter::new().authors([pk(9)])],
        )
        .await;
    for sub in ["a", "b", "c", "d", "e"] {
        s.send(&proto::client_close_msg(sub)).await;
    }
    // round trip: the CLOSEs above are processed once this EOSE arrives
    let (_, v) = s.req("sync", &[Filter::new().ids([[0u8; 32]])]).await;
    assert_eq!(v[0], "EOSE");
    let nomatch = ev(3, now(), 8, vec![], "no");
    assert!(p.publish(&nomatch).await.0);
    let hit = ev(9, now(), 7, vec![], "yes");
    assert!(p.publish(&hit).await.0);
    let v = s.recv().await;
    assert_eq!(v[0], "EVENT");
    assert_eq!(v[1], "live");
    assert_eq!(v[2]["id"], hit.id_hex());
    assert!(
        s.try_recv(Duration::from_millis(200)).await.is_none(),
        "matched two filters but must arrive once"
    );
    // CLOSE stops delivery
    s.send(&proto::client_close_msg("live")).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(p.publish(&ev(9, now(), 7, vec![], "after close")).await.0);
    assert!(s.try_recv(Duration::from_millis(300)).await.is_none());
}

#[tokio::test]
async fn ephemeral_replaceable_addressable_expiring() {
    let (url, _, relay) = start(open_cfg()).await;
    let mut p = Client::connect(&url).await;
    let mut s = Client::connect(&url).await;
    let (_, _) = s.req("eph", &[Filter::new().kinds([20000])]).await;
    let e = ev(
        1,
        now(),
        20000,
        vec![vec!["p".into(), hex::encode(pk(2))]],
        "frostr",
    );
    assert_eq!(p.publish(&e).await, (true, String::new()));
    let v = s.recv().await;
    assert_eq!(v[2]["id"], e.id_hex());
    // never stored
    let (found, _) = s.req("eph2", &[Filter::new().kinds([20000])]).await;
    assert!(found.is_empty());
    assert_eq!(relay.stats().stored_events, 0);
    // replaceable: only the newest survives; an older one is refused
    let t = now() - 50;
    let old = ev(1, t, 0, vec![], "v1");
    let new = ev(1, t + 1, 0, vec![], "v2");
    assert!(p.publish(&old).await.0);
    assert!(p.publish(&new).await.0);
    let (ok, msg) = p.publish(&ev(1, t - 5, 0, vec![], "v0")).await;
    assert!(!ok && msg.starts_with("duplicate:"), "{msg}");
    let (found, _) = s
        .req("r", &[Filter::new().kinds([0]).authors([pk(1)])])
        .await;
    assert_eq!(found, vec![new]);
    // addressable: per d tag
    let a1 = ev(1, t, 30078, vec![vec!["d".into(), "a".into()]], "a1");
    let a2 = ev(1, t + 1, 30078, vec![vec!["d".into(), "a".into()]], "a2");
    let b1 = ev(1, t, 30078, vec![vec!["d".into(), "b".into()]], "b1");
    for e in [&a1, &a2, &b1] {
        assert!(p.publish(e).await.0);
    }
    let (found, _) = s.req("ad", &[Filter::new().kinds([30078])]).await;
    assert_eq!(found, vec![a2, b1]);
    // NIP-40: stored until it expires, then never served
    let exp = ev(
        1,
        now(),
        1,
        vec![vec!["expiration".into(), (now() + 2).to_string()]],
        "soon",
    );
    assert!(p.publish(&exp).await.0);
    let (found, _) = s.req("x1", &[Filter::new().ids([exp.id])]).await;
    assert_eq!(found.len(), 1);
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let (found, _) = s.req("x2", &[Filter::new().ids([exp.id])]).await;
    assert!(found.is_empty());
}

#[tokio::test]
async fn subscription_limits() {
    let cfg = RelayConfig {
        max_subs_per_conn: 3,
        max_filters_per_req: 2,
        ..open_cfg()
    };
    let (url, _, _r) = start(cfg).await;
    let mut c = Client::connect(&url).await;
    let long = "x".repeat(65);
    let (_, v) = c.req(&long, &[Filter::new()]).await;
    assert_eq!(v[0], "CLOSED");
    assert!(v[2].as_str().expect("msg").starts_with("invalid:"), "{v}");
    let (_, v) = c
        .req("f", &[Filter::new(), Filter::new(), Filter::new()])
        .await;
    assert_eq!(v[0], "CLOSED");
    assert!(v[2].as_str().expect("msg").starts_with("invalid:"), "{v}");
    let (_, v) = c.req("bad", &[]).await;
    assert_eq!(v[0], "CLOSED");
    c.send(r#"["REQ","badf",{"ids":["zz"]}]"#).await;
    let v = c.recv().await;
    assert_eq!(v[0], "CLOSED", "{v}");
    assert_eq!(v[1], "badf");
    for i in 0..3 {
        let (_, v) = c.req(&format!("s{i}"), &[Filter::new()]).await;
        assert_eq!(v[0], "EOSE");
    }
    let (_, v) = c.req("s3", &[Filter::new()]).await;
    assert_eq!(v[0], "CLOSED");
    assert!(v[2].as_str().expect("msg").starts_with("blocked:"), "{v}");
    // re-using an id replaces, it does not count
    let (_, v) = c.req("s1", &[Filter::new().kinds([1])]).await;
    assert_eq!(v[0], "EOSE");
    c.send(&proto::client_close_msg("s0")).await;
    let (_, v) = c.req("s3", &[Filter::new()]).await;
    assert_eq!(v[0], "EOSE");
    // COUNT (NIP-45)
    let mut p = Client::connect(&url).await;
    assert!(p.publish(&ev(1, now(), 1, vec![], "one")).await.0);
    p.send(r#"["COUNT","n",{"kinds":[1]}]"#).await;
    let v = p.recv().await;
    assert_eq!(v, json!(["COUNT", "n", {"count": 1}]));
}

#[tokio::test]
async fn oversized_event_and_frame() {
    let cfg = RelayConfig {
        max_event_bytes: 4096,
        max_frame_bytes: 16 * 1024,
        ..open_cfg()
    };
    let (url, _, _r) = start(cfg).await;
    let mut c = Client::connect(&url).await;
    let big = ev(1, now(), 1, vec![], &"a".repeat(8000));
    let (ok, msg) = c.publish(&big).await;
    assert!(
        !ok && msg.starts_with("invalid:") && msg.contains("too large"),
        "{msg}"
    );
    // a frame above the frame limit: NOTICE (best effort) and the connection is closed
    let huge = ev(1, now(), 1, vec![], &"b".repeat(20_000));
    c.send(&proto::client_event_msg(&huge)).await;
    let mut closed = false;
    for _ in 0..3 {
        match c.try_recv(Duration::from_secs(2)).await {
            Some(v) => assert_eq!(v[0], "NOTICE", "{v}"),
            None => {
                closed = true;
                break;
            }
        }
    }
    assert!(closed, "oversized frame must end the connection");
    // everyone else is still served
    let mut d = Client::connect(&url).await;
    assert!(d.publish(&ev(1, now(), 1, vec![], "small")).await.0);
}

#[tokio::test]
async fn rate_limit_token_bucket() {
    let cfg = RelayConfig {
        rate_per_sec: 1.0,
        rate_burst: 5.0,
        ..RelayConfig {
            open: true,
            ..RelayConfig::default()
        }
    };
    let (url, _, relay) = start(cfg).await;
    let mut c = Client::connect(&url).await;
    let t = now();
    let mut limited = 0;
    for i in 0..10 {
        let (ok, msg) = c.publish(&ev(1, t, 1, vec![], &format!("{i}"))).await;
        if !ok {
            assert!(msg.starts_with("rate-limited:"), "{msg}");
            limited += 1;
        }
    }
    assert!(
        (4..=5).contains(&limited),
        "burst 5 then limited, got {limited}"
    );
    let (_, v) = c.req("r", &[Filter::new()]).await;
    assert_eq!(v[0], "CLOSED");
    assert!(v[2].as_str().expect("msg").starts_with("rate-limited:"));
    assert!(relay.stats().rate_limited >= 5);
    // another connection has its own bucket
    let mut d = Client::connect(&url).await;
    assert!(d.publish(&ev(2, t, 1, vec![], "fresh")).await.0);
}

#[tokio::test]
async fn slow_reader_is_disconnected_others_served() {
    let cfg = RelayConfig {
        outbound_queue: 8,
        max_event_bytes: 64 * 1024,
        ..open_cfg()
    };
    let (url, _, relay) = start(cfg).await;
    let mut slow = Client::connect(&url).await;
    let (_, _) = slow.req("all", &[Filter::new().kinds([20001])]).await;
    let mut fast = Client::connect(&url).await;
    let (_, _) = fast.req("all", &[Filter::new().kinds([20001])]).await;
    let mut p = Client::connect(&url).await;
    // the fast reader drains in the background
    let fast_task = tokio::spawn(async move {
        let mut n = 0usize;
        while let Some(v) = fast.try_recv(Duration::from_secs(3)).await {
            if v[0] == "EVENT" {
                n += 1;
            }
        }
        n
    });
    let body = "z".repeat(60_000);
    let mut i = 0u32;
    while relay.stats().slow_consumers_disconnected == 0 && i < 2000 {
        let e = ev(
            1,
            now(),
            20001,
            vec![vec!["n".into(), i.to_string()]],
            &body,
        );
        assert!(p.publish(&e).await.0);
        i += 1;
    }
    assert!(
        relay.stats().slow_consumers_disconnected >= 1,
        "slow reader never dropped after {i} events"
    );
    // the slow reader's socket is closed by the relay: draining it ends without blocking forever
    let mut got = 0;
    while let Some(v) = slow.try_recv(Duration::from_secs(3)).await {
        if v[0] == "EVENT" {
            got += 1;
        }
    }
    assert!(got < i as usize, "slow reader must not receive everything");
    // the fast reader got every event, and the relay still serves new clients
    let n = fast_task.await.expect("fast");
    assert_eq!(n, i as usize);
    let mut d = Client::connect(&url).await;
    assert!(d.publish(&ev(2, now(), 1, vec![], "still alive")).await.0);
}

#[tokio::test]
async fn restricted_writes_and_nip42_reads() {
    let cfg = RelayConfig {
        allowlist: vec![pk(1)],
        ..RelayConfig::default()
    };
    let (url, _, relay) = start(cfg).await;
    let mut c = Client::connect(&url).await;
    let first = c.recv().await;
    assert_eq!(first[0], "AUTH");
    let challenge = first[1].as_str().expect("challenge").to_owned();
    let (ok, msg) = c.publish(&ev(2, now(), 1, vec![], "stranger")).await;
    assert!(!ok && msg.starts_with("blocked:"), "{msg}");
    let mine = ev(1, now(), 1, vec![], "member");
    assert!(c.publish(&mine).await.0);
    // ephemeral addressed to an allowed key is accepted from a stranger (NIP-46 pairing)
    let (ok, msg) = c
        .publish(&ev(
            2,
            now(),
            24133,
            vec![vec!["p".into(), hex::encode(pk(1))]],
            "hi",
        ))
        .await;
    assert!(ok, "{msg}");
    let (ok, _) = c
        .publish(&ev(
            2,
            now(),
            24133,
            vec![vec!["p".into(), hex::encode(pk(3))]],
            "hi",
        ))
        .await;
    assert!(!ok);
    // allow_pubkeys at runtime
    relay.allow_pubkeys([pk(2)]);
    assert!(c.publish(&ev(2, now(), 1, vec![], "now allowed")).await.0);
    // ephemeral-only REQ needs no auth; stored reads do
    let (_, v) = c.req("e", &[Filter::new().kinds([20000])]).await;
    assert_eq!(v[0], "EOSE");
    let (_, v) = c.req("s", &[Filter::new().ids([mine.id])]).await;
    assert_eq!(v[0], "CLOSED");
    assert!(
        v[2].as_str().expect("m").starts_with("auth-required:"),
        "{v}"
    );
    // wrong challenge
    let bad = ev(
        1,
        now(),
        22242,
        vec![
            vec!["challenge".into(), "nope".into()],
            vec!["relay".into(), url.clone()],
        ],
        "",
    );
    c.send(&proto::client_auth_msg(&bad)).await;
    let v = c.recv().await;
    assert_eq!(v[0], "OK");
    assert_eq!(v[2], false);
    // a stranger authenticates but may not read
    let mut c2 = Client::connect(&url).await;
    let ch2 = c2.recv().await[1].as_str().expect("challenge").to_owned();
    let auth = ev(
        5,
        now(),
        22242,
        vec![
            vec!["challenge".into(), ch2],
            vec!["relay".into(), url.clone()],
        ],
        "",
    );
    c2.send(&proto::client_auth_msg(&auth)).await;
    assert_eq!(c2.recv().await[2], true);
    let (_, v) = c2.req("s", &[Filter::new()]).await;
    assert!(v[2].as_str().expect("m").starts_with("restricted:"), "{v}");
    // the member authenticates and reads
    let auth = ev(
        1,
        now(),
        22242,
        vec![
            vec!["challenge".into(), challenge],
            vec!["relay".into(), url.clone()],
        ],
        "",
    );
    c.send(&proto::client_auth_msg(&auth)).await;
    let v = c.recv().await;
    assert_eq!(v, json!(["OK", auth.id_hex(), true, ""]));
    let (found, v) = c.req("s", &[Filter::new().ids([mine.id])]).await;
    assert_eq!(v[0], "EOSE");
    assert_eq!(found, vec![mine]);
    // kind 22242 is never accepted as an EVENT
    let (ok, _) = c.publish(&auth).await;
    assert!(!ok);
}

async fn http_get(port: u16, accept: &str) -> (String, String) {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("tcp");
    let req = format!(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.expect("read");
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (head.to_owned(), body.to_owned())
}

#[tokio::test]
async fn nip11_and_fallback() {
    let (_, port, relay) = start(RelayConfig::default()).await;
    let (head, body) = http_get(port, "application/nostr+json").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/nostr+json")
    );
    assert!(
        head.to_ascii_lowercase()
            .contains("access-control-allow-origin: *")
    );
    let doc: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(doc["limitation"]["max_message_length"], 128 * 1024);
    assert_eq!(doc["limitation"]["auth_required"], true);
    assert!(
        doc["supported_nips"]
            .as_array()
            .expect("nips")
            .contains(&json!(11))
    );
    let (head, _) = http_get(port, "text/html").await;
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    relay.set_index_handler(|_| axum::response::IntoResponse::into_response("the ui"));
    let (head, body) = http_get(port, "text/html").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body, "the ui");
}

#[tokio::test]
async fn connections_per_ip_limit() {
    let cfg = RelayConfig {
        max_conns_per_ip: 2,
        ..open_cfg()
    };
    let (url, _, relay) = start(cfg).await;
    let a = Client::connect(&url).await;
    let _b = Client::connect(&url).await;
    assert!(
        tokio_tungstenite::connect_async(&url).await.is_err(),
        "third connection from one IP is refused"
    );
    assert_eq!(relay.stats().connections_refused, 1);
    drop(a);
    // the slot is released when a connection ends
    let mut ok = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if tokio_tungstenite::connect_async(&url).await.is_ok() {
            ok = true;
            break;
        }
    }
    assert!(ok);
}
