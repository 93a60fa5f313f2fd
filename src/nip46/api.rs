//! `/api/nip46/*` HTTP routes (igloo-server compatible shapes, plus bunker tokens, approvals,
//! audit, QR). Authentication is the caller's job: mount behind the API's auth layer.

use super::policy::Policy;
use super::service::{ApprovalDecision, Bunker};
use super::store::{ClientSession, RequestStatus, SessionStatus, TransportKind};
use super::uri::{Profile, RequestOrigin, parse_hex_pubkey};
use super::{Error, now_secs, qr};
use crate::api::JsonBody;
use axum::extract::{Extension, FromRequestParts, Path, Query};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;

/// All NIP-46 routes with the bunker as state. Paths are absolute (`/api/nip46/...`); merge
/// into the API router behind authentication.
pub fn routes(bunker: Bunker) -> Router {
    routes_on::<Bunker>().with_state(bunker)
}

/// Where the handlers find the bunker: a fixed [`Bunker`] ([`routes`]) or the running ones of
/// `serve` ([`super::runtime::BunkerSlot`], one per keyset, none while no signing node runs).
pub trait BunkerSource: Clone + Send + Sync + 'static {
    /// The bunker of a request that selects no keyset.
    fn current(&self) -> Option<Bunker>;
    /// The bunker of keyset `keyset` (a request's [`SelectedKeyset`]). By default the
    /// [`Self::current`] bunker serves `default` only.
    fn current_for(&self, keyset: &str) -> Option<Bunker> {
        if keyset == crate::store::DEFAULT_KEYSET {
            self.current()
        } else {
            None
        }
    }
    /// Whether keyset `keyset`'s bunker signs with a legacy FROSTR 1.0.x node (its status then
    /// carries the legacy warning). By default none does.
    fn legacy_for(&self, _keyset: &str) -> bool {
        false
    }
}

impl BunkerSource for Bunker {
    fn current(&self) -> Option<Bunker> {
        Some(self.clone())
    }
}

/// The keyset a request acts on, put in the request extensions by the layer in front of the
/// routes ([`super::runtime::mount`]: the API's keyset selector). Absent → [`BunkerSource::current`].
#[derive(Clone, Debug)]
pub struct SelectedKeyset(pub String);

/// The bunker of the request's keyset; `409 {"error","code":"NODE_UNAVAILABLE"}` when that
/// keyset runs none.
pub struct Cur(pub Bunker);

impl<S: BunkerSource> FromRequestParts<S> for Cur {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, st: &S) -> Result<Self, Response> {
        let sel = parts
            .extensions
            .get::<SelectedKeyset>()
            .map(|k| k.0.as_str());
        let found = match sel {
            Some(k) => st.current_for(k),
            None => st.current(),
        };
        found.map(Cur).ok_or_else(|| {
            let error = match sel {
                Some(k) if k != crate::store::DEFAULT_KEYSET => format!(
                    "keyset {k} runs no signer: unlock it or wait for its node to start (the NIP-46 bunker runs with the signing node)"
                ),
                _ => "no signer is running: import or unlock a keyset first (the NIP-46 bunker runs with the signing node)".to_string(),
            };
            (
                StatusCode::CONFLICT,
                Json(json!({ "error": error, "code": "NODE_UNAVAILABLE" })),
            )
                .into_response()
        })
    }
}

/// Every `(method, path)` [`routes_on`] registers (the OpenAPI table is checked against it).
pub const ROUTE_LIST: &[(&str, &str)] = &[
    ("GET", "/api/nip46/status"),
    ("GET", "/api/nip46/transport"),
    ("GET", "/api/nip46/relays"),
    ("PUT", "/api/nip46/relays"),
    ("POST", "/api/nip46/relays"),
    ("GET", "/api/nip46/requests"),
    ("POST", "/api/nip46/requests"),
    ("DELETE", "/api/nip46/requests"),
    ("POST", "/api/nip46/requests/{id}/approve"),
    ("POST", "/api/nip46/requests/{id}/deny"),
    ("POST", "/api/nip46/connect"),
    ("GET", "/api/nip46/sessions"),
    ("POST", "/api/nip46/sessions"),
    ("GET", "/api/nip46/sessions/{pubkey}"),
    ("DELETE", "/api/nip46/sessions/{pubkey}"),
    ("PUT", "/api/nip46/sessions/{pubkey}/policy"),
    ("PUT", "/api/nip46/sessions/{pubkey}/status"),
    ("GET", "/api/nip46/history"),
    ("GET", "/api/nip46/bunker"),
    ("POST", "/api/nip46/bunker"),
    ("DELETE", "/api/nip46/bunker/{id}"),
    ("GET", "/api/nip46/audit"),
    ("GET", "/api/nip46/qr"),
];

