//! Route table and handlers (status, health, env, peers, sign, NIP-44/NIP-04, recover, keyset,
//! events, docs). Auth/onboarding/admin handlers live in `auth.rs`.

use super::auth::{self, Admin, Auth, MaybeAuth, Principal};
use super::crypto::CryptoOp;
use super::keysets::{KeysetSel, node_sel};
use super::node::{NodeCallError, SignerNode};
use super::{
    ApiError, ApiResult, AppState, JsonBody, MAX_CRYPTO_BODY, MAX_SIGN_BODY, UnlockedCredentials,
    iso8601, metrics, origin_allowed,
};
use crate::config::{self, VaultMode};
use crate::store::{AuditEntry, DEFAULT_KEYSET, KeysetMeta, PeerPolicy, now};
use crate::vault::SecretString;
use crate::vault::at_rest::{self, Sealed};
use axum::extract::ws::{
    Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection,
};
use axum::extract::{Path, State};
use axum::handler::Handler;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Builder {
    r: Router<AppState>,
    seen: Vec<(Method, &'static str)>,
}

impl Builder {
    fn add<H, T>(mut self, m: Method, path: &'static str, h: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let mr: MethodRouter<AppState> = match m.as_str() {
            "GET" => get(h),
            "POST" => post(h),
            "PUT" => put(h),
            _ => delete(h),
        };
        self.r = self.r.route(path, mr);
        self.seen.push((m, path));
        self
    }
}

fn build() -> Builder {
    use Method as M;
    let b = Builder {
        r: Router::new(),
        seen: Vec::new(),
    };
    b.add(M::GET, "/health", health)
        .add(M::GET, "/ready", ready)
        .add(M::GET, "/metrics", metrics_text)
        .add(M::GET, "/api/docs/openapi.json", openapi_json)
        .add(M::GET, "/api/status", status)
        .add(M::GET, "/api/auth/status", auth::auth_status)
        .add(M::POST, "/api/auth/login", auth::login)
        .add(M::POST, "/api/auth/logout", auth::logout)
        .add(M::GET, "/api/onboarding/status", auth::onboarding_status)
        .add(
            M::POST,
            "/api/onboarding/validate-admin",
            auth::onboarding_validate,
        )
        .add(M::POST, "/api/onboarding/setup", auth::onboarding_setup)
        .add(M::GET, "/api/admin/whoami", auth::whoami)
        .add(M::GET, "/api/admin/users", auth::admin_users)
        .add(M::GET, "/api/admin/api-keys", auth::list_api_keys)
        .add(M::POST, "/api/admin/api-keys", auth::create_api_key)
        .add(M::POST, "/api/admin/api-keys/revoke", auth::revoke_api_key)
        .add(M::GET, "/api/admin/audit", auth::admin_audit)
        .add(M::GET, "/api/env", env_get)
        .add(M::POST, "/api/env", env_post)
        .add(M::POST, "/api/env/delete", env_delete)
        .add(M::GET, "/api/keyset", keyset_get)
        .add(M::POST, "/api/keyset", keyset_import)
        .add(M::DELETE, "/api/keyset", keyset_delete)
        .add(M::POST, "/api/keyset/unlock", keyset_unlock)
        .add(M::GET, "/api/keysets", super::keysets::list)
        .add(M::POST, "/api/keysets", super::keysets::import)
        .add(M::DELETE, "/api/keysets/{id}", super::keysets::delete)
        .add(M::GET, "/api/peers", peers)
        .add(M::GET, "/api/peers/self", peers_self)
        .add(M::GET, "/api/peers/group", peers_group)
        .add(M::POST, "/api/peers/ping", peers_ping)
        .add(M::GET, "/api/peers/policies", policies)
        .add(M::GET, "/api/peers/{pubkey}/policy", policy_get)
        .add(M::PUT, "/api/peers/{pubkey}/policy", policy_put)
        .add(M::DELETE, "/api/peers/{pubkey}/policy", policy_delete)
        .add(
            M::POST,
            "/api/sign",
            sign.layer(axum::extract::DefaultBodyLimit::max(MAX_SIGN_BODY)),
        )
        .add(
            M::POST,
            "/api/nip44/encrypt",
            nip44_encrypt.layer(axum::extract::DefaultBodyLimit::max(MAX_CRYPTO_BODY)),
        )
        .add(
            M::POST,
            "/api/nip44/decrypt",
            nip44_decrypt.layer(axum::extract::DefaultBodyLimit::max(MAX_CRYPTO_BODY)),
        )
        .add(
            M::POST,
            "/api/nip04/encrypt",
            nip04_encrypt.layer(axum::extract::DefaultBodyLimit::max(MAX_CRYPTO_BODY)),
        )
        .add(
            M::POST,
            "/api/nip04/decrypt",
            nip04_decrypt.layer(axum::extract::DefaultBodyLimit::max(MAX_CRYPTO_BODY)),
        )
        .add(M::POST, "/api/recover", recover)
        .add(M::POST, "/api/recover/validate", recover_validate)
        .add(M::GET, "/api/events", events)
        // Keyset administration for the web UI (`keyset_admin.rs`).
        .add(
            M::POST,
            "/api/keyset/create",
            super::keyset_admin::keyset_create,
        )
        .add(M::POST, "/api/migrate", super::keyset_admin::migrate)
        .add(
            M::POST,
            "/api/keyset/backup",
            super::keyset_admin::keyset_backup,
        )
        .add(
            M::POST,
            "/api/keyset/mode",
            super::keyset_admin::keyset_mode,
        )
        .add(M::POST, "/api/lock", super::keyset_admin::lock_now)
        .add(
            M::POST,
            "/api/user/password",
            super::keyset_admin::user_password,
        )
}

/// All API routes (no state applied).
pub fn api_routes() -> Router<AppState> {
    build().r
}

/// `(method, path)` of every registered route; a test checks it equals the OpenAPI table.
pub fn registered() -> Vec<(Method, &'static str)> {
    build().seen
}

// ---------- helpers ----------

/// 32 bytes from 64 hex characters.
pub fn hex32(s: &str) -> Option<[u8; 32]> {
    let mut b = [0u8; 32];
    hex::decode_to_slice(s.trim(), &mut b).ok()?;
    Some(b)
}

/// A peer pubkey: 64 hex (x-only) or 66 hex (compressed, 02/03) → x-only bytes.
pub fn peer_xonly(s: &str) -> Option<[u8; 32]> {
    let s = s.trim();
    match s.len() {
        64 => hex32(s),
        66 if s.starts_with("02") || s.starts_with("03") => hex32(&s[2..]),
        _ => None,
    }
}

pub(super) fn node_err(e: NodeCallError) -> ApiError {
    match e {
        NodeCallError::NotReady(m) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("signer not ready: {m}"),
        )
        .code("NODE_UNAVAILABLE"),
        NodeCallError::Timeout => {
            ApiError::new(StatusCode::GATEWAY_TIMEOUT, "signing timed out").code("SIGN_TIMEOUT")
        }
        NodeCallError::Rejected(m) => {
            ApiError::new(StatusCode::BAD_GATEWAY, format!("rejected by peers: {m}"))
                .code("SIGN_FAILED")
        }
        NodeCallError::BadInput(m) => ApiError::bad(m),
        NodeCallError::Failed(m) => ApiError::new(StatusCode::BAD_GATEWAY, m).code("SIGN_FAILED"),
    }
}

