//! HTTP-level tests of every API route against an in-process server on 127.0.0.1:0.

use crate::api_support;

use api_support::*;
use frostbox::api::openapi::ROUTES;
use serde_json::{Value, json};

/// `POST /api/onboarding/setup` with `Authorization: <auth>` and the JSON `body`.
async fn setup(a: std::net::SocketAddr, auth: &str, body: &str) -> Resp {
    post(a, "/api/onboarding/setup", &[("Authorization", auth)], body).await
}

fn err_json(r: &Resp) -> String {
    let v = r.json();
    v["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error field: {} {}", r.status, r.body))
        .to_string()
}

#[tokio::test]
async fn health_ready_metrics_and_headers() {
    let s = start(&[]).await;
    let r = get(s.addr, "/health", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "ok");
    let r = get(s.addr, "/ready", &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["node"], "not_configured");
    s.st.set_ready(false);
    let r = get(s.addr, "/ready", &[]).await;
    assert_eq!(r.status, 503);
    // The 503 carries the readiness body, and the OpenAPI document says so (schemathesis
    // validates /ready's 503 against it in CI step 60).
    assert_eq!(r.json()["ready"], false);
    let spec = frostbox::api::openapi::spec();
    let schema = &spec["paths"]["/ready"]["get"]["responses"]["503"]["content"]["application/json"]
        ["schema"];
    for key in schema["required"].as_array().expect("required") {
        let key = key.as_str().expect("key");
        assert!(
            r.json().get(key).is_some(),
            "503 body lacks documented {key}"
        );
    }
    s.st.set_ready(true);

    let r = get(s.addr, "/api/status", &[]).await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["serverRunning"], true);
    assert_eq!(v["nodeActive"], false);
    assert_eq!(v["hasCredentials"], Value::Null, "unauthenticated → null");
    assert_eq!(v["vault"]["mode"], "unattended");
    // Security headers.
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert!(
        r.header("content-security-policy")
            .is_some_and(|c| c.contains("frame-ancestors 'none'"))
    );
    assert!(
        r.header("strict-transport-security").is_none(),
        "no HSTS on plain HTTP"
    );

    let m = get(s.addr, "/metrics", &[]).await;
    assert_eq!(m.status, 200);
    assert!(
        m.header("content-type")
            .is_some_and(|c| c.starts_with("text/plain"))
    );
    for needle in [
        "frostbox_http_requests_total{route=\"read\",status=\"200\"}",
        "frostbox_http_request_duration_seconds_bucket",
        "frostbox_uptime_seconds",
        "frostbox_resident_memory_bytes",
    ] {
        assert!(m.body.contains(needle), "missing {needle} in\n{}", m.body);
    }
}

