//! Keyset administration for the web UI: create a keyset (split a fresh key or an nsec),
//! migrate a legacy 1.0.x group to the current generation (same npub), export an encrypted
//! backup, switch locked ↔ unattended, lock now, and change the login password.
//!
//! Every route acts on the keyset named by `?keyset=` / `X-Frostbox-Keyset` (default:
//! `default`); `POST /api/lock` without a selector locks every password-sealed keyset.
//!
//! Secrets: the nsec, package passwords and share secrets live only in zeroizing types; the
//! new shares for the other devices leave the box once, as password-encrypted `bfprofile`
//! packages in the response of the call that created them.

use super::auth::{self, Admin, Auth, Principal};
use super::keysets::{KeysetSel, KeysetTarget, MaybeKeysetSel, sealed_mode, vault_view_for};
use super::routes::{KeysetPlain, audit, audit_ks, device_key, effective_relays, hand_to_node_for};
use super::{ApiError, ApiResult, AppState, JsonBody};
use crate::config::VaultMode;
use crate::frostr::next::credential::BfProfile;
use crate::frostr::next::group::GroupPackage;
use crate::vault::SecretString;
use crate::vault::at_rest::{self, PasswordHash, Sealed};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use zeroize::Zeroizing;

/// Most shares a keyset made here may have (each one costs a PBKDF2 run to encrypt).
pub const MAX_TOTAL: u16 = 10;

fn check_password(what: &str, p: &str) -> ApiResult<()> {
    let n = p.chars().count();
    if !(8..=1024).contains(&n) {
        return Err(ApiError::bad(format!("{what} must be 8-1024 characters")));
    }
    Ok(())
}

fn parse_mode(m: Option<&str>, default: VaultMode) -> ApiResult<VaultMode> {
    match m {
        None => Ok(default),
        Some("locked") => Ok(VaultMode::Locked),
        Some("unattended") => Ok(VaultMode::Unattended),
        Some(_) => Err(ApiError::bad("mode must be locked or unattended")),
    }
}

fn conflict(msg: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, msg)
}

/// Relays written into new credentials: the configured ones, else this box's own relay.
fn credential_relays(st: &AppState) -> Vec<String> {
    let r = effective_relays(st);
    if !r.is_empty() {
        return r;
    }
    let bind = st.cfg.bind_addr().replace("0.0.0.0", "127.0.0.1");
    vec![format!("ws://{bind}")]
}

fn group_name(name: Option<&str>) -> ApiResult<String> {
    let n = name
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("frostbox");
    if n.chars().count() > 64 || n.chars().any(char::is_control) {
        return Err(ApiError::bad(
            "name must be at most 64 printable characters",
        ));
    }
    Ok(n.to_string())
}

/// Seals `plain` (JSON of [`KeysetPlain`]) in `mode`, stores it as keyset `id` and updates the
/// vault state (`default`). Does not start the node.
async fn seal_and_store(
    st: &AppState,
    id: &str,
    plain: &Zeroizing<Vec<u8>>,
    mode: VaultMode,
    lock_password: Option<SecretString>,
) -> ApiResult<()> {
    let sealed = match mode {
        VaultMode::Locked => {
            let pw = lock_password.ok_or_else(|| {
                ApiError::bad("locked mode needs lock_password (the unlock password)")
            })?;
            check_password("lock_password", pw.expose())?;
            let kdf = st.kdf;
            let p2 = plain.clone();
            tokio::task::spawn_blocking(move || at_rest::seal_with_password(&p2, &pw, kdf))
                .await
                .map_err(ApiError::internal)?
                .map_err(ApiError::internal)?
        }
        VaultMode::Unattended => {
            let k = device_key(st)?;
            at_rest::seal_with_device_key(plain, &k).map_err(ApiError::internal)?
        }
    };
    let blob = serde_json::to_vec(&sealed).map_err(ApiError::internal)?;
    st.store.put_keyset(id, &blob)?;
    if id == crate::store::DEFAULT_KEYSET {
        let mut v = st.vault.lock().unwrap_or_else(|p| p.into_inner());
        v.mode = mode;
        v.has_keyset = true;
        v.locked = false;
    }
    Ok(())
}