async fn with_timeout<T>(
    st: &AppState,
    f: impl std::future::Future<Output = Result<T, NodeCallError>>,
) -> ApiResult<T> {
    match tokio::time::timeout(Duration::from_millis(st.cfg.sign_timeout_ms), f).await {
        Ok(r) => r.map_err(node_err),
        Err(_) => Err(node_err(NodeCallError::Timeout)),
    }
}

/// An audit record of an operation on keyset `ks`: the subject names the keyset
/// (`keyset=<id> <subject>`).
pub(super) fn audit_ks(
    st: &AppState,
    ks: &KeysetSel,
    who: &str,
    action: &str,
    subject: &str,
    result: &str,
) {
    let subject = if subject.is_empty() {
        format!("keyset={}", ks.0)
    } else {
        format!("keyset={} {subject}", ks.0)
    };
    audit(st, who, action, &subject, result);
}

pub(super) fn audit(st: &AppState, who: &str, action: &str, subject: &str, result: &str) {
    let e = AuditEntry {
        seq: 0,
        at: now(),
        who: who.into(),
        action: action.into(),
        subject: subject.into(),
        result: result.into(),
    };
    if let Err(e) = st.store.audit(e) {
        tracing::warn!(error = %e, "audit write failed");
    }
}

// ---------- health, ready, metrics, docs ----------

async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

fn node_state(st: &AppState) -> &'static str {
    match st.node() {
        Some(n) if n.status().ready => "ready",
        Some(_) => "starting",
        None => {
            let v = st.vault.lock().unwrap_or_else(|p| p.into_inner());
            if v.locked { "locked" } else { "not_configured" }
        }
    }
}

/// Who may see per-keyset detail on the public `/ready` and `/metrics`: a signed-in caller
/// (session, API key, admin secret) or a scraper presenting `METRICS_TOKEN` as a bearer token.
/// Anyone else gets aggregates only, so keyset ids cannot be enumerated from the LAN.
pub struct Insider(pub bool);

impl axum::extract::FromRequestParts<AppState> for Insider {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        st: &AppState,
    ) -> Result<Self, ApiError> {
        if let Some(t) = &st.cfg.metrics_token
            && let Some(given) = parts
                .headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
        {
            use subtle::ConstantTimeEq;
            if bool::from(given.trim().as_bytes().ct_eq(t.expose().as_bytes())) {
                return Ok(Insider(true));
            }
        }
        let MaybeAuth(p) = MaybeAuth::from_request_parts(parts, st).await?;
        Ok(Insider(p.is_some()))
    }
}

/// Ready: listener bound and every running keyset's node ready (threshold reachable now).
/// Locked keysets wait for an unlock and do not hold readiness back; neither does a box with
/// no keyset. Per-keyset states (`keysets`) only for an [`Insider`].
async fn ready(State(st): State<AppState>, Insider(inside): Insider) -> Response {
    let node = node_state(&st);
    let mut keysets = serde_json::Map::new();
    let mut all_ready = true;
    for (id, n) in st.nodes() {
        let r = n.status().ready;
        all_ready &= r;
        keysets.insert(id, json!(if r { "ready" } else { "running" }));
    }
    let ok = st.is_ready() && node != "starting" && all_ready;
    let mut v = json!({ "ready": ok, "store": true, "listener": st.is_ready(), "node": node });
    if inside {
        v["keysets"] = Value::Object(keysets);
    }
    let body = Json(v);
    if ok {
        body.into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
    }
}

