//! Helpers for the API tests: an in-process server on 127.0.0.1:0, a minimal HTTP/1.1 client
//! over a raw `TcpStream`, and a mock signing node backed by a real secp256k1 key.
#![allow(dead_code)]

pub mod groups;
pub mod keys;
pub mod nip46_client;
pub mod npm;
pub mod procs;
pub mod relay;
pub mod shared;

use frostbox::api::node::{BoxFut, NodeCallError, NodeStatusInfo, PeerInfo, SignerNode};
use frostbox::api::{AppState, app};
use frostbox::config::Config;
use frostbox::store::Store;
use frostbox::vault::at_rest::KdfParams;
use secp256k1::{Keypair, PublicKey, SecretKey, XOnlyPublicKey};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub struct Server {
    pub addr: SocketAddr,
    pub st: AppState,
    pub dir: tempfile::TempDir,
}

pub fn config_with(pairs: &[(&str, &str)], dir: &std::path::Path) -> Config {
    let m: std::collections::HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut c = Config::from_lookup(|k| m.get(k).cloned()).expect("config");
    c.data_dir = dir.to_path_buf();
    c
}

pub async fn start(pairs: &[(&str, &str)]) -> Server {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = config_with(pairs, dir.path());
    let store = Store::open_dir(dir.path()).expect("store");
    let st = AppState::new(cfg, store, KdfParams::TEST);
    let router = app(st.clone(), vec![]);
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(
            l,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    st.set_ready(true);
    Server { addr, st, dir }
}

#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }
    /// The `session=` cookie value from Set-Cookie.
    pub fn session_cookie(&self) -> Option<String> {
        let v = self.header("set-cookie")?;
        let first = v.split(';').next()?;
        let (_, val) = first.split_once('=')?;
        (!val.is_empty()).then(|| val.to_string())
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(pos) = b.windows(2).position(|w| w == b"\r\n") {
        let n = usize::from_str_radix(
            std::str::from_utf8(&b[..pos])
                .unwrap_or("0")
                .split(';')
                .next()
                .unwrap_or("0")
                .trim(),
            16,
        )
        .unwrap_or(0);
        b = &b[pos + 2..];
        if n == 0 || b.len() < n {
            break;
        }
        out.extend_from_slice(&b[..n]);
        b = &b[(n + 2).min(b.len())..];
    }
    out
}

/// Sends one request (Connection: close) and reads the whole response.
pub async fn raw(addr: SocketAddr, head_and_body: &[u8]) -> Resp {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(head_and_body).await.expect("write");
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut buf)).await;
    let pos = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end: {:?}", String::from_utf8_lossy(&buf)));
    let head = String::from_utf8_lossy(&buf[..pos]).to_string();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = buf[pos + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    Resp {
        status,
        headers,
        body: String::from_utf8_lossy(&body).to_string(),
    }
}

