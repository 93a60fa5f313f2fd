//! `/api/nip46/*` HTTP routes (igloo-server compatible shapes, plus bunker tokens, approvals,
//! audit, QR). Authentication is the caller's job: mount behind the API's auth layer.

use super::policy::Policy;
use super::service::{ApprovalDecision, Bunker};
use super::store::{ClientSession, RequestStatus, SessionStatus, TransportKind};
use super::uri::{Profile, parse_hex_pubkey};
use super::{Error, now_secs, qr};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;

/// All NIP-46 routes with the bunker as state. Paths are absolute (`/api/nip46/...`); merge
/// into the API router behind authentication.
pub fn routes(bunker: Bunker) -> Router {
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
        .with_state(bunker)
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

async fn status(State(b): State<Bunker>) -> R {
    let sessions = b.list_sessions()?;
    let pending = b
        .store()
        .list_requests(&[RequestStatus::Pending], 1000)
        .map_err(Error::from)?;
    Ok(Json(json!({
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
async fn transport(State(b): State<Bunker>) -> R {
    Ok(Json(
        json!({ "transport_pubkey": hex::encode(b.transport_pubkey()) }),
    ))
}

async fn get_relays(State(b): State<Bunker>) -> R {
    Ok(Json(json!({ "relays": b.relays() })))
}

#[derive(Deserialize)]
struct RelaysBody {
    relays: Option<Vec<String>>,
}

async fn put_relays(State(b): State<Bunker>, Json(body): Json<RelaysBody>) -> R {
    let relays = b.set_relays(body.relays.unwrap_or_default())?;
    Ok(Json(json!({ "relays": relays })))
}

async fn post_relays(State(b): State<Bunker>, Json(body): Json<RelaysBody>) -> R {
    let mut all = b.relays();
    all.extend(body.relays.ok_or_else(|| bad("relays must be an array"))?);
    let relays = b.set_relays(all)?;
    Ok(Json(json!({ "relays": relays })))
}

async fn list_requests(State(b): State<Bunker>, Query(q): Query<HashMap<String, String>>) -> R {
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
async fn post_request(State(b): State<Bunker>, Json(body): Json<RequestAction>) -> R {
    let d = decision_for(&body.action)?;
    let rec = b.resolve(&body.id, d, body.policy)?;
    Ok(Json(json!({ "request": rec })))
}

#[derive(Deserialize)]
struct IdBody {
    id: String,
}

async fn delete_request(State(b): State<Bunker>, Json(body): Json<IdBody>) -> R {
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

async fn approve(
    State(b): State<Bunker>,
    Path(id): Path<String>,
    body: Option<Json<DecisionBody>>,
) -> R {
    let body = body.map(|b| b.0).unwrap_or_default();
    let d = if body.always {
        ApprovalDecision::ApproveAlways
    } else {
        ApprovalDecision::ApproveOnce
    };
    Ok(Json(json!({ "request": b.resolve(&id, d, body.policy)? })))
}

async fn deny(
    State(b): State<Bunker>,
    Path(id): Path<String>,
    body: Option<Json<DecisionBody>>,
) -> R {
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
/// client gets `policy` if given, else the permissions it requested.
async fn connect(State(b): State<Bunker>, Json(body): Json<ConnectBody>) -> R {
    let s = b.pair_nostrconnect(&body.uri, body.policy)?;
    Ok(Json(json!({ "session": session_json(&s, false) })))
}

async fn list_sessions(State(b): State<Bunker>, Query(q): Query<HashMap<String, String>>) -> R {
    let history = q.get("history").is_some_and(|v| v == "true" || v == "1");
    let sessions: Vec<Value> = b
        .list_sessions()?
        .iter()
        .map(|s| session_json(s, history))
        .collect();
    Ok(Json(json!({ "sessions": sessions })))
}

async fn get_session(State(b): State<Bunker>, Path(pk): Path<String>) -> R {
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

async fn create_session(State(b): State<Bunker>, Json(body): Json<CreateSession>) -> R {
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
    State(b): State<Bunker>,
    Path(pk): Path<String>,
    Json(body): Json<PolicyBody>,
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
    State(b): State<Bunker>,
    Path(pk): Path<String>,
    Json(body): Json<StatusBody>,
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

async fn delete_session(State(b): State<Bunker>, Path(pk): Path<String>) -> R {
    let pk = pk_param(&pk)?;
    Ok(Json(json!({ "ok": b.revoke(&pk)? })))
}

async fn history(State(b): State<Bunker>) -> R {
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

/// Creates a single-use `bunker://` URI. The secret appears only in this response.
async fn create_token(State(b): State<Bunker>, body: Option<Json<TokenBody>>) -> R {
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
    let (tok, uri) =
        b.create_bunker_uri(body.label.as_deref().unwrap_or(""), policy, body.ttl_secs)?;
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

async fn list_tokens(State(b): State<Bunker>) -> R {
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

async fn delete_token(State(b): State<Bunker>, Path(id): Path<String>) -> R {
    Ok(Json(
        json!({ "ok": b.store().delete_token(&id).map_err(Error::from)? }),
    ))
}

async fn audit(State(b): State<Bunker>, Query(q): Query<HashMap<String, String>>) -> R {
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