/// `/metrics`: the registry, plus gauges computed now. Per-keyset gauges
/// (`frostbox_keyset_*{keyset="<id>"}`) are rendered for an [`Insider`] only and never stored
/// in the shared registry; everyone gets the aggregates (`frostbox_keysets`,
/// `frostbox_keysets_ready`).
async fn metrics_text(State(st): State<AppState>, Insider(inside): Insider) -> Response {
    metrics::set_gauge(
        "frostbox_uptime_seconds",
        &[],
        st.started.elapsed().as_secs_f64(),
    );
    metrics::set_gauge(
        "frostbox_resident_memory_bytes",
        &[],
        metrics::rss_bytes() as f64,
    );
    if let Some(n) = st.node() {
        let s = n.status();
        metrics::set_gauge("frostbox_node_ready", &[], f64::from(u8::from(s.ready)));
        metrics::set_gauge(
            "frostbox_peers_online",
            &[],
            s.peers.iter().filter(|p| p.online).count() as f64,
        );
    }
    let nodes = st.nodes();
    let ready = nodes.iter().filter(|(_, n)| n.status().ready).count();
    metrics::set_gauge("frostbox_keysets", &[], nodes.len() as f64);
    metrics::set_gauge("frostbox_keysets_ready", &[], ready as f64);
    let mut text = metrics::global().render();
    if inside {
        let per = metrics::Registry::default();
        for (id, n) in &nodes {
            let s = n.status();
            per.set_gauge(
                "frostbox_keyset_ready",
                &[("keyset", id)],
                f64::from(u8::from(s.ready)),
            );
            per.set_gauge(
                "frostbox_keyset_peers_online",
                &[("keyset", id)],
                s.peers.iter().filter(|p| p.online).count() as f64,
            );
        }
        text.push_str(&per.render());
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

async fn openapi_json() -> Json<Value> {
    Json(super::openapi::spec())
}

// ---------- status ----------

async fn status(
    State(st): State<AppState>,
    MaybeAuth(p): MaybeAuth,
    ks: Result<KeysetSel, ApiError>,
) -> ApiResult<Json<Value>> {
    // Callers who are not signed in always see the default keyset: answering 404 for an unknown
    // id would let anyone on the LAN probe which keyset ids exist.
    let ks = match (&p, ks) {
        (Some(_), ks) => ks?,
        (None, _) => KeysetSel(crate::store::DEFAULT_KEYSET.into()),
    };
    let attached = st.node_for(&ks.0);
    let node = attached.as_ref().map(|n| n.status());
    let vault = st.vault.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let relays: Vec<String> = match &node {
        Some(n) if !n.relays.is_empty() => n.relays.clone(),
        _ => effective_relays(&st),
    };
    // Each relay as `{url, connected, rtt_ms}`; `connected` is null while no node runs.
    let live = attached.map(|n| n.relay_status()).unwrap_or_default();
    let relay_objs: Vec<Value> = relays
        .iter()
        .map(|u| match live.iter().find(|r| &r.url == u) {
            Some(r) => json!({ "url": u, "connected": r.connected, "rtt_ms": r.rtt_ms,
                               "last_error": r.last_error }),
            None => json!({ "url": u, "connected": Value::Null, "rtt_ms": Value::Null }),
        })
        .collect();
    let has_creds = match &p {
        Some(_) => json!(vault.has_keyset || node.is_some()),
        None => Value::Null,
    };
    let t = now();
    let mut v = json!({
        "serverRunning": true,
        "nodeActive": node.as_ref().is_some_and(|n| n.ready),
        "hasCredentials": has_creds,
        "relayCount": relays.len(),
        "relays": relay_objs,
        "relayUrls": relays,
        "timestamp": iso8601(t),
        "restartInfo": { "blockedByCredentials": node.is_none() },
        "health": {
            "isConnected": node.as_ref().is_some_and(|n| n.ready),
            "consecutiveConnectivityFailures": 0,
        },
        "version": env!("CARGO_PKG_VERSION"),
        "uptimeSecs": st.started.elapsed().as_secs(),
        "headless": st.cfg.headless,
        "vault": vault,
        "thresholdReachable": node.as_ref().is_some_and(|n| n.threshold_reachable),
    });
    if p.is_some()
        && let Some(n) = &node
    {
        v["node"] = json!({
            "ready": n.ready, "threshold": n.threshold, "total": n.total,
            "groupPubkey": n.group_pk, "selfPubkey": n.self_pubkey, "legacy": n.legacy,
            "legacyWarning": n.legacy.then_some(crate::frostr::node::legacy::MIGRATE_HINT),
            "peersOnline": n.peers.iter().filter(|x| x.online).count(),
            "peerCount": n.peers.len(),
            "duplicateShare": n.duplicate_share,
        });
    }
    if p.is_some() {
        // Legacy 1.0.x for the selected keyset: its opt-in, or FROSTR_LEGACY for the box.
        let source = crate::frostr::node::factory::legacy_source(&st, &ks.0);
        let runs_legacy = node.as_ref().is_some_and(|n| n.legacy);
        let legacy = runs_legacy || source == Some("keyset");
        v["legacy"] = json!({
            "active": legacy,
            "allowed": source.is_some(),
            "source": source,
            "warning": legacy.then_some(crate::frostr::node::legacy::MIGRATE_HINT),
        });
        v["keyset"] = json!(ks.0);
        v["keysets"] = json!(super::keysets::list_json(&st)?);
    }
    Ok(Json(v))
}

pub(super) fn effective_relays(st: &AppState) -> Vec<String> {
    if let Ok(Some(r)) = st.store.setting("RELAYS")
        && let Ok(v) = config::parse_relays(&r)
    {
        return v;
    }
    st.cfg.relays.clone()
}

// ---------- env ----------

/// Settings accepted by `POST /api/env` (stored in the database, applied at next start).
pub const ENV_WRITABLE: &[&str] = &[
    "RELAYS",
    "GROUP_NAME",
    "PEER_POLICIES",
    "SESSION_TIMEOUT",
    "FROSTR_SIGN_TIMEOUT",
    "RATE_LIMIT_ENABLED",
    "RATE_LIMIT_WINDOW",
    "RATE_LIMIT_MAX",
    "ALLOWED_ORIGINS",
    "TRUST_PROXY",
    "FROSTR_LEGACY",
];

fn env_value(k: &str, v: &Value) -> Result<String, ApiError> {
    let raw = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Array(_) | Value::Object(_) if k == "RELAYS" || k == "PEER_POLICIES" => {
            v.to_string()
        }
        _ => return Err(ApiError::bad(format!("{k}: unsupported value type"))),
    };
    if raw.len() > 16 * 1024 || raw.chars().any(|c| c.is_control() && c != ' ') {
        return Err(ApiError::bad(format!(
            "{k}: value too long or contains control characters"
        )));
    }
    let mut probe = std::collections::HashMap::new();
    probe.insert(k.to_string(), raw.clone());
    config::Config::from_lookup(|x| probe.get(x).cloned())
        .map_err(|e| ApiError::bad(e.to_string()))?;
    if k == "RELAYS" {
        let list = config::parse_relays(&raw).map_err(|e| ApiError::bad(e.to_string()))?;
        return serde_json::to_string(&list).map_err(ApiError::internal);
    }
    if k == "FROSTR_LEGACY" {
        return config::parse_bool("FROSTR_LEGACY", &raw)
            .map(|b| b.to_string())
            .map_err(|e| ApiError::bad(e.to_string()));
    }
    if k == "GROUP_NAME" && raw.chars().count() > 64 {
        return Err(ApiError::bad("GROUP_NAME: at most 64 characters"));
    }
    Ok(raw)
}

fn may_write_env(p: &Principal) -> bool {
    p.is_admin() || matches!(p, Principal::ApiKey { .. } | Principal::EnvApiKey)
}

async fn env_get(State(st): State<AppState>, Auth(_p): Auth) -> ApiResult<Json<Value>> {
    let mut m = serde_json::Map::new();
    m.insert("RELAYS".into(), json!(effective_relays(&st)));
    if let Some(g) = &st.cfg.group_name {
        m.insert("GROUP_NAME".into(), json!(g));
    }
    m.insert(
        "SESSION_TIMEOUT".into(),
        json!(st.cfg.session_timeout.to_string()),
    );
    m.insert(
        "FROSTR_SIGN_TIMEOUT".into(),
        json!(st.cfg.sign_timeout_ms.to_string()),
    );
    m.insert(
        "RATE_LIMIT_ENABLED".into(),
        json!(st.cfg.rate_limit_enabled.to_string()),
    );
    m.insert(
        "ALLOWED_ORIGINS".into(),
        json!(st.cfg.allowed_origins.join(",")),
    );
    for (k, v) in st.store.settings()? {
        if k == "RELAYS" {
            continue;
        }
        if ENV_WRITABLE.contains(&k.as_str()) {
            m.insert(k, json!(v));
        }
    }
    let has = st
        .vault
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .has_keyset;
    m.insert("hasCredentials".into(), json!(has));
    m.insert("adminSecretAvailable".into(), json!(false));
    Ok(Json(Value::Object(m)))
}

async fn env_post(
    State(st): State<AppState>,
    Auth(p): Auth,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    if !may_write_env(&p) {
        return Err(ApiError::forbidden("admin or API key required"));
    }
    let Value::Object(obj) = body else {
        return Err(ApiError::bad("body must be a JSON object of KEY: value"));
    };
    let mut set = Vec::new();
    let mut rejected = Vec::new();
    for (k, v) in &obj {
        if ENV_WRITABLE.contains(&k.as_str()) {
            set.push((k.clone(), env_value(k, v)?));
        } else {
            rejected.push(k.clone());
        }
    }
    st.store.set_settings(&set)?;
    audit(
        &st,
        &p.who(),
        "env.write",
        &set.iter()
            .map(|(k, _)| k.as_str())
            .collect::<Vec<_>>()
            .join(","),
        "ok",
    );
    let mut v = json!({
        "success": true,
        "message": format!("{} setting(s) saved; they apply at the next start", set.len()),
    });
    if !rejected.is_empty() {
        v["rejectedKeys"] = json!(rejected);
    }
    Ok(Json(v))
}

#[derive(Deserialize)]
struct EnvDeleteBody {
    keys: Vec<String>,
}

async fn env_delete(
    State(st): State<AppState>,
    Auth(p): Auth,
    JsonBody(b): JsonBody<EnvDeleteBody>,
) -> ApiResult<Json<Value>> {
    if !may_write_env(&p) {
        return Err(ApiError::forbidden("admin or API key required"));
    }
    if b.keys.is_empty() {
        return Err(ApiError::bad("keys array is required"));
    }
    let (ok, rejected): (Vec<String>, Vec<String>) = b
        .keys
        .into_iter()
        .partition(|k| ENV_WRITABLE.contains(&k.as_str()));
    let deleted = st.store.delete_settings(&ok)?;
    let mut v = json!({
        "success": true,
        "message": format!("{} setting(s) deleted", deleted.len()),
        "deletedKeys": deleted,
    });
    if !rejected.is_empty() {
        v["rejectedKeys"] = json!(rejected);
    }
    Ok(Json(v))
}

// ---------- keyset (new: sealed at rest, locked/unattended) ----------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct KeysetBody {
    pub(super) share_cred: String,
    pub(super) group_cred: Option<String>,
    /// Password of the encrypted credential itself (`bfprofile`), needed to start the signer.
    pub(super) share_password: Option<String>,
    pub(super) mode: Option<String>,
    pub(super) password: Option<String>,
    /// Opt this keyset into legacy 1.0.x credentials (FROSTR.md §0.2: they leak shares).
    #[serde(default)]
    pub(super) legacy: Option<bool>,
}

