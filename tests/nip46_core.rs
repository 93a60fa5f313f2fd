//! Bunker behaviour through its event interface (the exact kind-24133 events a client sends),
//! without relays: happy paths, every error path, approvals, replay, rate limits.

use frostbox::nip46::store::{Nip46Store, RequestStatus, SessionStatus};
use frostbox::nip46::{
    ApprovalDecision, Bunker, BunkerConfig, Event, MemStore, Policy, local_signer,
};
use frostbox::nostr::{keys, nip04, nip44};
use frostbox::vault::secret::Secret32;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;

struct Client {
    sk: Secret32,
    pk: [u8; 32],
}

impl Client {
    fn new() -> Client {
        let sk = Secret32::random();
        let pk = keys::xonly_pubkey(&sk).expect("pk");
        Client { sk, pk }
    }

    fn request(
        &self,
        signer_pk: &[u8; 32],
        id: &str,
        method: &str,
        params: Value,
        use_nip04: bool,
    ) -> Event {
        let body = json!({"id": id, "method": method, "params": params}).to_string();
        self.raw(signer_pk, &body, use_nip04)
    }

    fn raw(&self, signer_pk: &[u8; 32], body: &str, use_nip04: bool) -> Event {
        let content = if use_nip04 {
            nip04::encrypt(&self.sk, signer_pk, body).expect("nip04")
        } else {
            let k = nip44::conversation_key(&self.sk, signer_pk).expect("conv");
            nip44::encrypt(&k, body, nip44::B64::Padded).expect("nip44")
        };
        Event::sign_random(
            &self.sk,
            now(),
            24133,
            vec![vec!["p".into(), hex::encode(signer_pk)]],
            content,
        )
        .expect("sign")
    }