/// Opens stored keyset `id`: with the device key (unattended) or `password` (locked). A wrong
/// password is charged to the caller's auth-failure budget.
async fn open_stored(
    st: &AppState,
    id: &str,
    password: Option<String>,
    ip: std::net::IpAddr,
) -> ApiResult<(Zeroizing<Vec<u8>>, VaultMode)> {
    let Some(blob) = st.store.keyset(id)? else {
        return Err(ApiError::not_found("no keyset stored"));
    };
    let sealed: Sealed = serde_json::from_slice(&blob).map_err(ApiError::internal)?;
    if sealed.mode == "password" {
        let Some(pw) = password.map(SecretString::new) else {
            return Err(ApiError::bad(
                "the keyset is in locked mode: give its unlock password",
            ));
        };
        let opened = tokio::task::spawn_blocking(move || at_rest::open_with_password(&sealed, &pw))
            .await
            .map_err(ApiError::internal)?;
        match opened {
            Ok(p) => Ok((Zeroizing::new(p.expose().to_vec()), VaultMode::Locked)),
            Err(_) => {
                let mut e = auth::auth_failed(st, ip);
                if e.status == StatusCode::UNAUTHORIZED {
                    e.error = "wrong unlock password".into();
                }
                Err(e)
            }
        }
    } else {
        let k = device_key(st)?;
        let p = at_rest::open_with_device_key(&sealed, &k).map_err(ApiError::internal)?;
        Ok((Zeroizing::new(p.expose().to_vec()), VaultMode::Unattended))
    }
}

fn parse_plain(plain: &[u8]) -> ApiResult<KeysetPlain> {
    serde_json::from_slice(plain).map_err(ApiError::internal)
}

/// One dealt share, encrypted for hand-out.
struct Packaged {
    idx: u16,
    pubkey: String,
    profile_id: String,
    bfprofile: String,
}

/// Encrypts every share of `ks` as a `bfprofile` (share + group + relays) under `password`.
/// Share `1` stays on this box; the others are for the other devices.
fn package(
    ks: &crate::frost::Keyset,
    name: &str,
    relays: &[String],
    password: &SecretString,
) -> Result<(GroupPackage, Vec<Packaged>), String> {
    let group = GroupPackage::from_keys(name, &ks.group);
    let mut out = Vec::with_capacity(ks.shares.len());
    for s in &ks.shares {
        let device = if s.idx == 1 {
            "frostbox".to_string()
        } else {
            format!("device {}", s.idx)
        };
        let p = BfProfile::new(
            &device,
            s.secret.duplicate(),
            relays.to_vec(),
            vec![],
            group.clone(),
        )
        .map_err(|e| e.to_string())?;
        let pid = p.profile_id.clone();
        let enc = p.encode(password.expose()).map_err(|e| e.to_string())?;
        let x = crate::frost::xonly(&s.secret).map_err(|e| e.to_string())?;
        out.push(Packaged {
            idx: s.idx,
            pubkey: hex::encode(x),
            profile_id: pid,
            bfprofile: enc,
        });
    }
    Ok((group, out))
}

