//! Several keysets in one box: the keyset selector of the node routes and `/api/keysets`.
//!
//! Every keyset is stored under an id (`store::KEYSETS`, sealed blob; `store::KeysetMeta`,
//! public metadata) and runs its own node (own share, peers, nonce pools, policies), attached to
//! the API with [`AppState::attach_node_for`]. The first keyset's id is
//! [`DEFAULT_KEYSET`] (`"default"`): the single-keyset routes (`/api/keyset*`, `GROUP_CRED`)
//! use it, so a one-keyset user sees no difference.
//!
//! Node routes take an optional selector, `?keyset=<id>` and/or the header
//! `X-Frostbox-Keyset: <id>` (both given → they must agree); without one they act on
//! `default`. An unknown id answers `404 {"error"}`.

use super::auth::{Admin, Auth};
use super::node::{NodeStatusInfo, SignerNode};
use super::openapi::{arr, i, n, obj, s};
use super::routes::{KeysetBody, audit, import_keyset};
use super::{ApiError, ApiResult, AppState, JsonBody};
use crate::store::{DEFAULT_KEYSET, KeysetMeta, valid_keyset_id};
use crate::vault::at_rest::Sealed;
use axum::Json;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// Header naming the keyset a node route acts on.
pub const KEYSET_HEADER: &str = "x-frostbox-keyset";

/// The keyset a request acts on (validated: syntactically valid and known to the box, or
/// `default`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeysetSel(pub String);

impl KeysetSel {
    pub fn is_default(&self) -> bool {
        self.0 == DEFAULT_KEYSET
    }
}

/// The selector named by the request (`?keyset=` and/or `X-Frostbox-Keyset`), not yet checked
/// against the store.
pub fn requested(parts: &Parts) -> Result<Option<String>, ApiError> {
    let q = parts.uri.query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "keyset")
            .map(|(_, v)| v.into_owned())
    });
    let h = match parts.headers.get(KEYSET_HEADER) {
        Some(v) => Some(
            v.to_str()
                .map_err(|_| ApiError::bad("X-Frostbox-Keyset must be ASCII"))?
                .trim()
                .to_string(),
        ),
        None => None,
    };
    match (q, h) {
        (Some(a), Some(b)) if a != b => Err(ApiError::bad(
            "the keyset query parameter and the X-Frostbox-Keyset header disagree",
        )),
        (Some(a), _) => Ok(Some(a)),
        (None, h) => Ok(h),
    }
}

/// Whether keyset `id` exists: stored, or running (e.g. from `GROUP_CRED`/`SHARE_CRED`).
pub fn exists(st: &AppState, id: &str) -> ApiResult<bool> {
    Ok(st.node_for(id).is_some() || st.store.keyset(id)?.is_some())
}

fn unknown(id: &str) -> ApiError {
    ApiError::not_found(format!("unknown keyset: {id}")).code("UNKNOWN_KEYSET")
}

impl FromRequestParts<AppState> for KeysetSel {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, ApiError> {
        let Some(id) = requested(parts)? else {
            return Ok(KeysetSel(DEFAULT_KEYSET.into()));
        };
        if !valid_keyset_id(&id) {
            return Err(unknown(&id));
        }
        // `default` keeps today's answers (503 "signer not configured" while empty).
        if id != DEFAULT_KEYSET && !exists(st, &id)? {
            return Err(unknown(&id));
        }
        Ok(KeysetSel(id))
    }
}

/// The optional selector of a route that acts on every keyset when none is named
/// (`POST /api/lock`): `None` without `?keyset=` / `X-Frostbox-Keyset`, else checked like
/// [`KeysetSel`].
pub struct MaybeKeysetSel(pub Option<KeysetSel>);

impl FromRequestParts<AppState> for MaybeKeysetSel {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, ApiError> {
        if requested(parts)?.is_none() {
            return Ok(MaybeKeysetSel(None));
        }
        KeysetSel::from_request_parts(parts, st)
            .await
            .map(|k| MaybeKeysetSel(Some(k)))
    }
}

/// The selector of a route that creates keyset content under an id that need not exist yet
/// (`POST /api/keyset/create`): a valid id, `default` without a selector.
pub struct KeysetTarget(pub String);

impl FromRequestParts<AppState> for KeysetTarget {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _st: &AppState) -> Result<Self, ApiError> {
        match requested(parts)? {
            None => Ok(KeysetTarget(DEFAULT_KEYSET.into())),
            Some(id) if valid_keyset_id(&id) => Ok(KeysetTarget(id)),
            Some(_) => Err(ApiError::bad(
                "keyset: 1-32 characters of a-z, 0-9, '-' and '_', starting with a letter or digit",
            )),
        }
    }
}