/// All NIP-46 routes, generic over where the bunker comes from (no state applied).
pub fn routes_on<S: BunkerSource>() -> Router<S> {
    Router::new()
        .route("/api/nip46/status", get(status))
        .route("/api/nip46/transport", get(transport))
        .route(
            "/api/nip46/relays",
            get(get_relays).put(put_relays).post(post_relays),
        )
        .route(
            "/api/nip46/requests",
            get(list_requests).post(post_request).delete(delete_request),
        )
        .route("/api/nip46/requests/{id}/approve", post(approve))
        .route("/api/nip46/requests/{id}/deny", post(deny))
        .route("/api/nip46/connect", post(connect))
        .route(
            "/api/nip46/sessions",
            get(list_sessions).post(create_session),
        )
        .route(
            "/api/nip46/sessions/{pubkey}",
            get(get_session).delete(delete_session),
        )
        .route("/api/nip46/sessions/{pubkey}/policy", put(put_policy))
        .route("/api/nip46/sessions/{pubkey}/status", put(put_status))
        .route("/api/nip46/history", get(history))
        .route("/api/nip46/bunker", get(list_tokens).post(create_token))
        .route(
            "/api/nip46/bunker/{id}",
            axum::routing::delete(delete_token),
        )
        .route("/api/nip46/audit", get(audit))
        .route("/api/nip46/qr", get(qr_svg))
}

struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let code = match &e {
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Store(_) | Error::Crypto(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Error::BadUri(_) | Error::Invalid(_) => StatusCode::BAD_REQUEST,
        };
        ApiError(code, e.to_string())
    }
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, msg.into())
}

type R = Result<Json<Value>, ApiError>;

fn pk_param(s: &str) -> Result<[u8; 32], ApiError> {
    parse_hex_pubkey(&s.to_ascii_lowercase()).map_err(|_| bad("pubkey must be 64 hex characters"))
}

fn session_json(s: &ClientSession, history: bool) -> Value {
    let mut v = json!({
        "pubkey": hex::encode(s.pubkey),
        "status": s.status,
        "profile": s.profile,
        "relays": s.relays,
        "policy": s.policy,
        "requested_perms": s.requested_perms,
        "transport": s.transport,
        "token_id": s.token_id,
        "created_at": s.created_at,
        "updated_at": s.updated_at,
        "last_active_at": s.last_active_at,
    });
    if history {
        v["recent_kinds"] = json!(s.recent_kinds);
        v["recent_methods"] = json!(s.recent_methods);
    }
    v
}

/// Whether the request's keyset runs a legacy (FROSTR 1.0.x) bunker
/// ([`BunkerSource::legacy_for`]).
pub struct IsLegacy(pub bool);

impl<S: BunkerSource> FromRequestParts<S> for IsLegacy {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(
        parts: &mut Parts,
        st: &S,
    ) -> Result<Self, std::convert::Infallible> {
        let k = parts
            .extensions
            .get::<SelectedKeyset>()
            .map_or(crate::store::DEFAULT_KEYSET, |k| k.0.as_str());
        Ok(IsLegacy(st.legacy_for(k)))
    }
}

/// A legacy bunker's status carries the warning the keyset listing shows (`legacyWarning`):
/// FROSTR 1.0.x leaks shares (FROSTR.md §0.2), and the way out.
async fn status(IsLegacy(legacy): IsLegacy, Cur(b): Cur) -> R {
    let sessions = b.list_sessions()?;
    let pending = b
        .store()
        .list_requests(&[RequestStatus::Pending], 1000)
        .map_err(Error::from)?;
    Ok(Json(json!({
        "legacy": legacy,
        "legacyWarning": legacy.then_some(crate::frostr::node::legacy::MIGRATE_HINT),
        "transport_pubkey": hex::encode(b.transport_pubkey()),
        "identity_pubkey": hex::encode(b.identity_pubkey()),
        "npub": crate::nostr::nip19::encode_npub(&b.identity_pubkey()),
        "relays": b.relays(),
        "listen_relays": b.listen_relays(),
        "sessions": sessions.len(),
        "active_sessions": sessions.iter().filter(|s| s.status == SessionStatus::Active).count(),
        "pending_requests": pending.len(),
    })))
}