/// Stores share 1 of `packaged` as keyset `id` (sealed in `mode`; metadata kept, a new keyset
/// gets its id as label; never legacy: these are current-generation shares), starts the node,
/// and renders the response with the other shares.
async fn install_and_respond(
    st: &AppState,
    id: &str,
    group: GroupPackage,
    packaged: Vec<Packaged>,
    password: SecretString,
    mode: VaultMode,
    lock_password: Option<SecretString>,
) -> ApiResult<serde_json::Map<String, Value>> {
    let own = packaged
        .iter()
        .find(|p| p.idx == 1)
        .ok_or_else(|| ApiError::internal("dealer produced no share 1"))?;
    let plain = Zeroizing::new(
        serde_json::to_vec(&KeysetPlain {
            share_cred: own.bfprofile.clone(),
            group_cred: None,
            share_password: Some(password.expose().to_string()),
        })
        .map_err(ApiError::internal)?,
    );
    seal_and_store(st, id, &plain, mode, lock_password).await?;
    let mut meta = st
        .store
        .keyset_meta(id)?
        .unwrap_or_else(|| crate::store::KeysetMeta {
            label: id.to_string(),
            created_at: crate::store::now(),
            ..Default::default()
        });
    meta.legacy = false;
    st.store.put_keyset_meta(id, &meta)?;
    hand_to_node_for(st, id, &plain)?;
    let shares: Vec<Value> = packaged
        .iter()
        .filter(|p| p.idx != 1)
        .map(|p| {
            json!({ "idx": p.idx, "pubkey": p.pubkey, "profile_id": p.profile_id,
                    "credential": p.bfprofile, "bfprofile": p.bfprofile })
        })
        .collect();
    let mut m = serde_json::Map::new();
    m.insert("success".into(), json!(true));
    m.insert("threshold".into(), json!(group.threshold));
    m.insert("total".into(), json!(group.members.len()));
    m.insert("group_pk".into(), json!(hex::encode(group.group_pk)));
    m.insert(
        "npub".into(),
        json!(crate::cli::keys::npub(&group.group_pk)),
    );
    m.insert(
        "group_package".into(),
        serde_json::to_value(&group).map_err(ApiError::internal)?,
    );
    m.insert(
        "self".into(),
        json!({ "idx": own.idx, "pubkey": own.pubkey, "profile_id": own.profile_id }),
    );
    m.insert("shares".into(), Value::Array(shares));
    m.insert("keyset".into(), json!(id));
    m.insert("vault".into(), vault_view_for(st, id));
    Ok(m)
}

// ---------- POST /api/keyset/create ----------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    threshold: u16,
    total: u16,
    /// Encrypts every share package (the other devices ask for it on import).
    password: String,
    /// Split this key instead of a fresh one (`nsec1…` or 64 hex).
    nsec: Option<String>,
    name: Option<String>,
    mode: Option<String>,
    lock_password: Option<String>,
}

pub async fn keyset_create(
    State(st): State<AppState>,
    Admin(p): Admin,
    KeysetTarget(id): KeysetTarget,
    JsonBody(b): JsonBody<CreateBody>,
) -> ApiResult<Json<Value>> {
    let nsec = b.nsec.map(SecretString::new);
    let password = SecretString::new(b.password);
    let lock_password = b.lock_password.map(SecretString::new);
    if !(2..=MAX_TOTAL).contains(&b.total) {
        return Err(ApiError::bad(format!("total must be 2-{MAX_TOTAL} shares")));
    }
    if b.threshold < 2 || b.threshold > b.total {
        return Err(ApiError::bad(
            "threshold must be at least 2 and at most total",
        ));
    }
    check_password("password", password.expose())?;
    let mode = parse_mode(b.mode.as_deref(), st.cfg.vault_mode)?;
    if mode == VaultMode::Locked {
        match &lock_password {
            Some(l) => check_password("lock_password", l.expose())?,
            None => return Err(ApiError::bad("locked mode needs lock_password")),
        }
    }
    let name = group_name(b.name.as_deref())?;
    let secret = match &nsec {
        Some(n) => Some(
            crate::cli::keys::parse_nsec(n.expose())
                .ok_or_else(|| ApiError::bad("nsec must be an nsec1… key or 64 hex characters"))?,
        ),
        None => None,
    };
    drop(nsec);
    if st.store.keyset(&id)?.is_some() || st.node_for(&id).is_some() {
        return Err(conflict(if id == crate::store::DEFAULT_KEYSET {
            "a keyset is already stored; delete it first (DELETE /api/keyset)".to_string()
        } else {
            format!("keyset {id} already exists; delete it first (DELETE /api/keysets/{id})")
        }));
    }
    let relays = credential_relays(&st);
    let (t, n) = (b.threshold, b.total);
    let pw2 = SecretString::new(password.expose().to_string());
    let (group, packaged) = tokio::task::spawn_blocking(move || {
        let ks = match &secret {
            Some(s) => crate::frost::split(s, t, n),
            None => crate::frost::keygen(t, n),
        }
        .map_err(|e| e.to_string())?;
        package(&ks, &name, &relays, &pw2)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::bad)?;
    let m = install_and_respond(&st, &id, group, packaged, password, mode, lock_password).await?;
    let ks = KeysetSel(id.clone());
    audit_ks(
        &st,
        &ks,
        &p.who(),
        "keyset.create",
        &format!("{t}-of-{n}"),
        "ok",
    );
    st.publish(
        "system",
        &format!("new {t}-of-{n} keyset created; this box keeps share 1"),
        Some(json!({ "keyset": id })),
    );
    Ok(Json(Value::Object(m)))
}

// ---------- POST /api/migrate ----------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MigrateBody {
    /// Encrypts the new share packages.
    password: String,
    /// Further legacy `bfshare1…` strings of the group (the stored one counts too).
    shares: Option<Vec<String>>,
    /// The legacy `bfgroup1…` (default: the stored one).
    group_cred: Option<String>,
    threshold: Option<u16>,
    total: Option<u16>,
    name: Option<String>,
    /// Unlock password of a locked-mode keyset; also seals the new one in locked mode.
    lock_password: Option<String>,
}