    fn read(&self, ev: &Event) -> (Value, bool) {
        assert_eq!(ev.kind, 24133);
        ev.verify().expect("response event verifies");
        assert_eq!(ev.tags[0], vec!["p".to_string(), hex::encode(self.pk)]);
        if ev.content.contains("?iv=") {
            let s = nip04::decrypt(&self.sk, &ev.pubkey, &ev.content).expect("nip04 response");
            (serde_json::from_str(&s).expect("json"), true)
        } else {
            let k = nip44::conversation_key(&self.sk, &ev.pubkey).expect("conv");
            let s = nip44::decrypt(&k, &ev.content).expect("nip44 response");
            (serde_json::from_str(&s).expect("json"), false)
        }
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

struct Fixture {
    bunker: Bunker,
    out: UnboundedReceiver<Event>,
    store: Arc<MemStore>,
    identity: Secret32,
    signer_pk: [u8; 32],
}

fn fixture(cfg: BunkerConfig) -> Fixture {
    let identity = Secret32::random();
    let store = Arc::new(MemStore::new());
    let mut cfg = cfg;
    if cfg.relays.is_empty() {
        cfg.relays = vec!["ws://127.0.0.1:1".into()];
    }
    let (bunker, io) = Bunker::new(
        cfg,
        Arc::new(local_signer(identity.duplicate())),
        store.clone(),
    )
    .expect("bunker");
    let signer_pk = bunker.transport_pubkey();
    Fixture {
        bunker,
        out: io.outbox,
        store,
        identity,
        signer_pk,
    }
}

impl Fixture {
    async fn call(&mut self, c: &Client, id: &str, method: &str, params: Value) -> Value {
        let ev = c.request(&self.signer_pk, id, method, params, false);
        self.bunker.handle_event(ev).await;
        let resp = self.out.try_recv().expect("a response");
        let (v, _) = c.read(&resp);
        assert_eq!(v["id"], id);
        v
    }

    /// `connect` with the one-time `secret`; asserts the bunker acknowledges it.
    async fn connect_ok(&mut self, c: &Client, id: &str, secret: &str) {
        let v = self
            .call(
                c,
                id,
                "connect",
                json!([hex::encode(self.signer_pk), secret]),
            )
            .await;
        assert_eq!(v["result"], "ack", "{v}");
    }

    fn token(&self, perms: Option<&str>) -> String {
        let (_, uri) = self
            .bunker
            .create_bunker_uri("test", perms.map(|p| Policy::from_perms(p).0), None)
            .expect("token");
        frostbox::nip46::BunkerUri::parse(&uri)
            .expect("uri")
            .secret
            .expect("secret")
    }

    fn audit_has(&self, client: &Client, outcome: &str, needle: &str) -> bool {
        self.store
            .list_audit(Some(&hex::encode(client.pk)), 100)
            .expect("audit")
            .iter()
            .any(|e| e.outcome == outcome && e.detail.contains(needle))
    }
}

#[tokio::test]
async fn bunker_token_flow_and_every_method() {
    let mut f = fixture(BunkerConfig::default());
    let c = Client::new();
    let secret = f.token(Some(
        "sign_event:1,nip44_encrypt,nip44_decrypt,nip04_encrypt,nip04_decrypt",
    ));
    let signer_hex = hex::encode(f.signer_pk);
    let v = f
        .call(&c, "c1", "connect", json!([signer_hex, secret, ""]))
        .await;
    assert_eq!(v["result"], "ack", "{v}");
    let group = keys::xonly_pubkey(&f.identity).expect("pk");
    assert_ne!(
        group, f.signer_pk,
        "transport key is separate from the identity"
    );

    let v = f.call(&c, "p", "ping", json!([])).await;
    assert_eq!(v["result"], "pong");
    let v = f.call(&c, "g", "get_public_key", json!([])).await;
    assert_eq!(v["result"], hex::encode(group));
    let v = f.call(&c, "r", "get_relays", json!([])).await;
    let relays: Value = serde_json::from_str(v["result"].as_str().expect("s")).expect("json");
    assert_eq!(relays["ws://127.0.0.1:1"]["write"], true);
    let v = f.call(&c, "sr", "switch_relays", json!([])).await;
    assert_eq!(v["result"], "[\"ws://127.0.0.1:1\"]");

    let tpl = json!({"kind": 1, "content": "hello", "tags": [["t", "x"]], "created_at": 1_700_000_000u64});
    let v = f
        .call(&c, "s1", "sign_event", json!([tpl.to_string()]))
        .await;
    let signed = Event::from_json(v["result"].as_str().expect("result")).expect("event");
    signed.verify().expect("valid signature");
    assert_eq!(signed.pubkey, group);
    assert_eq!(
        (signed.kind, signed.content.as_str(), signed.created_at),
        (1, "hello", 1_700_000_000)
    );

    // encryption results interoperate with a plain local implementation of the peer's side
    let peer = Client::new();
    let v = f
        .call(
            &c,
            "e44",
            "nip44_encrypt",
            json!([hex::encode(peer.pk), "secret msg"]),
        )
        .await;
    let ct = v["result"].as_str().expect("ct").to_string();
    let k = nip44::conversation_key(&peer.sk, &group).expect("conv");
    assert_eq!(
        nip44::decrypt(&k, &ct).expect("peer decrypts"),
        "secret msg"
    );
    let from_peer = nip44::encrypt(&k, "reply", nip44::B64::Padded).expect("enc");
    let v = f
        .call(
            &c,
            "d44",
            "nip44_decrypt",
            json!([hex::encode(peer.pk), from_peer]),
        )
        .await;
    assert_eq!(v["result"], "reply");
    let v = f
        .call(
            &c,
            "e04",
            "nip04_encrypt",
            json!([hex::encode(peer.pk), "old school"]),
        )
        .await;
    let ct = v["result"].as_str().expect("ct").to_string();
    assert_eq!(
        nip04::decrypt(&peer.sk, &group, &ct).expect("peer decrypts"),
        "old school"
    );
    let from_peer = nip04::encrypt(&peer.sk, &group, "back").expect("enc");
    let v = f
        .call(
            &c,
            "d04",
            "nip04_decrypt",
            json!([hex::encode(peer.pk), from_peer]),
        )
        .await;
    assert_eq!(v["result"], "back");

    // NIP-04 transport is accepted and answered in kind
    let ev = c.request(&f.signer_pk, "old", "ping", json!([]), true);
    f.bunker.handle_event(ev).await;
    let (v, was_nip04) = c.read(&f.out.try_recv().expect("response"));
    assert!(was_nip04);
    assert_eq!(v["result"], "pong");

    let sess = f.bunker.session(&c.pk).expect("store").expect("session");
    assert_eq!(sess.recent_kinds, vec![1]);
    assert!(sess.recent_methods.contains(&"sign_event".to_string()));

    let v = f.call(&c, "lo", "logout", json!([])).await;
    assert_eq!(v["result"], "ack");
    let v = f.call(&c, "after", "get_public_key", json!([])).await;
    assert!(
        v["error"].as_str().expect("error").contains("unauthorized"),
        "{v}"
    );
}

#[tokio::test]
async fn secrets_wrong_reused_expired_and_revocation() {
    let mut f = fixture(BunkerConfig {
        accept_unsolicited: false,
        ..Default::default()
    });
    let secret = f.token(Some("sign_event"));

    let bad = Client::new();
    let v = f
        .call(
            &bad,
            "1",
            "connect",
            json!([hex::encode(f.signer_pk), "nope"]),
        )
        .await;
    assert!(
        v["error"]
            .as_str()
            .expect("e")
            .contains("invalid connection secret"),
        "{v}"
    );
    assert!(f.audit_has(&bad, "denied", "invalid connection secret"));
    let v = f
        .call(&bad, "1b", "connect", json!([hex::encode(f.signer_pk), ""]))
        .await;
    assert!(
        v["error"]
            .as_str()
            .expect("e")
            .contains("secret is required"),
        "{v}"
    );
    let tpl = json!({"kind": 1, "content": "x", "tags": []}).to_string();
    let v = f.call(&bad, "2", "sign_event", json!([tpl])).await;
    assert!(
        v["error"].as_str().expect("e").contains("unauthorized"),
        "{v}"
    );
    assert!(
        v["result"].as_str().unwrap_or("").is_empty(),
        "nothing signed"
    );

    let a = Client::new();
    f.connect_ok(&a, "1", &secret).await;
    let b = Client::new();
    let v = f
        .call(
            &b,
            "1",
            "connect",
            json!([hex::encode(f.signer_pk), secret]),
        )
        .await;
    assert!(
        v["error"].as_str().expect("e").contains("already used"),
        "{v}"
    );
    assert!(f.audit_has(&b, "denied", "already used"));

    // expired token
    let s2 = f.token(Some("sign_event"));
    let mut toks = f.store.list_tokens().expect("tokens");
    for t in toks.iter_mut().filter(|t| t.used_at.is_none()) {
        t.expires_at = now() - 1;
        f.store.put_token(t).expect("put");
    }
    let c = Client::new();
    let v = f
        .call(&c, "1", "connect", json!([hex::encode(f.signer_pk), s2]))
        .await;
    assert!(v["error"].as_str().expect("e").contains("expired"), "{v}");
    assert!(f.audit_has(&c, "denied", "expired"));

    // revocation
    assert!(f.bunker.revoke(&a.pk).expect("revoke"));
    let v = f.call(&a, "3", "sign_event", json!([tpl])).await;
    assert!(
        v["error"].as_str().expect("e").contains("unauthorized"),
        "{v}"
    );
    assert!(f.audit_has(&a, "denied", "unauthorized"));
}

#[tokio::test]
async fn policy_denials_malformed_replay_and_rate_limit() {
    let mut f = fixture(BunkerConfig {
        pending_timeout: Duration::ZERO,
        rate_burst: 10,
        rate_per_sec: 0.01,
        ..Default::default()
    });
    let c = Client::new();
    let mut p = Policy::from_perms("sign_event:1,nip44_encrypt").0;
    p.kinds.insert("4".into(), false);
    p.methods.insert("nip04_decrypt".into(), false);
    let (_, uri) = f
        .bunker
        .create_bunker_uri("t", Some(p), Some(600))
        .expect("uri");
    let secret = frostbox::nip46::BunkerUri::parse(&uri)
        .expect("p")
        .secret
        .expect("s");
    f.connect_ok(&c, "c", &secret).await;

    let tpl4 = json!({"kind": 4, "content": "dm", "tags": []}).to_string();
    let v = f.call(&c, "k4", "sign_event", json!([tpl4])).await;
    assert_eq!(v["error"], "denied by policy: sign_event of kind 4");
    assert!(f.audit_has(&c, "denied", "kind 4"));
    let v = f
        .call(
            &c,
            "d04",
            "nip04_decrypt",
            json!([hex::encode(c.pk), "x?iv=y"]),
        )
        .await;
    assert_eq!(v["error"], "denied by policy: nip04_decrypt");
    // not granted and no operator queue (timeout 0) → denied at once
    let tpl7 = json!({"kind": 7, "content": "+", "tags": []}).to_string();
    let v = f.call(&c, "k7", "sign_event", json!([tpl7])).await;
    assert!(
        v["error"]
            .as_str()
            .expect("e")
            .contains("needs operator approval"),
        "{v}"
    );

    // malformed
    let v = f.call(&c, "m1", "sign_event", json!([1, 2])).await;
    assert!(
        v["error"]
            .as_str()
            .expect("e")
            .starts_with("malformed request"),
        "{v}"
    );
    let v = f.call(&c, "m2", "sign_event", json!(["{not json"])).await;
    assert_eq!(v["error"], "event template is not JSON");
    let v = f
        .call(
            &c,
            "m3",
            "sign_event",
            json!([json!({"kind": 70000}).to_string()]),
        )
        .await;
    assert!(
        v["error"]
            .as_str()
            .expect("e")
            .contains("kind out of range")
    );
    let other = hex::encode([9u8; 32]);
    let v = f
        .call(
            &c,
            "m4",
            "sign_event",
            json!([json!({"kind": 1, "pubkey": other}).to_string()]),
        )
        .await;
    assert!(v["error"].as_str().expect("e").contains("not the identity"));
    let v = f.call(&c, "m5", "frobnicate", json!([])).await;
    assert_eq!(v["error"], "unsupported method: frobnicate");
    f.bunker
        .handle_event(c.raw(&f.signer_pk, "not json at all", false))
        .await;
    assert!(f.out.try_recv().is_err(), "no id → no response");
    assert!(f.audit_has(&c, "ignored", "not JSON"));
    let mut forged = c.request(&f.signer_pk, "fz", "ping", json!([]), false);
    forged.content.push('A');
    f.bunker.handle_event(forged).await;
    assert!(f.out.try_recv().is_err());
    assert!(f.audit_has(&c, "ignored", "signature invalid"));
    for e in f.store.list_audit(None, 1000).expect("audit") {
        assert!(
            e.outcome != "ok" || e.method != "sign_event",
            "nothing was signed: {e:?}"
        );
    }

    // replay: same request id again → ignored, no response
    let ev = c.request(&f.signer_pk, "p1", "ping", json!([]), false);
    f.bunker.handle_event(ev).await;
    assert!(f.out.try_recv().is_ok());
    let ev = c.request(&f.signer_pk, "p1", "ping", json!([]), false);
    f.bunker.handle_event(ev).await;
    assert!(f.out.try_recv().is_err(), "replayed id ignored");
    assert!(f.audit_has(&c, "ignored", "replayed request id"));

    // rate limit: the burst of 10 is used up by the 10 requests above
    let v = f.call(&c, "rl", "ping", json!([])).await;
    assert_eq!(v["error"], "rate limit exceeded, slow down");
}

#[tokio::test]
async fn pending_requests_approve_deny_timeout_and_auth_url() {
    let mut f = fixture(BunkerConfig {
        pending_timeout: Duration::from_secs(5),
        auth_url_base: Some("http://box.local:8002/".into()),
        ..Default::default()
    });
    let c = Client::new();
    // unsolicited connect without secret → waits for the operator
    let ev = c.request(
        &f.signer_pk,
        "c",
        "connect",
        json!([hex::encode(f.signer_pk), "", "sign_event:1"]),
        false,
    );
    let b = f.bunker.clone();
    let task = tokio::spawn(async move { b.handle_event(ev).await });
    let (auth, _) = c.read(
        &tokio::time::timeout(Duration::from_secs(3), f.out.recv())
            .await
            .expect("t")
            .expect("auth_url"),
    );
    assert_eq!(auth["result"], "auth_url");
    let pending = f
        .store
        .list_requests(&[RequestStatus::Pending], 10)
        .expect("list");
    assert_eq!(pending.len(), 1);
    assert_eq!(
        auth["error"],
        format!(
            "http://box.local:8002/#/apps/{}/{}",
            hex::encode(c.pk),
            pending[0].id
        )
    );
    assert_eq!(auth["id"], "c", "under the client's request id");
    assert_eq!(
        f.bunker.session(&c.pk).expect("s").map(|s| s.status),
        Some(SessionStatus::Pending)
    );
    f.bunker
        .resolve(&pending[0].id, ApprovalDecision::ApproveOnce, None)
        .expect("approve");
    task.await.expect("join");
    let (v, _) = c.read(&f.out.try_recv().expect("ack"));
    assert_eq!(v["result"], "ack");
    let sess = f.bunker.session(&c.pk).expect("s").expect("session");
    assert_eq!(sess.status, SessionStatus::Active);
    assert_eq!(sess.policy.to_perms(), "sign_event:1");

    // kind 7 is outside policy → pending → approve always → kind 7 granted for later
    let tpl7 = json!({"kind": 7, "content": "+", "tags": []}).to_string();
    let ev = c.request(&f.signer_pk, "k7", "sign_event", json!([tpl7]), false);
    let b = f.bunker.clone();
    let task = tokio::spawn(async move { b.handle_event(ev).await });
    let _auth = tokio::time::timeout(Duration::from_secs(3), f.out.recv())
        .await
        .expect("t");
    let id = pending_id(&f);
    f.bunker
        .resolve(&id, ApprovalDecision::ApproveAlways, None)
        .expect("approve");
    task.await.expect("join");
    let (v, _) = c.read(&f.out.try_recv().expect("signed"));
    Event::from_json(v["result"].as_str().expect("r"))
        .expect("ev")
        .verify()
        .expect("valid");
    assert_eq!(
        f.store.get_request(&id).expect("g").map(|r| r.status),
        Some(RequestStatus::Completed)
    );
    let v = f.call(&c, "k7b", "sign_event", json!([tpl7])).await;
    assert!(
        v["result"].as_str().expect("r").contains("\"kind\":7"),
        "granted always: {v}"
    );

    // deny
    let tpl9 = json!({"kind": 9, "content": "x", "tags": []}).to_string();
    let ev = c.request(&f.signer_pk, "k9", "sign_event", json!([tpl9]), false);
    let b = f.bunker.clone();
    let task = tokio::spawn(async move { b.handle_event(ev).await });
    let _auth = tokio::time::timeout(Duration::from_secs(3), f.out.recv())
        .await
        .expect("t");
    let id = pending_id(&f);
    f.bunker
        .resolve(&id, ApprovalDecision::DenyAlways, None)
        .expect("deny");
    task.await.expect("join");
    let (v, _) = c.read(&f.out.try_recv().expect("denied"));
    assert_eq!(v["error"], "request denied by the operator");
    let v = f.call(&c, "k9b", "sign_event", json!([tpl9])).await;
    assert_eq!(v["error"], "denied by policy: sign_event of kind 9");
}

#[tokio::test]
async fn pending_request_times_out() {
    let mut f = fixture(BunkerConfig {
        pending_timeout: Duration::from_millis(300),
        ..Default::default()
    });
    let c = Client::new();
    let secret = f.token(Some("nip44_encrypt"));
    f.connect_ok(&c, "c", &secret).await;
    let tpl = json!({"kind": 1, "content": "x", "tags": []}).to_string();
    let v = f.call(&c, "s", "sign_event", json!([tpl])).await;
    assert_eq!(
        v["error"],
        "request timed out waiting for operator approval"
    );
    let r = f.store.list_requests(&[], 1).expect("l");
    assert_eq!(r[0].status, RequestStatus::Expired);
    assert!(
        f.bunker
            .resolve(&r[0].id, ApprovalDecision::ApproveOnce, None)
            .is_err()
    );
}

#[tokio::test]
async fn transport_key_is_persisted_and_nostrconnect_pairs() {
    let identity = Secret32::random();
    let store = Arc::new(MemStore::new());
    let cfg = BunkerConfig {
        relays: vec!["ws://127.0.0.1:2".into()],
        ..Default::default()
    };
    let (b1, _io1) = Bunker::new(
        cfg.clone(),
        Arc::new(local_signer(identity.duplicate())),
        store.clone(),
    )
    .expect("b1");
    let (b2, mut io2) = Bunker::new(
        cfg,
        Arc::new(local_signer(identity.duplicate())),
        store.clone(),
    )
    .expect("b2");
    assert_eq!(b1.transport_pubkey(), b2.transport_pubkey());

    let c = Client::new();
    let uri = format!(
        "nostrconnect://{}?relay=ws%3A%2F%2F127.0.0.1%3A9&secret=abc&perms=sign_event%3A1&name=App",
        hex::encode(c.pk)
    );
    let sess = b2.pair_nostrconnect(&uri, None).expect("pair");
    assert_eq!(sess.profile.name.as_deref(), Some("App"));
    assert!(b2.listen_relays().contains(&"ws://127.0.0.1:9".to_string()));
    let ev = io2.outbox.try_recv().expect("connect response");
    assert_eq!(ev.pubkey, b2.transport_pubkey());
    let (v, _) = c.read(&ev);
    assert_eq!(v["result"], "abc");
    assert!(b2.pair_nostrconnect("nostrconnect://zz", None).is_err());
}

/// The id of the one request waiting for the operator.
fn pending_id(f: &Fixture) -> String {
    f.store
        .list_requests(&[RequestStatus::Pending], 1)
        .expect("l")[0]
        .id
        .clone()
}

/// Sends `ev` to the bunker in a task (it stays pending while the request waits) and returns
/// the first reply, which must be the `auth_url` challenge.
async fn expect_auth_url(f: &mut Fixture, c: &Client, ev: Event) -> (Value, bool) {
    let b = f.bunker.clone();
    tokio::spawn(async move { b.handle_event(ev).await });
    let first = tokio::time::timeout(Duration::from_secs(3), f.out.recv())
        .await
        .expect("a reply within 3 s")
        .expect("outbox open");
    let (v, nip04) = c.read(&first);
    assert_eq!(v["result"], "auth_url", "{v}");
    (v, nip04)
}

fn origin(host: &str, tls: bool) -> frostbox::nip46::RequestOrigin {
    frostbox::nip46::RequestOrigin {
        host: Some(host.into()),
        tls,
    }
}

/// issue 7: the `auth_url` names the web UI as the operator reached the box when the client
/// was paired (bunker:// token or nostrconnect://), else the configured fallback; it comes
/// once per pending request, in the client's transport, before the real answer; never for
/// in-policy requests; never without a base configured.
#[tokio::test]
async fn auth_url_names_the_pairing_origin_once_per_pending_request() {
    let mut f = fixture(BunkerConfig {
        pending_timeout: Duration::from_secs(5),
        auth_url_base: Some("http://frostbox.local:8002".into()),
        ..Default::default()
    });
    let tpl = |k: u16| json!({"kind": k, "content": "x", "tags": []}).to_string();

    // 1. bunker:// token created through http://192.168.1.20:8002, kind 1 granted.
    let (_, uri) = f
        .bunker
        .create_bunker_uri_for(
            "lan",
            Some(Policy::from_perms("sign_event:1").0),
            None,
            Some(&origin("192.168.1.20:8002", false)),
        )
        .expect("token");
    let secret = frostbox::nip46::BunkerUri::parse(&uri)
        .expect("uri")
        .secret
        .expect("secret");
    let a = Client::new();
    f.connect_ok(&a, "c", &secret).await;
    // in policy: the signature, no challenge
    let v = f.call(&a, "in", "sign_event", json!([tpl(1)])).await;
    assert!(
        v["result"].as_str().is_some_and(|r| r.contains("\"sig\"")),
        "{v}"
    );
    assert!(
        f.out.try_recv().is_err(),
        "exactly one reply to an in-policy request"
    );

    // outside policy (kind 7): one challenge naming this box's page of this request …
    let ev = a.request(&f.signer_pk, "k7", "sign_event", json!([tpl(7)]), false);
    let (auth, _) = expect_auth_url(&mut f, &a, ev).await;
    let pending = f
        .store
        .list_requests(&[RequestStatus::Pending], 10)
        .expect("list");
    assert_eq!(pending.len(), 1);
    assert_eq!(auth["id"], "k7");
    assert_eq!(
        auth["error"],
        format!(
            "http://192.168.1.20:8002/#/apps/{}/{}",
            hex::encode(a.pk),
            pending[0].id
        )
    );
    // … recorded with the pending request in the audit log …
    assert!(f.audit_has(
        &a,
        "pending",
        &format!(
            "auth_url http://192.168.1.20:8002/#/apps/{}/",
            hex::encode(a.pk)
        )
    ));
    // … then nothing until the operator answers, then the signature.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        f.out.try_recv().is_err(),
        "one challenge only, no answer yet"
    );
    f.bunker
        .resolve(&pending[0].id, ApprovalDecision::ApproveOnce, None)
        .expect("approve");
    let signed = tokio::time::timeout(Duration::from_secs(3), f.out.recv())
        .await
        .expect("t")
        .expect("answer");
    let (v, _) = a.read(&signed);
    assert_eq!(v["id"], "k7");
    let ev = Event::from_json(v["result"].as_str().expect("signed")).expect("event");
    ev.verify().expect("valid");
    assert_eq!(ev.kind, 7);
    assert!(
        f.out.try_recv().is_err(),
        "no second challenge after the answer"
    );

    // 2. nostrconnect:// pasted through a trusted TLS proxy, NIP-04 transport from this client:
    // the challenge is answered in kind and names https://box.example.
    let b = Client::new();
    let nc = format!(
        "nostrconnect://{}?relay=ws%3A%2F%2F127.0.0.1%3A9&secret=s&perms=nip44_encrypt",
        hex::encode(b.pk)
    );
    f.bunker
        .pair_nostrconnect_for(&nc, None, Some(&origin("box.example", true)))
        .expect("pair");
    let _secret_reply = f.out.try_recv().expect("nostrconnect reply");
    let ev = b.request(&f.signer_pk, "d", "sign_event", json!([tpl(1)]), true);
    let (auth, nip04) = expect_auth_url(&mut f, &b, ev).await;
    assert!(nip04, "answered in the client's transport");
    let rid = pending_id(&f);
    assert_eq!(
        auth["error"],
        format!("https://box.example/#/apps/{}/{rid}", hex::encode(b.pk))
    );
    f.bunker
        .resolve(&rid, ApprovalDecision::DenyOnce, None)
        .expect("deny");
    let (v, _) = b.read(
        &tokio::time::timeout(Duration::from_secs(3), f.out.recv())
            .await
            .expect("t")
            .expect("answer"),
    );
    assert_eq!(v["id"], "d");
    assert_eq!(v["error"], "request denied by the operator");

    // 3. unsolicited connect (no token, no origin): the configured fallback.
    let u = Client::new();
    let ev = u.request(
        &f.signer_pk,
        "u",
        "connect",
        json!([hex::encode(f.signer_pk), "", "sign_event:1"]),
        false,
    );
    let (auth, _) = expect_auth_url(&mut f, &u, ev).await;
    let rid = pending_id(&f);
    assert_eq!(
        auth["error"],
        format!(
            "http://frostbox.local:8002/#/apps/{}/{rid}",
            hex::encode(u.pk)
        )
    );
    f.bunker
        .resolve(&rid, ApprovalDecision::ApproveOnce, None)
        .expect("approve");
    let (v, _) = u.read(
        &tokio::time::timeout(Duration::from_secs(3), f.out.recv())
            .await
            .expect("t")
            .expect("answer"),
    );
    assert_eq!(v["result"], "ack");
}

#[tokio::test]
async fn no_auth_url_without_a_base() {
    let mut f = fixture(BunkerConfig {
        pending_timeout: Duration::from_secs(5),
        ..Default::default()
    });
    let c = Client::new();
    let ev = c.request(
        &f.signer_pk,
        "c",
        "connect",
        json!([hex::encode(f.signer_pk), "", ""]),
        false,
    );
    let b = f.bunker.clone();
    let task = tokio::spawn(async move { b.handle_event(ev).await });
    let mut rid = None;
    for _ in 0..100 {
        if let Some(r) = f
            .store
            .list_requests(&[RequestStatus::Pending], 1)
            .expect("l")
            .first()
        {
            rid = Some(r.id.clone());
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let rid = rid.expect("the connect waits for the operator");
    assert!(f.out.try_recv().is_err(), "no auth_url without a base");
    f.bunker
        .resolve(&rid, ApprovalDecision::DenyOnce, None)
        .expect("deny");
    task.await.expect("join");
    let (v, _) = c.read(&f.out.try_recv().expect("answer"));
    assert_eq!(v["error"], "request denied by the operator");
}
