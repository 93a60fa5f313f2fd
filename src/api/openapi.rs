//! The OpenAPI 3.0 document, generated from one route table ([`ROUTES`]). A test checks that
//! the table and the router register exactly the same `(method, path)` pairs, and the
//! schemathesis CI step checks responses against the schemas.

use serde_json::{Value, json};

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Public,
    /// Any authenticated principal (session, API key, admin secret).
    User,
    /// Admin-role session or `Bearer <ADMIN_SECRET>`.
    Admin,
    /// `Bearer <ADMIN_SECRET>` or the one-time setup code.
    Setup,
}

pub struct RouteDoc {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    pub access: Access,
    pub request: Option<fn() -> Value>,
    pub response: fn() -> Value,
    /// Error statuses this route documents (all use the `Error` schema).
    pub errors: &'static [u16],
}

pub(super) fn s() -> Value {
    json!({ "type": "string" })
}
fn b() -> Value {
    json!({ "type": "boolean" })
}
pub(super) fn i() -> Value {
    json!({ "type": "integer" })
}
pub(super) fn n<T: Into<Value>>(v: T) -> Value {
    let mut v: Value = v.into();
    v["nullable"] = json!(true);
    v
}
pub(super) fn arr(items: Value) -> Value {
    json!({ "type": "array", "items": items })
}
pub(super) fn obj(required: &[&str], props: Value) -> Value {
    json!({ "type": "object", "required": required, "properties": props })
}
fn strict(required: &[&str], props: Value) -> Value {
    let mut o = obj(required, props);
    o["additionalProperties"] = json!(false);
    o
}
fn hex64() -> Value {
    json!({ "type": "string", "pattern": "^[0-9a-fA-F]{64}$" })
}
fn any_obj() -> Value {
    json!({ "type": "object" })
}