pub async fn migrate(
    State(st): State<AppState>,
    Admin(p): Admin,
    auth::ClientIp(ip): auth::ClientIp,
    ks: KeysetSel,
    JsonBody(b): JsonBody<MigrateBody>,
) -> ApiResult<Json<Value>> {
    use crate::frostr::legacy;
    let password = SecretString::new(b.password);
    check_password("password", password.expose())?;
    let extra: Vec<SecretString> = b
        .shares
        .unwrap_or_default()
        .into_iter()
        .map(SecretString::new)
        .filter(|s| !s.expose().trim().is_empty())
        .collect();
    if extra.len() > 32 {
        return Err(ApiError::bad("at most 32 shares"));
    }
    let name = group_name(b.name.as_deref())?;
    let stored = if st.store.keyset(&ks.0)?.is_some() {
        Some(open_stored(&st, &ks.0, b.lock_password.clone(), ip).await?)
    } else {
        None
    };
    let mode = stored
        .as_ref()
        .map(|(_, m)| *m)
        .unwrap_or(st.cfg.vault_mode);
    let stored_plain = match &stored {
        Some((plain, _)) => Some(parse_plain(plain)?),
        None => None,
    };
    let stored_legacy = stored_plain.as_ref().filter(|k| {
        k.group_cred
            .as_deref()
            .is_some_and(|g| g.trim().to_ascii_lowercase().starts_with("bfgroup1"))
    });
    let group_str = match (&b.group_cred, stored_legacy) {
        (Some(g), _) => g.trim().to_string(),
        (None, Some(k)) => k.group_cred.clone().unwrap_or_default(),
        (None, None) => {
            return Err(ApiError::bad(
                "this box holds no legacy keyset: give group_cred (bfgroup1…) and the shares",
            ));
        }
    };
    let group = legacy::decode_group(&group_str)
        .map_err(|e| ApiError::bad(format!("invalid bfgroup: {e}")))?;
    let mut shares: Vec<legacy::SharePackage> = Vec::new();
    let mut push = |s: &str, n: usize| -> ApiResult<()> {
        let sp = legacy::decode_share(s.trim())
            .map_err(|e| ApiError::bad(format!("share {n} is not a legacy bfshare: {e}")))?;
        if !shares.iter().any(|x| x.idx == sp.idx) {
            shares.push(sp);
        }
        Ok(())
    };
    if let Some(k) = stored_legacy
        && k.group_cred.as_deref().map(str::trim) == Some(group_str.as_str())
    {
        push(&k.share_cred, 0)?;
    }
    for (i, s) in extra.iter().enumerate() {
        push(s.expose(), i + 1)?;
    }
    let t = b.threshold.map(u32::from).unwrap_or(group.threshold);
    let n = b.total.map(u32::from).unwrap_or(group.commits.len() as u32);
    if !(2..=u32::from(MAX_TOTAL)).contains(&n) || t < 2 || t > n {
        return Err(ApiError::bad(format!(
            "the new keyset must be k-of-n with 2 ≤ k ≤ n ≤ {MAX_TOTAL} (got {t} of {n})"
        )));
    }
    if (shares.len() as u32) < group.threshold {
        return Err(ApiError::bad(format!(
            "{} of the {} legacy shares needed: add the others in shares",
            shares.len(),
            group.threshold
        )));
    }
    let relays = credential_relays(&st);
    let pw2 = SecretString::new(password.expose().to_string());
    let legacy_npub = group.npub();
    let (group2, packaged) = tokio::task::spawn_blocking(move || {
        let m = legacy::migrate(&shares, &group, t, n).map_err(|e| e.to_string())?;
        let ks = legacy::migrate::to_next(&m).map_err(|e| e.to_string())?;
        package(&ks, &name, &relays, &pw2)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::bad)?;
    if group2.group_pk != legacy_npub {
        return Err(ApiError::internal(
            "migrated group key differs from the legacy npub",
        ));
    }
    let lock = b.lock_password.map(SecretString::new);
    let mut m = install_and_respond(&st, &ks.0, group2, packaged, password, mode, lock).await?;
    m.insert("npub_unchanged".into(), json!(true));
    m.insert("migrated_from".into(), json!("legacy-1.0.x"));
    audit_ks(
        &st,
        &ks,
        &p.who(),
        "keyset.migrate",
        &format!("{t}-of-{n}"),
        "ok",
    );
    st.publish(
        "system",
        "legacy keyset migrated to the current generation (same npub)",
        Some(json!({ "keyset": ks.0 })),
    );
    Ok(Json(Value::Object(m)))
}

// ---------- POST /api/keyset/backup ----------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupBody {
    /// Encrypts the backup.
    password: String,
    /// Unlock password when the keyset is in locked mode.
    lock_password: Option<String>,
}

