//! Runs the real `frostbox serve` binary: first-run setup code, a full session of API calls,
//! graceful SIGTERM shutdown, and a scan of every response body and the whole log for the
//! secrets that were used (password, admin secret, share credential, keyset password).

use crate::api_support;

use api_support::procs::{sigterm_and_wait, spawn};
use api_support::{Resp, get, post, req};
use std::time::Duration;

const ADMIN: &str = "proc-admin-secret-7f1e2d3c";
const PASSWORD: &str = "Pr0cess-Password-Zebra";
const KEYSET_PW: &str = "Keyset-Locking-Pass-88";
const SHARE: &str = "bfshare1qqqsyqcyq5rqwzqfpg9scrgwpugpzysnzs23v9ccrydpk8qarc0jqszuprocess";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_run_prints_setup_code_and_url() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut p = spawn(&dir.path().join("data"), &[]);
    let r = get(p.addr, "/ready", &[]).await;
    assert_eq!(r.status, 200);
    // The setup code is printed on first run and works exactly once.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let log = p.log.lock().expect("log").clone();
    let code = log
        .split("setup code ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("no setup code in log:\n{log}"))
        .to_string();
    assert!(log.contains(&format!("http://{}", p.addr)));
    let bearer = format!("Bearer {code}");
    let r = post(
        p.addr,
        "/api/onboarding/setup",
        &[("Authorization", &bearer)],
        r#"{"username":"owner","password":"kettle-Pass-42x"}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = post(
        p.addr,
        "/api/onboarding/setup",
        &[("Authorization", &bearer)],
        r#"{"username":"second","password":"kettle-Pass-42x"}"#,
    )
    .await;
    assert_eq!(r.status, 401);
    let (code, took) = sigterm_and_wait(&mut p);
    assert_eq!(code, 0);
    assert!(took < Duration::from_secs(5), "shutdown took {took:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let m = std::fs::metadata(dir.path().join("data"))
            .expect("dir")
            .permissions()
            .mode();
        assert_eq!(m & 0o777, 0o700);
        let m = std::fs::metadata(dir.path().join("data/frostbox.redb"))
            .expect("db")
            .permissions()
            .mode();
        assert_eq!(m & 0o777, 0o600);
    }
    // Second start: no setup code (an admin exists), data kept.
    let mut p = spawn(&dir.path().join("data"), &[]);
    let st = get(p.addr, "/api/onboarding/status", &[]).await.json();
    assert_eq!(st["initialized"], true);
    assert_eq!(st["setupCodeActive"], false);
    sigterm_and_wait(&mut p);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_in_any_response_or_log() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut p = spawn(&dir.path().join("data"), &[("ADMIN_SECRET", ADMIN)]);
    let a = p.addr;
    let mut seen: Vec<Resp> = Vec::new();
    let admin = format!("Bearer {ADMIN}");

    seen.push(
        post(
            a,
            "/api/onboarding/setup",
            &[("Authorization", &admin)],
            &format!(r#"{{"username":"owner","password":"{PASSWORD}"}}"#),
        )
        .await,
    );
    seen.push(
        post(
            a,
            "/api/auth/login",
            &[],
            r#"{"username":"owner","password":"wrong-pass-123"}"#,
        )
        .await,
    );
    let login = post(
        a,
        "/api/auth/login",
        &[],
        &format!(r#"{{"username":"owner","password":"{PASSWORD}"}}"#),
    )
    .await;
    assert_eq!(login.status, 200, "{}", login.body);
    let cookie = format!("session={}", login.session_cookie().expect("cookie"));
    seen.push(login);
    let h = [("Cookie", cookie.as_str())];
    // A login with the password in the wrong type.
    seen.push(
        post(
            a,
            "/api/auth/login",
            &[],
            &format!(r#"{{"username":"owner","password":["{PASSWORD}"]}}"#),
        )
        .await,
    );
    seen.push(
        post(
            a,
            "/api/onboarding/setup",
            &[("Authorization", &admin)],
            &format!(r#"{{"username":1,"password":"{PASSWORD}"}}"#),
        )
        .await,
    );
    // Keyset import (locked), wrong unlock, right unlock; recovery attempts with the share;
    // the share through the env route.
    for (path, body) in [
        (
            "/api/keyset",
            format!(r#"{{"share_cred":"{SHARE}","mode":"locked","password":"{KEYSET_PW}"}}"#),
        ),
        (
            "/api/keyset/unlock",
            r#"{"password":"not-the-password"}"#.to_string(),
        ),
        (
            "/api/keyset/unlock",
            format!(r#"{{"password":"{KEYSET_PW}"}}"#),
        ),
        (
            "/api/keyset",
            format!(r#"{{"share_cred":"{SHARE}","mode":"bogus"}}"#),
        ),
        (
            "/api/recover",
            format!(r#"{{"shareCredentials":["{SHARE}"]}}"#),
        ),
        (
            "/api/recover/validate",
            format!(r#"{{"type":"share","credential":"{SHARE}"}}"#),
        ),
        (
            "/api/env",
            format!(r#"{{"SHARE_CRED":"{SHARE}","GROUP_NAME":"g"}}"#),
        ),
    ] {
        seen.push(post(a, path, &h, &body).await);
    }
    for path in [
        "/api/status",
        "/api/env",
        "/api/keyset",
        "/api/admin/audit",
        "/api/admin/users",
        "/api/admin/api-keys",
        "/api/auth/status",
        "/api/onboarding/status",
        "/metrics",
        "/api/docs/openapi.json",
        "/ready",
    ] {
        let r = get(a, path, &h).await;
        assert!(r.status < 500, "{path}: {}", r.status);
        seen.push(r);
    }
    seen.push(
        req(
            a,
            "GET",
            "/api/admin/whoami",
            &[("Authorization", &admin)],
            None,
        )
        .await,
    );
    seen.push(post(a, "/api/auth/logout", &h, "{}").await);

    let (code, took) = sigterm_and_wait(&mut p);
    assert_eq!(code, 0);
    assert!(took < Duration::from_secs(5));
    let log = p.log.lock().expect("log").clone();
    assert!(log.contains("listening on"), "log captured: {log}");
    for secret in [PASSWORD, ADMIN, KEYSET_PW, SHARE] {
        for r in &seen {
            assert!(
                !r.body.contains(secret),
                "secret in response body: {}",
                r.body
            );
            for (k, v) in &r.headers {
                assert!(!v.contains(secret), "secret in header {k}");
            }
        }
        assert!(!log.contains(secret), "secret in log:\n{log}");
    }
    // And not in the database file in clear.
    let db = std::fs::read(dir.path().join("data/frostbox.redb")).expect("db");
    let db = String::from_utf8_lossy(&db);
    for secret in [PASSWORD, KEYSET_PW, SHARE] {
        assert!(!db.contains(secret), "secret stored in clear");
    }
}
