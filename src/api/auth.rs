//! Authentication: sessions (cookie or `X-Session-ID`), API keys (`X-API-Key` or
//! `Authorization: Bearer`), the admin secret, the one-time setup code; and the auth,
//! onboarding and admin routes.
//!
//! Session tokens and API keys are 32 random bytes (64 hex); only their SHA-256 is stored.
//! Every comparison of a presented secret is constant-time.

use super::limits::Class;
use super::{ApiError, ApiResult, AppState, JsonBody, client_ip, iso8601, origin_allowed};
use crate::store::{ApiKey, AuditEntry, Session, now};
use crate::vault::SecretString;
use crate::vault::at_rest::{PasswordHash, hash_password, verify_password};
use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Who is calling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    User {
        id: u64,
        username: String,
        role: String,
    },
    ApiKey {
        id: u64,
        prefix: String,
    },
    /// The static `API_KEY` from the environment (headless compatibility).
    EnvApiKey,
    /// `Authorization: Bearer <ADMIN_SECRET>`.
    AdminSecret,
}

impl Principal {
    /// Identity for the audit log; never a secret.
    pub fn who(&self) -> String {
        match self {
            Principal::User { id, .. } => format!("user:{id}"),
            Principal::ApiKey { prefix, .. } => format!("api-key:{prefix}"),
            Principal::EnvApiKey => "api-user".into(),
            Principal::AdminSecret => "admin-secret".into(),
        }
    }
    pub fn is_admin(&self) -> bool {
        match self {
            Principal::User { role, .. } => role == "admin",
            Principal::AdminSecret => true,
            _ => false,
        }
    }
    /// igloo-server's `userId` field.
    pub fn user_id(&self) -> Value {
        match self {
            Principal::User { id, .. } => json!(id),
            Principal::ApiKey { prefix, .. } => json!(format!("api-key:{prefix}")),
            Principal::EnvApiKey => json!("api-user"),
            Principal::AdminSecret => Value::Null,
        }
    }
}

pub fn sha256(b: &[u8]) -> [u8; 32] {
    Sha256::digest(b).into()
}

fn random_token() -> SecretString {
    SecretString::new(hex::encode(rand::random::<[u8; 32]>()))
}

fn ct_eq_str(a: &str, b: &str) -> bool {
    // Compare digests so the length of the secret does not leak through timing.
    sha256(a.as_bytes()).ct_eq(&sha256(b.as_bytes())).into()
}

fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn bearer(h: &HeaderMap) -> Option<&str> {
    let v = header_str(h, "authorization")?;
    let (scheme, rest) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(rest.trim())
        .filter(|s| !s.is_empty())
}

fn cookie<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    for v in h.get_all(header::COOKIE) {
        let Ok(s) = v.to_str() else { continue };
        for part in s.split(';') {
            if let Some((k, val)) = part.trim().split_once('=')
                && k == name
                && !val.is_empty()
            {
                return Some(val);
            }
        }
    }
    None
}

/// Outcome of looking at the request's credentials.
pub enum Outcome {
    None,
    Ok(Principal, bool),
    Bad,
}

/// Looks up a presented token as an API key (env `API_KEY`, stored keys) or the admin secret.
fn check_token(st: &AppState, tok: &str, ip: &str) -> ApiResult<Option<Principal>> {
    if let Some(s) = &st.cfg.admin_secret
        && ct_eq_str(s.expose(), tok)
    {
        return Ok(Some(Principal::AdminSecret));
    }
    if let Some(k) = &st.cfg.api_key
        && ct_eq_str(k.expose(), tok)
    {
        return Ok(Some(Principal::EnvApiKey));
    }
    if tok.len() == 64 && tok.is_ascii() {
        let prefix = &tok[..12];
        let hash = hex::encode(sha256(tok.as_bytes()));
        for mut k in st.store.api_keys()? {
            if k.revoked_at.is_none()
                && k.prefix == prefix
                && bool::from(k.key_hash.as_bytes().ct_eq(hash.as_bytes()))
            {
                if st.should_write_key_use(k.id) {
                    k.last_used_at = Some(now());
                    k.last_used_ip = Some(ip.to_string());
                    st.store.update_api_key(&k)?;
                }
                return Ok(Some(Principal::ApiKey {
                    id: k.id,
                    prefix: k.prefix,
                }));
            }
        }
    }
    Ok(None)
}