pub async fn keyset_backup(
    State(st): State<AppState>,
    Admin(p): Admin,
    auth::ClientIp(ip): auth::ClientIp,
    ks: KeysetSel,
    JsonBody(b): JsonBody<BackupBody>,
) -> ApiResult<Json<Value>> {
    let password = SecretString::new(b.password);
    check_password("password", password.expose())?;
    let (plain, _) = open_stored(&st, &ks.0, b.lock_password, ip).await?;
    let k = parse_plain(&plain)?;
    drop(plain);
    if !k
        .share_cred
        .trim()
        .to_ascii_lowercase()
        .starts_with("bfprofile1")
    {
        return Err(conflict(
            "only a bfprofile keyset can be backed up here (a legacy share: migrate it first)",
        ));
    }
    let Some(sp) = k.share_password.clone().map(SecretString::new) else {
        return Err(conflict(
            "the stored bfprofile has no password on record; import it again with share_password",
        ));
    };
    let cred = SecretString::new(k.share_cred.clone());
    drop(k);
    let (enc, pid, gpk) = tokio::task::spawn_blocking(move || {
        let prof = BfProfile::decode(cred.expose(), sp.expose()).map_err(|e| e.to_string())?;
        let enc = prof.encode(password.expose()).map_err(|e| e.to_string())?;
        Ok::<_, String>((enc, prof.profile_id.clone(), prof.group_package.group_pk))
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| conflict(format!("cannot open the stored bfprofile: {e}")))?;
    audit_ks(&st, &ks, &p.who(), "keyset.backup", &pid, "ok");
    Ok(Json(json!({
        "success": true, "bfprofile": enc, "profile_id": pid,
        "npub": crate::cli::keys::npub(&gpk),
    })))
}

// ---------- POST /api/keyset/mode ----------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModeBody {
    mode: String,
    /// New unlock password (locked mode).
    password: Option<String>,
    /// Current unlock password when the keyset is now in locked mode.
    current_password: Option<String>,
}

pub async fn keyset_mode(
    State(st): State<AppState>,
    Admin(p): Admin,
    auth::ClientIp(ip): auth::ClientIp,
    ks: KeysetSel,
    JsonBody(b): JsonBody<ModeBody>,
) -> ApiResult<Json<Value>> {
    let new_pw = b.password.map(SecretString::new);
    let mode = parse_mode(Some(b.mode.as_str()), VaultMode::Unattended)?;
    if mode == VaultMode::Locked {
        match &new_pw {
            Some(pw) => check_password("password", pw.expose())?,
            None => {
                return Err(ApiError::bad(
                    "locked mode needs password (the unlock password)",
                ));
            }
        }
    }
    let was_locked = if ks.is_default() {
        st.vault.lock().unwrap_or_else(|p| p.into_inner()).locked
    } else {
        st.node_for(&ks.0).is_none() && sealed_mode(&st, &ks.0).as_deref() == Some("password")
    };
    let (plain, _) = open_stored(&st, &ks.0, b.current_password, ip).await?;
    seal_and_store(&st, &ks.0, &plain, mode, new_pw).await?;
    if was_locked {
        // The stored share was opened with its password: the signer may start now.
        hand_to_node_for(&st, &ks.0, &plain)?;
    }
    let m = match mode {
        VaultMode::Locked => "locked",
        VaultMode::Unattended => "unattended",
    };
    audit_ks(&st, &ks, &p.who(), "keyset.mode", m, "ok");
    st.publish(
        "system",
        &format!("keyset {} now in {m} mode", ks.0),
        Some(json!({ "keyset": ks.0 })),
    );
    Ok(Json(
        json!({ "success": true, "vault": vault_view_for(&st, &ks.0) }),
    ))
}

