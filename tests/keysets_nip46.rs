//! One NIP-46 bunker per keyset (issue 7, "each keyset the box holds can have its own
//! bunker"): a real `frostbox serve` process holds two keysets `a` and `b` of two different
//! 2-of-3 groups, each with its own co-signer node (another share of that group, in this test
//! process) on a relay in this process. Checks:
//! * two bunkers with distinct remote-signer pubkeys, each serving its own group key;
//! * a NIP-46 client paired with each (a `bunker://` URI from `POST /api/nip46/bunker?keyset=`)
//!   gets its keyset's group key from `get_public_key` and a `sign_event` that verifies under
//!   that key only;
//! * a request outside policy on `b` gets an `auth_url` that names `?keyset=b`, is invisible to
//!   `a`'s bunker, and approving it through `/api/nip46/...?keyset=b` releases the signature;
//! * the `/api/nip46/*` selector: header or query, unknown keyset → 404 JSON, no default
//!   keyset → 409; the audit log names the keyset of each bunker request;
//! * SIGTERM + unattended restart: both remote-signer pubkeys unchanged, both sign;
//! * deleting `b` stops its bunker (no answer) and deletes its NIP-46 data (a re-import gets a
//!   new remote-signer pubkey and no sessions); `a` still signs.
//! * a legacy (FROSTR 1.0.x, opted in per keyset) keyset `l` next to them, with a legacy
//!   co-signer node on the box's embedded relay, has its own bunker too: `get_public_key`,
//!   `sign_event` (verifies under `l`'s group key), `nip44_encrypt`/`nip44_decrypt` (what a
//!   local NIP-44 computes with the peer's key); its status carries the legacy warning; the
//!   log names the legacy bunker; its pubkey survives the restart; deleting `l` deletes it;
//! * `GET /api/keysets` names each keyset's bunker (distinct pubkeys, the same after the
//!   restart; `null` for a keyset locked since the start, `running: false` after a lock).

use crate::api_support;

use api_support::groups::{self, Group, SHARE_PW, Served};
use api_support::nip46_client::{self, Client};
use api_support::{Resp, get, procs, req};
use frostbox::nip46::{BunkerUri, Event};
use frostbox::nostr::{keys, nip44};
use frostbox::relay::Relay;
use frostbox::vault::secret::Secret32;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;

const ADMIN: &str = "keysets-nip46-admin-secret-93d1";

fn auth() -> String {
    format!("Bearer {ADMIN}")
}

fn spawn(data: &std::path::Path) -> Served {
    Served(procs::spawn(
        data,
        &[
            ("ADMIN_SECRET", ADMIN),
            ("RUST_LOG", "info"),
            ("RATE_LIMIT_ENABLED", "false"),
        ],
    ))
}

/// A relay in this process (127.0.0.1:0) that both groups may write to; NIP-46 clients are
/// allowed on it as they are created (the bunkers' answers p-tag them).
async fn test_relay(groups: &[&Group]) -> (Relay, String) {
    let (url, relay) = api_support::relay::for_groups(groups).await;
    (relay, url)
}

async fn api(a: SocketAddr, method: &str, path: &str, body: Option<&str>) -> Resp {
    req(a, method, path, &[("Authorization", &auth())], body).await
}

async fn import(a: SocketAddr, id: &str, profile: &str) {
    groups::import_labelled(a, &auth(), id, &format!("Identity {id}"), profile).await;
}

/// Waits until keysets `ids` are ready (threshold reachable) and each runs its bunker;
/// returns each bunker's `/api/nip46/status`.
async fn wait_bunkers(a: SocketAddr, ids: &[&str]) -> Vec<Value> {
    groups::wait_bunkers(a, &auth(), ids).await
}

fn hex32(v: &Value) -> [u8; 32] {
    let mut b = [0u8; 32];
    hex::decode_to_slice(v.as_str().unwrap_or_else(|| panic!("hex: {v}")), &mut b).expect("hex");
    b
}