#[derive(serde::Serialize, Deserialize)]
pub(super) struct KeysetPlain {
    pub(super) share_cred: String,
    pub(super) group_cred: Option<String>,
    #[serde(default)]
    pub(super) share_password: Option<String>,
}

/// A credential string: one of the bech32 FROSTR prefixes, printable, bounded.
fn check_cred(what: &str, s: &str, prefixes: &[&str]) -> ApiResult<()> {
    let s = s.trim();
    let lower = s.to_ascii_lowercase();
    if s.len() > 8192
        || !prefixes.iter().any(|p| lower.starts_with(p))
        || !s.chars().all(|c| c.is_ascii_alphanumeric())
    {
        return Err(ApiError::bad(format!(
            "{what} must be a {} string",
            prefixes.join(" / ")
        )));
    }
    Ok(())
}

const SHARE_PREFIXES: &[&str] = &["bfshare1", "bfonboard1", "bfprofile1"];
const GROUP_PREFIXES: &[&str] = &["bfgroup1", "bfprofile1"];

pub(super) fn vault_view(st: &AppState) -> Value {
    json!(*st.vault.lock().unwrap_or_else(|p| p.into_inner()))
}

/// `GET /api/keyset`: the selected keyset's vault state (default: `default`).
async fn keyset_get(State(st): State<AppState>, Auth(_p): Auth, ks: KeysetSel) -> Json<Value> {
    Json(super::keysets::vault_view_for(&st, &ks.0))
}

pub(super) fn device_key(st: &AppState) -> ApiResult<crate::vault::Secret32> {
    let mut g = st.device_key.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(k) = g.as_ref() {
        return Ok(k.duplicate());
    }
    let creds = std::env::var_os("CREDENTIALS_DIRECTORY").map(std::path::PathBuf::from);
    let (k, src) =
        at_rest::load_or_create_device_key(&st.cfg.data_dir, creds).map_err(ApiError::internal)?;
    st.vault
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .device_key_source = Some(src);
    *g = Some(k.duplicate());
    Ok(k)
}

/// Hands keyset `id`'s opened credentials to the node factory.
pub(super) fn hand_to_node_for(st: &AppState, id: &str, plain: &[u8]) -> ApiResult<()> {
    let p: KeysetPlain = serde_json::from_slice(plain).map_err(ApiError::internal)?;
    if let Some(h) = st.credentials_hook() {
        h(UnlockedCredentials {
            keyset: id.to_string(),
            group_cred: p.group_cred.map(SecretString::new),
            share_cred: SecretString::new(p.share_cred),
            share_password: p.share_password.map(SecretString::new),
        });
    }
    Ok(())
}