/// Unlike igloo-server, never returns the transport *secret* (§8 W18).
async fn transport(Cur(b): Cur) -> R {
    Ok(Json(
        json!({ "transport_pubkey": hex::encode(b.transport_pubkey()) }),
    ))
}

async fn get_relays(Cur(b): Cur) -> R {
    Ok(Json(json!({ "relays": b.relays() })))
}

#[derive(Deserialize)]
struct RelaysBody {
    relays: Option<Vec<String>>,
}

async fn put_relays(Cur(b): Cur, JsonBody(body): JsonBody<RelaysBody>) -> R {
    let relays = b.set_relays(body.relays.unwrap_or_default())?;
    Ok(Json(json!({ "relays": relays })))
}

async fn post_relays(Cur(b): Cur, JsonBody(body): JsonBody<RelaysBody>) -> R {
    let mut all = b.relays();
    all.extend(body.relays.ok_or_else(|| bad("relays must be an array"))?);
    let relays = b.set_relays(all)?;
    Ok(Json(json!({ "relays": relays })))
}

async fn list_requests(Cur(b): Cur, Query(q): Query<HashMap<String, String>>) -> R {
    let mut statuses = Vec::new();
    if let Some(s) = q.get("status") {
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            statuses.push(
                RequestStatus::parse(part).ok_or_else(|| bad(format!("unknown status: {part}")))?,
            );
        }
    }
    let limit = match q.get("limit") {
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=500).contains(n))
            .ok_or_else(|| bad("limit must be 1..=500"))?,
        None => 100,
    };
    let requests = b
        .store()
        .list_requests(&statuses, limit)
        .map_err(Error::from)?;
    Ok(Json(json!({ "requests": requests })))
}

#[derive(Deserialize)]
struct RequestAction {
    id: String,
    action: String,
    #[serde(default)]
    policy: Option<Policy>,
}

fn decision_for(action: &str) -> Result<ApprovalDecision, ApiError> {
    Ok(match action {
        "approve" | "approve_once" | "complete" => ApprovalDecision::ApproveOnce,
        "approve_always" => ApprovalDecision::ApproveAlways,
        "deny" | "deny_once" | "fail" => ApprovalDecision::DenyOnce,
        "deny_always" => ApprovalDecision::DenyAlways,
        other => return Err(bad(format!("unknown action: {other}"))),
    })
}

/// igloo-server compatible: `{id, action, policy?}`.
async fn post_request(Cur(b): Cur, JsonBody(body): JsonBody<RequestAction>) -> R {
    let d = decision_for(&body.action)?;
    let rec = b.resolve(&body.id, d, body.policy)?;
    Ok(Json(json!({ "request": rec })))
}

#[derive(Deserialize)]
struct IdBody {
    id: String,
}

async fn delete_request(Cur(b): Cur, JsonBody(body): JsonBody<IdBody>) -> R {
    if let Ok(Some(r)) = b.store().get_request(&body.id)
        && r.status == RequestStatus::Pending
    {
        let _ = b.resolve(&body.id, ApprovalDecision::DenyOnce, None);
    }
    let ok = b.store().delete_request(&body.id).map_err(Error::from)?;
    Ok(Json(json!({ "ok": ok })))
}

#[derive(Deserialize, Default)]
struct DecisionBody {
    #[serde(default)]
    always: bool,
    #[serde(default)]
    policy: Option<Policy>,
}

async fn approve(Cur(b): Cur, Path(id): Path<String>, body: Option<Json<DecisionBody>>) -> R {
    let body = body.map(|b| b.0).unwrap_or_default();
    let d = if body.always {
        ApprovalDecision::ApproveAlways
    } else {
        ApprovalDecision::ApproveOnce
    };
    Ok(Json(json!({ "request": b.resolve(&id, d, body.policy)? })))
}