fn r_status() -> Value {
    obj(
        &[
            "serverRunning",
            "nodeActive",
            "relays",
            "timestamp",
            "vault",
        ],
        json!({
            "serverRunning": b(), "nodeActive": b(), "hasCredentials": n(b()),
            "relayCount": i(), "relayUrls": arr(s()), "timestamp": s(),
            "relays": arr(obj(&["url", "connected"], json!({
                "url": s(), "connected": n(b()), "rtt_ms": n(i()), "last_error": n(s()),
            }))),
            "restartInfo": any_obj(), "health": any_obj(), "version": s(),
            "uptimeSecs": i(), "headless": b(), "thresholdReachable": b(),
            "vault": obj(&["mode", "has_keyset", "locked"], json!({
                "mode": { "type": "string", "enum": ["locked", "unattended"] },
                "has_keyset": b(), "locked": b(),
                "device_key_source": n(json!({ "type": "string", "enum": ["systemd_credential", "file"] })),
            })),
            "node": any_obj(),
            "legacy": obj(&["active", "allowed"], json!({
                "active": b(), "allowed": b(),
                "source": { "type": "string", "nullable": true, "enum": ["keyset", "box", null] },
                "warning": n(s()),
            })),
            "keyset": s(),
            "keysets": arr(super::keysets::r_keyset_entry()),
        }),
    )
}
fn r_health() -> Value {
    obj(&["status"], json!({ "status": s() }))
}
fn r_ready() -> Value {
    obj(
        &["ready", "node"],
        json!({ "ready": b(), "store": b(), "listener": b(), "node": s(),
                "keysets": { "type": "object", "additionalProperties": s(),
                             "description": "per keyset id: ready or running; only for a signed-in caller or Bearer METRICS_TOKEN" } }),
    )
}
fn r_text() -> Value {
    s()
}
fn r_openapi() -> Value {
    obj(
        &["openapi", "paths"],
        json!({ "openapi": s(), "paths": any_obj() }),
    )
}
fn r_auth_status() -> Value {
    obj(
        &["enabled", "methods", "rateLimiting", "sessionTimeout"],
        json!({ "enabled": b(), "methods": arr(s()), "rateLimiting": b(), "sessionTimeout": i() }),
    )
}
fn q_login() -> Value {
    strict(
        &[],
        json!({ "username": s(), "password": s(), "apiKey": s() }),
    )
}
fn r_login() -> Value {
    obj(
        &["success"],
        json!({ "success": b(), "userId": n(json!({})), "expiresIn": i(), "warning": s() }),
    )
}
fn r_success() -> Value {
    obj(&["success"], json!({ "success": b(), "message": s() }))
}
fn r_onboarding() -> Value {
    obj(
        &["initialized", "hasAdminSecret", "headlessMode"],
        json!({ "initialized": b(), "hasAdminSecret": b(), "headlessMode": b(),
                "skipAdminValidation": b(), "setupCodeActive": b() }),
    )
}
fn q_setup() -> Value {
    strict(
        &["username", "password"],
        json!({ "username": s(), "password": s() }),
    )
}
fn r_whoami() -> Value {
    obj(&["admin"], json!({ "admin": b(), "userId": n(i()) }))
}
fn r_users() -> Value {
    obj(&["users"], json!({ "users": arr(any_obj()) }))
}
fn api_key() -> Value {
    obj(
        &["id", "prefix", "createdAt"],
        json!({
            "id": i(), "prefix": s(), "label": n(s()), "createdAt": s(), "updatedAt": s(),
            "lastUsedAt": n(s()), "lastUsedIp": n(s()), "revokedAt": n(s()),
            "revokedReason": n(s()), "createdByUserId": n(i()), "createdByAdmin": b(),
        }),
    )
}
fn r_api_keys() -> Value {
    obj(&["apiKeys"], json!({ "apiKeys": arr(api_key()) }))
}
fn q_create_key() -> Value {
    strict(
        &[],
        json!({ "label": { "type": "string", "maxLength": 128 },
                "userId": { "type": "integer", "minimum": 0 }, "createdByAdmin": b() }),
    )
}
fn r_created_key() -> Value {
    obj(
        &["apiKey"],
        json!({ "apiKey": obj(&["id", "token", "prefix"], json!({
            "id": i(), "token": s(), "prefix": s(), "label": n(s()),
            "createdByUserId": n(i()), "createdByAdmin": b(),
        })) }),
    )
}
fn q_revoke() -> Value {
    strict(
        &["apiKeyId"],
        json!({ "apiKeyId": { "type": "integer", "minimum": 0 },
                "reason": { "type": "string", "maxLength": 256 } }),
    )
}
fn r_audit() -> Value {
    obj(&["entries"], json!({ "entries": arr(any_obj()) }))
}
fn r_env() -> Value {
    any_obj()
}
fn q_env() -> Value {
    json!({ "type": "object", "additionalProperties": { "type": "string" } })
}
fn r_env_post() -> Value {
    obj(
        &["success"],
        json!({ "success": b(), "message": s(), "rejectedKeys": arr(s()) }),
    )
}
fn q_env_delete() -> Value {
    strict(&["keys"], json!({ "keys": arr(s()) }))
}
fn r_env_delete() -> Value {
    obj(
        &["success", "deletedKeys"],
        json!({ "success": b(), "message": s(), "deletedKeys": arr(s()), "rejectedKeys": arr(s()) }),
    )
}
fn r_vault() -> Value {
    obj(
        &["mode", "has_keyset", "locked"],
        json!({ "mode": s(), "has_keyset": b(), "locked": b(), "device_key_source": n(s()) }),
    )
}
fn q_keyset() -> Value {
    strict(
        &["share_cred"],
        json!({ "share_cred": s(), "group_cred": s(), "share_password": s(),
                "mode": { "type": "string", "enum": ["locked", "unattended"] }, "password": s(),
                "legacy": { "type": "boolean" } }),
    )
}
fn r_keyset() -> Value {
    obj(&["success"], json!({ "success": b(), "vault": r_vault() }))
}
fn r_keyset_delete() -> Value {
    obj(&["success"], json!({ "success": b(), "removed": b() }))
}
fn q_unlock() -> Value {
    strict(&["password"], json!({ "password": s() }))
}
fn policy() -> Value {
    obj(
        &[
            "pubkey",
            "effectiveSend",
            "effectiveReceive",
            "hasExplicitPolicy",
        ],
        json!({
            "pubkey": s(), "allowSend": n(b()), "allowReceive": n(b()), "label": n(s()),
            "note": n(s()), "source": s(), "lastUpdated": n(s()), "effectiveSend": b(),
            "effectiveReceive": b(), "hasExplicitPolicy": b(),
        }),
    )
}
fn r_peers() -> Value {
    obj(
        &["peers", "total", "online"],
        json!({ "peers": arr(obj(&["pubkey", "online"], json!({
            "pubkey": s(), "online": b(), "lastSeen": n(s()), "latency": n(i()),
            "noncesIn": n(i()), "noncesOut": n(i()), "policy": policy(),
        }))), "total": i(), "online": i(), "thresholdReachable": b() }),
    )
}
fn r_self() -> Value {
    obj(&["pubkey"], json!({ "pubkey": s(), "warnings": arr(s()) }))
}
fn r_group() -> Value {
    obj(
        &["pubkey", "threshold", "totalShares"],
        json!({ "pubkey": s(), "threshold": i(), "totalShares": i() }),
    )
}
fn q_ping() -> Value {
    strict(
        &["target"],
        json!({ "target": { "type": "string", "description": "\"all\" or a peer pubkey (hex)" } }),
    )
}
fn r_ping() -> Value {
    any_obj()
}
fn r_policies() -> Value {
    obj(&["policies"], json!({ "policies": arr(policy()) }))
}
fn r_policy() -> Value {
    obj(&["policy"], json!({ "policy": policy() }))
}
fn q_policy() -> Value {
    strict(
        &[],
        json!({ "allowSend": b(), "allowReceive": b(),
                "label": { "type": "string", "maxLength": 256 },
                "note": { "type": "string", "maxLength": 256 } }),
    )
}
fn r_policy_delete() -> Value {
    obj(
        &["removed", "policy"],
        json!({ "removed": b(), "policy": policy() }),
    )
}
fn q_sign() -> Value {
    strict(
        &[],
        json!({
            "message": hex64(),
            "event": strict(&["kind", "created_at", "tags"], json!({
                "pubkey": hex64(),
                "kind": { "type": "integer", "minimum": 0, "maximum": 65535 },
                "created_at": { "type": "integer", "minimum": 1 },
                "content": s(),
                "tags": arr(arr(s())),
            })),
        }),
    )
}
fn r_sign() -> Value {
    obj(
        &["id", "signature"],
        json!({ "id": s(), "signature": s(), "event": any_obj() }),
    )
}
fn q_crypto() -> Value {
    strict(
        &["peer_pubkey", "content"],
        json!({ "peer_pubkey": { "type": "string", "pattern": "^(0[23])?[0-9a-fA-F]{64}$" },
                "content": s() }),
    )
}
fn r_crypto() -> Value {
    obj(&["result"], json!({ "result": s() }))
}
fn q_recover() -> Value {
    strict(
        &["shareCredentials"],
        json!({ "groupCredential": s(), "shareCredentials": arr(s()), "password": s() }),
    )
}
fn r_recover() -> Value {
    obj(
        &["success", "nsec", "details"],
        json!({ "success": b(), "nsec": s(), "details": any_obj() }),
    )
}
fn q_validate() -> Value {
    strict(
        &["type", "credential"],
        json!({ "type": { "type": "string", "enum": ["group", "share"] },
                "credential": s(), "password": s() }),
    )
}
fn r_validate() -> Value {
    obj(
        &["success", "validation"],
        json!({ "success": b(), "validation": obj(&["isValid"], json!({ "isValid": b(), "message": n(s()) })),
                "decoded": n(any_obj()) }),
    )
}
fn r_events() -> Value {
    any_obj()
}

