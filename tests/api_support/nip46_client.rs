//! A minimal NIP-46 client for process tests (NIP-44 transport, one relay): connect, call a
//! method, count duplicate answers. NIP-46 auth challenges (`"result": "auth_url"`) are not
//! answers: they are recorded in [`Client::auth_urls`] and the client keeps waiting for the
//! real result under the same id, as NIP-46 clients do.
use frostbox::nip46::transport::NostrPool;
use frostbox::nip46::{BunkerUri, Event};
use frostbox::nostr::{Filter, keys, nip44};
use frostbox::relay::Pool;
use frostbox::vault::secret::Secret32;
use serde_json::{Value, json};
use std::time::Duration;

/// A minimal NIP-46 client (NIP-44 transport) over one relay.
pub struct Client {
    pub sk: Secret32,
    pub pk: [u8; 32],
    pub signer: [u8; 32],
    pub conv: Secret32,
    pub pool: Pool,
    pub rx: tokio::sync::mpsc::Receiver<Event>,
    /// Every `auth_url` challenge received: (request id, URL), in arrival order.
    pub auth_urls: Vec<(String, String)>,
    /// Replies read while waiting for an auth challenge, for the next `recv_counted`.
    stash: std::collections::VecDeque<Value>,
}

impl Client {
    pub async fn new(relay: &str, signer: [u8; 32], sk: Secret32) -> Client {
        let pk = keys::xonly_pubkey(&sk).expect("pk");
        let conv = nip44::conversation_key(&sk, &signer).expect("conv");
        let pool = Pool::new(vec![relay.to_string()]);
        let rx = NostrPool::subscribe(
            &pool,
            "c",
            vec![Filter::new().kinds([24133]).authors([signer]).p_tags([pk])],
        )
        .await;
        for _ in 0..200 {
            if pool.connected() == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        Client {
            sk,
            pk,
            signer,
            conv,
            pool,
            rx,
            auth_urls: Vec::new(),
            stash: Default::default(),
        }
    }

    pub async fn send(&self, id: &str, method: &str, params: Value) {
        let body = json!({"id": id, "method": method, "params": params}).to_string();
        self.send_plain(&body).await;
    }

    pub async fn send_plain(&self, body: &str) {
        let ev = sealed(&self.sk, &self.conv, &self.signer, body);
        let _ = self.pool.publish(&ev).await;
    }

    /// Sends a request; returns the response and how many responses with this id arrived
    /// within `extra` after the first.
    pub async fn call_counted(
        &mut self,
        id: &str,
        method: &str,
        params: Value,
        extra: Duration,
    ) -> (Value, usize) {
        self.send(id, method, params).await;
        self.recv_counted(id, method, extra).await
    }

    pub async fn recv_counted(
        &mut self,
        id: &str,
        method: &str,
        extra: Duration,
    ) -> (Value, usize) {
        let mut first: Option<Value> = None;
        let mut n = 0;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let until = match &first {
                Some(_) => tokio::time::Instant::now() + extra,
                None => deadline,
            };
            match self.next_answer(until.min(deadline)).await {
                Some(v) if v["id"] == id => {
                    n += 1;
                    if first.is_none() {
                        first = Some(v);
                    }
                }
                Some(_) => {}
                None => break,
            }
        }
        (first.unwrap_or_else(|| panic!("no answer to {method}")), n)
    }

    fn decode(&self, ev: &Event) -> Value {
        serde_json::from_str(&nip44::decrypt(&self.conv, &ev.content).expect("dec")).expect("json")
    }

    /// Records an `auth_url` challenge; false for any other reply.
    fn take_auth_url(&mut self, v: &Value) -> bool {
        if v["result"] != "auth_url" {
            return false;
        }
        let rid = v["id"].as_str().unwrap_or_default().to_string();
        let url = v["error"].as_str().unwrap_or_default().to_string();
        self.auth_urls.push((rid, url));
        true
    }

    /// The next reply that is not an auth challenge (stashed ones first), until `until`.
    async fn next_answer(&mut self, until: tokio::time::Instant) -> Option<Value> {
        if let Some(v) = self.stash.pop_front() {
            return Some(v);
        }
        loop {
            let v = self.recv_until(until).await?;
            if !self.take_auth_url(&v) {
                return Some(v);
            }
        }
    }

    /// The next reply off the relay, decoded, or `None` at `until`.
    async fn recv_until(&mut self, until: tokio::time::Instant) -> Option<Value> {
        let ev = tokio::time::timeout_at(until, self.rx.recv())
            .await
            .ok()
            .flatten()?;
        Some(self.decode(&ev))
    }

    /// The `auth_url` challenges received for request `id`.
    pub fn auth_urls_for(&self, id: &str) -> Vec<String> {
        self.auth_urls
            .iter()
            .filter(|(r, _)| r == id)
            .map(|(_, u)| u.clone())
            .collect()
    }