async fn deny(Cur(b): Cur, Path(id): Path<String>, body: Option<Json<DecisionBody>>) -> R {
    let body = body.map(|b| b.0).unwrap_or_default();
    let d = if body.always {
        ApprovalDecision::DenyAlways
    } else {
        ApprovalDecision::DenyOnce
    };
    Ok(Json(json!({ "request": b.resolve(&id, d, body.policy)? })))
}

#[derive(Deserialize)]
struct ConnectBody {
    uri: String,
    #[serde(default)]
    policy: Option<Policy>,
}

/// Pairs a pasted/scanned `nostrconnect://` URI. The operator's call is the approval: the
/// client gets `policy` if given, else the permissions it requested. Its `auth_url`s name the
/// web UI as this request reached the box.
async fn connect(
    Cur(b): Cur,
    headers: HeaderMap,
    uri: Uri,
    trust: Option<Extension<TrustProxy>>,
    JsonBody(body): JsonBody<ConnectBody>,
) -> R {
    let origin = origin_of(&headers, &uri, trust);
    let s = b.pair_nostrconnect_for(&body.uri, body.policy, Some(&origin))?;
    Ok(Json(json!({ "session": session_json(&s, false) })))
}

async fn list_sessions(Cur(b): Cur, Query(q): Query<HashMap<String, String>>) -> R {
    let history = q.get("history").is_some_and(|v| v == "true" || v == "1");
    let sessions: Vec<Value> = b
        .list_sessions()?
        .iter()
        .map(|s| session_json(s, history))
        .collect();
    Ok(Json(json!({ "sessions": sessions })))
}

async fn get_session(Cur(b): Cur, Path(pk): Path<String>) -> R {
    let pk = pk_param(&pk)?;
    let s = b
        .session(&pk)?
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, "session not found".into()))?;
    Ok(Json(json!({ "session": session_json(&s, true) })))
}

#[derive(Deserialize)]
struct CreateSession {
    pubkey: String,
    #[serde(default)]
    status: Option<SessionStatus>,
    #[serde(default)]
    profile: Option<Profile>,
    #[serde(default)]
    relays: Option<Vec<String>>,
    #[serde(default)]
    policy: Option<Policy>,
}

async fn create_session(
    Cur(b): Cur,
    headers: HeaderMap,
    uri: Uri,
    trust: Option<Extension<TrustProxy>>,
    JsonBody(body): JsonBody<CreateSession>,
) -> R {
    let web_base = origin_of(&headers, &uri, trust).web_base();
    let pk = pk_param(&body.pubkey)?;
    let now = now_secs();
    let mut relays = Vec::new();
    for r in body.relays.unwrap_or_default() {
        relays.push(super::uri::validate_relay(&r)?);
    }
    let existing = b.session(&pk)?;
    let s = ClientSession {
        pubkey: pk,
        status: body.status.unwrap_or(SessionStatus::Pending),
        profile: body.profile.unwrap_or_default(),
        relays,
        policy: body.policy.unwrap_or_default(),
        requested_perms: String::new(),
        transport: TransportKind::Nip44,
        token_id: None,
        web_base: web_base.or_else(|| existing.as_ref().and_then(|e| e.web_base.clone())),
        created_at: existing.as_ref().map_or(now, |e| e.created_at),
        updated_at: now,
        last_active_at: existing.as_ref().map_or(now, |e| e.last_active_at),
        recent_kinds: existing
            .as_ref()
            .map(|e| e.recent_kinds.clone())
            .unwrap_or_default(),
        recent_methods: existing.map(|e| e.recent_methods).unwrap_or_default(),
    };
    b.upsert_session(s.clone())?;
    Ok(Json(
        json!({ "ok": true, "session": session_json(&s, false) }),
    ))
}

#[derive(Deserialize)]
struct PolicyBody {
    #[serde(default)]
    methods: Option<std::collections::BTreeMap<String, bool>>,
    #[serde(default)]
    kinds: Option<std::collections::BTreeMap<String, bool>>,
}

async fn put_policy(
    Cur(b): Cur,
    Path(pk): Path<String>,
    JsonBody(body): JsonBody<PolicyBody>,
) -> R {
    let pk = pk_param(&pk)?;
    let m = body.methods.map(|methods| Policy {
        methods,
        ..Default::default()
    });
    let k = body.kinds.map(|kinds| Policy {
        kinds,
        ..Default::default()
    });
    b.set_policy(&pk, m, k)?;
    Ok(Json(json!({ "ok": true })))
}