/// The vault state of keyset `id` (`GET /api/keyset?keyset=`): the box's vault status for
/// `default`; for another keyset its sealing mode, whether it is stored, and whether it waits
/// for an unlock (password-sealed, no node running).
pub fn vault_view_for(st: &AppState, id: &str) -> Value {
    if id == DEFAULT_KEYSET {
        return super::routes::vault_view(st);
    }
    let v = st.vault.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let sealed = sealed_mode(st, id);
    let mode = match sealed.as_deref() {
        Some("password") => "locked",
        Some(_) => "unattended",
        None => match st.cfg.vault_mode {
            crate::config::VaultMode::Locked => "locked",
            crate::config::VaultMode::Unattended => "unattended",
        },
    };
    json!({
        "mode": mode,
        "has_keyset": sealed.is_some(),
        "locked": sealed.as_deref() == Some("password") && st.node_for(id).is_none(),
        "device_key_source": v.device_key_source,
    })
}

/// Stops keyset `id`'s node (and bunker, through the factory's stop hook) and deletes it with
/// its metadata and peer policies: `DELETE /api/keysets/{id}` and `DELETE /api/keyset`.
/// Returns whether anything was stored.
pub async fn remove_keyset(st: &AppState, p: &super::auth::Principal, id: &str) -> ApiResult<bool> {
    st.stop_keyset(id).await;
    // That identity's NIP-46 bunker data (transport key, sessions, tokens) goes with it.
    crate::nip46::runtime::forget_keyset(st, id);
    let removed = st.store.delete_keyset(id)?;
    if id == DEFAULT_KEYSET {
        let mut v = st.vault.lock().unwrap_or_else(|p| p.into_inner());
        v.has_keyset = false;
        v.locked = false;
    }
    audit(st, &p.who(), "keyset.delete", &format!("keyset={id}"), "ok");
    st.publish(
        "system",
        "keyset deleted",
        Some(json!({ "keyset": id.to_string() })),
    );
    Ok(removed)
}

/// The running node of the selected keyset, else 503 (stored but locked or starting, or the
/// default keyset not configured).
pub fn node_sel(st: &AppState, ks: &KeysetSel) -> ApiResult<Arc<dyn SignerNode>> {
    match st.node_for(&ks.0) {
        Some(n) => Ok(n),
        None if ks.is_default() => Err(ApiError::no_signer()),
        None => Err(ApiError {
            error: format!("keyset {} is not running ({})", ks.0, state(st, &ks.0)),
            ..ApiError::no_signer()
        }),
    }
}

/// The sealing mode of a stored keyset (`password` or `device`), if stored.
pub fn sealed_mode(st: &AppState, id: &str) -> Option<String> {
    let blob = st.store.keyset(id).ok().flatten()?;
    serde_json::from_slice::<Sealed>(&blob).ok().map(|s| s.mode)
}

/// `ready` (node ready: threshold reachable), `running` (node attached, not ready yet),
/// `locked` (sealed under a password, waiting for an unlock), `starting` (unattended, node not
/// attached yet or its start failed: see the log / `/api/events`).
pub fn state(st: &AppState, id: &str) -> &'static str {
    match st.node_for(id) {
        Some(n) => state_of(Some(&n.status()), None),
        None => state_of(None, sealed_mode(st, id).as_deref()),
    }
}

/// [`state`] from a running node's status (if attached) and the sealing mode (if stored).
fn state_of(live: Option<&NodeStatusInfo>, sealed: Option<&str>) -> &'static str {
    match (live, sealed) {
        (Some(s), _) if s.ready => "ready",
        (Some(_), _) => "running",
        (None, Some("password")) => "locked",
        (None, Some(_)) => "starting",
        (None, None) => "absent",
    }
}