#[tokio::test]
async fn onboarding_login_logout_and_sessions() {
    let s = start(&[("ADMIN_SECRET", ADMIN_SECRET)]).await;
    let st = get(s.addr, "/api/onboarding/status", &[]).await.json();
    assert_eq!(st["initialized"], false);
    assert_eq!(st["hasAdminSecret"], true);

    // validate-admin: missing, wrong, right.
    let r = post(s.addr, "/api/onboarding/validate-admin", &[], "{}").await;
    assert_eq!(r.status, 401);
    let r = post(
        s.addr,
        "/api/onboarding/validate-admin",
        &[("Authorization", "Bearer wrong")],
        "{}",
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(err_json(&r), "authentication failed");
    let auth = format!("Bearer {ADMIN_SECRET}");
    let r = post(
        s.addr,
        "/api/onboarding/validate-admin",
        &[("Authorization", &auth)],
        "{}",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Setup validation: short password, bad username.
    let r = setup(s.addr, &auth, r#"{"username":"alice","password":"short"}"#).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["code"], "invalid_password");
    let r = setup(
        s.addr,
        &auth,
        r#"{"username":"a","password":"longenough-password"}"#,
    )
    .await;
    assert_eq!(r.status, 400);

    let cookie = admin_session(&s).await;
    // Onboarding is closed once a user exists.
    let r = setup(
        s.addr,
        &auth,
        r#"{"username":"mallory","password":"longenough-password"}"#,
    )
    .await;
    assert_eq!(r.status, 401);

    // Login response: cookie flags, expiresIn in seconds, no session id in the body.
    let r = post(
        s.addr,
        "/api/auth/login",
        &[],
        &format!(r#"{{"username":"alice","password":"{PASSWORD}"}}"#),
    )
    .await;
    assert_eq!(r.status, 200);
    let sc = r.header("set-cookie").expect("set-cookie").to_string();
    assert!(sc.contains("HttpOnly") && sc.contains("SameSite=Strict") && sc.contains("Path=/"));
    assert!(!sc.contains("Secure"), "plain HTTP: no Secure flag");
    assert_eq!(r.json()["expiresIn"], 3600);
    let token = r.session_cookie().expect("cookie");
    assert!(
        !r.body.contains(&token),
        "session id must not be in the body"
    );

    // Wrong password, unknown user.
    let r = post(
        s.addr,
        "/api/auth/login",
        &[],
        r#"{"username":"alice","password":"nope-nope-nope"}"#,
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(err_json(&r), "invalid credentials");
    let r = post(
        s.addr,
        "/api/auth/login",
        &[],
        r#"{"username":"nobody","password":"nope-nope-nope"}"#,
    )
    .await;
    assert_eq!(r.status, 401);
    let r = post(s.addr, "/api/auth/login", &[], r#"{"username":"alice"}"#).await;
    assert_eq!(r.status, 400);

    // Session works via cookie and X-Session-ID; whoami; status shows hasCredentials.
    let r = get(s.addr, "/api/admin/whoami", &[("Cookie", &cookie)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["admin"], true);
    let r = get(s.addr, "/api/admin/whoami", &[("X-Session-ID", &token)]).await;
    assert_eq!(r.status, 200);
    let v = get(s.addr, "/api/status", &[("Cookie", &cookie)])
        .await
        .json();
    assert_eq!(v["hasCredentials"], false);
    let r = get(s.addr, "/api/admin/whoami", &[("Authorization", &auth)]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["userId"], Value::Null);

    // Logout revokes server-side.
    let r = post(s.addr, "/api/auth/logout", &[("Cookie", &cookie)], "{}").await;
    assert_eq!(r.status, 200);
    assert!(
        r.header("set-cookie")
            .is_some_and(|c| c.contains("Max-Age=0"))
    );
    let r = get(s.addr, "/api/admin/whoami", &[("Cookie", &cookie)]).await;
    assert_eq!(r.status, 401);
    let r = get(s.addr, "/api/admin/whoami", &[]).await;
    assert_eq!(r.status, 401);
    assert_eq!(err_json(&r), "authentication required");

    let a = get(s.addr, "/api/auth/status", &[]).await.json();
    assert_eq!(a["enabled"], true);
    assert_eq!(a["sessionTimeout"], 3600);
}

#[tokio::test]
async fn setup_code_onboarding_without_admin_secret() {
    let s = start(&[]).await;
    s.st.set_setup_code(Some(frostbox::vault::SecretString::new(
        "ABCD-EFGH-JKLM".into(),
    )));
    let st = get(s.addr, "/api/onboarding/status", &[]).await.json();
    assert_eq!(st["setupCodeActive"], true);
    let r = setup(
        s.addr,
        "Bearer ABCD-EFGH-JKLX",
        r#"{"username":"bob","password":"longenough-password"}"#,
    )
    .await;
    assert_eq!(r.status, 401);
    let r = setup(
        s.addr,
        "Bearer ABCD-EFGH-JKLM",
        r#"{"username":"bob","password":"longenough-password"}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let st = get(s.addr, "/api/onboarding/status", &[]).await.json();
    assert_eq!(st["setupCodeActive"], false, "code is one-time");
    assert_eq!(st["initialized"], true);
}

#[tokio::test]
async fn api_keys_lifecycle() {
    let s = start(&[("ADMIN_SECRET", ADMIN_SECRET)]).await;
    let cookie = admin_session(&s).await;
    let r = post(
        s.addr,
        "/api/admin/api-keys",
        &[("Cookie", &cookie)],
        r#"{"label":"ci"}"#,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let k = r.json()["apiKey"].clone();
    let token = k["token"].as_str().expect("token").to_string();
    assert_eq!(token.len(), 64);
    assert_eq!(k["prefix"].as_str(), Some(&token[..12]));
    let id = k["id"].as_u64().expect("id");

    let list = get(s.addr, "/api/admin/api-keys", &[("Cookie", &cookie)]).await;
    assert_eq!(list.status, 200);
    assert!(!list.body.contains(&token), "token is shown once only");
    assert_eq!(list.json()["apiKeys"][0]["label"], "ci");

    // Use it both ways; last-used gets recorded.
    let r = get(s.addr, "/api/env", &[("X-API-Key", &token)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let bearer = format!("Bearer {token}");
    assert_eq!(
        get(s.addr, "/api/env", &[("Authorization", &bearer)])
            .await
            .status,
        200
    );
    let list = get(s.addr, "/api/admin/api-keys", &[("Cookie", &cookie)])
        .await
        .json();
    assert!(list["apiKeys"][0]["lastUsedAt"].is_string());
    assert_eq!(list["apiKeys"][0]["lastUsedIp"], "127.0.0.1");
    // API keys are not admins.
    let r = get(s.addr, "/api/admin/api-keys", &[("X-API-Key", &token)]).await;
    assert_eq!(r.status, 403);

    // Validation and revocation.
    let long = "x".repeat(200);
    let r = post(
        s.addr,
        "/api/admin/api-keys",
        &[("Cookie", &cookie)],
        &format!(r#"{{"label":"{long}"}}"#),
    )
    .await;
    assert_eq!(r.status, 400);
    let r = post(
        s.addr,
        "/api/admin/api-keys/revoke",
        &[("Cookie", &cookie)],
        r#"{"apiKeyId":999}"#,
    )
    .await;
    assert_eq!(r.status, 404);
    let body = format!(r#"{{"apiKeyId":{id},"reason":"rotated"}}"#);
    let r = post(
        s.addr,
        "/api/admin/api-keys/revoke",
        &[("Cookie", &cookie)],
        &body,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = post(
        s.addr,
        "/api/admin/api-keys/revoke",
        &[("Cookie", &cookie)],
        &body,
    )
    .await;
    assert_eq!(r.status, 409);
    let r = get(s.addr, "/api/env", &[("X-API-Key", &token)]).await;
    assert_eq!(r.status, 401, "revoked key no longer works");
    let list = get(s.addr, "/api/admin/api-keys", &[("Cookie", &cookie)])
        .await
        .json();
    assert_eq!(list["apiKeys"][0]["revokedReason"], "rotated");

    // The audit log has the actions, never the token.
    let a = get(s.addr, "/api/admin/audit", &[("Cookie", &cookie)]).await;
    assert_eq!(a.status, 200);
    assert!(a.body.contains("api-key.create") && a.body.contains("api-key.revoke"));
    assert!(!a.body.contains(&token));
}

#[tokio::test]
async fn bad_input_is_4xx_json() {
    let s = start(&[("API_KEY", "k3y-for-tests-0123456789")]).await;
    let h = [("X-API-Key", "k3y-for-tests-0123456789")];
    // Bad JSON, wrong types, unknown fields, empty body.
    for (path, body) in [
        ("/api/sign", "{not json"),
        ("/api/sign", r#"{"message": 12}"#),
        ("/api/sign", r#"{"message": "zz"}"#),
        ("/api/sign", r#"{"message": "00", "extra": 1}"#),
        (
            "/api/sign",
            r#"{"event": {"kind": -1, "created_at": 1, "tags": []}}"#,
        ),
        ("/api/sign", r#"{}"#),
        ("/api/sign", ""),
        (
            "/api/nip44/encrypt",
            r#"{"peer_pubkey": "abc", "content": "x"}"#,
        ),
        (
            "/api/nip04/decrypt",
            r#"{"peer_pubkey": 5, "content": "x"}"#,
        ),
        // Not the x coordinate of a curve point: refused before any ECDH round.
        (
            "/api/nip44/encrypt",
            r#"{"peer_pubkey": "0303030303030303030303030303030303030303030303030303030303030303", "content": "x"}"#,
        ),
        (
            "/api/nip44/decrypt",
            r#"{"peer_pubkey": "abababababababababababababababababababababababababababababababab", "content": ""}"#,
        ),
        // Ciphertexts no key could open (schemathesis sent these; they used to cost a round).
        (
            "/api/nip44/decrypt",
            "{\"peer_pubkey\": \"abababababababababababababababababababababababababababababababab\", \"content\": \"\u{ac} \\ud910\\udca4\"}",
        ),
        (
            "/api/nip44/decrypt",
            r#"{"peer_pubkey": "abababababababababababababababababababababababababababababababab", "content": "AQID"}"#,
        ),
        (
            "/api/nip04/decrypt",
            r#"{"peer_pubkey": "abababababababababababababababababababababababababababababababab", "content": "AAAAAAAAAAAAAAAAAAAAAA=="}"#,
        ),
        (
            "/api/nip04/decrypt",
            r#"{"peer_pubkey": "abababababababababababababababababababababababababababababababab", "content": "AAAAAAAAAAAAAAAAAAAAAA==?iv=AAAA"}"#,
        ),
        ("/api/peers/ping", r#"{"target": "nobody"}"#),
        ("/api/env", r#"[1,2]"#),
        ("/api/env", r#"{"RELAYS": "https://not-a-relay"}"#),
        ("/api/env", "{\"GROUP_NAME\": \"a\\nAUTH_ENABLED=false\"}"),
        ("/api/env/delete", r#"{"keys": []}"#),
        ("/api/recover", r#"{"shareCredentials": []}"#),
        (
            "/api/recover/validate",
            r#"{"type": "other", "credential": "x"}"#,
        ),
        ("/api/auth/login", r#"{"username": ["a"], "password": "b"}"#),
    ] {
        let r = post(s.addr, path, &h, body).await;
        assert_eq!(r.status, 400, "{path} {body}: {} {}", r.status, r.body);
        assert!(!err_json(&r).is_empty());
    }
    // A value sent in the wrong field is not echoed back.
    let r = post(
        s.addr,
        "/api/admin/api-keys/revoke",
        &h,
        r#"{"apiKeyId":"hunter2-secret"}"#,
    )
    .await;
    assert!(r.status >= 400 && r.status < 500);
    assert!(!r.body.contains("hunter2"), "{}", r.body);

    // Oversized bodies, with and without Content-Length (chunked).
    let big = format!(r#"{{"message":"{}"}}"#, "a".repeat(70 * 1024));
    let r = post(s.addr, "/api/env", &h, &big).await;
    assert_eq!(r.status, 413, "{}", r.body);
    // The crypto routes take a largest NIP-44 payload (87,472 characters), not more than 192 KiB.
    let big = format!(r#"{{"message":"{}"}}"#, "a".repeat(200 * 1024));
    let r = post(s.addr, "/api/nip44/encrypt", &h, &big).await;
    assert_eq!(r.status, 413, "{}", r.body);
    assert_eq!(r.json()["code"], "REQUEST_TOO_LARGE");
    let mut chunked = format!(
        "POST /api/env HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-API-Key: {}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        h[0].1
    )
    .into_bytes();
    for _ in 0..20 {
        chunked.extend_from_slice(format!("{:x}\r\n{}\r\n", 8192, "a".repeat(8192)).as_bytes());
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let r = raw(s.addr, &chunked).await;
    assert_eq!(r.status, 413, "chunked bodies are limited too: {}", r.body);
    // /api/sign allows up to 100 KB: 80 KB is not 413 (it is 400: bad message).
    let mid = format!(r#"{{"message":"{}"}}"#, "a".repeat(80 * 1024));
    assert_eq!(post(s.addr, "/api/sign", &h, &mid).await.status, 400);

    // Unknown route, wrong method: JSON.
    let r = get(s.addr, "/api/nope", &h).await;
    assert_eq!(r.status, 404);
    assert_eq!(err_json(&r), "not found");
    let r = req(s.addr, "DELETE", "/api/status", &h, None).await;
    assert_eq!(r.status, 405);
    assert_eq!(err_json(&r), "method not allowed");
    let r = get(s.addr, "/api/events", &h).await;
    assert_eq!(r.status, 426, "plain GET on the event socket: {}", r.body);
}

#[tokio::test]
async fn auth_failures_per_route() {
    // Limits off: this test makes far more failed attempts than the lockout allows.
    let s = start(&[
        ("ADMIN_SECRET", ADMIN_SECRET),
        ("RATE_LIMIT_ENABLED", "false"),
    ])
    .await;
    for r in ROUTES {
        if matches!(
            r.access,
            frostbox::api::openapi::Access::Public | frostbox::api::openapi::Access::Setup
        ) {
            continue;
        }
        let path = r.path.replace("{pubkey}", &"ab".repeat(32));
        let body = r.request.map(|_| "{}");
        let none = req(s.addr, r.method, &path, &[], body).await;
        assert_eq!(none.status, 401, "{} {path}: {}", r.method, none.body);
        let bad = req(s.addr, r.method, &path, &[("X-API-Key", "wrong-key")], body).await;
        assert_eq!(bad.status, 401, "{} {path}", r.method);
        let bad_session = req(s.addr, r.method, &path, &[("Cookie", "session=00ff")], body).await;
        assert_eq!(bad_session.status, 401, "{} {path}", r.method);
    }
}

#[tokio::test]
async fn every_documented_route_is_routed() {
    let s = start(&[("ADMIN_SECRET", ADMIN_SECRET)]).await;
    let auth = format!("Bearer {ADMIN_SECRET}");
    for r in ROUTES {
        let path = r.path.replace("{pubkey}", &"ab".repeat(32));
        let body = r.request.map(|_| "{}");
        let resp = req(s.addr, r.method, &path, &[("Authorization", &auth)], body).await;
        let is_fallback = resp.status == 404 && resp.body.contains("\"not found\"");
        assert!(
            !is_fallback && resp.status != 405,
            "{} {path} not routed: {} {}",
            r.method,
            resp.status,
            resp.body
        );
        assert!(
            resp.status < 500 || resp.status == 503 || resp.status == 501,
            "{} {path}: {}",
            r.method,
            resp.status
        );
    }
    // The spec documents the API table plus the NIP-46 routes (their own table in nip46::api).
    let spec = get(s.addr, "/api/docs/openapi.json", &[]).await.json();
    let mut documented: std::collections::BTreeSet<String> =
        ROUTES.iter().map(|r| r.path.to_string()).collect();
    documented.extend(
        frostbox::nip46::api::openapi_ops()
            .into_iter()
            .map(|(_, p, _)| p.to_string()),
    );
    assert_eq!(
        spec["paths"].as_object().map(|o| o.len()),
        Some(documented.len())
    );
}

#[tokio::test]
async fn node_routes_without_a_node_are_503() {
    let s = start(&[("API_KEY", "k3y-for-tests-0123456789")]).await;
    let h = [("X-API-Key", "k3y-for-tests-0123456789")];
    let pk = "ab".repeat(32);
    for (m, p, b) in [
        (
            "POST",
            "/api/sign",
            Some(format!(r#"{{"message":"{pk}"}}"#)),
        ),
        (
            "POST",
            "/api/nip44/encrypt",
            Some(format!(r#"{{"peer_pubkey":"{pk}","content":"hi"}}"#)),
        ),
        (
            "POST",
            "/api/nip04/decrypt",
            Some(format!(
                r#"{{"peer_pubkey":"{pk}","content":"AAAAAAAAAAAAAAAAAAAAAA==?iv=AAAAAAAAAAAAAAAAAAAAAA=="}}"#
            )),
        ),
        (
            "POST",
            "/api/peers/ping",
            Some(r#"{"target":"all"}"#.to_string()),
        ),
        ("GET", "/api/peers", None),
        ("GET", "/api/peers/self", None),
        ("GET", "/api/peers/group", None),
    ] {
        let r = req(s.addr, m, p, &h, b.as_deref()).await;
        assert_eq!(r.status, 503, "{m} {p}: {}", r.body);
        assert_eq!(err_json(&r), "signer not configured");
    }
}

#[tokio::test]
async fn sign_and_crypto_with_a_node() {
    let s = start(&[("API_KEY", "k3y-for-tests-0123456789")]).await;
    let h = [("X-API-Key", "k3y-for-tests-0123456789")];
    let node = attach_mock(&s, [7u8; 32]);
    assert_eq!(get(s.addr, "/ready", &[]).await.json()["node"], "ready");

    // Message signing: the signature verifies under the group key.
    let msg = [0x42u8; 32];
    let r = post(
        s.addr,
        "/api/sign",
        &h,
        &json!({ "message": hex::encode(msg) }).to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["id"], hex::encode(msg));
    let sig = hex::decode(v["signature"].as_str().expect("sig")).expect("hex");
    let gpk = secp256k1::XOnlyPublicKey::from_byte_array(node.group_pk()).expect("pk");
    secp256k1::schnorr::Signature::from_byte_array(sig.try_into().expect("64"))
        .verify(&msg, &gpk)
        .expect("valid BIP-340 signature");

    // Event signing: NIP-01 id, pubkey filled in, foreign pubkey rejected.
    let ev = json!({ "event": { "kind": 1, "created_at": 1700000000, "content": "hi \"there\"\n", "tags": [["t","x"]] } });
    let r = post(s.addr, "/api/sign", &h, &ev.to_string()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    let ser = json!([
        0,
        hex::encode(node.group_pk()),
        1700000000u64,
        1,
        [["t", "x"]],
        "hi \"there\"\n"
    ])
    .to_string();
    let id: [u8; 32] = sha2::Digest::finalize(sha2::Digest::chain_update(
        sha2::Sha256::default(),
        ser.as_bytes(),
    ))
    .into();
    assert_eq!(v["id"], hex::encode(id));
    assert_eq!(v["event"]["sig"], v["signature"]);
    let foreign =
        json!({ "event": { "pubkey": "ab".repeat(32), "kind": 1, "created_at": 1, "tags": [] } });
    assert_eq!(
        post(s.addr, "/api/sign", &h, &foreign.to_string())
            .await
            .status,
        400
    );

    // NIP-44 / NIP-04: decrypt on the peer's side with the standard derivation.
    let peer_sk = secp256k1::SecretKey::from_secret_bytes([9u8; 32]).expect("sk");
    let peer_kp = secp256k1::Keypair::from_secret_key(&peer_sk);
    let peer_x = peer_kp.x_only_public_key().0.to_byte_array();
    let group_point = secp256k1::PublicKey::from_x_only_public_key(gpk, secp256k1::Parity::Even);
    let shared = secp256k1::ecdh::shared_secret_point(&group_point, &peer_sk);
    let shared_x = frostbox::vault::Secret32::from_slice(&shared[..32]).expect("x");
    let conv = frostbox::nostr::nip44::conversation_key_from_shared_x(&shared_x);

    let body =
        json!({ "peer_pubkey": hex::encode(peer_x), "content": "secret message ✓" }).to_string();
    let r = post(s.addr, "/api/nip44/encrypt", &h, &body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let ct = r.json()["result"].as_str().expect("ct").to_string();
    assert_eq!(
        frostbox::nostr::nip44::decrypt(&conv, &ct).expect("peer decrypts"),
        "secret message ✓"
    );
    let back = frostbox::nostr::nip44::encrypt(&conv, "reply", frostbox::nostr::nip44::B64::Padded)
        .expect("enc");
    let body =
        json!({ "peer_pubkey": format!("02{}", hex::encode(peer_x)), "content": back }).to_string();
    let r = post(s.addr, "/api/nip44/decrypt", &h, &body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["result"], "reply");

    let body = json!({ "peer_pubkey": hex::encode(peer_x), "content": "old school" }).to_string();
    let r = post(s.addr, "/api/nip04/encrypt", &h, &body).await;
    assert_eq!(r.status, 200);
    let ct = r.json()["result"].as_str().expect("ct").to_string();
    assert_eq!(
        frostbox::nostr::nip04::decrypt_shared(&shared_x, &ct).expect("dec"),
        "old school"
    );
    let body = json!({ "peer_pubkey": hex::encode(peer_x), "content": ct }).to_string();
    assert_eq!(
        post(s.addr, "/api/nip04/decrypt", &h, &body).await.json()["result"],
        "old school"
    );
    let body = json!({ "peer_pubkey": hex::encode(peer_x), "content": "garbage" }).to_string();
    assert_eq!(
        post(s.addr, "/api/nip44/decrypt", &h, &body).await.status,
        400
    );

    // Peers, ping, policies.
    let p = get(s.addr, "/api/peers", &h).await.json();
    assert_eq!(p["total"], 2);
    assert_eq!(p["peers"][0]["policy"]["effectiveSend"], true);
    let g = get(s.addr, "/api/peers/group", &h).await.json();
    assert_eq!(g["pubkey"], hex::encode(node.group_pk()));
    assert_eq!(g["threshold"], 2);
    let r = post(s.addr, "/api/peers/ping", &h, r#"{"target":"all"}"#)
        .await
        .json();
    assert_eq!(r["results"].as_array().map(Vec::len), Some(2));
    let one = format!(r#"{{"target":"{}"}}"#, node.peers[0]);
    let r = post(s.addr, "/api/peers/ping", &h, &one).await.json();
    assert_eq!(r["success"], true);
    assert_eq!(r["status"]["online"], true);

    let path = format!("/api/peers/{}/policy", node.peers[0]);
    let r = req(s.addr, "PUT", &path, &h, Some(r#"{"allowSend":false}"#)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let pol = r.json()["policy"].clone();
    assert_eq!(pol["effectiveSend"], false);
    assert_eq!(
        pol["effectiveReceive"], true,
        "omitted direction keeps its value"
    );
    assert_eq!(req(s.addr, "PUT", &path, &h, Some("{}")).await.status, 400);
    let r = get(s.addr, "/api/peers/policies", &h).await.json();
    assert_eq!(r["policies"].as_array().map(Vec::len), Some(1));
    assert_eq!(req(s.addr, "DELETE", &path, &h, None).await.status, 200);
    assert_eq!(req(s.addr, "DELETE", &path, &h, None).await.status, 404);
    assert_eq!(get(s.addr, "/api/peers/xyz/policy", &h).await.status, 400);

    // Metrics counted the signs.
    let m = get(s.addr, "/metrics", &[]).await.body;
    assert!(m.contains("frostbox_signs_total{result=\"ok\"}"), "{m}");
    assert!(m.contains("frostbox_ecdh_total{result=\"ok\"}"));
}

#[tokio::test]
async fn rate_limits_and_auth_failure_lockout() {
    let s = start(&[
        ("API_KEY", "k3y-for-tests-0123456789"),
        ("RATE_LIMIT_MAX", "3"),
        ("RATE_LIMIT_WINDOW", "900"),
    ])
    .await;
    let h = [("X-API-Key", "k3y-for-tests-0123456789")];
    attach_mock(&s, [7u8; 32]);
    let body = format!(r#"{{"message":"{}"}}"#, "11".repeat(32));
    for _ in 0..3 {
        assert_eq!(post(s.addr, "/api/sign", &h, &body).await.status, 200);
    }
    let r = post(s.addr, "/api/sign", &h, &body).await;
    assert_eq!(r.status, 429);
    assert!(r.header("retry-after").is_some());
    assert_eq!(r.json()["code"], "RATE_LIMITED");
    // Reads are a separate class: status polling keeps working.
    for _ in 0..50 {
        assert_eq!(get(s.addr, "/api/status", &h).await.status, 200);
    }

    // Failed authentications lock the IP out after 20; valid credentials then get 429 too
    // until the bucket refills.
    let mut codes = Vec::new();
    for _ in 0..22 {
        codes.push(
            get(s.addr, "/api/env", &[("X-API-Key", "wrong")])
                .await
                .status,
        );
    }
    assert!(codes[..20].iter().all(|c| *c == 401), "{codes:?}");
    assert_eq!(codes[21], 429);
    assert_eq!(get(s.addr, "/api/env", &h).await.status, 429);
}

#[tokio::test]
async fn login_backoff() {
    let s = start(&[("ADMIN_SECRET", ADMIN_SECRET)]).await;
    admin_session(&s).await;
    let bad = r#"{"username":"alice","password":"wrong-password-1"}"#;
    let mut codes = Vec::new();
    for _ in 0..6 {
        codes.push(post(s.addr, "/api/auth/login", &[], bad).await.status);
    }
    assert_eq!(&codes[..5], &[401; 5]);
    assert_eq!(codes[5], 429, "{codes:?}");
    // Even the right password waits out the backoff.
    let good = format!(r#"{{"username":"alice","password":"{PASSWORD}"}}"#);
    assert_eq!(
        post(s.addr, "/api/auth/login", &[], &good).await.status,
        429
    );
}

#[tokio::test]
async fn cors_preflight_and_origin_checks() {
    let s = start(&[
        ("ADMIN_SECRET", ADMIN_SECRET),
        ("ALLOWED_ORIGINS", "http://ui.example,@self"),
    ])
    .await;
    let r = req(
        s.addr,
        "OPTIONS",
        "/api/status",
        &[
            ("Origin", "http://ui.example"),
            ("Access-Control-Request-Method", "GET"),
        ],
        None,
    )
    .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://ui.example")
    );
    assert!(
        r.header("access-control-allow-headers")
            .is_some_and(|h| h.contains("X-API-Key"))
    );
    let r = req(
        s.addr,
        "OPTIONS",
        "/api/sign",
        &[
            ("Origin", "http://evil.example"),
            ("Access-Control-Request-Method", "POST"),
        ],
        None,
    )
    .await;
    assert_eq!(r.status, 204);
    assert!(r.header("access-control-allow-origin").is_none());
    let r = get(s.addr, "/api/status", &[("Origin", "http://evil.example")]).await;
    assert!(r.header("access-control-allow-origin").is_none());
    assert!(r.header("vary").is_some_and(|v| v.contains("Origin")));

    // Cookie-authenticated writes from a foreign origin are refused (CSRF).
    let cookie = admin_session(&s).await;
    let r = post(
        s.addr,
        "/api/admin/api-keys",
        &[("Cookie", &cookie), ("Origin", "http://evil.example")],
        "{}",
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let same = format!("http://{}", s.addr);
    let r = post(
        s.addr,
        "/api/admin/api-keys",
        &[("Cookie", &cookie), ("Origin", &same)],
        "{}",
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
}

#[tokio::test]
async fn env_settings_roundtrip() {
    let s = start(&[("ADMIN_SECRET", ADMIN_SECRET)]).await;
    let cookie = admin_session(&s).await;
    let h = [("Cookie", cookie.as_str())];
    let r = post(
        s.addr,
        "/api/env",
        &h,
        r#"{"RELAYS":["ws://127.0.0.1:8002","wss://relay.example"],"SESSION_TIMEOUT":7200,"SHARE_CRED":"x","NODE_RESTART_DELAY":"5"}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(
        v["rejectedKeys"],
        json!(["NODE_RESTART_DELAY", "SHARE_CRED"])
    );
    let e = get(s.addr, "/api/env", &h).await.json();
    assert_eq!(
        e["RELAYS"],
        json!(["ws://127.0.0.1:8002", "wss://relay.example"]),
        "localhost kept, order kept"
    );
    assert_eq!(e["SESSION_TIMEOUT"], "7200");
    assert!(e.get("SHARE_CRED").is_none());
    let st = get(s.addr, "/api/status", &[]).await.json();
    assert_eq!(
        st["relayUrls"],
        json!(["ws://127.0.0.1:8002", "wss://relay.example"])
    );
    assert_eq!(
        st["relays"],
        json!([{"url": "ws://127.0.0.1:8002", "connected": null, "rtt_ms": null},
               {"url": "wss://relay.example", "connected": null, "rtt_ms": null}])
    );
    let r = post(s.addr, "/api/env", &h, r#"{"SESSION_TIMEOUT":"5"}"#).await;
    assert_eq!(r.status, 400);
    assert!(err_json(&r).contains("SESSION_TIMEOUT"));
    let r = post(
        s.addr,
        "/api/env/delete",
        &h,
        r#"{"keys":["SESSION_TIMEOUT","ADMIN_SECRET"]}"#,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["deletedKeys"], json!(["SESSION_TIMEOUT"]));
    assert_eq!(r.json()["rejectedKeys"], json!(["ADMIN_SECRET"]));
}

#[tokio::test]
async fn keyset_import_unattended_and_locked() {
    let s = start(&[("ADMIN_SECRET", ADMIN_SECRET)]).await;
    let cookie = admin_session(&s).await;
    let h = [("Cookie", cookie.as_str())];
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let g2 = got.clone();
    s.st.set_credentials_hook(std::sync::Arc::new(move |c| {
        g2.lock()
            .expect("lock")
            .push(c.share_cred.expose().to_string());
    }));
    // A real profile: the import opens it (password, group) before storing anything.
    let ks = frostbox::frost::keygen(2, 3).expect("keygen");
    let pw = "import-profile-pw-1";
    let share = frostbox::frostr::next::credential::BfProfile::new(
        "box",
        ks.shares[0].secret.duplicate(),
        vec!["ws://127.0.0.1:9".to_string()],
        vec![],
        frostbox::frostr::next::group::GroupPackage::from_keys("t", &ks.group),
    )
    .expect("profile")
    .encode(pw)
    .expect("encode");
    let share = share.as_str();
    let r = post(
        s.addr,
        "/api/keyset",
        &h,
        &format!(r#"{{"share_cred":"{share}","share_password":"{pw}"}}"#),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["vault"]["mode"], "unattended");
    assert_eq!(r.json()["vault"]["device_key_source"], "file");
    assert!(!r.body.contains(share));
    assert_eq!(got.lock().expect("lock").as_slice(), &[share.to_string()]);
    // The stored blob is ciphertext.
    let blob = s.st.store.keyset("default").expect("get").expect("some");
    assert!(!String::from_utf8_lossy(&blob).contains(share));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let m = std::fs::metadata(s.dir.path().join("device.key"))
            .expect("key")
            .permissions()
            .mode();
        assert_eq!(m & 0o777, 0o600);
    }
    // Restart path: unseal with the device key.
    assert!(frostbox::api::routes::unseal_at_start(&s.st).expect("unseal"));
    assert_eq!(got.lock().expect("lock").len(), 2);

    // Locked mode.
    let r = post(
        s.addr,
        "/api/keyset",
        &h,
        &format!(r#"{{"share_cred":"{share}","share_password":"{pw}","mode":"locked"}}"#),
    )
    .await;
    assert_eq!(r.status, 400, "needs a password");
    let r = post(
        s.addr,
        "/api/keyset",
        &h,
        &format!(
            r#"{{"share_cred":"{share}","share_password":"{pw}","mode":"locked","password":"unlock-me-please"}}"#
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!frostbox::api::routes::unseal_at_start(&s.st).expect("locked"));
    let v = get(s.addr, "/api/keyset", &h).await.json();
    assert_eq!(v["locked"], true);
    assert_eq!(get(s.addr, "/ready", &[]).await.json()["node"], "locked");
    let r = post(
        s.addr,
        "/api/keyset/unlock",
        &h,
        r#"{"password":"wrong-password"}"#,
    )
    .await;
    assert_eq!(r.status, 401);
    let r = post(
        s.addr,
        "/api/keyset/unlock",
        &h,
        r#"{"password":"unlock-me-please"}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["vault"]["locked"], false);
    assert_eq!(got.lock().expect("lock").len(), 4);
    let r = post(s.addr, "/api/keyset", &h, r#"{"share_cred":"nsec1abc"}"#).await;
    assert_eq!(r.status, 400);
    let r = req(s.addr, "DELETE", "/api/keyset", &h, None).await;
    assert_eq!(r.json()["removed"], true);
    assert_eq!(
        get(s.addr, "/api/keyset", &h).await.json()["has_keyset"],
        false
    );
}

#[tokio::test]
async fn recover_validate_shapes() {
    let s = start(&[("API_KEY", "k3y-for-tests-0123456789")]).await;
    let h = [("X-API-Key", "k3y-for-tests-0123456789")];
    let r = post(
        s.addr,
        "/api/recover/validate",
        &h,
        r#"{"type":"share","credential":"nope"}"#,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["validation"]["isValid"], false);
    let r = post(
        s.addr,
        "/api/recover",
        &h,
        r#"{"shareCredentials":["nope","also-nope"]}"#,
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    // Well-formed request, but bfshare strings carry no index and no group was given.
    let r = post(
        s.addr,
        "/api/recover",
        &h,
        r#"{"shareCredentials":["nope"],"password":"pw"}"#,
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(err_json(&r).contains("groupCredential"), "{}", r.body);
}

#[tokio::test]
async fn recover_real_shares_to_nsec() {
    use frostbox::frostr::next::credential::BfProfile;
    use frostbox::frostr::next::group::GroupPackage;
    let s = start(&[("API_KEY", "k3y-for-tests-0123456789")]).await;
    let h = [("X-API-Key", "k3y-for-tests-0123456789")];
    let nsec_secret = frostbox::vault::Secret32::random();
    let ks = frostbox::frost::keys::split(&nsec_secret, 2, 3).expect("split");
    let group = GroupPackage::from_keys("test", &ks.group);
    let pw = "share-password-1";
    let creds: Vec<String> = ks
        .shares
        .iter()
        .take(2)
        .map(|sh| {
            BfProfile::new(
                "dev",
                sh.secret.duplicate(),
                vec!["wss://relay.example".into()],
                vec![],
                group.clone(),
            )
            .expect("profile")
            .encode(pw)
            .expect("encode")
        })
        .collect();
    let body = json!({ "shareCredentials": creds, "password": pw }).to_string();
    let r = post(s.addr, "/api/recover", &h, &body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["details"]["sharesUsed"], 2);
    assert_eq!(v["details"]["thresholdRequired"], 2);
    let nsec = v["nsec"].as_str().expect("nsec");
    assert!(nsec.starts_with("nsec1"));
    let want = frostbox::nostr::nip19::encode_nsec(
        &frostbox::frost::keys::recover_checked(
            &ks.shares[..2]
                .iter()
                .map(|k| k.duplicate())
                .collect::<Vec<_>>(),
            &group.group_pk,
        )
        .expect("recover"),
    );
    assert_eq!(nsec, want.expose());
    // One share is below the threshold; a wrong password lists the share as invalid.
    let body = json!({ "shareCredentials": [creds[0].clone()], "password": pw }).to_string();
    assert_eq!(post(s.addr, "/api/recover", &h, &body).await.status, 400);
    let body = json!({ "groupCredential": group.to_json(), "shareCredentials": creds, "password": "wrong" }).to_string();
    let r = post(s.addr, "/api/recover", &h, &body).await;
    assert_eq!(r.status, 400);
    assert!(!r.body.contains("nsec1"));
    // validate
    let body = json!({ "type": "share", "credential": creds[0], "password": pw }).to_string();
    let v = post(s.addr, "/api/recover/validate", &h, &body)
        .await
        .json();
    assert_eq!(v["validation"]["isValid"], true);
    assert_eq!(v["decoded"]["threshold"], 2);
    let body = json!({ "type": "group", "credential": group.to_json() }).to_string();
    let v = post(s.addr, "/api/recover/validate", &h, &body)
        .await
        .json();
    assert_eq!(v["decoded"]["totalShares"], 3);
}

#[tokio::test]
async fn event_stream_websocket() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let s = start(&[("ADMIN_SECRET", ADMIN_SECRET)]).await;
    let cookie = admin_session(&s).await;
    let url = format!("ws://{}/api/events", s.addr);
    // Unauthenticated upgrade is refused.
    let e = tokio_tungstenite::connect_async(url.as_str()).await;
    assert!(e.is_err());
    let mut rq = url.as_str().into_client_request().expect("req");
    rq.headers_mut()
        .insert("Cookie", cookie.parse().expect("hdr"));
    let (mut ws, _) = tokio_tungstenite::connect_async(rq).await.expect("ws");
    let first = ws.next().await.expect("frame").expect("ok");
    let v: Value = serde_json::from_str(first.to_text().expect("text")).expect("json");
    assert_eq!(v["type"], "system");
    assert_eq!(v["message"], "Connected to event stream");
    s.st.publish("sign", "signed a message", Some(json!({"id": "00"})));
    let next = tokio::time::timeout(std::time::Duration::from_secs(5), ws.next())
        .await
        .expect("in time")
        .expect("frame")
        .expect("ok");
    let v: Value = serde_json::from_str(next.to_text().expect("text")).expect("json");
    assert_eq!(v["type"], "sign");
    assert!(v["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
    // A foreign origin may not open the stream.
    let mut rq = url.as_str().into_client_request().expect("req");
    rq.headers_mut()
        .insert("Cookie", cookie.parse().expect("hdr"));
    rq.headers_mut()
        .insert("Origin", "http://evil.example".parse().expect("hdr"));
    assert!(tokio_tungstenite::connect_async(rq).await.is_err());
}
