//! HTTP tests of the keyset administration routes the web UI calls: `/api/keyset/create`,
//! `/api/migrate`, `/api/keyset/backup`, `/api/keyset/mode`, `/api/lock`, `/api/user/password`,
//! plus the vault mode after a restart and the relay objects in `/api/status`.

use crate::api_support;

use api_support::*;
use frostbox::frost::KeyShare;
use frostbox::frostr::next::credential::BfProfile;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

const PKG_PW: &str = "package-pass-7731";
const LOCK_PW: &str = "unlock-pass-5521";

fn err(r: &Resp) -> String {
    r.json()["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error field: {} {}", r.status, r.body))
        .to_string()
}

/// Records what the API hands to the node factory: (share_cred, share_password).
type Handed = Arc<Mutex<Vec<(String, Option<String>)>>>;

fn capture(s: &Server) -> Handed {
    let got: Handed = Arc::default();
    let g2 = got.clone();
    s.st.set_credentials_hook(Arc::new(move |c| {
        g2.lock().expect("lock").push((
            c.share_cred.expose().to_string(),
            c.share_password.map(|p| p.expose().to_string()),
        ));
    }));
    got
}

fn decode(cred: &str, pw: &str) -> BfProfile {
    BfProfile::decode(cred, pw).expect("bfprofile decodes with its password")
}

fn share_of(p: &BfProfile) -> KeyShare {
    let idx = p
        .group_package
        .find_share(&p.device.share_secret)
        .expect("share is a member");
    KeyShare::new(idx, p.device.share_secret.duplicate())
}