/// Every keyset the box holds (stored or running), with its public metadata and state.
pub fn list_json(st: &AppState) -> ApiResult<Vec<Value>> {
    let mut ids = st.store.keyset_ids()?;
    for (id, _) in st.nodes() {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids.sort();
    let mut out = Vec::new();
    for id in ids {
        let meta = st.store.keyset_meta(&id)?.unwrap_or_default();
        let live = st.node_for(&id).map(|n| n.status());
        let (group_pk, threshold, total, generation) = match &live {
            Some(s) => (
                s.group_pk.clone(),
                s.threshold,
                s.total,
                if s.legacy { "legacy" } else { "next" }.to_string(),
            ),
            None => (
                meta.group_pk.clone(),
                meta.threshold,
                meta.total,
                meta.generation.clone(),
            ),
        };
        let npub = super::routes::hex32(&group_pk).map(|pk| crate::nostr::nip19::encode_npub(&pk));
        let sealed = sealed_mode(st, &id);
        let legacy = meta.legacy || generation == "legacy";
        let mode = match sealed.as_deref() {
            Some("password") => Some("locked"),
            Some(_) => Some("unattended"),
            None => None,
        };
        // The keyset's NIP-46 bunker: its remote-signer pubkey, and whether it answers now.
        let bunker = st
            .bunker_slot()
            .and_then(|s| s.info(&id))
            .map(|b| json!({ "pubkey": hex::encode(b.transport_pubkey), "running": b.running }));
        out.push(json!({
            "id": id,
            "label": if meta.label.is_empty() { id.clone() } else { meta.label.clone() },
            "groupPubkey": (!group_pk.is_empty()).then_some(group_pk),
            "npub": npub,
            "threshold": (threshold > 0).then_some(threshold),
            "total": (total > 0).then_some(total),
            "generation": (!generation.is_empty()).then_some(generation),
            "mode": mode,
            "state": state_of(live.as_ref(), sealed.as_deref()),
            "default": id == DEFAULT_KEYSET,
            "legacy": legacy,
            "legacyWarning": legacy.then_some(crate::frostr::node::legacy::MIGRATE_HINT),
            "bunker": bunker,
        }));
    }
    Ok(out)
}

/// Records the group facts of a started node in the keyset's metadata (kept for the list while
/// the keyset is locked after a restart).
pub fn record_started(st: &AppState, id: &str, node: &dyn SignerNode) {
    let s = node.status();
    let cur = st.store.keyset_meta(id).ok().flatten();
    let m = KeysetMeta {
        label: cur
            .as_ref()
            .map(|c| c.label.clone())
            .filter(|l| !l.is_empty())
            .unwrap_or_else(|| id.to_string()),
        group_pk: s.group_pk,
        threshold: s.threshold,
        total: s.total,
        generation: if s.legacy { "legacy" } else { "next" }.into(),
        legacy: cur.as_ref().is_some_and(|c| c.legacy),
        created_at: cur.map(|c| c.created_at).unwrap_or_else(crate::store::now),
    };
    // Only keysets that are stored get metadata (GROUP_CRED/SHARE_CRED stay in the environment).
    if st.store.keyset(id).ok().flatten().is_some()
        && let Err(e) = st.store.put_keyset_meta(id, &m)
    {
        tracing::warn!(keyset = id, error = %e, "keyset metadata not written");
    }
}

// ---------- routes ----------

/// `GET /api/keysets`
pub async fn list(State(st): State<AppState>, Auth(_p): Auth) -> ApiResult<Json<Value>> {
    Ok(Json(json!({ "keysets": list_json(&st)? })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportBody {
    /// Id to store it under (default: from the label, else `ks-<random>`).
    id: Option<String>,
    label: Option<String>,
    share_cred: String,
    group_cred: Option<String>,
    share_password: Option<String>,
    mode: Option<String>,
    password: Option<String>,
    /// Opt this keyset into legacy 1.0.x credentials (refused without it unless FROSTR_LEGACY).
    legacy: Option<bool>,
}

fn id_from_label(label: &str) -> String {
    let mut s = String::new();
    for c in label.chars() {
        if s.len() >= 24 {
            break;
        }
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            s.push(c);
        } else if !s.is_empty() && !s.ends_with('-') {
            s.push('-');
        }
    }
    s.trim_end_matches('-').to_string()
}

/// `POST /api/keysets`: import another keyset (same credential, password/unattended and
/// legacy-refusal rules as `POST /api/keyset`). 409 if the id is taken.
pub async fn import(
    State(st): State<AppState>,
    Admin(p): Admin,
    JsonBody(b): JsonBody<ImportBody>,
) -> ApiResult<Json<Value>> {
    let label = b.label.map(|l| l.trim().to_string());
    if let Some(l) = &label
        && (l.is_empty() || l.chars().count() > 64 || l.chars().any(char::is_control))
    {
        return Err(ApiError::bad(
            "label: 1-64 characters, no control characters",
        ));
    }
    let id = match (b.id, label.as_deref().map(id_from_label)) {
        (Some(id), _) => id,
        (None, Some(from_label)) if valid_keyset_id(&from_label) => from_label,
        _ => format!("ks-{}", hex::encode(rand::random::<[u8; 4]>())),
    };
    if !valid_keyset_id(&id) {
        return Err(ApiError::bad(
            "id: 1-32 characters of a-z, 0-9, '-' and '_', starting with a letter or digit",
        ));
    }
    if exists(&st, &id)? {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            format!("keyset {id} already exists (DELETE /api/keysets/{id} first)"),
        )
        .code("KEYSET_EXISTS"));
    }
    let meta = KeysetMeta {
        label: label.unwrap_or_else(|| id.clone()),
        created_at: crate::store::now(),
        ..KeysetMeta::default()
    };
    let body = KeysetBody {
        share_cred: b.share_cred,
        group_cred: b.group_cred,
        share_password: b.share_password,
        mode: b.mode,
        password: b.password,
        legacy: b.legacy,
    };
    import_keyset(&st, &p, &id, Some(meta), body).await?;
    let entry = list_json(&st)?
        .into_iter()
        .find(|k| k["id"] == json!(id))
        .unwrap_or(Value::Null);
    Ok(Json(json!({ "success": true, "keyset": entry })))
}

/// `DELETE /api/keysets/{id}`: stops the keyset's node (and its bunker) and deletes it, with
/// its NIP-46 data.
pub async fn delete(
    State(st): State<AppState>,
    Admin(p): Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    if !valid_keyset_id(&id) || !exists(&st, &id)? {
        return Err(unknown(&id));
    }
    let removed = remove_keyset(&st, &p, &id).await?;
    Ok(Json(
        json!({ "success": true, "removed": removed, "id": id }),
    ))
}

// ---------- OpenAPI ----------

pub fn r_keyset_entry() -> Value {
    json!({
        "type": "object",
        "required": ["id", "label", "state"],
        "properties": {
            "id": s(), "label": s(), "groupPubkey": n(s()), "npub": n(s()),
            "threshold": n(i()), "total": n(i()),
            "generation": { "type": "string", "nullable": true, "enum": ["next", "legacy", null] },
            "mode": { "type": "string", "nullable": true, "enum": ["locked", "unattended", null] },
            "state": { "type": "string", "enum": ["ready", "running", "locked", "starting", "absent"] },
            "default": { "type": "boolean" },
            "legacy": { "type": "boolean", "description": "runs (or was opted into) legacy FROSTR 1.0.x" },
            "legacyWarning": n(s()),
            "bunker": {
                "type": "object", "nullable": true,
                "description": "the keyset's NIP-46 bunker (null: none started, e.g. locked since the start)",
                "required": ["pubkey", "running"],
                "properties": {
                    "pubkey": { "type": "string", "pattern": "^[0-9a-f]{64}$", "description": "remote-signer (transport) pubkey, stable across restarts" },
                    "running": { "type": "boolean", "description": "the bunker answers requests now (false: stopped with its node)" },
                },
            },
        },
    })
}
pub fn r_list() -> Value {
    obj(&["keysets"], json!({ "keysets": arr(r_keyset_entry()) }))
}
pub fn q_import() -> Value {
    json!({
        "type": "object", "required": ["share_cred"], "additionalProperties": false,
        "properties": {
            "id": { "type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,31}$" },
            "label": s(), "share_cred": s(), "group_cred": s(), "share_password": s(),
            "mode": { "type": "string", "enum": ["locked", "unattended"] },
            "password": s(),
            "legacy": { "type": "boolean", "description": "opt this keyset into legacy 1.0.x credentials (they leak shares; see frostbox migrate)" },
        },
    })
}
pub fn r_import() -> Value {
    json!({
        "type": "object", "required": ["success", "keyset"],
        "properties": { "success": { "type": "boolean" }, "keyset": r_keyset_entry() },
    })
}
pub fn r_delete() -> Value {
    json!({
        "type": "object", "required": ["success", "removed", "id"],
        "properties": { "success": { "type": "boolean" }, "removed": { "type": "boolean" }, "id": s() },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_from_labels() {
        assert_eq!(id_from_label("Work Identity"), "work-identity");
        assert_eq!(id_from_label("  Ünïcode!! 2 "), "n-code-2");
        assert_eq!(id_from_label("!!!"), "");
        assert!(id_from_label(&"x".repeat(100)).len() <= 24);
    }

    fn parts(uri: &str, header: Option<&str>) -> Parts {
        let mut b = axum::http::Request::builder().uri(uri);
        if let Some(h) = header {
            b = b.header(KEYSET_HEADER, h);
        }
        b.body(()).map(|r| r.into_parts().0).expect("request")
    }

    #[test]
    fn selector_from_query_or_header() {
        assert_eq!(requested(&parts("/api/sign", None)).ok(), Some(None));
        assert_eq!(
            requested(&parts("/api/sign?keyset=a", None)).ok(),
            Some(Some("a".into()))
        );
        assert_eq!(
            requested(&parts("/api/sign", Some("b"))).ok(),
            Some(Some("b".into()))
        );
        assert_eq!(
            requested(&parts("/api/sign?keyset=b", Some("b"))).ok(),
            Some(Some("b".into()))
        );
        assert!(requested(&parts("/api/sign?keyset=a", Some("b"))).is_err());
    }
}