    /// Waits (up to `within`) until an `auth_url` challenge for request `id` has arrived;
    /// other replies that arrive meanwhile are kept for the next `recv_counted`.
    pub async fn wait_auth_url(&mut self, id: &str, within: Duration) -> Option<String> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(u) = self.auth_urls_for(id).into_iter().next() {
                return Some(u);
            }
            let v = self.recv_until(deadline).await?;
            if !self.take_auth_url(&v) {
                self.stash.push_back(v);
            }
        }
    }

    /// `connect` with the bunker:// URI's signer pubkey and secret; returns the answer.
    pub async fn connect(&mut self, id: &str, uri: &BunkerUri) -> Value {
        let secret = uri
            .secret
            .clone()
            .expect("the bunker:// URI carries a secret");
        self.call(
            id,
            "connect",
            json!([hex::encode(uri.signer_pubkey), secret]),
        )
        .await
    }

    /// Sends a request; its answer if one arrives within `within`, else `None` (no bunker
    /// answers on this transport key).
    pub async fn try_call(
        &mut self,
        id: &str,
        method: &str,
        params: Value,
        within: Duration,
    ) -> Option<Value> {
        self.send(id, method, params).await;
        let until = tokio::time::Instant::now() + within;
        loop {
            let v = self.next_answer(until).await?;
            if v["id"] == id {
                return Some(v);
            }
        }
    }

    pub async fn call(&mut self, id: &str, method: &str, params: Value) -> Value {
        self.call_counted(id, method, params, Duration::ZERO)
            .await
            .0
    }
}

/// The id of the pending `sign_event` request of `kind` on the box at `addr` (`Authorization:
/// auth`), of keyset `keyset` (else the default one); waits (≤ 5 s) until it is listed.
pub async fn pending_id(
    addr: std::net::SocketAddr,
    auth: &str,
    keyset: Option<&str>,
    kind: u16,
) -> String {
    let path = match keyset {
        Some(ks) => format!("/api/nip46/requests?status=pending&keyset={ks}"),
        None => "/api/nip46/requests?status=pending".to_string(),
    };
    for _ in 0..100 {
        let r = super::get(addr, &path, &[("Authorization", auth)]).await;
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
    panic!("no pending request of kind {kind} on keyset {keyset:?}");
}

/// `body` NIP-44-encrypted under `conv` in a kind-24133 event from `sk` that p-tags `to`.
fn sealed(sk: &Secret32, conv: &Secret32, to: &[u8; 32], body: &str) -> Event {
    let content = nip44::encrypt(conv, body, nip44::B64::Padded).expect("enc");
    Event::sign_random(
        sk,
        frostbox::store::now(),
        24133,
        vec![vec!["p".into(), hex::encode(to)]],
        content,
    )
    .expect("sign")
}

/// A NIP-46 request `{id, method, params}` from `sk` to the remote signer `to`.
pub fn request_event(sk: &Secret32, to: &[u8; 32], id: &str, method: &str, params: Value) -> Event {
    let conv = nip44::conversation_key(sk, to).expect("conv");
    let body = json!({"id": id, "method": method, "params": params}).to_string();
    sealed(sk, &conv, to, &body)
}

/// The signed event in a `sign_event` reply `v`, its signature checked.
pub fn verified_event(v: &Value) -> Event {
    let ev = Event::from_json(
        v["result"]
            .as_str()
            .unwrap_or_else(|| panic!("signed: {v}")),
    )
    .expect("event");
    ev.verify().expect("threshold signature verifies");
    ev
}

/// A bunker in this process for `identity` (local signer, in-memory store, requests outside a
/// grant refused at once) on `relays`, allowed to write on `relay`, running over a relay pool:
/// the bunker and the switch that stops it.
pub fn local_bunker(
    identity: &Secret32,
    relays: Vec<String>,
    relay: &frostbox::relay::Relay,
) -> (frostbox::nip46::Bunker, tokio::sync::watch::Sender<bool>) {
    use frostbox::nip46::{Bunker, BunkerConfig, MemStore, local_signer};
    let cfg = BunkerConfig {
        relays,
        pending_timeout: Duration::ZERO,
        ..Default::default()
    };
    let (bunker, io) = Bunker::new(
        cfg,
        std::sync::Arc::new(local_signer(identity.duplicate())),
        std::sync::Arc::new(MemStore::new()),
    )
    .expect("bunker");
    relay.allow_pubkeys([bunker.transport_pubkey()]);
    let stop = frostbox::nip46::transport::spawn_with_relay_pool(bunker.clone(), io);
    (bunker, stop)
}

/// Every NIP-46 method the interop scripts call (each must be audited `ok` afterwards).
pub const INTEROP_METHODS: [&str; 11] = [
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
];