const E_AUTH: &[u16] = &[401, 403, 429];
const E_BODY: &[u16] = &[400, 401, 403, 413, 429];
const E_NODE: &[u16] = &[400, 401, 403, 413, 429, 502, 503, 504];

macro_rules! route {
    ($m:literal, $p:literal, $sum:literal, $acc:ident, $req:expr, $resp:ident, $err:expr) => {
        RouteDoc {
            method: $m,
            path: $p,
            summary: $sum,
            access: Access::$acc,
            request: $req,
            response: $resp,
            errors: $err,
        }
    };
}

/// Every route of the API.
pub const ROUTES: &[RouteDoc] = &[
    route!("GET", "/health", "Liveness", Public, None, r_health, &[]),
    route!(
        "GET",
        "/ready",
        "Readiness (store open, listener bound, every node ready or not configured); per-keyset detail only signed in or with Bearer METRICS_TOKEN",
        Public,
        None,
        r_ready,
        &[503]
    ),
    route!(
        "GET",
        "/metrics",
        "Prometheus metrics (text); per-keyset gauges only signed in or with Bearer METRICS_TOKEN",
        Public,
        None,
        r_text,
        &[429]
    ),
    route!(
        "GET",
        "/api/docs/openapi.json",
        "This document",
        Public,
        None,
        r_openapi,
        &[429]
    ),
    route!(
        "GET",
        "/api/status",
        "Server and signer status",
        Public,
        None,
        r_status,
        &[429]
    ),
    route!(
        "GET",
        "/api/auth/status",
        "Enabled authentication methods",
        Public,
        None,
        r_auth_status,
        &[429]
    ),
    route!(
        "POST",
        "/api/auth/login",
        "Log in (username/password) and receive a session cookie",
        Public,
        Some(q_login),
        r_login,
        E_BODY
    ),
    route!(
        "POST",
        "/api/auth/logout",
        "Revoke the current session",
        Public,
        None,
        r_success,
        &[429]
    ),
    route!(
        "GET",
        "/api/onboarding/status",
        "First-run state",
        Public,
        None,
        r_onboarding,
        &[429]
    ),
    route!(
        "POST",
        "/api/onboarding/validate-admin",
        "Check ADMIN_SECRET or the setup code",
        Setup,
        None,
        r_success,
        &[401, 429]
    ),
    route!(
        "POST",
        "/api/onboarding/setup",
        "Create the first (admin) user",
        Setup,
        Some(q_setup),
        r_success,
        &[400, 401, 409, 413, 429]
    ),
    route!(
        "GET",
        "/api/admin/whoami",
        "Admin identity",
        Admin,
        None,
        r_whoami,
        E_AUTH
    ),
    route!(
        "GET",
        "/api/admin/users",
        "List users",
        Admin,
        None,
        r_users,
        E_AUTH
    ),
    route!(
        "GET",
        "/api/admin/api-keys",
        "List API keys (never the tokens)",
        Admin,
        None,
        r_api_keys,
        E_AUTH
    ),
    route!(
        "POST",
        "/api/admin/api-keys",
        "Create an API key (token shown once)",
        Admin,
        Some(q_create_key),
        r_created_key,
        E_BODY
    ),
    route!(
        "POST",
        "/api/admin/api-keys/revoke",
        "Revoke an API key",
        Admin,
        Some(q_revoke),
        r_success,
        &[400, 401, 403, 404, 409, 413, 429]
    ),
    route!(
        "GET",
        "/api/admin/audit",
        "Audit log (who/what/when/result)",
        Admin,
        None,
        r_audit,
        E_AUTH
    ),
    route!("GET", "/api/env", "Settings", User, None, r_env, E_AUTH),
    route!(
        "POST",
        "/api/env",
        "Change settings (applied at next start)",
        User,
        Some(q_env),
        r_env_post,
        E_BODY
    ),
    route!(
        "POST",
        "/api/env/delete",
        "Delete settings",
        User,
        Some(q_env_delete),
        r_env_delete,
        E_BODY
    ),
    route!(
        "GET",
        "/api/keyset",
        "Vault state of the selected keyset (never secrets)",
        User,
        None,
        r_vault,
        E_AUTH
    ),
    route!(
        "POST",
        "/api/keyset",
        "Import a share into the selected keyset (sealed: locked or unattended; legacy 1.0.x only with \"legacy\": true or FROSTR_LEGACY)",
        Admin,
        Some(q_keyset),
        r_keyset,
        E_BODY
    ),
    route!(
        "DELETE",
        "/api/keyset",
        "Stop and delete the selected keyset (as DELETE /api/keysets/{id})",
        Admin,
        None,
        r_keyset_delete,
        E_AUTH
    ),
    route!(
        "POST",
        "/api/keyset/unlock",
        "Unlock a locked keyset",
        User,
        Some(q_unlock),
        r_keyset,
        &[400, 401, 403, 404, 409, 413, 429]
    ),
    route!(
        "GET",
        "/api/keysets",
        "Every keyset the box holds (id, label, group, threshold, generation, state)",
        User,
        None,
        ks_list,
        E_AUTH
    ),
    route!(
        "POST",
        "/api/keysets",
        "Import another keyset under its own id (same rules as POST /api/keyset)",
        Admin,
        Some(ks_import_q),
        ks_import_r,
        &[400, 401, 403, 409, 413, 429]
    ),
    route!(
        "DELETE",
        "/api/keysets/{id}",
        "Stop and delete one keyset",
        Admin,
        None,
        ks_delete_r,
        &[401, 403, 404, 429]
    ),
    route!(
        "GET",
        "/api/peers",
        "Group peers with status and policy",
        User,
        None,
        r_peers,
        &[401, 403, 429, 503]
    ),
    route!(
        "GET",
        "/api/peers/self",
        "This share's pubkey",
        User,
        None,
        r_self,
        &[401, 403, 429, 503]
    ),
    route!(
        "GET",
        "/api/peers/group",
        "Group pubkey and threshold",
        User,
        None,
        r_group,
        &[401, 403, 429, 503]
    ),
    route!(
        "POST",
        "/api/peers/ping",
        "Ping one peer or all",
        User,
        Some(q_ping),
        r_ping,
        &[400, 401, 403, 404, 413, 429, 503]
    ),
    route!(
        "GET",
        "/api/peers/policies",
        "Stored peer policies",
        User,
        None,
        r_policies,
        E_AUTH
    ),
    route!(
        "GET",
        "/api/peers/{pubkey}/policy",
        "One peer policy",
        User,
        None,
        r_policy,
        &[400, 401, 403, 429]
    ),
    route!(
        "PUT",
        "/api/peers/{pubkey}/policy",
        "Set a peer policy (omitted directions keep their value)",
        User,
        Some(q_policy),
        r_policy,
        &[400, 401, 403, 413, 429, 502, 503]
    ),
    route!(
        "DELETE",
        "/api/peers/{pubkey}/policy",
        "Remove a peer policy",
        User,
        None,
        r_policy_delete,
        &[400, 401, 403, 404, 429, 502, 503]
    ),
    route!(
        "POST",
        "/api/sign",
        "Threshold-sign a 32-byte message or an event template",
        User,
        Some(q_sign),
        r_sign,
        E_NODE
    ),
    route!(
        "POST",
        "/api/nip44/encrypt",
        "NIP-44 v2 encrypt to a peer (threshold ECDH)",
        User,
        Some(q_crypto),
        r_crypto,
        E_NODE
    ),
    route!(
        "POST",
        "/api/nip44/decrypt",
        "NIP-44 v2 decrypt from a peer",
        User,
        Some(q_crypto),
        r_crypto,
        E_NODE
    ),
    route!(
        "POST",
        "/api/nip04/encrypt",
        "NIP-04 encrypt to a peer",
        User,
        Some(q_crypto),
        r_crypto,
        E_NODE
    ),
    route!(
        "POST",
        "/api/nip04/decrypt",
        "NIP-04 decrypt from a peer",
        User,
        Some(q_crypto),
        r_crypto,
        E_NODE
    ),
    route!(
        "POST",
        "/api/recover",
        "Combine shares into the nsec (returned only here)",
        User,
        Some(q_recover),
        r_recover,
        &[400, 401, 403, 413, 429]
    ),
    route!(
        "POST",
        "/api/recover/validate",
        "Check one credential",
        User,
        Some(q_validate),
        r_validate,
        E_BODY
    ),
    route!(
        "GET",
        "/api/events",
        "Live event stream (WebSocket upgrade): box events and node activity (sign, ecdh, peer-status, warning)",
        User,
        None,
        r_events,
        &[401, 403, 426, 429]
    ),
    // Keyset administration (web UI), handlers in `keyset_admin.rs`.
    route!(
        "POST",
        "/api/keyset/create",
        "Create a keyset under the selected id (split a fresh key or an nsec); other devices' shares returned once",
        Admin,
        Some(ka::q_create),
        ka_created,
        &[400, 401, 403, 409, 413, 429]
    ),
    route!(
        "POST",
        "/api/migrate",
        "Migrate the selected keyset (or a given legacy 1.0.x group) to the current generation (same npub)",
        Admin,
        Some(ka::q_migrate),
        ka_created,
        &[400, 401, 403, 404, 413, 429]
    ),
    route!(
        "POST",
        "/api/keyset/backup",
        "Encrypted backup of the selected keyset's share (bfprofile)",
        Admin,
        Some(ka::q_backup),
        ka_backup,
        &[400, 401, 403, 404, 409, 413, 429]
    ),
    route!(
        "POST",
        "/api/keyset/mode",
        "Switch the selected keyset between locked and unattended",
        Admin,
        Some(ka::q_mode),
        ka_vault_change,
        &[400, 401, 403, 404, 413, 429]
    ),
    route!(
        "POST",
        "/api/lock",
        "Lock the selected keyset's signer now; without a selector, every keyset in locked mode",
        Admin,
        None,
        ka_vault_change,
        &[401, 403, 404, 409, 429]
    ),
    route!(
        "POST",
        "/api/user/password",
        "Change the logged-in user's password",
        User,
        Some(ka::q_password),
        ka_password,
        &[400, 401, 403, 413, 429]
    ),
];