#[derive(Deserialize)]
struct StatusBody {
    status: String,
}

async fn put_status(
    Cur(b): Cur,
    Path(pk): Path<String>,
    JsonBody(body): JsonBody<StatusBody>,
) -> R {
    let pk = pk_param(&pk)?;
    match body.status.as_str() {
        "revoked" => Ok(Json(json!({ "ok": b.revoke(&pk)? }))),
        "active" => {
            b.set_status(&pk, SessionStatus::Active)?;
            Ok(Json(json!({ "ok": true })))
        }
        "pending" => {
            b.set_status(&pk, SessionStatus::Pending)?;
            Ok(Json(json!({ "ok": true })))
        }
        other => Err(bad(format!("unknown status: {other}"))),
    }
}

async fn delete_session(Cur(b): Cur, Path(pk): Path<String>) -> R {
    let pk = pk_param(&pk)?;
    Ok(Json(json!({ "ok": b.revoke(&pk)? })))
}

async fn history(Cur(b): Cur) -> R {
    let sessions: Vec<Value> = b
        .list_sessions()?
        .iter()
        .map(|s| {
            json!({
                "pubkey": hex::encode(s.pubkey),
                "status": s.status,
                "last_active_at": s.last_active_at,
                "profile": s.profile,
                "recent_kinds": s.recent_kinds,
                "recent_methods": s.recent_methods,
            })
        })
        .collect();
    Ok(Json(json!({ "sessions": sessions })))
}

#[derive(Deserialize, Default)]
struct TokenBody {
    #[serde(default)]
    label: Option<String>,
    /// Pre-approved grant as a policy object …
    #[serde(default)]
    policy: Option<Policy>,
    /// … or as a NIP-46 perms string (`sign_event:1,nip44_encrypt`).
    #[serde(default)]
    perms: Option<String>,
    #[serde(default)]
    ttl_secs: Option<u64>,
}

/// Whether `X-Forwarded-*` / `Forwarded` headers come from a trusted proxy (`TRUST_PROXY`):
/// `serve` puts it in the request extensions ([`super::runtime::mount`]); absent → untrusted.
#[derive(Clone, Copy, Debug, Default)]
pub struct TrustProxy(pub bool);

/// How the operator's request reached the box (see [`RequestOrigin::from_parts`]).
fn origin_of(
    headers: &HeaderMap,
    uri: &Uri,
    trust: Option<Extension<TrustProxy>>,
) -> RequestOrigin {
    let trust = trust.is_some_and(|Extension(TrustProxy(t))| t);
    RequestOrigin::from_parts(headers, uri.authority().map(|a| a.as_str()), trust)
}

/// Creates a single-use `bunker://` URI. The secret appears only in this response. The
/// embedded relay is named as this request reached the box (`Host`, or a trusted proxy's
/// forwarded host/proto), not by its loopback address.
async fn create_token(
    Cur(b): Cur,
    headers: HeaderMap,
    uri: Uri,
    trust: Option<Extension<TrustProxy>>,
    body: Option<Json<TokenBody>>,
) -> R {
    let origin = origin_of(&headers, &uri, trust);
    let body = body.map(|b| b.0).unwrap_or_default();
    let policy = match (body.policy, body.perms) {
        (Some(p), _) => Some(p),
        (None, Some(perms)) => {
            let (p, rejected) = Policy::from_perms(&perms);
            if !rejected.is_empty() {
                return Err(bad(format!("unknown permissions: {}", rejected.join(","))));
            }
            Some(p)
        }
        (None, None) => None,
    };
    let (tok, uri) = b.create_bunker_uri_for(
        body.label.as_deref().unwrap_or(""),
        policy,
        body.ttl_secs,
        Some(&origin),
    )?;
    let svg = qr::svg_for(&uri).ok();
    Ok(Json(json!({
        "token": {
            "id": tok.id, "label": tok.label, "relays": tok.relays, "policy": tok.policy,
            "created_at": tok.created_at, "expires_at": tok.expires_at,
        },
        "uri": uri,
        "qr_svg": svg,
    })))
}