// ---------- POST /api/lock ----------

/// `POST /api/lock`: stops the selected keyset's signer (node and bunker) until its password
/// unlocks it again; without a selector, every keyset sealed in locked mode (unattended keysets
/// have no password to unlock with and keep running). 404 when no keyset is stored, 409 when the
/// selected keyset (or, without a selector, every keyset) is in unattended mode.
pub async fn lock_now(
    State(st): State<AppState>,
    Admin(p): Admin,
    MaybeKeysetSel(sel): MaybeKeysetSel,
) -> ApiResult<Json<Value>> {
    let ids = match &sel {
        Some(ks) => vec![ks.0.clone()],
        None => st.store.keyset_ids()?,
    };
    let stored: Vec<(String, String)> = ids
        .into_iter()
        .filter_map(|id| sealed_mode(&st, &id).map(|m| (id, m)))
        .collect();
    if stored.is_empty() {
        return Err(ApiError::not_found("no keyset stored"));
    }
    let lockable: Vec<String> = stored
        .into_iter()
        .filter(|(_, m)| m == "password")
        .map(|(id, _)| id)
        .collect();
    if lockable.is_empty() {
        return Err(conflict(
            "the keyset is in unattended mode: switch to locked mode first (POST /api/keyset/mode)",
        ));
    }
    for id in &lockable {
        st.stop_keyset(id).await;
        if id == crate::store::DEFAULT_KEYSET {
            st.vault.lock().unwrap_or_else(|p| p.into_inner()).locked = true;
        }
        audit_ks(
            &st,
            &KeysetSel(id.clone()),
            &p.who(),
            "keyset.lock",
            "",
            "ok",
        );
    }
    st.publish(
        "system",
        "signer locked; unlock with the password",
        Some(json!({ "keysets": lockable })),
    );
    let view = sel.map_or(crate::store::DEFAULT_KEYSET.to_string(), |k| k.0);
    Ok(Json(
        json!({ "success": true, "vault": vault_view_for(&st, &view), "locked": lockable }),
    ))
}

// ---------- POST /api/user/password ----------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    #[serde(rename = "currentPassword")]
    current_password: String,
    #[serde(rename = "newPassword")]
    new_password: String,
}