/// A client paired with keyset `ks`'s bunker through a `bunker://` URI that grants kind-1
/// signing; the test relay lets it write.
async fn paired_client(a: SocketAddr, relay: &Relay, url: &str, ks: &str) -> Client {
    paired_client_with(a, relay, url, ks, "sign_event:1").await
}

/// [`paired_client`] with the grant `perms`, talking on relay `url` (which the `bunker://` URI
/// must name).
async fn paired_client_with(
    a: SocketAddr,
    relay: &Relay,
    url: &str,
    ks: &str,
    perms: &str,
) -> Client {
    let r = api(
        a,
        "POST",
        &format!("/api/nip46/bunker?keyset={ks}"),
        Some(&json!({ "label": ks, "perms": perms }).to_string()),
    )
    .await;
    assert_eq!(r.status, 200, "bunker uri {ks}: {}", r.body);
    let uri = BunkerUri::parse(r.json()["uri"].as_str().expect("uri")).expect("parse");
    assert!(uri.relays.iter().any(|r| r == url), "{:?}", uri.relays);
    let sk = Secret32::random();
    relay.allow_pubkeys([keys::xonly_pubkey(&sk).expect("pk")]);
    let mut c = Client::new(url, uri.signer_pubkey, sk).await;
    let v = c.connect(&format!("{ks}-connect"), &uri).await;
    assert_eq!(v["result"], "ack", "{v}");
    c
}

/// `sign_event` of kind `kind` through client `c`: the event is signed by `own`'s group key
/// and the signature does not verify under `other`'s.
async fn signs_as(c: &mut Client, id: &str, kind: u16, own: &Group, other: &Group) -> Event {
    let tpl = json!({"kind": kind, "content": format!("per-keyset bunker {id}"), "tags": [],
                     "created_at": frostbox::store::now()})
    .to_string();
    let v = c.call(id, "sign_event", json!([tpl])).await;
    verified_by(&v, own, other)
}

fn verified_by(v: &Value, own: &Group, other: &Group) -> Event {
    let ev = nip46_client::verified_event(v);
    assert_eq!(ev.pubkey, own.pk(), "signed as this keyset's identity");
    assert!(keys::verify_bip340(&own.pk(), &ev.id, &ev.sig));
    assert!(
        !keys::verify_bip340(&other.pk(), &ev.id, &ev.sig),
        "must not verify under the other keyset's group key"
    );
    ev
}