#[tokio::test]
async fn create_keyset_returns_other_shares_once_and_keeps_share_one() {
    let s = start(&[
        ("ADMIN_SECRET", ADMIN_SECRET),
        ("RELAYS", "ws://127.0.0.1:9"),
    ])
    .await;
    let cookie = admin_session(&s).await;
    let h = [("Cookie", cookie.as_str())];
    let handed = capture(&s);
    let mut bodies: Vec<String> = Vec::new();

    // Bad input: each a 4xx JSON error, nothing stored.
    for (body, needle) in [
        (
            json!({"threshold": 1, "total": 3, "password": PKG_PW}),
            "threshold",
        ),
        (
            json!({"threshold": 2, "total": 11, "password": PKG_PW}),
            "total",
        ),
        (
            json!({"threshold": 4, "total": 3, "password": PKG_PW}),
            "threshold",
        ),
        (
            json!({"threshold": 2, "total": 3, "password": "short"}),
            "password",
        ),
        (
            json!({"threshold": 2, "total": 3, "password": PKG_PW, "nsec": "nsec1nope"}),
            "nsec",
        ),
        (
            json!({"threshold": 2, "total": 3, "password": PKG_PW, "mode": "locked"}),
            "lock_password",
        ),
        (
            json!({"threshold": 2, "total": 3, "password": PKG_PW, "mode": "sometimes"}),
            "mode",
        ),
        (
            json!({"threshold": 2, "total": 3, "password": PKG_PW, "extra": 1}),
            "unknown field",
        ),
        (
            json!({"threshold": "2", "total": 3, "password": PKG_PW}),
            "invalid",
        ),
    ] {
        let r = post(s.addr, "/api/keyset/create", &h, &body.to_string()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert!(err(&r).contains(needle), "{body}: {}", r.body);
        bodies.push(r.body);
    }
    assert!(s.st.store.keyset("default").expect("get").is_none());
    let r = post(
        s.addr,
        "/api/keyset/create",
        &[],
        &json!({"threshold": 2, "total": 3, "password": PKG_PW}).to_string(),
    )
    .await;
    assert_eq!(r.status, 401);

    // A fresh 2-of-3.
    let r = post(
        s.addr,
        "/api/keyset/create",
        &h,
        &json!({"threshold": 2, "total": 3, "password": PKG_PW}).to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    bodies.push(r.body.clone());
    let v = r.json();
    assert_eq!(v["threshold"], 2);
    assert_eq!(v["total"], 3);
    assert_eq!(v["vault"]["mode"], "unattended");
    assert_eq!(v["vault"]["has_keyset"], true);
    let gpk = v["group_pk"].as_str().expect("group_pk").to_string();
    assert_eq!(
        v["npub"].as_str().expect("npub"),
        frostbox::cli::keys::npub(&hex32(&gpk))
    );
    let shares = v["shares"].as_array().expect("shares");
    assert_eq!(
        shares.iter().map(|x| x["idx"].as_u64()).collect::<Vec<_>>(),
        vec![Some(2), Some(3)],
        "share 1 stays on the box"
    );
    let profiles: Vec<BfProfile> = shares
        .iter()
        .map(|x| decode(x["credential"].as_str().expect("credential"), PKG_PW))
        .collect();
    for p in &profiles {
        assert_eq!(hex::encode(p.group_package.group_pk), gpk);
        assert_eq!(p.device.relays, vec!["ws://127.0.0.1:9".to_string()]);
    }
    assert!(
        BfProfile::decode(
            shares[0]["credential"].as_str().expect("c"),
            "wrong-password"
        )
        .is_err()
    );
    // Shares 2 and 3 alone rebuild the group key: a real 2-of-3.
    let two: Vec<KeyShare> = profiles.iter().map(share_of).collect();
    let secret =
        frostbox::frost::keys::recover_checked(&two, &hex32(&gpk)).expect("2 of 3 recover");
    assert_eq!(frostbox::frost::xonly(&secret).expect("x"), hex32(&gpk));

    // The box kept share 1 (sealed) and handed it to the node with its password.
    let got = handed.lock().expect("lock").clone();
    assert_eq!(got.len(), 1);
    let own = decode(&got[0].0, got[0].1.as_deref().expect("share password kept"));
    assert_eq!(share_of(&own).idx, 1);
    let blob = s.st.store.keyset("default").expect("get").expect("stored");
    assert!(
        !String::from_utf8_lossy(&blob).contains(&got[0].0),
        "stored in clear"
    );
    // Shown once: a second create is refused while a keyset is stored.
    let r = post(
        s.addr,
        "/api/keyset/create",
        &h,
        &json!({"threshold": 2, "total": 2, "password": PKG_PW}).to_string(),
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(
        req(s.addr, "DELETE", "/api/keyset", &h, None).await.status,
        200
    );

    // Split an existing nsec: the group key is its npub.
    let nsec_secret = frostbox::vault::Secret32::random();
    let nsec = frostbox::nostr::nip19::encode_nsec(&nsec_secret);
    let r = post(
        s.addr,
        "/api/keyset/create",
        &h,
        &json!({"threshold": 2, "total": 2, "password": PKG_PW, "nsec": nsec.expose(),
                "mode": "locked", "lock_password": LOCK_PW, "name": "mine"})
        .to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    bodies.push(r.body.clone());
    let v = r.json();
    assert_eq!(
        v["group_pk"],
        hex::encode(frostbox::frost::xonly(&nsec_secret).expect("x"))
    );
    assert_eq!(v["vault"]["mode"], "locked");
    assert_eq!(v["group_package"]["group_name"], "mine");
    for b in &bodies {
        for secret in [PKG_PW, LOCK_PW, nsec.expose()] {
            assert!(!b.contains(secret), "secret in a response: {b}");
        }
    }
}

use api_support::keys::hex32;

async fn create(s: &Server, h: &[(&str, &str)], extra: Value) -> Value {
    let mut body = json!({"threshold": 2, "total": 3, "password": PKG_PW});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    let r = post(s.addr, "/api/keyset/create", h, &body.to_string()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

#[tokio::test]
async fn backup_mode_lock_and_restart_keep_the_sealed_mode() {
    let s = start(&[("ADMIN_SECRET", ADMIN_SECRET)]).await;
    let cookie = admin_session(&s).await;
    let h = [("Cookie", cookie.as_str())];
    let handed = capture(&s);

    // No keyset yet.
    let r = post(
        s.addr,
        "/api/keyset/backup",
        &h,
        &json!({"password": "backup-pass-1"}).to_string(),
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(post(s.addr, "/api/lock", &h, "{}").await.status, 404);

    let created = create(&s, &h, json!({})).await;
    let gpk = created["group_pk"].as_str().expect("gpk").to_string();

    // Backup (unattended): a bfprofile of share 1 under the backup password.
    let r = post(
        s.addr,
        "/api/keyset/backup",
        &h,
        &json!({"password": "short"}).to_string(),
    )
    .await;
    assert_eq!(r.status, 400);
    let r = post(
        s.addr,
        "/api/keyset/backup",
        &h,
        &json!({"password": "backup-pass-1"}).to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!r.body.contains(PKG_PW));
    let b = decode(
        r.json()["bfprofile"].as_str().expect("bfprofile"),
        "backup-pass-1",
    );
    assert_eq!(share_of(&b).idx, 1);
    assert_eq!(hex::encode(b.group_package.group_pk), gpk);
    assert!(BfProfile::decode(r.json()["bfprofile"].as_str().expect("b"), PKG_PW).is_err());

    // Lock needs locked mode.
    let r = post(s.addr, "/api/lock", &h, "{}").await;
    assert_eq!(r.status, 409, "{}", r.body);

    // Unattended → locked.
    let r = post(
        s.addr,
        "/api/keyset/mode",
        &h,
        &json!({"mode": "locked"}).to_string(),
    )
    .await;
    assert_eq!(r.status, 400, "needs a password: {}", r.body);
    let r = post(
        s.addr,
        "/api/keyset/mode",
        &h,
        &json!({"mode": "locked", "password": LOCK_PW}).to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["vault"]["mode"], "locked");
    assert!(!r.body.contains(LOCK_PW));

    // A restart (a new AppState on the same store) reports the sealed mode, locked.
    let st2 = frostbox::api::AppState::new(
        config_with(&[], s.dir.path()),
        s.st.store.clone(),
        frostbox::vault::at_rest::KdfParams::TEST,
    );
    assert!(!frostbox::api::routes::unseal_at_start(&st2).expect("unseal"));
    let v = st2.vault.lock().expect("vault").clone();
    assert_eq!(v.mode, frostbox::config::VaultMode::Locked);
    assert!(v.locked && v.has_keyset);

    // Backup in locked mode needs the unlock password.
    let r = post(
        s.addr,
        "/api/keyset/backup",
        &h,
        &json!({"password": "backup-pass-2"}).to_string(),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = post(
        s.addr,
        "/api/keyset/backup",
        &h,
        &json!({"password": "backup-pass-2", "lock_password": "not-the-lock-pw"}).to_string(),
    )
    .await;
    assert_eq!(r.status, 401, "{}", r.body);
    let r = post(
        s.addr,
        "/api/keyset/backup",
        &h,
        &json!({"password": "backup-pass-2", "lock_password": LOCK_PW}).to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Lock now: the node is stopped and detached, the vault says locked; unlock restarts it.
    let node = attach_mock(&s, [7u8; 32]);
    let st = get(s.addr, "/api/status", &h).await.json();
    assert_eq!(st["nodeActive"], true);
    let r = post(s.addr, "/api/lock", &h, "{}").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["vault"]["locked"], true);
    assert!(s.st.node().is_none());
    drop(node);
    let st = get(s.addr, "/api/status", &h).await.json();
    assert_eq!(st["nodeActive"], false);
    assert_eq!(st["vault"]["locked"], true);
    let before = handed.lock().expect("lock").len();
    let r = post(
        s.addr,
        "/api/keyset/unlock",
        &h,
        &json!({"password": LOCK_PW}).to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(handed.lock().expect("lock").len(), before + 1);

    // Locked → unattended needs the current unlock password.
    let r = post(
        s.addr,
        "/api/keyset/mode",
        &h,
        &json!({"mode": "unattended"}).to_string(),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = post(
        s.addr,
        "/api/keyset/mode",
        &h,
        &json!({"mode": "unattended", "current_password": LOCK_PW}).to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["vault"]["mode"], "unattended");
    assert!(frostbox::api::routes::unseal_at_start(&s.st).expect("unseal with the device key"));

    // Unauthenticated calls are refused.
    for p in [
        "/api/keyset/backup",
        "/api/keyset/mode",
        "/api/lock",
        "/api/migrate",
    ] {
        assert_eq!(post(s.addr, p, &[], "{}").await.status, 401, "{p}");
    }
}

#[tokio::test]
async fn change_password() {
    let s = start(&[
        ("ADMIN_SECRET", ADMIN_SECRET),
        ("API_KEY", "k3y-for-tests-0123456789"),
    ])
    .await;
    let cookie = admin_session(&s).await;
    let h = [("Cookie", cookie.as_str())];
    let body =
        |cur: &str, new: &str| json!({"currentPassword": cur, "newPassword": new}).to_string();
    let r = post(
        s.addr,
        "/api/user/password",
        &h,
        &body("wrong-current-1", "N3w-password-long"),
    )
    .await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(err(&r).contains("current password"));
    let r = post(s.addr, "/api/user/password", &h, &body(PASSWORD, "short")).await;
    assert_eq!(r.status, 400);
    let r = post(
        s.addr,
        "/api/user/password",
        &h,
        &json!({"currentPassword": PASSWORD}).to_string(),
    )
    .await;
    assert_eq!(r.status, 400);
    let r = post(
        s.addr,
        "/api/user/password",
        &[("X-API-Key", "k3y-for-tests-0123456789")],
        &body(PASSWORD, "N3w-password-long"),
    )
    .await;
    assert_eq!(r.status, 403, "an API key has no password: {}", r.body);
    assert_eq!(
        post(s.addr, "/api/user/password", &[], &body(PASSWORD, "x"))
            .await
            .status,
        401
    );
    let r = post(
        s.addr,
        "/api/user/password",
        &h,
        &body(PASSWORD, "N3w-password-long"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!r.body.contains("N3w-password-long") && !r.body.contains(PASSWORD));
    let old = post(
        s.addr,
        "/api/auth/login",
        &[],
        &json!({"username": "alice", "password": PASSWORD}).to_string(),
    )
    .await;
    assert_eq!(old.status, 401);
    login(&s, "alice", "N3w-password-long").await;
}

#[tokio::test]
async fn migrate_legacy_keeps_the_npub() {
    use frostbox::frostr::legacy;
    // The box holds a legacy share only with the legacy switch on (import is refused otherwise:
    // tests/node_serve.rs); migrating away is what that switch is for.
    let s = start(&[("ADMIN_SECRET", ADMIN_SECRET)]).await;
    s.st.store
        .set_settings(&[("FROSTR_LEGACY".into(), "true".into())])
        .expect("legacy switch");
    let cookie = admin_session(&s).await;
    let h = [("Cookie", cookie.as_str())];
    let handed = capture(&s);
    let (group, shares) = legacy::keygen(2, 3, None).expect("legacy keygen");
    let g = group.encode();
    let sh: Vec<String> = shares
        .iter()
        .map(|x| x.encode().as_str().to_string())
        .collect();

    // Nothing stored and no group given.
    let r = post(
        s.addr,
        "/api/migrate",
        &h,
        &json!({"password": PKG_PW}).to_string(),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(err(&r).contains("group_cred"), "{}", r.body);

    // The box runs legacy share 1.
    let r = post(
        s.addr,
        "/api/keyset",
        &h,
        &json!({"share_cred": sh[0], "group_cred": g}).to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // One share is below the legacy threshold.
    let r = post(
        s.addr,
        "/api/migrate",
        &h,
        &json!({"password": PKG_PW}).to_string(),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(err(&r).contains("legacy shares needed"), "{}", r.body);
    let r = post(
        s.addr,
        "/api/migrate",
        &h,
        &json!({"password": PKG_PW, "shares": ["bfshare1garbage"]}).to_string(),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);

    let r = post(
        s.addr,
        "/api/migrate",
        &h,
        &json!({"password": PKG_PW, "shares": [sh[2]]}).to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    for x in &sh {
        assert!(
            !r.body.contains(x.as_str()),
            "a legacy share in the response"
        );
    }
    let v = r.json();
    assert_eq!(v["npub_unchanged"], true);
    assert_eq!(v["group_pk"], hex::encode(group.npub()));
    let new: Vec<KeyShare> = v["shares"]
        .as_array()
        .expect("shares")
        .iter()
        .map(|x| share_of(&decode(x["credential"].as_str().expect("c"), PKG_PW)))
        .collect();
    assert_eq!(new.len(), 2);
    let secret = frostbox::frost::keys::recover_checked(&new, &group.npub()).expect("recover");
    assert_eq!(frostbox::frost::xonly(&secret).expect("x"), group.npub());
    // The box now holds a current-generation bfprofile (share 1).
    let last = handed
        .lock()
        .expect("lock")
        .last()
        .cloned()
        .expect("handed");
    assert!(last.0.starts_with("bfprofile1"));
    assert_eq!(
        share_of(&decode(&last.0, last.1.as_deref().expect("pw"))).idx,
        1
    );
}

#[tokio::test]
async fn status_relays_are_objects() {
    let s = start(&[("RELAYS", "ws://127.0.0.1:9,wss://relay.example")]).await;
    let v = get(s.addr, "/api/status", &[]).await.json();
    assert_eq!(
        v["relays"],
        json!([{"url": "ws://127.0.0.1:9", "connected": null, "rtt_ms": null},
               {"url": "wss://relay.example", "connected": null, "rtt_ms": null}])
    );
    assert_eq!(
        v["relayUrls"],
        json!(["ws://127.0.0.1:9", "wss://relay.example"])
    );
}