fn check_session(st: &AppState, tok: &str) -> ApiResult<Option<Principal>> {
    let h = sha256(tok.as_bytes());
    let Some(s) = st.store.session(&h)? else {
        return Ok(None);
    };
    if s.expires_at <= now() {
        st.store.delete_session(&h)?;
        return Ok(None);
    }
    Ok(st.store.user_by_id(s.user_id)?.map(|u| Principal::User {
        id: u.id,
        username: u.username,
        role: u.role,
    }))
}

/// Authenticates a request. Returns `(principal, via_cookie)`.
pub fn authenticate(st: &AppState, headers: &HeaderMap, ip: &str) -> ApiResult<Outcome> {
    let token = header_str(headers, "x-api-key").or_else(|| bearer(headers));
    if let Some(t) = token {
        return Ok(match check_token(st, t, ip)? {
            Some(p) => Outcome::Ok(p, false),
            None => Outcome::Bad,
        });
    }
    if let Some(t) = header_str(headers, "x-session-id") {
        return Ok(match check_session(st, t)? {
            Some(p) => Outcome::Ok(p, false),
            None => Outcome::Bad,
        });
    }
    if let Some(t) = cookie(headers, "session") {
        return Ok(match check_session(st, t)? {
            Some(p) => Outcome::Ok(p, true),
            None => Outcome::Bad,
        });
    }
    Ok(Outcome::None)
}

/// Charges a failed authentication to the caller's `AuthFail` bucket.
pub fn auth_failed(st: &AppState, ip: std::net::IpAddr) -> ApiError {
    super::metrics::inc("frostbox_http_rejections_total", &[("reason", "auth")]);
    match st.limiter.check(ip, Class::AuthFail) {
        Ok(()) => ApiError::unauthorized(),
        Err(w) => ApiError::rate_limited(w),
    }
}

/// Extractor: any authenticated principal. Cookie-authenticated writes must come from an
/// allowed origin (CSRF defence on top of SameSite=Strict).
pub struct Auth(pub Principal);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, ApiError> {
        let ip = client_ip(st, &parts.headers, &parts.extensions);
        if let Some(w) = st.limiter.is_exhausted(ip, Class::AuthFail) {
            return Err(ApiError::rate_limited(w));
        }
        match authenticate(st, &parts.headers, &ip.to_string())? {
            Outcome::Ok(p, via_cookie) => {
                if via_cookie
                    && parts.method != Method::GET
                    && parts.method != Method::HEAD
                    && let Some(o) = header_str(&parts.headers, "origin")
                    && !origin_allowed(st, o, &parts.headers)
                {
                    return Err(ApiError::forbidden("origin not allowed"));
                }
                Ok(Auth(p))
            }
            Outcome::None => Err(ApiError::unauthorized()),
            Outcome::Bad => Err(auth_failed(st, ip)),
        }
    }
}

/// Extractor: an admin (admin-role session or `Bearer <ADMIN_SECRET>`).
pub struct Admin(pub Principal);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, ApiError> {
        let Auth(p) = Auth::from_request_parts(parts, st).await?;
        if p.is_admin() {
            Ok(Admin(p))
        } else {
            Err(ApiError::forbidden("admin authentication required"))
        }
    }
}

/// Optional authentication for public routes (status).
pub struct MaybeAuth(pub Option<Principal>);

impl FromRequestParts<AppState> for MaybeAuth {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, ApiError> {
        let ip = client_ip(st, &parts.headers, &parts.extensions).to_string();
        Ok(MaybeAuth(match authenticate(st, &parts.headers, &ip)? {
            Outcome::Ok(p, _) => Some(p),
            _ => None,
        }))
    }
}

pub struct ClientIp(pub std::net::IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, ApiError> {
        Ok(ClientIp(client_ip(st, &parts.headers, &parts.extensions)))
    }
}