/// The client pubkeys of keyset `ks`'s sessions.
async fn sessions(a: SocketAddr, ks: &str) -> Vec<String> {
    let r = api(a, "GET", &format!("/api/nip46/sessions?keyset={ks}"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["sessions"]
        .as_array()
        .map(|v| {
            v.iter()
                .filter_map(|s| s["pubkey"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Asks keyset `ks`'s bunker to sign a kind-7 event (outside the client's policy): returns the
/// `auth_url` the client got and the id of the request now pending on that keyset.
async fn kind7_auth_url(a: SocketAddr, c: &mut Client, ks: &str, req: &str) -> (String, String) {
    let tpl = json!({"kind": 7, "content": "+", "tags": [], "created_at": frostbox::store::now()})
        .to_string();
    c.send(req, "sign_event", json!([tpl])).await;
    let got = c
        .wait_auth_url(req, Duration::from_secs(10))
        .await
        .expect("an auth_url for the pending request");
    (got, pending_id(a, ks, 7).await)
}

/// Deletes a keyset through `delete_path`; then its bunker's status route answers `gone` (404
/// unknown keyset, 409 no default keyset) and the client paired with it gets no answer.
async fn delete_and_silence(
    a: SocketAddr,
    delete_path: &str,
    status: &str,
    gone: u16,
    c: &mut Client,
) {
    let r = api(a, "DELETE", delete_path, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = api(a, "GET", status, None).await;
    assert_eq!(r.status, gone, "{status} after the delete: {}", r.body);
    let v = c
        .try_call(
            "after-delete",
            "get_public_key",
            json!([]),
            Duration::from_secs(3),
        )
        .await;
    assert!(v.is_none(), "a deleted keyset's bunker answered: {v:?}");
}

/// The id of keyset `ks`'s pending `sign_event` request of `kind` (waits until listed).
async fn pending_id(a: SocketAddr, ks: &str, kind: u16) -> String {
    nip46_client::pending_id(a, &auth(), Some(ks), kind).await
}

/// Each listed keyset's `bunker` entry of `GET /api/keysets` (`Value::Null` when none).
async fn listed_bunkers(a: SocketAddr) -> std::collections::BTreeMap<String, Value> {
    let list = get(a, "/api/keysets", &[("Authorization", &auth())]).await;
    assert_eq!(list.status, 200, "{}", list.body);
    list.json()["keysets"]
        .as_array()
        .map(|v| {
            v.iter()
                .map(|k| {
                    let id = k["id"].as_str().unwrap_or_default().to_string();
                    assert!(
                        k.get("bunker").is_some(),
                        "every entry names its bunker: {k}"
                    );
                    (id, k["bunker"].clone())
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Asserts that `GET /api/keysets` shows each `(id, transport pubkey)` as a running bunker.
async fn lists_running_bunkers(a: SocketAddr, want: &[(&str, [u8; 32])]) {
    let got = listed_bunkers(a).await;
    for (id, pk) in want {
        let b = &got[*id];
        assert_eq!(b["pubkey"], hex::encode(pk), "keyset {id}: {got:?}");
        assert_eq!(b["running"], true, "keyset {id}: {got:?}");
    }
}

/// `sign_event` through `c` verifies under the legacy group key `group_pk`.
async fn legacy_signs(c: &mut Client, id: &str, group_pk: &[u8; 32]) {
    let tpl = json!({"kind": 1, "content": format!("legacy bunker {id}"), "tags": [],
                     "created_at": frostbox::store::now()})
    .to_string();
    let v = c.call(id, "sign_event", json!([tpl])).await;
    let ev = nip46_client::verified_event(&v);
    assert_eq!(
        &ev.pubkey, group_pk,
        "signed as the legacy keyset's identity"
    );
    assert!(keys::verify_bip340(group_pk, &ev.id, &ev.sig));
}

/// The status of a bunker carries the legacy warning exactly when its keyset is legacy.
fn assert_legacy_status(st: &Value, legacy: bool) {
    assert_eq!(st["legacy"], legacy, "{st}");
    if legacy {
        assert!(
            st["legacyWarning"]
                .as_str()
                .is_some_and(|w| w.contains("frostbox migrate") && w.contains("legacy")),
            "{st}"
        );
    } else {
        assert!(st["legacyWarning"].is_null(), "{st}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_keyset_has_its_own_bunker() {
    let (ga, gb) = (Group::new("alpha"), Group::new("beta"));
    let (relay, url) = test_relay(&[&ga, &gb]).await;
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    let p = spawn(&data);
    let a = p.0.addr;
    import(a, "a", &ga.profile(&url)).await;
    import(a, "b", &gb.profile(&url)).await;
    let legacy = groups::Legacy::generate();
    let lpk = legacy.pk();
    legacy.import(a, &auth(), "l").await;
    let (ca, cb) = (ga.cosigner(&url).await, gb.cosigner(&url).await);
    let lpeer = legacy.cosigner(a).await;

    // Three bunkers: distinct remote-signer pubkeys, each on its own identity; the legacy
    // keyset's status carries the legacy warning.
    let st = wait_bunkers(a, &["a", "b", "l"]).await;
    assert_eq!(hex32(&st[0]["identity_pubkey"]), ga.pk());
    assert_eq!(hex32(&st[1]["identity_pubkey"]), gb.pk());
    assert_eq!(hex32(&st[2]["identity_pubkey"]), lpk);
    let (ta, tb, tl) = (
        hex32(&st[0]["transport_pubkey"]),
        hex32(&st[1]["transport_pubkey"]),
        hex32(&st[2]["transport_pubkey"]),
    );
    assert_ne!(ta, tb, "one remote-signer key per keyset");
    assert!(tl != ta && tl != tb && tl != lpk);
    assert_ne!(ta, ga.pk());
    assert_legacy_status(&st[0], false);
    assert_legacy_status(&st[1], false);
    assert_legacy_status(&st[2], true);
    lists_running_bunkers(a, &[("a", ta), ("b", tb), ("l", tl)]).await;
    let log =
        p.0.wait_log("nip46: bunker started for legacy FROSTR 1.0.x keyset l")
            .await;
    assert!(!log.contains("legacy FROSTR 1.0.x keyset a"), "{log}");
    // The header selects like the query; unknown keyset → 404 JSON; no default keyset → 409.
    let r = req(
        a,
        "GET",
        "/api/nip46/status",
        &[("Authorization", &auth()), ("X-Frostbox-Keyset", "b")],
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(hex32(&r.json()["transport_pubkey"]), tb);
    for path in [
        "/api/nip46/status?keyset=nope",
        "/api/nip46/sessions?keyset=nope",
    ] {
        let r = api(a, "GET", path, None).await;
        assert_eq!(r.status, 404, "{path}: {}", r.body);
        assert!(
            r.json()["error"]
                .as_str()
                .is_some_and(|e| e.contains("keyset")),
            "{}",
            r.body
        );
    }
    let r = api(a, "GET", "/api/nip46/status", None).await;
    assert_eq!(r.status, 409, "no default keyset here: {}", r.body);
    let r = get(a, "/api/nip46/status?keyset=a", &[]).await;
    assert_eq!(r.status, 401, "auth first: {}", r.body);

    // A client per keyset: its own group key, signatures under that key only.
    let mut c1 = paired_client(a, &relay, &url, "a").await;
    let mut c2 = paired_client(a, &relay, &url, "b").await;
    assert_eq!((c1.signer, c2.signer), (ta, tb));
    let v = c1.call("a-pk", "get_public_key", json!([])).await;
    assert_eq!(v["result"], hex::encode(ga.pk()), "{v}");
    let v = c2.call("b-pk", "get_public_key", json!([])).await;
    assert_eq!(v["result"], hex::encode(gb.pk()), "{v}");
    signs_as(&mut c1, "a-1", 1, &ga, &gb).await;
    signs_as(&mut c2, "b-1", 1, &gb, &ga).await;
    // Sessions are per keyset.
    assert_eq!(sessions(a, "a").await, [hex::encode(c1.pk)]);
    assert_eq!(sessions(a, "b").await, [hex::encode(c2.pk)]);

    // The legacy keyset's bunker (on the embedded relay, the box's only relay for it): its
    // group key, a signature under it, NIP-44 through threshold ECDH with the legacy peer.
    let box_url = format!("ws://{a}");
    let mut c3 = paired_client_with(
        a,
        &relay,
        &box_url,
        "l",
        "sign_event:1,nip44_encrypt,nip44_decrypt",
    )
    .await;
    assert_eq!(c3.signer, tl);
    let v = c3.call("l-pk", "get_public_key", json!([])).await;
    assert_eq!(v["result"], hex::encode(lpk), "{v}");
    legacy_signs(&mut c3, "l-1", &lpk).await;
    let peer_sk = Secret32::random();
    let peer = hex::encode(keys::xonly_pubkey(&peer_sk).expect("pk"));
    let text = "legacy bunker NIP-44 round trip";
    let v = c3.call("l-44e", "nip44_encrypt", json!([peer, text])).await;
    let ct = v["result"]
        .as_str()
        .unwrap_or_else(|| panic!("nip44_encrypt: {v}"))
        .to_string();
    let local = nip44::conversation_key(&peer_sk, &lpk).expect("conversation key");
    assert_eq!(
        nip44::decrypt(&local, &ct).expect("the peer decrypts it"),
        text,
        "the same conversation key the peer computes with the legacy group key"
    );
    let mine = nip44::encrypt(&local, "from the peer", nip44::B64::Padded).expect("encrypt");
    let v = c3.call("l-44d", "nip44_decrypt", json!([peer, mine])).await;
    assert_eq!(v["result"], "from the peer", "{v}");
    let v = c3.call("l-44r", "nip44_decrypt", json!([peer, ct])).await;
    assert_eq!(v["result"], text, "{v}");
    assert_eq!(sessions(a, "l").await, [hex::encode(c3.pk)]);

    // Outside policy on b (kind 7): an auth_url naming keyset b; a's bunker does not know
    // the request; approving it on b releases the signature.
    let (got, rid) = kind7_auth_url(a, &mut c2, "b", "b-7").await;
    assert_eq!(
        got,
        format!("http://{a}/#/apps/{}/{rid}?keyset=b", hex::encode(c2.pk)),
        "the box as the operator reached it, the app, the request, the keyset"
    );
    let r = api(
        a,
        "POST",
        &format!("/api/nip46/requests/{rid}/approve?keyset=a"),
        Some("{}"),
    )
    .await;
    assert_eq!(r.status, 404, "a's bunker has no such request: {}", r.body);
    let r = api(
        a,
        "POST",
        &format!("/api/nip46/requests/{rid}/approve?keyset=b"),
        Some("{}"),
    )
    .await;
    assert_eq!(r.status, 200, "approve on b: {}", r.body);
    let (v, n) = c2
        .recv_counted("b-7", "sign_event", Duration::from_millis(300))
        .await;
    assert_eq!(n, 1, "one answer");
    assert_eq!(verified_by(&v, &gb, &ga).kind, 7);

    // The audit log names the keyset of each bunker request.
    let audit = get(a, "/api/admin/audit", &[("Authorization", &auth())])
        .await
        .json();
    let entries = audit["entries"].as_array().cloned().unwrap_or_default();
    for (ks, c) in [("a", &c1), ("b", &c2)] {
        assert!(
            entries
                .iter()
                .any(|e| e["who"] == format!("nip46:{}", hex::encode(c.pk))
                    && e["action"] == "nip46.sign_event"
                    && e["subject"]
                        .as_str()
                        .is_some_and(|s| s.starts_with(&format!("keyset={ks} ")))),
            "audit of keyset {ks}: {audit}"
        );
    }
    let r = api(a, "GET", "/api/nip46/audit?keyset=b&limit=500", None).await;
    let nip46_audit = r.json();
    let b_entries = nip46_audit["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(!b_entries.is_empty(), "{nip46_audit}");
    assert!(
        b_entries
            .iter()
            .all(|e| e["keyset"] == "b" && e["client"] == hex::encode(c2.pk)),
        "b's bunker audits only its own clients, naming b: {nip46_audit}"
    );

    // Restart (unattended): both remote-signer pubkeys unchanged, the sessions kept, both sign.
    let mut p = p;
    let (code, _) = procs::sigterm_and_wait(&mut p.0);
    assert_eq!(code, 0);
    drop(p);
    let p = spawn(&data);
    let a = p.0.addr;
    // The legacy peer follows the box's embedded relay to its new port.
    lpeer.shutdown().await;
    let lpeer = legacy.cosigner(a).await;
    let st = wait_bunkers(a, &["a", "b", "l"]).await;
    assert_eq!(
        hex32(&st[0]["transport_pubkey"]),
        ta,
        "a's bunker pubkey kept"
    );
    assert_eq!(
        hex32(&st[1]["transport_pubkey"]),
        tb,
        "b's bunker pubkey kept"
    );
    assert_eq!(
        hex32(&st[2]["transport_pubkey"]),
        tl,
        "l's bunker pubkey kept"
    );
    assert_legacy_status(&st[2], true);
    lists_running_bunkers(a, &[("a", ta), ("b", tb), ("l", tl)]).await;
    signs_as(&mut c1, "a-2", 1, &ga, &gb).await;
    signs_as(&mut c2, "b-2", 1, &gb, &ga).await;
    // The legacy client's session survived: the same client key on the new relay address.
    let mut c3 = Client::new(&format!("ws://{a}"), tl, c3.sk.duplicate()).await;
    legacy_signs(&mut c3, "l-2", &lpk).await;

    // Deleting b: its bunker stops answering, its NIP-46 data goes; a still signs.
    delete_and_silence(
        a,
        "/api/keysets/b",
        "/api/nip46/status?keyset=b",
        404,
        &mut c2,
    )
    .await;
    signs_as(&mut c1, "a-3", 1, &ga, &gb).await;
    import(a, "b", &gb.profile(&url)).await;
    let st = wait_bunkers(a, &["a", "b"]).await;
    assert_eq!(hex32(&st[0]["transport_pubkey"]), ta);
    let tb2 = hex32(&st[1]["transport_pubkey"]);
    assert_ne!(tb2, tb, "b's transport key was deleted with the keyset");
    assert!(
        sessions(a, "b").await.is_empty(),
        "b's sessions were deleted"
    );
    let v = c2
        .try_call("b-4", "get_public_key", json!([]), Duration::from_secs(2))
        .await;
    assert!(v.is_none(), "the old remote-signer key answered: {v:?}");
    lists_running_bunkers(a, &[("a", ta), ("b", tb2), ("l", tl)]).await;

    // Deleting the legacy keyset stops its bunker and deletes its NIP-46 data too.
    delete_and_silence(
        a,
        "/api/keysets/l",
        "/api/nip46/status?keyset=l",
        404,
        &mut c3,
    )
    .await;
    assert!(!listed_bunkers(a).await.contains_key("l"));
    legacy.import(a, &auth(), "l").await;
    let st = wait_bunkers(a, &["l"]).await;
    let tl2 = hex32(&st[0]["transport_pubkey"]);
    assert_ne!(tl2, tl, "l's transport key was deleted with the keyset");
    assert!(
        sessions(a, "l").await.is_empty(),
        "l's sessions were deleted"
    );
    lists_running_bunkers(a, &[("l", tl2)]).await;
    ca.shutdown().await;
    cb.shutdown().await;
    lpeer.shutdown().await;
}

const LOCK_PW: &str = "keysets-nip46-lock-password";

/// The `default` keyset through the single-keyset routes (its bunker answers `/api/nip46/*`
/// without a selector, as before) next to a password-locked keyset `b`: after a restart `b`'s
/// bunker waits for the unlock (409 naming `b`), the unlock starts it with the same
/// remote-signer pubkey and sessions; `DELETE /api/keyset` stops the default bunker and
/// deletes its data, `b` keeps signing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlock_starts_a_locked_keysets_bunker_and_the_old_delete_route_stops_default() {
    let (gd, gb) = (Group::new("first"), Group::new("second"));
    let (relay, url) = test_relay(&[&gd, &gb]).await;
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    let p = spawn(&data);
    let a = p.0.addr;
    let import_default = |a: SocketAddr| {
        let body = json!({ "share_cred": gd.profile(&url), "share_password": SHARE_PW,
                           "mode": "unattended" });
        async move {
            let r = api(a, "POST", "/api/keyset", Some(&body.to_string())).await;
            assert_eq!(r.status, 200, "{}", r.body);
        }
    };
    import_default(a).await;
    let body = json!({ "id": "b", "share_cred": gb.profile(&url), "share_password": SHARE_PW,
                       "mode": "locked", "password": LOCK_PW });
    let r = api(a, "POST", "/api/keysets", Some(&body.to_string())).await;
    assert_eq!(r.status, 200, "import b: {}", r.body);
    let (cd, cb) = (gd.cosigner(&url).await, gb.cosigner(&url).await);
    let st = wait_bunkers(a, &["default", "b"]).await;
    let (td, tb) = (
        hex32(&st[0]["transport_pubkey"]),
        hex32(&st[1]["transport_pubkey"]),
    );
    assert_ne!(td, tb);
    let r = api(a, "GET", "/api/nip46/status", None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        hex32(&r.json()["transport_pubkey"]),
        td,
        "no selector = default"
    );
    assert_eq!(hex32(&r.json()["identity_pubkey"]), gd.pk());

    let mut c1 = paired_client(a, &relay, &url, "default").await;
    let mut c2 = paired_client(a, &relay, &url, "b").await;
    signs_as(&mut c1, "d-1", 1, &gd, &gb).await;
    signs_as(&mut c2, "b-1", 1, &gb, &gd).await;
    // The default keyset's auth_url is unchanged (no ?keyset=).
    let (got, rid) = kind7_auth_url(a, &mut c1, "default", "d-7").await;
    assert_eq!(
        got,
        format!("http://{a}/#/apps/{}/{rid}", hex::encode(c1.pk))
    );
    let r = api(
        a,
        "POST",
        &format!("/api/nip46/requests/{rid}/deny"),
        Some("{}"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Restart: default starts unattended, b waits for its password.
    let mut p = p;
    let (code, _) = procs::sigterm_and_wait(&mut p.0);
    assert_eq!(code, 0);
    drop(p);
    let p = spawn(&data);
    let a = p.0.addr;
    let st = wait_bunkers(a, &["default"]).await;
    assert_eq!(hex32(&st[0]["transport_pubkey"]), td);
    let listed = listed_bunkers(a).await;
    assert_eq!(listed["default"]["pubkey"], hex::encode(td), "{listed:?}");
    assert!(
        listed["b"].is_null(),
        "locked since the start: no bunker listed: {listed:?}"
    );
    let r = api(a, "GET", "/api/nip46/status?keyset=b", None).await;
    assert_eq!(r.status, 409, "locked: no bunker yet: {}", r.body);
    assert_eq!(r.json()["code"], "NODE_UNAVAILABLE");
    assert!(
        r.json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("keyset b")),
        "{}",
        r.body
    );
    let r = api(
        a,
        "POST",
        "/api/keyset/unlock?keyset=b",
        Some(&json!({ "password": LOCK_PW }).to_string()),
    )
    .await;
    assert_eq!(r.status, 200, "unlock b: {}", r.body);
    let st = wait_bunkers(a, &["default", "b"]).await;
    assert_eq!(
        hex32(&st[1]["transport_pubkey"]),
        tb,
        "b's bunker pubkey kept"
    );
    assert_eq!(
        sessions(a, "b").await,
        [hex::encode(c2.pk)],
        "b's session kept"
    );
    signs_as(&mut c2, "b-2", 1, &gb, &gd).await;
    signs_as(&mut c1, "d-2", 1, &gd, &gb).await;
    lists_running_bunkers(a, &[("default", td), ("b", tb)]).await;
    // Locking b stops its bunker: still listed by its pubkey, not running; the unlock runs it.
    let r = api(a, "POST", "/api/lock?keyset=b", Some("{}")).await;
    assert_eq!(r.status, 200, "lock b: {}", r.body);
    let listed = listed_bunkers(a).await;
    assert_eq!(listed["b"]["pubkey"], hex::encode(tb), "{listed:?}");
    assert_eq!(listed["b"]["running"], false, "{listed:?}");
    assert_eq!(listed["default"]["running"], true, "{listed:?}");
    let r = api(
        a,
        "POST",
        "/api/keyset/unlock?keyset=b",
        Some(&json!({ "password": LOCK_PW }).to_string()),
    )
    .await;
    assert_eq!(r.status, 200, "unlock b again: {}", r.body);
    wait_bunkers(a, &["default", "b"]).await;
    lists_running_bunkers(a, &[("default", td), ("b", tb)]).await;

    // The old single-keyset delete route: the default bunker stops and its data goes.
    delete_and_silence(a, "/api/keyset", "/api/nip46/status", 409, &mut c1).await;
    signs_as(&mut c2, "b-3", 1, &gb, &gd).await;
    import_default(a).await;
    let st = wait_bunkers(a, &["default", "b"]).await;
    assert_ne!(
        hex32(&st[0]["transport_pubkey"]),
        td,
        "the default keyset's transport key was deleted with it"
    );
    assert!(sessions(a, "default").await.is_empty());
    assert_eq!(hex32(&st[1]["transport_pubkey"]), tb);
    cd.shutdown().await;
    cb.shutdown().await;
}