async fn list_tokens(Cur(b): Cur) -> R {
    let toks: Vec<Value> = b
        .store()
        .list_tokens()
        .map_err(Error::from)?
        .into_iter()
        .map(|t| {
            json!({
                "id": t.id, "label": t.label, "relays": t.relays, "policy": t.policy,
                "created_at": t.created_at, "expires_at": t.expires_at, "used_at": t.used_at,
                "used_by": t.used_by.map(hex::encode),
                "expired": t.used_at.is_none() && t.expires_at <= now_secs(),
            })
        })
        .collect();
    Ok(Json(json!({ "tokens": toks })))
}

async fn delete_token(Cur(b): Cur, Path(id): Path<String>) -> R {
    Ok(Json(
        json!({ "ok": b.store().delete_token(&id).map_err(Error::from)? }),
    ))
}

async fn audit(Cur(b): Cur, Query(q): Query<HashMap<String, String>>) -> R {
    let limit = q
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(200)
        .clamp(1, 5000);
    let client = q.get("client").map(|c| c.to_ascii_lowercase());
    let entries = b
        .store()
        .list_audit(client.as_deref(), limit)
        .map_err(Error::from)?;
    Ok(Json(json!({ "entries": entries })))
}

/// `GET /api/nip46/qr?text=<bunker://… or nostrconnect://…>` → `image/svg+xml`.
async fn qr_svg(Query(q): Query<HashMap<String, String>>) -> Result<Response, ApiError> {
    let text = q.get("text").ok_or_else(|| bad("missing text"))?;
    if !(text.starts_with("bunker://") || text.starts_with("nostrconnect://")) {
        return Err(bad("only bunker:// and nostrconnect:// URIs are rendered"));
    }
    let svg = qr::svg_for(text).map_err(|e| bad(e.to_string()))?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        svg,
    )
        .into_response())
}

// ------------------------------------------------------------------ OpenAPI

fn o(props: Value) -> Value {
    json!({ "type": "object", "properties": props })
}
fn req(required: &[&str], props: Value) -> Value {
    json!({ "type": "object", "required": required, "properties": props })
}