pub async fn req(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Resp {
    let mut r = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        r.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    r.push_str("\r\n");
    let mut bytes = r.into_bytes();
    if let Some(b) = body {
        bytes.extend_from_slice(b.as_bytes());
    }
    raw(addr, &bytes).await
}

pub async fn get(addr: SocketAddr, path: &str, h: &[(&str, &str)]) -> Resp {
    req(addr, "GET", path, h, None).await
}

pub async fn post(addr: SocketAddr, path: &str, h: &[(&str, &str)], body: &str) -> Resp {
    req(addr, "POST", path, h, Some(body)).await
}

pub const ADMIN_SECRET: &str = "adm1n-Secret-For-Tests-9f3c";
pub const PASSWORD: &str = "Corr3ct-Horse-Battery";

/// Onboards an admin `alice` with ADMIN_SECRET and returns a session cookie header value.
pub async fn admin_session(s: &Server) -> String {
    let auth = format!("Bearer {ADMIN_SECRET}");
    let r = post(
        s.addr,
        "/api/onboarding/setup",
        &[("Authorization", &auth)],
        &format!(r#"{{"username":"alice","password":"{PASSWORD}"}}"#),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    login(s, "alice", PASSWORD).await
}

pub async fn login(s: &Server, user: &str, pw: &str) -> String {
    let r = post(
        s.addr,
        "/api/auth/login",
        &[],
        &format!(r#"{{"username":"{user}","password":"{pw}"}}"#),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    format!("session={}", r.session_cookie().expect("cookie"))
}

/// A stand-in signing node: signs with a real key and does real ECDH, so tests can verify
/// signatures and decrypt with the peer side.
pub struct MockNode {
    pub kp: Keypair,
    pub peers: Vec<String>,
    pub delay: Duration,
}

impl MockNode {
    pub fn new(secret: [u8; 32]) -> MockNode {
        let kp = Keypair::from_secret_bytes(secret).expect("key");
        MockNode {
            kp,
            peers: vec![
                format!("02{}", "11".repeat(32)),
                format!("03{}", "22".repeat(32)),
            ],
            delay: Duration::ZERO,
        }
    }
    pub fn group_pk(&self) -> [u8; 32] {
        self.kp.x_only_public_key().0.to_byte_array()
    }
}

impl SignerNode for MockNode {
    fn sign(&self, msg32: [u8; 32]) -> BoxFut<'_, Result<[u8; 64], NodeCallError>> {
        Box::pin(async move {
            tokio::time::sleep(self.delay).await;
            Ok(self.kp.sign_schnorr_no_aux_rand(&msg32).to_byte_array())
        })
    }
    fn ecdh(&self, peer: [u8; 32]) -> BoxFut<'_, Result<[u8; 32], NodeCallError>> {
        Box::pin(async move {
            let x = XOnlyPublicKey::from_byte_array(peer)
                .map_err(|e| NodeCallError::BadInput(e.to_string()))?;
            let pk = PublicKey::from_x_only_public_key(x, secp256k1::Parity::Even);
            let sk = SecretKey::from_keypair(&self.kp);
            let p = secp256k1::ecdh::shared_secret_point(&pk, &sk);
            let mut out = [0u8; 32];
            out.copy_from_slice(&p[..32]);
            Ok(out)
        })
    }
    fn ping(&self, _peer: Vec<u8>) -> BoxFut<'_, Result<Duration, NodeCallError>> {
        Box::pin(async { Ok(Duration::from_millis(3)) })
    }
    fn status(&self) -> NodeStatusInfo {
        NodeStatusInfo {
            ready: true,
            threshold_reachable: true,
            threshold: 2,
            total: 3,
            group_pk: hex::encode(self.group_pk()),
            self_pubkey: hex::encode(self.kp.public_key().serialize()),
            legacy: false,
            relays: vec!["ws://127.0.0.1:1".into()],
            peers: self
                .peers
                .iter()
                .map(|p| PeerInfo {
                    pubkey: p.clone(),
                    online: true,
                    last_seen: Some(1),
                    rtt_ms: Some(3),
                    allow_send: true,
                    allow_receive: true,
                    nonces_in: Some(10),
                    nonces_out: Some(10),
                })
                .collect(),
            warnings: vec![],
            duplicate_share: None,
        }
    }
    fn set_peer_policy(&self, _p: Vec<u8>, _s: bool, _r: bool) -> Result<(), NodeCallError> {
        Ok(())
    }
}

pub fn attach_mock(s: &Server, secret: [u8; 32]) -> Arc<MockNode> {
    let n = Arc::new(MockNode::new(secret));
    s.st.attach_node(n.clone());
    n
}

/// A client of `GET /api/events` (WebSocket) that keeps every frame it has read.
pub struct EventClient {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    /// Every frame read so far (the "Connected" hello first).
    pub seen: Vec<serde_json::Value>,
}

/// Opens `/api/events{query}` on `addr` with headers `h` and reads the hello frame.
pub async fn events(addr: SocketAddr, query: &str, h: &[(&str, &str)]) -> EventClient {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut rq = format!("ws://{addr}/api/events{query}")
        .into_client_request()
        .expect("ws request");
    for (k, v) in h {
        let name: tokio_tungstenite::tungstenite::http::HeaderName =
            k.parse().expect("header name");
        rq.headers_mut()
            .insert(name, v.parse().expect("header value"));
    }
    let (ws, _) = tokio_tungstenite::connect_async(rq)
        .await
        .expect("event stream opens");
    let mut c = EventClient {
        ws,
        seen: Vec::new(),
    };
    let hello = c.wait_for("hello", Duration::from_secs(10), |_| true).await;
    assert_eq!(hello["message"], "Connected to event stream");
    c
}

impl EventClient {
    /// Reads frames until one satisfies `f` (returned) or `limit` passes (panics, listing
    /// what was seen).
    pub async fn wait_for(
        &mut self,
        what: &str,
        limit: Duration,
        f: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        use futures_util::StreamExt;
        let until = tokio::time::Instant::now() + limit;
        loop {
            let m = match tokio::time::timeout_at(until, self.ws.next()).await {
                Ok(Some(Ok(m))) => m,
                Ok(other) => panic!("event stream ended waiting for {what}: {other:?}"),
                Err(_) => panic!(
                    "no {what} within {limit:?}; frames seen:\n{}",
                    self.seen
                        .iter()
                        .map(|v| v.to_string())
                        .collect::<Vec<_>>()
                        .join("\n")
                ),
            };
            let Ok(text) = m.to_text() else { continue };
            if text.is_empty() {
                continue;
            }
            let v: serde_json::Value = serde_json::from_str(text).expect("JSON frame");
            self.seen.push(v.clone());
            if f(&v) {
                return v;
            }
        }
    }
}