pub async fn user_password(
    State(st): State<AppState>,
    Auth(p): Auth,
    auth::ClientIp(ip): auth::ClientIp,
    JsonBody(b): JsonBody<PasswordBody>,
) -> ApiResult<Json<Value>> {
    let cur = SecretString::new(b.current_password);
    let new = SecretString::new(b.new_password);
    let Principal::User { username, id, .. } = &p else {
        return Err(ApiError::forbidden(
            "only a logged-in user can change a password",
        ));
    };
    if cur.expose().len() > 1024 {
        return Err(ApiError::bad("currentPassword too long"));
    }
    auth::validate_password(new.expose(), username)?;
    if let Some(w) = st.limiter.is_exhausted(ip, super::limits::Class::AuthFail) {
        return Err(ApiError::rate_limited(w));
    }
    let Some(user) = st.store.user_by_name(username)? else {
        return Err(ApiError::unauthorized());
    };
    let kdf = st.kdf;
    let hashed = tokio::task::spawn_blocking(move || {
        let ok = serde_json::from_str::<PasswordHash>(&user.password_hash)
            .map(|h| at_rest::verify_password(&cur, &h))
            .unwrap_or(false);
        if !ok {
            return Ok(None);
        }
        at_rest::hash_password(&new, kdf).map(Some)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    let Some(h) = hashed else {
        audit(&st, &p.who(), "user.password", "", "bad_password");
        let mut e = auth::auth_failed(&st, ip);
        if e.status == StatusCode::UNAUTHORIZED {
            e.error = "current password is wrong".into();
        }
        return Err(e);
    };
    let hjson = serde_json::to_string(&h).map_err(ApiError::internal)?;
    if !st.store.set_user_password(username, &hjson)? {
        return Err(ApiError::unauthorized());
    }
    audit(&st, &format!("user:{id}"), "user.password", "", "ok");
    Ok(Json(
        json!({ "success": true, "message": "Password changed" }),
    ))
}

// ---------- OpenAPI schemas ----------

fn s() -> Value {
    json!({ "type": "string" })
}
fn strict(required: &[&str], props: Value) -> Value {
    json!({ "type": "object", "required": required, "properties": props,
            "additionalProperties": false })
}
fn obj(required: &[&str], props: Value) -> Value {
    json!({ "type": "object", "required": required, "properties": props })
}
fn mode_enum() -> Value {
    json!({ "type": "string", "enum": ["locked", "unattended"] })
}
fn vault() -> Value {
    obj(
        &["mode", "has_keyset", "locked"],
        json!({ "mode": s(), "has_keyset": { "type": "boolean" }, "locked": { "type": "boolean" },
                "device_key_source": { "type": "string", "nullable": true } }),
    )
}

pub fn q_create() -> Value {
    strict(
        &["threshold", "total", "password"],
        json!({
            "threshold": { "type": "integer", "minimum": 2, "maximum": MAX_TOTAL },
            "total": { "type": "integer", "minimum": 2, "maximum": MAX_TOTAL },
            "password": { "type": "string", "minLength": 8 },
            "nsec": s(), "name": { "type": "string", "maxLength": 64 },
            "mode": mode_enum(), "lock_password": { "type": "string", "minLength": 8 },
        }),
    )
}
pub fn r_created() -> Value {
    obj(
        &[
            "success",
            "threshold",
            "total",
            "group_pk",
            "npub",
            "shares",
            "vault",
        ],
        json!({
            "success": { "type": "boolean" }, "threshold": { "type": "integer" },
            "total": { "type": "integer" }, "group_pk": s(), "npub": s(),
            "group_package": { "type": "object" }, "self": { "type": "object" },
            "npub_unchanged": { "type": "boolean" }, "migrated_from": s(), "keyset": s(),
            "shares": { "type": "array", "items": obj(&["idx", "credential"], json!({
                "idx": { "type": "integer" }, "pubkey": s(), "profile_id": s(),
                "credential": s(), "bfprofile": s(),
            })) },
            "vault": vault(),
        }),
    )
}
pub fn q_migrate() -> Value {
    strict(
        &["password"],
        json!({
            "password": { "type": "string", "minLength": 8 },
            "shares": { "type": "array", "items": s() }, "group_cred": s(),
            "threshold": { "type": "integer", "minimum": 2 },
            "total": { "type": "integer", "minimum": 2 },
            "name": { "type": "string", "maxLength": 64 }, "lock_password": s(),
        }),
    )
}
pub fn q_backup() -> Value {
    strict(
        &["password"],
        json!({ "password": { "type": "string", "minLength": 8 }, "lock_password": s() }),
    )
}
pub fn r_backup() -> Value {
    obj(
        &["success", "bfprofile"],
        json!({ "success": { "type": "boolean" }, "bfprofile": s(), "profile_id": s(), "npub": s() }),
    )
}
pub fn q_mode() -> Value {
    strict(
        &["mode"],
        json!({ "mode": mode_enum(), "password": { "type": "string", "minLength": 8 },
                "current_password": s() }),
    )
}
pub fn r_vault_change() -> Value {
    obj(
        &["success", "vault"],
        json!({ "success": { "type": "boolean" }, "vault": vault(),
                "locked": { "type": "array", "items": s(),
                            "description": "POST /api/lock: the keysets it locked" } }),
    )
}
pub fn q_password() -> Value {
    strict(
        &["currentPassword", "newPassword"],
        json!({ "currentPassword": s(), "newPassword": { "type": "string", "minLength": 8, "maxLength": 128 } }),
    )
}
pub fn r_password() -> Value {
    obj(
        &["success"],
        json!({ "success": { "type": "boolean" }, "message": s() }),
    )
}