/// OpenAPI operations of [`ROUTE_LIST`] (`crate::api::openapi::spec` adds them): method
/// (lowercase), path, operation object. Every operation takes the keyset selector
/// (`?keyset=` / `X-Frostbox-Keyset`, unknown → 404) and answers 409 while that keyset runs no
/// signer.
pub fn openapi_ops() -> Vec<(String, &'static str, Value)> {
    let s = || json!({ "type": "string" });
    let i = || json!({ "type": "integer" });
    let arr = |v: Value| json!({ "type": "array", "items": v });
    let any = || json!({ "type": "object" });
    let ok = || req(&["ok"], json!({ "ok": { "type": "boolean" } }));
    let policy = || o(json!({ "methods": arr(s()), "kinds": arr(i()) }));
    ROUTE_LIST
        .iter()
        .map(|(m, p)| {
            let (summary, request, response): (&str, Option<Value>, Value) = match (*m, *p) {
                ("GET", "/api/nip46/status") => ("Bunker status: transport and identity pubkeys, relays, counts", None,
                    req(&["transport_pubkey", "identity_pubkey", "relays", "legacy"], json!({ "transport_pubkey": s(), "identity_pubkey": s(), "npub": s(), "relays": arr(s()), "listen_relays": arr(s()),
                        "legacy": { "type": "boolean", "description": "the bunker signs with a legacy FROSTR 1.0.x keyset" },
                        "legacyWarning": { "type": "string", "nullable": true, "description": "set for a legacy keyset: it leaks shares, run frostbox migrate" } }))),
                ("GET", "/api/nip46/transport") => ("The remote-signer (transport) pubkey", None, any()),
                ("GET", "/api/nip46/relays") => ("The bunker's relays", None, req(&["relays"], json!({ "relays": arr(s()) }))),
                ("PUT", "/api/nip46/relays") => ("Replace the bunker's relays", Some(o(json!({ "relays": arr(s()) }))), req(&["relays"], json!({ "relays": arr(s()) }))),
                ("POST", "/api/nip46/relays") => ("Add relays to the bunker", Some(o(json!({ "relays": arr(s()) }))), req(&["relays"], json!({ "relays": arr(s()) }))),
                ("GET", "/api/nip46/requests") => ("Requests waiting for (or decided by) the operator", None, req(&["requests"], json!({ "requests": arr(any()) }))),
                ("POST", "/api/nip46/requests") => ("Approve or deny a request (igloo-server shape)", Some(any()), any()),
                ("DELETE", "/api/nip46/requests") => ("Delete a request record", Some(req(&["id"], json!({ "id": s() }))), ok()),
                ("POST", "/api/nip46/requests/{id}/approve") => ("Approve a pending request (once or always)", Some(o(json!({ "always": { "type": "boolean" }, "policy": policy() }))), req(&["request"], json!({ "request": any() }))),
                ("POST", "/api/nip46/requests/{id}/deny") => ("Deny a pending request (once or always)", Some(o(json!({ "always": { "type": "boolean" } }))), req(&["request"], json!({ "request": any() }))),
                ("POST", "/api/nip46/connect") => ("Pair with a nostrconnect:// URI", Some(req(&["uri"], json!({ "uri": s() }))), any()),
                ("GET", "/api/nip46/sessions") => ("Client sessions", None, req(&["sessions"], json!({ "sessions": arr(any()) }))),
                ("POST", "/api/nip46/sessions") => ("Create or update a client session", Some(any()), any()),
                ("GET", "/api/nip46/sessions/{pubkey}") => ("One client session with recent activity", None, req(&["session"], json!({ "session": any() }))),
                ("DELETE", "/api/nip46/sessions/{pubkey}") => ("Revoke a client (deletes the session)", None, ok()),
                ("PUT", "/api/nip46/sessions/{pubkey}/policy") => ("Set a client's allowed methods and kinds", Some(policy()), any()),
                ("PUT", "/api/nip46/sessions/{pubkey}/status") => ("Set a client's status (active, pending, revoked)", Some(req(&["status"], json!({ "status": s() }))), ok()),
                ("GET", "/api/nip46/history") => ("Recent methods and kinds per client", None, req(&["sessions"], json!({ "sessions": arr(any()) }))),
                ("GET", "/api/nip46/bunker") => ("bunker:// tokens", None, req(&["tokens"], json!({ "tokens": arr(any()) }))),
                ("POST", "/api/nip46/bunker") => ("Create a single-use bunker:// URI (secret shown only here) with its QR code",
                    Some(o(json!({ "label": s(), "perms": s(), "policy": policy(), "ttl_secs": i() }))),
                    req(&["token", "uri"], json!({ "token": any(), "uri": s(), "qr_svg": s() }))),
                ("DELETE", "/api/nip46/bunker/{id}") => ("Delete a bunker:// token", None, ok()),
                ("GET", "/api/nip46/audit") => ("NIP-46 audit log", None, req(&["entries"], json!({ "entries": arr(any()) }))),
                _ => ("QR code (SVG) of a bunker:// or nostrconnect:// URI", None, s()),
            };
            let mut op = json!({
                "summary": summary,
                "tags": ["nip46"],
                "operationId": format!("{}{}", m.to_lowercase(), p.replace(['/', '{', '}', '-', '.'], "_")),
                "responses": {},
            });
            let ok_content = if *p == "/api/nip46/qr" {
                json!({ "image/svg+xml": { "schema": response } })
            } else {
                json!({ "application/json": { "schema": response } })
            };
            op["responses"]["200"] = json!({ "description": "OK", "content": ok_content });
            for e in [400u16, 401, 403, 404, 409, 413, 429] {
                op["responses"][e.to_string()] = json!({
                    "description": match e {
                        409 => "The selected keyset runs no signer",
                        404 => "Unknown keyset (or record)",
                        _ => "Error",
                    },
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } },
                });
            }
            if let Some(q) = request {
                op["requestBody"] = json!({
                    "required": true,
                    "content": { "application/json": { "schema": q } },
                });
            }
            let mut params = Vec::new();
            if p.contains("{pubkey}") {
                params.push(json!({ "name": "pubkey", "in": "path", "required": true,
                    "schema": { "type": "string", "pattern": "^[0-9a-fA-F]{64}$" } }));
            }
            if p.contains("{id}") {
                params.push(json!({ "name": "id", "in": "path", "required": true, "schema": s() }));
            }
            if *p == "/api/nip46/qr" {
                params.push(json!({ "name": "text", "in": "query", "required": true, "schema": s() }));
            }
            // Every route acts on one keyset's bunker (the node routes' selector).
            params.extend(crate::api::openapi::keyset_selector_params());
            op["parameters"] = json!(params);
            (m.to_lowercase(), *p, op)
        })
        .collect()
}