fn audit(st: &AppState, who: &str, action: &str, subject: &str, result: &str) {
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

// ---------- /api/auth ----------

pub async fn auth_status(State(st): State<AppState>) -> ApiResult<Json<Value>> {
    let mut methods = vec!["session"];
    let has_keys = st.store.api_keys()?.iter().any(|k| k.revoked_at.is_none());
    if has_keys || st.cfg.api_key.is_some() {
        methods.insert(0, "api-key");
    }
    Ok(Json(json!({
        "enabled": true,
        "methods": methods,
        "rateLimiting": st.cfg.rate_limit_enabled,
        "sessionTimeout": st.cfg.session_timeout,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    username: Option<String>,
    password: Option<String>,
    #[serde(rename = "apiKey")]
    api_key: Option<String>,
}

fn session_cookie(st: &AppState, token: &str, max_age: u64) -> Option<HeaderValue> {
    let secure = if st.cfg.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "session={token}; HttpOnly; Path=/; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .ok()
}

pub async fn login(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    JsonBody(b): JsonBody<LoginBody>,
) -> ApiResult<Response> {
    if let Some(w) = st.limiter.is_exhausted(ip, Class::AuthFail) {
        return Err(ApiError::rate_limited(w));
    }
    let user = if let Some(k) = b.api_key.map(SecretString::new) {
        match check_token(&st, k.expose(), &ip.to_string())? {
            Some(Principal::ApiKey { .. }) | Some(Principal::EnvApiKey) => {
                // API keys authenticate per request; no session is created for them.
                return Ok(Json(json!({
                    "success": true,
                    "userId": Value::Null,
                    "warning": "API keys are sent on every request; no session created"
                }))
                .into_response());
            }
            _ => return Err(auth_failed(&st, ip)),
        }
    } else {
        let (Some(username), Some(password)) = (b.username, b.password.map(SecretString::new))
        else {
            return Err(ApiError::bad("username and password are required"));
        };
        if username.len() > 128 || password.expose().len() > 1024 {
            return Err(ApiError::bad("username or password too long"));
        }
        if let Err(w) = st.backoff.check(&username) {
            return Err(ApiError::rate_limited(w));
        }
        let found = st.store.user_by_name(&username)?;
        let kdf = st.kdf;
        let ok = tokio::task::spawn_blocking(move || match found {
            Some(u) => {
                let ok = serde_json::from_str::<PasswordHash>(&u.password_hash)
                    .map(|h| verify_password(&password, &h))
                    .unwrap_or(false);
                ok.then_some(u)
            }
            None => {
                // Equalise timing for unknown users.
                let _ = hash_password(&password, kdf);
                None
            }
        })
        .await
        .map_err(ApiError::internal)?;
        match ok {
            Some(u) => {
                st.backoff.succeeded(&username);
                u
            }
            None => {
                st.backoff.failed(&username);
                audit(&st, &format!("ip:{ip}"), "login", "", "bad_credentials");
                let mut e = auth_failed(&st, ip);
                if e.status == StatusCode::UNAUTHORIZED {
                    e.error = "invalid credentials".into();
                }
                return Err(e);
            }
        }
    };
    let token = random_token();
    let t = now();
    st.store.put_session(
        &sha256(token.expose().as_bytes()),
        &Session {
            user_id: user.id,
            created_at: t,
            expires_at: t + st.cfg.session_timeout,
        },
    )?;
    audit(&st, &format!("user:{}", user.id), "login", "", "ok");
    let mut r = Json(json!({
        "success": true,
        "userId": user.id,
        "expiresIn": st.cfg.session_timeout,
    }))
    .into_response();
    if let Some(c) = session_cookie(&st, token.expose(), st.cfg.session_timeout) {
        r.headers_mut().insert(header::SET_COOKIE, c);
    }
    Ok(r)
}

pub async fn logout(State(st): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let tok = header_str(&headers, "x-session-id").or_else(|| cookie(&headers, "session"));
    if let Some(t) = tok {
        st.store.delete_session(&sha256(t.as_bytes()))?;
    }
    let mut r = Json(json!({ "success": true })).into_response();
    if let Some(c) = session_cookie(&st, "", 0) {
        r.headers_mut().insert(header::SET_COOKIE, c);
    }
    Ok(r)
}

// ---------- onboarding ----------

pub async fn onboarding_status(State(st): State<AppState>) -> ApiResult<Json<Value>> {
    Ok(Json(json!({
        "initialized": st.store.user_count()? > 0,
        "hasAdminSecret": st.cfg.admin_secret.is_some(),
        "headlessMode": st.cfg.headless,
        "skipAdminValidation": false,
        "setupCodeActive": st.has_setup_code(),
    })))
}

/// The bearer must be `ADMIN_SECRET` or the one-time setup code, and no user may exist yet.
fn onboarding_gate(st: &AppState, headers: &HeaderMap, ip: std::net::IpAddr) -> ApiResult<()> {
    if let Some(w) = st.limiter.is_exhausted(ip, Class::AuthFail) {
        return Err(ApiError::rate_limited(w));
    }
    let given = bearer(headers).unwrap_or("");
    let by_secret = st
        .cfg
        .admin_secret
        .as_ref()
        .is_some_and(|s| ct_eq_str(s.expose(), given));
    let ok = !given.is_empty() && (by_secret || st.setup_code_matches(given));
    if !ok || st.store.user_count()? > 0 {
        let mut e = auth_failed(st, ip);
        if e.status == StatusCode::UNAUTHORIZED {
            e.error = "authentication failed".into();
        }
        return Err(e);
    }
    Ok(())
}

pub async fn onboarding_validate(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    onboarding_gate(&st, &headers, ip)?;
    Ok(Json(
        json!({ "success": true, "message": "Admin secret validated" }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetupBody {
    username: String,
    password: String,
}

/// Username: 3–50 characters after trimming, letters, digits, `._-@`.
pub fn validate_username(u: &str) -> Result<&str, ApiError> {
    let u = u.trim();
    if u.chars().count() < 3 || u.chars().count() > 50 {
        return Err(ApiError::bad("username must be 3-50 characters").code("invalid_username"));
    }
    if !u.chars().all(|c| c.is_alphanumeric() || "._-@".contains(c)) {
        return Err(
            ApiError::bad("username may contain letters, digits and . _ - @")
                .code("invalid_username"),
        );
    }
    Ok(u)
}

/// Password: 8–128 characters, not containing the username (NIST 800-63B style; no
/// composition rules).
pub fn validate_password(p: &str, username: &str) -> Result<(), ApiError> {
    let n = p.chars().count();
    if !(8..=128).contains(&n) {
        return Err(ApiError::bad("password must be 8-128 characters").code("invalid_password"));
    }
    if p.to_lowercase().contains(&username.to_lowercase()) {
        return Err(
            ApiError::bad("password must not contain the username").code("invalid_password")
        );
    }
    Ok(())
}

pub async fn onboarding_setup(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    JsonBody(b): JsonBody<SetupBody>,
) -> ApiResult<Response> {
    onboarding_gate(&st, &headers, ip)?;
    let password = SecretString::new(b.password);
    let username = validate_username(&b.username)?.to_string();
    validate_password(password.expose(), &username)?;
    let kdf = st.kdf;
    let h = tokio::task::spawn_blocking(move || hash_password(&password, kdf))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let hjson = serde_json::to_string(&h).map_err(ApiError::internal)?;
    match st.store.create_user(&username, &hjson, "admin") {
        Ok(u) => {
            st.set_setup_code(None);
            audit(&st, &format!("user:{}", u.id), "onboarding.setup", "", "ok");
            Ok(Json(json!({ "success": true, "message": "Setup complete" })).into_response())
        }
        Err(crate::store::Error::Exists(_)) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "username already taken",
        )),
        Err(e) => Err(e.into()),
    }
}

// ---------- admin ----------

pub async fn whoami(Admin(p): Admin) -> Json<Value> {
    let uid = match &p {
        Principal::User { id, .. } => json!(id),
        _ => Value::Null,
    };
    Json(json!({ "admin": true, "userId": uid }))
}

pub async fn admin_users(State(st): State<AppState>, _a: Admin) -> ApiResult<Json<Value>> {
    let users: Vec<Value> = st
        .store
        .users()?
        .into_iter()
        .map(|u| {
            json!({
                "id": u.id, "username": u.username, "role": u.role,
                "createdAt": iso8601(u.created_at),
            })
        })
        .collect();
    Ok(Json(json!({ "users": users })))
}

fn key_json(k: &ApiKey) -> Value {
    json!({
        "id": k.id,
        "prefix": k.prefix,
        "label": k.label,
        "createdAt": iso8601(k.created_at),
        "updatedAt": iso8601(k.revoked_at.or(k.last_used_at).unwrap_or(k.created_at)),
        "lastUsedAt": k.last_used_at.map(iso8601),
        "lastUsedIp": k.last_used_ip,
        "revokedAt": k.revoked_at.map(iso8601),
        "revokedReason": k.revoked_reason,
        "createdByUserId": k.created_by_user_id,
        "createdByAdmin": k.created_by_admin,
    })
}

pub async fn list_api_keys(State(st): State<AppState>, _a: Admin) -> ApiResult<Json<Value>> {
    let mut keys = st.store.api_keys()?;
    keys.sort_by(|a, b| {
        a.revoked_at
            .is_some()
            .cmp(&b.revoked_at.is_some())
            .then(b.created_at.cmp(&a.created_at))
            .then(b.id.cmp(&a.id))
    });
    Ok(Json(
        json!({ "apiKeys": keys.iter().map(key_json).collect::<Vec<_>>() }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyBody {
    label: Option<String>,
    #[serde(rename = "userId")]
    user_id: Option<u64>,
    #[serde(rename = "createdByAdmin")]
    created_by_admin: Option<bool>,
}

pub async fn create_api_key(
    State(st): State<AppState>,
    Admin(p): Admin,
    JsonBody(b): JsonBody<CreateKeyBody>,
) -> ApiResult<Response> {
    if let Some(l) = &b.label
        && (l.chars().count() > 128 || l.chars().any(char::is_control))
    {
        return Err(ApiError::bad(
            "label must be at most 128 printable characters",
        ));
    }
    let creator = match &p {
        Principal::User { id, .. } => Some(*id),
        _ => b.user_id,
    };
    for _ in 0..5 {
        let token = random_token();
        let rec = ApiKey {
            id: 0,
            prefix: token.expose()[..12].to_string(),
            key_hash: hex::encode(sha256(token.expose().as_bytes())),
            label: b.label.clone(),
            created_at: now(),
            created_by_user_id: creator,
            created_by_admin: b.created_by_admin.unwrap_or(true),
            last_used_at: None,
            last_used_ip: None,
            revoked_at: None,
            revoked_reason: None,
        };
        match st.store.create_api_key(rec) {
            Ok(k) => {
                audit(&st, &p.who(), "api-key.create", &k.prefix, "ok");
                let body = json!({ "apiKey": {
                    "id": k.id, "token": token.expose(), "prefix": k.prefix, "label": k.label,
                    "createdByUserId": k.created_by_user_id, "createdByAdmin": k.created_by_admin,
                }});
                return Ok((StatusCode::CREATED, Json(body)).into_response());
            }
            Err(crate::store::Error::Exists(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::internal(
        "could not allocate a unique API key prefix",
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeBody {
    #[serde(rename = "apiKeyId")]
    api_key_id: u64,
    reason: Option<String>,
}

pub async fn revoke_api_key(
    State(st): State<AppState>,
    Admin(p): Admin,
    JsonBody(b): JsonBody<RevokeBody>,
) -> ApiResult<Json<Value>> {
    if let Some(r) = &b.reason
        && r.chars().count() > 256
    {
        return Err(ApiError::bad("reason must be at most 256 characters"));
    }
    let Some(mut k) = st.store.api_key(b.api_key_id)? else {
        return Err(ApiError::not_found("API key not found"));
    };
    if k.revoked_at.is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "API key already revoked",
        ));
    }
    k.revoked_at = Some(now());
    k.revoked_reason = b.reason;
    st.store.update_api_key(&k)?;
    audit(&st, &p.who(), "api-key.revoke", &k.prefix, "ok");
    Ok(Json(json!({ "success": true })))
}

pub async fn admin_audit(State(st): State<AppState>, _a: Admin) -> ApiResult<Json<Value>> {
    let log = st.store.audit_log(500)?;
    Ok(Json(json!({ "entries": log })))
}