use super::keyset_admin as ka;
use super::keysets as ks;
fn ks_list() -> Value {
    ks::r_list()
}
fn ks_import_q() -> Value {
    ks::q_import()
}
fn ks_import_r() -> Value {
    ks::r_import()
}
fn ks_delete_r() -> Value {
    ks::r_delete()
}

/// Routes that take the keyset selector (`?keyset=` / `X-Frostbox-Keyset`).
pub const KEYSET_SELECTED: &[&str] = &[
    "/api/status",
    "/api/keyset",
    "/api/keyset/unlock",
    "/api/keyset/create",
    "/api/keyset/backup",
    "/api/keyset/mode",
    "/api/migrate",
    "/api/lock",
    "/api/peers",
    "/api/peers/self",
    "/api/peers/group",
    "/api/peers/ping",
    "/api/peers/policies",
    "/api/peers/{pubkey}/policy",
    "/api/sign",
    "/api/nip44/encrypt",
    "/api/nip44/decrypt",
    "/api/nip04/encrypt",
    "/api/nip04/decrypt",
    "/api/events",
];
fn ka_created() -> Value {
    ka::r_created()
}
fn ka_backup() -> Value {
    ka::r_backup()
}
fn ka_vault_change() -> Value {
    ka::r_vault_change()
}
fn ka_password() -> Value {
    ka::r_password()
}