/// Opens every stored keyset sealed with the device key (unattended) and hands each to the node
/// hook; password-sealed keysets stay locked until `POST /api/keyset/unlock?keyset=<id>`.
/// `serve` calls this at start. Returns whether the default keyset was unsealed; a keyset that
/// cannot be opened is logged and does not keep the others from starting.
pub fn unseal_at_start(st: &AppState) -> ApiResult<bool> {
    let mut default_unsealed = false;
    let mut first_err = None;
    for id in st.store.keyset_ids()? {
        match unseal_one(st, &id) {
            Ok(u) => {
                if u && id == DEFAULT_KEYSET {
                    default_unsealed = true;
                } else if u {
                    tracing::info!(keyset = %id, "keyset unsealed with the device key");
                }
            }
            Err(e) => {
                tracing::warn!(keyset = %id, error = %e.error, "keyset not unsealed");
                if id == DEFAULT_KEYSET {
                    first_err = Some(e);
                }
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(default_unsealed),
    }
}

fn unseal_one(st: &AppState, id: &str) -> ApiResult<bool> {
    let Some(blob) = st.store.keyset(id)? else {
        return Ok(false);
    };
    let sealed: Sealed = serde_json::from_slice(&blob).map_err(ApiError::internal)?;
    if sealed.mode == "password" {
        if id == DEFAULT_KEYSET {
            st.vault.lock().unwrap_or_else(|p| p.into_inner()).locked = true;
        }
        return Ok(false);
    }
    let k = device_key(st)?;
    let plain = at_rest::open_with_device_key(&sealed, &k).map_err(ApiError::internal)?;
    hand_to_node_for(st, id, plain.expose())?;
    Ok(true)
}

/// `POST /api/keyset`: (re)imports the selected keyset (default: `default`; another id must
/// exist — new ids go through `POST /api/keysets`).
async fn keyset_import(
    State(st): State<AppState>,
    Admin(p): Admin,
    ks: KeysetSel,
    JsonBody(b): JsonBody<KeysetBody>,
) -> ApiResult<Json<Value>> {
    import_keyset(&st, &p, &ks.0, None, b).await?;
    Ok(Json(
        json!({ "success": true, "vault": super::keysets::vault_view_for(&st, &ks.0) }),
    ))
}

/// Seals and stores keyset `id` (replacing a stored one), records its metadata (`meta`, else
/// kept / the id as label) and hands it to the node factory.
pub(super) async fn import_keyset(
    st: &AppState,
    p: &Principal,
    id: &str,
    meta: Option<KeysetMeta>,
    b: KeysetBody,
) -> ApiResult<()> {
    check_cred("share_cred", &b.share_cred, SHARE_PREFIXES)?;
    if let Some(g) = &b.group_cred {
        check_cred("group_cred", g, GROUP_PREFIXES)?;
    }
    let opt_in = b.legacy.unwrap_or(false);
    crate::frostr::node::factory::check_import(st, b.group_cred.as_deref(), opt_in)
        .map_err(|e| ApiError::bad(e.to_string()).code("LEGACY_REFUSED"))?;
    // The opt-in is kept only for legacy credentials (a current-generation keyset needs none).
    let legacy = opt_in && crate::frostr::node::factory::is_legacy(b.group_cred.as_deref());
    // Open the credentials now (wrong profile password, a share of another group, a second
    // share of a group this box serves): refused here, nothing stored.
    crate::frostr::node::factory::check_credentials(
        st,
        UnlockedCredentials {
            keyset: id.to_string(),
            group_cred: b.group_cred.clone().map(SecretString::new),
            share_cred: SecretString::new(b.share_cred.clone()),
            share_password: b.share_password.clone().map(SecretString::new),
        },
    )
    .await
    .map_err(|e| {
        let conflict = matches!(
            e,
            crate::frostr::node::factory::FactoryError::DuplicateGroup(_)
        );
        let status = if conflict {
            axum::http::StatusCode::CONFLICT
        } else {
            axum::http::StatusCode::BAD_REQUEST
        };
        ApiError::new(status, e.to_string()).code(if conflict {
            "GROUP_SERVED"
        } else {
            "INVALID_CREDENTIALS"
        })
    })?;
    let mode = match b.mode.as_deref() {
        None => st.cfg.vault_mode,
        Some("locked") => VaultMode::Locked,
        Some("unattended") => VaultMode::Unattended,
        Some(_) => return Err(ApiError::bad("mode must be locked or unattended")),
    };
    let password = b.password.map(SecretString::new);
    let plain = zeroize::Zeroizing::new(
        serde_json::to_vec(&KeysetPlain {
            share_cred: b.share_cred.trim().to_string(),
            group_cred: b.group_cred.map(|g| g.trim().to_string()),
            share_password: b.share_password,
        })
        .map_err(ApiError::internal)?,
    );
    let sealed = match mode {
        VaultMode::Locked => {
            let Some(pw) = password else {
                return Err(ApiError::bad("locked mode needs a password"));
            };
            if pw.expose().chars().count() < 8 {
                return Err(ApiError::bad("password must be at least 8 characters"));
            }
            let kdf = st.kdf;
            let plain2 = plain.clone();
            tokio::task::spawn_blocking(move || at_rest::seal_with_password(&plain2, &pw, kdf))
                .await
                .map_err(ApiError::internal)?
                .map_err(ApiError::internal)?
        }
        VaultMode::Unattended => {
            let k = device_key(st)?;
            at_rest::seal_with_device_key(&plain, &k).map_err(ApiError::internal)?
        }
    };
    let blob = serde_json::to_vec(&sealed).map_err(ApiError::internal)?;
    st.store.put_keyset(id, &blob)?;
    // Metadata before the node starts: the factory reads the keyset's legacy opt-in from it.
    let mut meta = match meta {
        Some(m) => m,
        None => st.store.keyset_meta(id)?.unwrap_or_else(|| KeysetMeta {
            label: id.to_string(),
            created_at: now(),
            ..KeysetMeta::default()
        }),
    };
    meta.legacy = legacy;
    st.store.put_keyset_meta(id, &meta)?;
    if id == DEFAULT_KEYSET {
        let mut v = st.vault.lock().unwrap_or_else(|p| p.into_inner());
        v.mode = mode;
        v.has_keyset = true;
        v.locked = false;
    }
    hand_to_node_for(st, id, &plain)?;
    let ks = KeysetSel(id.to_string());
    audit_ks(st, &ks, &p.who(), "keyset.import", "", "ok");
    st.publish("system", "keyset imported", Some(json!({ "keyset": id })));
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UnlockBody {
    password: String,
}

async fn keyset_unlock(
    State(st): State<AppState>,
    Auth(p): Auth,
    auth::ClientIp(ip): auth::ClientIp,
    ks: KeysetSel,
    JsonBody(b): JsonBody<UnlockBody>,
) -> ApiResult<Json<Value>> {
    let Some(blob) = st.store.keyset(&ks.0)? else {
        return Err(ApiError::not_found("no keyset stored"));
    };
    let sealed: Sealed = serde_json::from_slice(&blob).map_err(ApiError::internal)?;
    if sealed.mode != "password" {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "keyset is in unattended mode",
        ));
    }
    let pw = SecretString::new(b.password);
    let opened = tokio::task::spawn_blocking(move || at_rest::open_with_password(&sealed, &pw))
        .await
        .map_err(ApiError::internal)?;
    match opened {
        Ok(plain) => {
            hand_to_node_for(&st, &ks.0, plain.expose())?;
            if ks.is_default() {
                st.vault.lock().unwrap_or_else(|p| p.into_inner()).locked = false;
            }
            audit_ks(&st, &ks, &p.who(), "keyset.unlock", "", "ok");
            let vault = super::keysets::vault_view_for(&st, &ks.0);
            Ok(Json(json!({ "success": true, "vault": vault })))
        }
        Err(_) => {
            audit_ks(&st, &ks, &p.who(), "keyset.unlock", "", "bad_password");
            let mut e = auth::auth_failed(&st, ip);
            if e.status == StatusCode::UNAUTHORIZED {
                e.error = "wrong password".into();
            }
            Err(e)
        }
    }
}

/// `DELETE /api/keyset`: stops and deletes the selected keyset (default: `default`), like
/// `DELETE /api/keysets/{id}`.
async fn keyset_delete(
    State(st): State<AppState>,
    Admin(p): Admin,
    ks: KeysetSel,
) -> ApiResult<Json<Value>> {
    let removed = super::keysets::remove_keyset(&st, &p, &ks.0).await?;
    Ok(Json(json!({ "success": true, "removed": removed })))
}

// ---------- peers ----------

/// Keyset `ks`'s effective policy of `pubkey`.
fn policy_json(st: &AppState, ks: &KeysetSel, pubkey: &str) -> ApiResult<Value> {
    let x = peer_xonly(pubkey).ok_or_else(|| ApiError::bad("invalid pubkey"))?;
    let e = super::policy::effective(st, &ks.0, &x)?;
    let stored = e.stored.as_ref();
    let seed = e.seed.as_ref();
    Ok(json!({
        "pubkey": pubkey,
        "allowSend": stored.map(|p| p.allow_send).or(seed.and_then(|s| s.allow_send)),
        "allowReceive": stored.map(|p| p.allow_receive).or(seed.and_then(|s| s.allow_receive)),
        "label": stored.and_then(|p| p.label.clone()).or(seed.and_then(|s| s.label.clone())),
        "note": stored.and_then(|p| p.note.clone()).or(seed.and_then(|s| s.note.clone())),
        "source": e.source.as_str(),
        "lastUpdated": stored.map(|p| iso8601(p.updated_at)),
        "effectiveSend": e.allow_send,
        "effectiveReceive": e.allow_receive,
        "hasExplicitPolicy": e.source != super::policy::Source::Default,
    }))
}

async fn peers(
    State(st): State<AppState>,
    Auth(_p): Auth,
    ks: KeysetSel,
) -> ApiResult<Json<Value>> {
    let n = node_sel(&st, &ks)?.status();
    let mut out = Vec::new();
    for p in &n.peers {
        out.push(json!({
            "pubkey": p.pubkey,
            "online": p.online,
            "lastSeen": p.last_seen.map(iso8601),
            "latency": p.rtt_ms,
            "noncesIn": p.nonces_in,
            "noncesOut": p.nonces_out,
            "policy": policy_json(&st, &ks, &p.pubkey)?,
        }));
    }
    let online = n.peers.iter().filter(|p| p.online).count();
    Ok(Json(json!({
        "peers": out, "total": n.peers.len(), "online": online,
        "thresholdReachable": n.threshold_reachable,
    })))
}

async fn peers_self(
    State(st): State<AppState>,
    Auth(_p): Auth,
    ks: KeysetSel,
) -> ApiResult<Json<Value>> {
    let n = node_sel(&st, &ks)?.status();
    Ok(Json(
        json!({ "pubkey": n.self_pubkey, "warnings": n.warnings }),
    ))
}

async fn peers_group(
    State(st): State<AppState>,
    Auth(_p): Auth,
    ks: KeysetSel,
) -> ApiResult<Json<Value>> {
    let n = node_sel(&st, &ks)?.status();
    Ok(Json(json!({
        "pubkey": n.group_pk, "threshold": n.threshold, "totalShares": n.total,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PingBody {
    target: String,
}

async fn ping_one(st: &AppState, node: &Arc<dyn SignerNode>, pk: &str) -> Value {
    let bytes = hex::decode(pk).unwrap_or_default();
    let t0 = Instant::now();
    match tokio::time::timeout(Duration::from_secs(5), node.ping(bytes)).await {
        Ok(Ok(d)) => {
            metrics::inc("frostbox_pings_total", &[("result", "ok")]);
            json!({ "pubkey": pk, "success": true, "latency": d.as_millis() as u64 })
        }
        Ok(Err(e)) => {
            metrics::inc("frostbox_pings_total", &[("result", "error")]);
            json!({ "pubkey": pk, "success": false, "error": e.to_string() })
        }
        Err(_) => {
            let _ = (st, t0);
            metrics::inc("frostbox_pings_total", &[("result", "timeout")]);
            json!({ "pubkey": pk, "success": false, "error": "timed out" })
        }
    }
}

async fn peers_ping(
    State(st): State<AppState>,
    Auth(_p): Auth,
    ks: KeysetSel,
    JsonBody(b): JsonBody<PingBody>,
) -> ApiResult<Json<Value>> {
    let target = b.target.trim().to_ascii_lowercase();
    if target != "all" && peer_xonly(&target).is_none() {
        return Err(ApiError::bad("invalid target parameter"));
    }
    let node = node_sel(&st, &ks)?;
    let peers = node.status().peers;
    if target == "all" {
        let futs = peers.iter().map(|p| ping_one(&st, &node, &p.pubkey));
        let results = futures_util::future::join_all(futs).await;
        return Ok(Json(json!({ "results": results })));
    }
    let Some(peer) = peers
        .iter()
        .find(|p| p.pubkey == target || peer_xonly(&p.pubkey) == peer_xonly(&target))
    else {
        return Err(ApiError::not_found("peer not in group"));
    };
    let mut r = ping_one(&st, &node, &peer.pubkey).await;
    let s = node
        .status()
        .peers
        .into_iter()
        .find(|p| p.pubkey == peer.pubkey);
    r["status"] = json!({
        "pubkey": peer.pubkey,
        "online": s.as_ref().is_some_and(|p| p.online),
        "lastSeen": s.as_ref().and_then(|p| p.last_seen).map(iso8601),
        "latency": s.as_ref().and_then(|p| p.rtt_ms),
    });
    Ok(Json(r))
}

/// `GET /api/peers/policies`: the selected keyset's stored policies, then the box-wide
/// `PEER_POLICIES` seeds it has no stored policy for.
async fn policies(
    State(st): State<AppState>,
    Auth(_p): Auth,
    ks: KeysetSel,
) -> ApiResult<Json<Value>> {
    let mut out = Vec::new();
    let mut seen = Vec::new();
    for p in st.store.peer_policies_of(&ks.0)? {
        seen.extend(peer_xonly(&p.pubkey));
        out.push(policy_json(&st, &ks, &p.pubkey)?);
    }
    for s in &st.cfg.peer_policy_seeds {
        if !seen.contains(&s.xonly) {
            out.push(policy_json(&st, &ks, &s.pubkey)?);
        }
    }
    Ok(Json(json!({ "policies": out })))
}

fn has_peer(n: &dyn SignerNode, x: &[u8; 32]) -> bool {
    n.status()
        .peers
        .iter()
        .any(|q| peer_xonly(&q.pubkey).as_ref() == Some(x))
}

fn norm_pubkey(s: &str) -> ApiResult<String> {
    let s = s.trim().to_ascii_lowercase();
    if peer_xonly(&s).is_none() {
        return Err(ApiError::bad(
            "pubkey must be 64 (x-only) or 66 (compressed) hex characters",
        ));
    }
    Ok(s)
}

async fn policy_get(
    State(st): State<AppState>,
    Auth(_p): Auth,
    ks: KeysetSel,
    Path(pk): Path<String>,
) -> ApiResult<Json<Value>> {
    let pk = norm_pubkey(&pk)?;
    Ok(Json(json!({ "policy": policy_json(&st, &ks, &pk)? })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyBody {
    #[serde(rename = "allowSend")]
    allow_send: Option<bool>,
    #[serde(rename = "allowReceive")]
    allow_receive: Option<bool>,
    label: Option<String>,
    note: Option<String>,
}

async fn policy_put(
    State(st): State<AppState>,
    Auth(p): Auth,
    ks: KeysetSel,
    Path(pk): Path<String>,
    JsonBody(b): JsonBody<PolicyBody>,
) -> ApiResult<Json<Value>> {
    let pk = norm_pubkey(&pk)?;
    if b.allow_send.is_none() && b.allow_receive.is_none() {
        return Err(ApiError::bad(
            "policy update requires allowSend and/or allowReceive",
        ));
    }
    for t in [&b.label, &b.note].into_iter().flatten() {
        if t.chars().count() > 256 {
            return Err(ApiError::bad("label and note: at most 256 characters"));
        }
    }
    let x = peer_xonly(&pk).ok_or_else(|| ApiError::bad("invalid pubkey"))?;
    let eff = super::policy::effective(&st, &ks.0, &x)?;
    // An omitted direction keeps its current value (stored, PEER_POLICIES, else allow) —
    // igloo-server reset it to false (W4).
    let (cs, cr) = (eff.allow_send, eff.allow_receive);
    let cur = eff.stored;
    if let Some(old) = &cur
        && old.pubkey != pk
    {
        // The same peer stored under its other key form: keep one record.
        st.store.delete_peer_policy(&ks.0, &old.pubkey)?;
    }
    let rec = PeerPolicy {
        keyset: ks.0.clone(),
        pubkey: pk.clone(),
        allow_send: b.allow_send.unwrap_or(cs),
        allow_receive: b.allow_receive.unwrap_or(cr),
        label: b.label.or(cur.as_ref().and_then(|c| c.label.clone())),
        note: b.note.or(cur.and_then(|c| c.note)),
        updated_at: now(),
    };
    st.store.put_peer_policy(&rec)?;
    // Policies belong to the selected keyset: only its node gets the change.
    if let Some(n) = st.node_for(&ks.0)
        && has_peer(n.as_ref(), &x)
    {
        n.set_peer_policy(x.to_vec(), rec.allow_send, rec.allow_receive)
            .map_err(node_err)?;
    }
    audit_ks(&st, &ks, &p.who(), "peer.policy", &pk, "ok");
    Ok(Json(json!({ "policy": policy_json(&st, &ks, &pk)? })))
}

async fn policy_delete(
    State(st): State<AppState>,
    Auth(p): Auth,
    ks: KeysetSel,
    Path(pk): Path<String>,
) -> ApiResult<Json<Value>> {
    let pk = norm_pubkey(&pk)?;
    let x = peer_xonly(&pk).ok_or_else(|| ApiError::bad("invalid pubkey"))?;
    let Some(stored) = super::policy::stored_for(&st, &ks.0, &x)? else {
        return Err(ApiError::not_found("policy not found"));
    };
    st.store.delete_peer_policy(&ks.0, &stored.pubkey)?;
    // Back to PEER_POLICIES or the default on this keyset's live node.
    let eff = super::policy::effective(&st, &ks.0, &x)?;
    if let Some(n) = st.node_for(&ks.0)
        && has_peer(n.as_ref(), &x)
    {
        n.set_peer_policy(x.to_vec(), eff.allow_send, eff.allow_receive)
            .map_err(node_err)?;
    }
    audit_ks(&st, &ks, &p.who(), "peer.policy.delete", &pk, "ok");
    Ok(Json(
        json!({ "removed": true, "policy": policy_json(&st, &ks, &pk)? }),
    ))
}

// ---------- sign ----------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventTemplate {
    pubkey: Option<String>,
    kind: u16,
    created_at: u64,
    #[serde(default)]
    content: String,
    tags: Vec<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignBody {
    message: Option<String>,
    event: Option<EventTemplate>,
}

/// NIP-01 event id.
pub fn event_id(
    pubkey: &[u8; 32],
    created_at: u64,
    kind: u16,
    tags: &[Vec<String>],
    content: &str,
) -> [u8; 32] {
    let ser = json!([0, hex::encode(pubkey), created_at, kind, tags, content]).to_string();
    auth::sha256(ser.as_bytes())
}

async fn sign(
    State(st): State<AppState>,
    Auth(p): Auth,
    ks: KeysetSel,
    JsonBody(b): JsonBody<SignBody>,
) -> ApiResult<Json<Value>> {
    enum What {
        Msg([u8; 32]),
        Ev(EventTemplate),
    }
    let what = match (b.message, b.event) {
        (Some(m), None) => {
            What::Msg(hex32(&m).ok_or_else(|| ApiError::bad("message must be 64 hex characters"))?)
        }
        (None, Some(e)) => {
            if e.created_at == 0 {
                return Err(ApiError::bad("event.created_at must be > 0"));
            }
            if let Some(pk) = &e.pubkey {
                hex32(pk).ok_or_else(|| ApiError::bad("event.pubkey must be 64 hex characters"))?;
            }
            What::Ev(e)
        }
        _ => return Err(ApiError::bad("send either message or event")),
    };
    let node = node_sel(&st, &ks)?;
    let (id, event) = match what {
        What::Msg(m) => (m, None),
        What::Ev(e) => {
            let gpk = hex32(&node.status().group_pk)
                .ok_or_else(|| ApiError::no_signer().code("NODE_UNAVAILABLE"))?;
            if let Some(pk) = &e.pubkey
                && hex32(pk) != Some(gpk)
            {
                return Err(ApiError::bad("event.pubkey is not this group's public key"));
            }
            let id = event_id(&gpk, e.created_at, e.kind, &e.tags, &e.content);
            (id, Some((gpk, e)))
        }
    };
    let t0 = Instant::now();
    let r = with_timeout(&st, node.sign(id)).await;
    let secs = t0.elapsed().as_secs_f64();
    let id_hex = hex::encode(id);
    match r {
        Ok(sig) => {
            metrics::inc("frostbox_signs_total", &[("result", "ok")]);
            metrics::observe("frostbox_sign_duration_seconds", &[], secs);
            audit_ks(&st, &ks, &p.who(), "sign", &id_hex, "ok");
            let mut v = json!({ "id": id_hex, "signature": hex::encode(sig) });
            if let Some((gpk, e)) = event {
                v["event"] = json!({
                    "id": id_hex, "pubkey": hex::encode(gpk), "created_at": e.created_at,
                    "kind": e.kind, "tags": e.tags, "content": e.content,
                    "sig": hex::encode(sig),
                });
            }
            Ok(Json(v))
        }
        Err(e) => {
            metrics::inc("frostbox_signs_total", &[("result", "error")]);
            audit_ks(
                &st,
                &ks,
                &p.who(),
                "sign",
                &id_hex,
                e.code.unwrap_or("error"),
            );
            Err(e)
        }
    }
}

// ---------- NIP-44 / NIP-04 ----------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CryptoBody {
    peer_pubkey: String,
    content: String,
}

async fn crypto(
    st: AppState,
    p: Principal,
    ks: KeysetSel,
    op: CryptoOp,
    b: CryptoBody,
) -> ApiResult<Json<Value>> {
    let peer = peer_xonly(&b.peer_pubkey)
        .ok_or_else(|| ApiError::bad("invalid peer_pubkey: expected 64 or 66 hex characters"))?;
    // Checked here, before a threshold ECDH round is spent on it (schemathesis found these
    // reaching the node and coming back as 502/504).
    if !crate::nostr::keys::is_valid_xonly(&peer) {
        return Err(ApiError::bad(
            "invalid peer_pubkey: not the x coordinate of a secp256k1 point",
        ));
    }
    // A ciphertext that cannot decrypt under any key is refused before the round.
    super::crypto::check_ciphertext(op, &b.content)?;
    if b.content.len() > 256 * 1024 {
        return Err(ApiError::bad("content too long"));
    }
    if matches!(op, CryptoOp::Nip44Encrypt) && (b.content.is_empty() || b.content.len() > 65_535) {
        return Err(ApiError::bad("NIP-44 plaintext must be 1-65535 bytes"));
    }
    let node = node_sel(&st, &ks)?;
    let t0 = Instant::now();
    let shared = with_timeout(&st, node.ecdh(peer)).await;
    metrics::observe(
        "frostbox_ecdh_duration_seconds",
        &[],
        t0.elapsed().as_secs_f64(),
    );
    let shared = match shared {
        Ok(x) => {
            metrics::inc("frostbox_ecdh_total", &[("result", "ok")]);
            crate::vault::Secret32::new(x)
        }
        Err(e) => {
            metrics::inc("frostbox_ecdh_total", &[("result", "error")]);
            audit_ks(&st, &ks, &p.who(), "ecdh", &hex::encode(peer), "error");
            return Err(e);
        }
    };
    audit_ks(&st, &ks, &p.who(), "ecdh", &hex::encode(peer), "ok");
    let result = super::crypto::apply(op, &shared, &b.content)?;
    Ok(Json(json!({ "result": result })))
}

async fn nip44_encrypt(
    State(st): State<AppState>,
    Auth(p): Auth,
    ks: KeysetSel,
    JsonBody(b): JsonBody<CryptoBody>,
) -> ApiResult<Json<Value>> {
    crypto(st, p, ks, CryptoOp::Nip44Encrypt, b).await
}
async fn nip44_decrypt(
    State(st): State<AppState>,
    Auth(p): Auth,
    ks: KeysetSel,
    JsonBody(b): JsonBody<CryptoBody>,
) -> ApiResult<Json<Value>> {
    crypto(st, p, ks, CryptoOp::Nip44Decrypt, b).await
}
async fn nip04_encrypt(
    State(st): State<AppState>,
    Auth(p): Auth,
    ks: KeysetSel,
    JsonBody(b): JsonBody<CryptoBody>,
) -> ApiResult<Json<Value>> {
    crypto(st, p, ks, CryptoOp::Nip04Encrypt, b).await
}
async fn nip04_decrypt(
    State(st): State<AppState>,
    Auth(p): Auth,
    ks: KeysetSel,
    JsonBody(b): JsonBody<CryptoBody>,
) -> ApiResult<Json<Value>> {
    crypto(st, p, ks, CryptoOp::Nip04Decrypt, b).await
}

// ---------- recovery ----------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecoverBody {
    #[serde(rename = "groupCredential")]
    group_credential: Option<String>,
    #[serde(rename = "shareCredentials")]
    share_credentials: Vec<String>,
    /// Password for `bfshare`/`bfprofile` envelopes (FROSTR-NEXT credentials are encrypted).
    password: Option<String>,
}

async fn recover(
    State(st): State<AppState>,
    Auth(p): Auth,
    JsonBody(b): JsonBody<RecoverBody>,
) -> ApiResult<Json<Value>> {
    if b.share_credentials.is_empty() || b.share_credentials.len() > 32 {
        return Err(ApiError::bad("shareCredentials must hold 1-32 credentials"));
    }
    let password = b.password.map(SecretString::new);
    let shares: Vec<SecretString> = b
        .share_credentials
        .into_iter()
        .map(SecretString::new)
        .collect();
    let group = b.group_credential;
    let r = tokio::task::spawn_blocking(move || {
        super::crypto::recover(group.as_deref(), &shares, password.as_ref())
    })
    .await
    .map_err(ApiError::internal)?;
    audit(
        &st,
        &p.who(),
        "recover",
        "",
        if r.is_ok() { "ok" } else { "error" },
    );
    let (nsec, used, threshold, invalid) = r?;
    let mut details = json!({ "sharesUsed": used, "thresholdRequired": threshold });
    if !invalid.is_empty() {
        details["invalidShares"] = json!(invalid);
    }
    Ok(Json(
        json!({ "success": true, "nsec": nsec.expose(), "details": details }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ValidateBody {
    #[serde(rename = "type")]
    kind: String,
    credential: String,
    password: Option<String>,
}

async fn recover_validate(
    State(_st): State<AppState>,
    Auth(_p): Auth,
    JsonBody(b): JsonBody<ValidateBody>,
) -> ApiResult<Json<Value>> {
    if b.kind != "group" && b.kind != "share" {
        return Err(ApiError::bad("type must be group or share"));
    }
    let pw = b.password.map(SecretString::new);
    let kind = b.kind;
    let cred = SecretString::new(b.credential);
    let (ok, message, decoded) =
        tokio::task::spawn_blocking(move || super::crypto::validate(&kind, &cred, pw.as_ref()))
            .await
            .map_err(ApiError::internal)?;
    Ok(Json(json!({
        "success": true,
        "validation": { "isValid": ok, "message": message },
        "decoded": decoded,
    })))
}

// ---------- /api/events ----------

const WS_PER_IP: u32 = 8;

/// `GET /api/events[?keyset=<id>]`: the live event stream. Without a selector every event;
/// with one (query or `X-Frostbox-Keyset`) only that keyset's events and the box-wide ones
/// (no keyset); an unknown keyset is a 404.
async fn events(
    State(st): State<AppState>,
    Auth(_p): Auth,
    super::keysets::MaybeKeysetSel(sel): super::keysets::MaybeKeysetSel,
    auth::ClientIp(ip): auth::ClientIp,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    if let Some(o) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok())
        && !origin_allowed(&st, o, &headers)
    {
        return Err(ApiError::forbidden("origin not allowed"));
    }
    let ws = ws.map_err(|_| {
        ApiError::new(
            StatusCode::UPGRADE_REQUIRED,
            "this endpoint needs a WebSocket upgrade",
        )
    })?;
    {
        let mut m = st.ws_conns.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(ip).or_insert(0);
        if *n >= WS_PER_IP {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too many connections from your IP",
            ));
        }
        *n += 1;
    }
    let st2 = st.clone();
    Ok(ws
        .max_message_size(4096)
        .on_upgrade(move |sock| async move {
            event_loop(&st2, sock, sel.map(|k| k.0)).await;
            let mut m = st2.ws_conns.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(n) = m.get_mut(&ip) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    m.remove(&ip);
                }
            }
        }))
}

async fn event_loop(st: &AppState, mut sock: WebSocket, keyset: Option<String>) {
    let mut rx = st.subscribe();
    metrics::inc("frostbox_event_stream_connections_total", &[]);
    let hello = json!({
        "type": "system", "message": "Connected to event stream",
        "timestamp": iso8601(now()), "id": hex::encode(rand::random::<[u8; 6]>()),
    });
    if sock
        .send(Message::Text(hello.to_string().into()))
        .await
        .is_err()
    {
        return;
    }
    let mut window = Instant::now();
    let mut count = 0u32;
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Ok(f) => {
                    if let (Some(want), Some(k)) = (&keyset, &f.keyset) && want != k { continue; }
                    if sock.send(Message::Text(f.json.as_str().into())).await.is_err() { return; }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => return,
            },
            m = sock.recv() => match m {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {
                    // Client frames are ignored but rate-limited (20/s).
                    if window.elapsed() > Duration::from_secs(1) { window = Instant::now(); count = 0; }
                    count += 1;
                    if count > 40 {
                        let _ = sock.send(Message::Close(Some(axum::extract::ws::CloseFrame {
                            code: 1008, reason: "rate limit exceeded".into(),
                        }))).await;
                        return;
                    }
                }
            },
        }
    }
}