/// The keyset selector's parameters (`?keyset=`, `X-Frostbox-Keyset`), for the node routes
/// and `/api/nip46/*` (`crate::nip46::api::openapi_ops`).
pub fn keyset_selector_params() -> [Value; 2] {
    keyset_selector_params_with("Keyset id (default: \"default\"); unknown → 404")
}

/// The selector parameters with the query parameter's description for routes where the id
/// means more (`/api/lock`: none = all; `/api/keyset/create`: the id to create).
pub fn keyset_selector_params_with(what: &str) -> [Value; 2] {
    let sel = json!({ "type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,31}$" });
    [
        json!({
            "name": "keyset", "in": "query", "required": false, "schema": sel.clone(),
            "description": what,
        }),
        json!({
            "name": "X-Frostbox-Keyset", "in": "header", "required": false, "schema": sel,
            "description": "Keyset id, same as ?keyset= (both given: must agree)",
        }),
    ]
}

fn error_schema() -> Value {
    obj(&["error"], json!({ "error": s(), "code": s() }))
}

/// The OpenAPI document.
pub fn spec() -> Value {
    let mut paths = serde_json::Map::new();
    for r in ROUTES {
        let mut op = json!({
            "summary": r.summary,
            "operationId": format!("{}{}", r.method.to_lowercase(),
                r.path.replace(['/', '{', '}', '-', '.'], "_")),
            "responses": {},
        });
        let ok_status = if r.path == "/api/admin/api-keys" && r.method == "POST" {
            "201"
        } else {
            "200"
        };
        let ok_body = if r.path == "/metrics" {
            json!({ "text/plain": { "schema": (r.response)() } })
        } else {
            json!({ "application/json": { "schema": (r.response)() } })
        };
        op["responses"][ok_status] = json!({ "description": "OK", "content": ok_body.clone() });
        for e in r.errors {
            op["responses"][e.to_string()] = json!({
                "description": "Error",
                "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } },
            });
        }
        if r.path == "/ready" {
            // Not ready is an answer, not an error: the same body with `ready: false`, so a
            // probe or an operator sees which part is missing.
            op["responses"]["503"] = json!({ "description": "Not ready", "content": ok_body });
        }
        if let Some(q) = r.request {
            op["requestBody"] = json!({
                "required": true,
                "content": { "application/json": { "schema": q() } },
            });
        }
        match r.access {
            Access::Public => op["security"] = json!([]),
            Access::Setup => op["security"] = json!([{ "bearer": [] }]),
            Access::User | Access::Admin => {}
        }
        let mut params = Vec::new();
        if r.path.contains("{pubkey}") {
            params.push(json!({
                "name": "pubkey", "in": "path", "required": true,
                "schema": { "type": "string", "pattern": "^(0[23])?[0-9a-f]{64}$" },
            }));
        }
        if r.path.contains("{id}") {
            params.push(json!({
                "name": "id", "in": "path", "required": true,
                "schema": { "type": "string" },
            }));
        }
        if KEYSET_SELECTED.contains(&r.path) {
            let what = match r.path {
                "/api/lock" => {
                    "Keyset id; without one, every keyset sealed in locked mode is locked; unknown → 404"
                }
                "/api/keyset/create" => "Keyset id to create (default: \"default\"); taken → 409",
                "/api/events" => {
                    "Keyset id; only its events and box-wide ones (without one: every event); unknown → 404"
                }
                _ => "Keyset id (default: \"default\"); unknown → 404",
            };
            params.extend(keyset_selector_params_with(what));
            for e in ["400", "404"] {
                op["responses"][e] = json!({
                    "description": "Error",
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } },
                });
            }
        }
        if !params.is_empty() {
            op["parameters"] = json!(params);
        }
        let entry = paths.entry(r.path.to_string()).or_insert_with(|| json!({}));
        entry[r.method.to_lowercase()] = op;
    }
    for (m, p, op) in crate::nip46::api::openapi_ops() {
        paths.entry(p.to_string()).or_insert_with(|| json!({}))[m] = op;
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Frostbox API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "igloo-server-compatible HTTP API of Frostbox. Errors are JSON {\"error\": \"...\"}.",
        },
        "paths": paths,
        "components": {
            "schemas": { "Error": error_schema() },
            "securitySchemes": {
                "apiKey": { "type": "apiKey", "in": "header", "name": "X-API-Key" },
                "bearer": { "type": "http", "scheme": "bearer" },
                "session": { "type": "apiKey", "in": "cookie", "name": "session" },
            },
        },
        "security": [ { "apiKey": [] }, { "bearer": [] }, { "session": [] } ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn table_matches_router() {
        let doc: BTreeSet<(String, String)> = ROUTES
            .iter()
            .map(|r| (r.method.to_string(), r.path.to_string()))
            .collect();
        assert_eq!(doc.len(), ROUTES.len(), "duplicate entries in ROUTES");
        let reg: BTreeSet<(String, String)> = crate::api::routes::registered()
            .into_iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        assert_eq!(doc, reg, "OpenAPI table and router differ");
    }

    #[test]
    fn spec_is_well_formed() {
        let s = spec();
        assert_eq!(s["openapi"], "3.0.3");
        assert_eq!(
            s["paths"]["/api/sign"]["post"]["requestBody"]["content"]["application/json"]["schema"]
                ["properties"]["message"]["pattern"],
            "^[0-9a-fA-F]{64}$"
        );
        assert!(s["paths"]["/api/admin/api-keys"]["post"]["responses"]["201"].is_object());
    }

    /// The operation takes `?keyset=` and `X-Frostbox-Keyset` and documents the unknown-keyset 404.
    fn assert_documents_selector(op: &Value, m: &str, p: &str) {
        let names: Vec<&str> = op["parameters"]
            .as_array()
            .map(|v| v.iter().filter_map(|x| x["name"].as_str()).collect())
            .unwrap_or_default();
        assert!(names.contains(&"keyset"), "{m} {p}: {names:?}");
        assert!(names.contains(&"X-Frostbox-Keyset"), "{m} {p}");
        assert!(op["responses"]["404"].is_object(), "{m} {p}");
    }

    #[test]
    fn node_routes_document_the_keyset_selector() {
        let s = spec();
        for p in KEYSET_SELECTED {
            let ops = s["paths"][*p].as_object().expect("documented path");
            for (m, op) in ops {
                assert_documents_selector(op, m, p);
            }
        }
        assert!(s["paths"]["/api/keysets/{id}"]["delete"]["parameters"].is_array());
    }

    #[test]
    fn nip46_routes_document_the_keyset_selector() {
        let s = spec();
        for (m, p) in crate::nip46::api::ROUTE_LIST {
            assert_documents_selector(&s["paths"][*p][m.to_lowercase()], m, p);
        }
    }
}
