//! Starts a signing node from decrypted credentials: the glue between the API's keyset vault
//! (import, unlock, unattended start, `GROUP_CRED`/`SHARE_CRED`) and [`Node::start`].
//!
//! Only a `bfprofile` carries everything a node needs (share, group, relays); a current-generation
//! `bfshare` has no group. Legacy credentials (`bfgroup` + `bfshare`) are refused (FROSTR.md §0.2,
//! `frostbox migrate`) unless legacy is allowed for that keyset: the keyset was imported with the
//! opt-in (`"legacy": true`, kept in its public metadata, [`crate::store::KeysetMeta::legacy`]) or
//! the box-wide switch is on (`FROSTR_LEGACY=true` in the environment or the stored settings);
//! then a legacy 1.0.x node ([`super::legacy`]) serves them, and logs the risk naming the keyset.

use super::legacy::{LegacyConfig, LegacyHandle, LegacyNode};
use super::node::Heartbeat;
use super::{Node, NodeConfig, NodeHandle, StoreLedger};
use crate::api::{AppState, UnlockedCredentials};
use crate::frostr::next::credential::BfProfile;
use crate::health::Liveness;
use crate::nip46::runtime::StartOptions;
use crate::nip46::{BunkerConfig, BunkerRuntime, BunkerSlot};
use crate::relay::Relay;
use crate::store::DEFAULT_KEYSET;
use crate::vault::secret::Secret32;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// What went wrong starting the node; the message is shown to the operator (no secrets).
#[derive(Debug, thiserror::Error)]
pub enum FactoryError {
    #[error("a bfprofile needs its password (share_password) to start the signer")]
    NeedPassword,
    #[error("cannot open the bfprofile: {0}")]
    Profile(String),
    #[error(
        "a bfshare carries no group package: import the bfprofile of this share (or onboard with a bfonboard)"
    )]
    NoGroup,
    #[error(
        "legacy 1.0.x credentials (bfgroup/bfshare) are refused: {} To serve them anyway (only \
         with fully trusted peers), import them with \"legacy\": true (this keyset only) or set \
         FROSTR_LEGACY=true (every keyset).",
        crate::frostr::legacy::LEGACY_WARNING
    )]
    Legacy,
    #[error("invalid legacy credentials: {0}")]
    LegacyCredential(String),
    #[error("unsupported credential")]
    Unsupported,
    #[error("node: {0}")]
    Node(String),
    #[error("NIP-46 bunker: {0}")]
    Bunker(String),
    #[error("keyset {0} already serves this group on this box (one share per group per box)")]
    DuplicateGroup(String),
}

/// Name of the legacy switch (environment variable or stored setting).
pub const LEGACY_SWITCH: &str = "FROSTR_LEGACY";

/// Whether the legacy 1.0.x transport is enabled: `FROSTR_LEGACY` in the environment or in the
/// stored settings (`/api/env`) is true.
pub fn legacy_enabled(st: &AppState) -> bool {
    let on = |v: &str| crate::config::parse_bool(LEGACY_SWITCH, v).unwrap_or(false);
    std::env::var(LEGACY_SWITCH).is_ok_and(|v| on(&v))
        || st
            .store
            .setting(LEGACY_SWITCH)
            .ok()
            .flatten()
            .is_some_and(|v| on(&v))
}

/// Whether a group credential is a legacy 1.0.x `bfgroup` (a current-generation group travels
/// in a `bfprofile`).
pub fn is_legacy(group_cred: Option<&str>) -> bool {
    group_cred.is_some_and(|g| g.trim().to_ascii_lowercase().starts_with("bfgroup1"))
}

/// Whether keyset `keyset` was imported with the legacy opt-in (its metadata says so).
pub fn legacy_opted_in(st: &AppState, keyset: &str) -> bool {
    st.store
        .keyset_meta(keyset)
        .ok()
        .flatten()
        .is_some_and(|m| m.legacy)
}

/// Whether keyset `keyset` may run legacy 1.0.x credentials: its own opt-in, or the box-wide
/// `FROSTR_LEGACY` switch.
pub fn legacy_allowed(st: &AppState, keyset: &str) -> bool {
    legacy_opted_in(st, keyset) || legacy_enabled(st)
}

/// Where a keyset's legacy permission comes from: `keyset` (its opt-in), `box`
/// (`FROSTR_LEGACY`), or `None` (legacy refused).
pub fn legacy_source(st: &AppState, keyset: &str) -> Option<&'static str> {
    if legacy_opted_in(st, keyset) {
        Some("keyset")
    } else if legacy_enabled(st) {
        Some("box")
    } else {
        None
    }
}

/// Import-time check used by the API: legacy credentials are refused with
/// [`FactoryError::Legacy`] (explains the risk and points at `frostbox migrate`) unless the
/// import opts in (`opt_in`, the body's `"legacy": true`) or `FROSTR_LEGACY` is on.
pub fn check_import(
    st: &AppState,
    group_cred: Option<&str>,
    opt_in: bool,
) -> Result<(), FactoryError> {
    if is_legacy(group_cred) && !opt_in && !legacy_enabled(st) {
        return Err(FactoryError::Legacy);
    }
    Ok(())
}

/// The node currently serving the keyset.
enum Serving {
    Next(NodeHandle),
    Legacy(LegacyHandle),
}

impl Serving {
    async fn shutdown(&self) {
        match self {
            Serving::Next(h) => h.shutdown().await,
            Serving::Legacy(h) => h.shutdown().await,
        }
    }
}

/// The running node and its NIP-46 bunker (signing through the node, either generation).
struct Running {
    node: Serving,
    bunker: Option<BunkerRuntime>,
}

/// Registers the credentials hook on `st`: each call decodes the credentials off the async
/// threads (PBKDF2 600k), starts a node on the configured relays (or the embedded relay when
/// none are configured), lets the group's members write to the embedded relay, and attaches
/// the node to the API.
pub fn install(st: &AppState, relay: &Relay, liveness: &Liveness, bind: &str) {
    let _ = install_with_bunker(st, relay, liveness, bind, &BunkerSlot::new());
}

/// The running signers by keyset id.
type RunningMap = Arc<tokio::sync::Mutex<BTreeMap<String, Running>>>;

/// The signers `serve` runs (one node and one NIP-46 bunker per keyset), for a graceful stop.
#[derive(Clone)]
pub struct SignerControl {
    current: RunningMap,
    stopping: Arc<std::sync::atomic::AtomicBool>,
}

/// Watchdog component name of a keyset's node (`node` for the default keyset, as before).
pub fn liveness_name(keyset: &str) -> String {
    if keyset == DEFAULT_KEYSET {
        "node".into()
    } else {
        format!("node:{keyset}")
    }
}

/// Registers keyset `keyset`'s node with the watchdog and returns the heartbeat the node calls.
fn register_heartbeat(liveness: &Liveness, keyset: &str) -> Heartbeat {
    let name = liveness_name(keyset);
    liveness.register(&name, Duration::from_secs(60));
    let lv = liveness.clone();
    Arc::new(move |_c: &str| lv.beat(&name))
}

/// Stops one running signer: bunker first (one transport key never answers twice), then the
/// node detached from the API and shut down.
async fn stop_running(st: &AppState, id: &str, old: Running) {
    if let Some(b) = old.bunker {
        b.shutdown().await;
        tracing::info!(keyset = id, "nip46: bunker stopped");
    }
    st.detach_node_for(id);
    old.node.shutdown().await;
}

impl SignerControl {
    /// Stops every bunker (API slot emptied, relay connections closed), detaches and stops
    /// every node (subscriptions and relay connections closed); credentials arriving afterwards
    /// start nothing. Waits for a start in progress to finish first.
    pub async fn shutdown(&self, st: &AppState) {
        self.stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let all = std::mem::take(&mut *self.current.lock().await);
        let stops = all.into_iter().map(|(id, old)| async move {
            stop_running(st, &id, old).await;
            tracing::info!(keyset = %id, "signer stopped");
        });
        futures_util::future::join_all(stops).await;
    }

    /// The current-generation node of keyset `id`, if one runs (for a per-keyset NIP-46
    /// bunker or other in-process users). Legacy nodes are not returned.
    pub async fn node_handle(&self, id: &str) -> Option<NodeHandle> {
        match self.current.lock().await.get(id).map(|r| &r.node) {
            Some(Serving::Next(h)) => Some(h.clone()),
            _ => None,
        }
    }

    /// Ids of the keysets whose node runs.
    pub async fn running(&self) -> Vec<String> {
        self.current.lock().await.keys().cloned().collect()
    }
}

/// [`install`], plus the NIP-46 bunkers: each started node (either generation) gets a bunker
/// for its identity (published in `bunkers` under the keyset id for the `/api/nip46/*`
/// routes); new credentials for a keyset stop its old bunker before the old node, so one
/// transport key never answers twice; deleting a keyset stops its bunker (the delete routes
/// then call `nip46::runtime::forget_keyset`).
pub fn install_with_bunker(
    st: &AppState,
    relay: &Relay,
    liveness: &Liveness,
    bind: &str,
    bunkers: &BunkerSlot,
) -> SignerControl {
    let local_relay = format!("ws://{}", bind.replace("0.0.0.0", "127.0.0.1"));
    // `GET /api/keysets` names each keyset's bunker.
    st.set_bunker_slot(bunkers.clone());
    let (st2, relay, liveness, slot) =
        (st.clone(), relay.clone(), liveness.clone(), bunkers.clone());
    // The running node of each keyset: new credentials for a keyset (re-import, unlock) shut
    // its node down before the successor starts, so one share never runs twice. Holding the
    // lock serialises concurrent starts.
    let current: RunningMap = Arc::default();
    {
        // `DELETE /api/keysets/{id}`: stop that keyset's bunker and node, drop its heartbeat.
        let (current, liveness) = (current.clone(), liveness.clone());
        let st3 = st.clone();
        st.set_stop_hook(Arc::new(move |id: String| {
            let (current, liveness, st) = (current.clone(), liveness.clone(), st3.clone());
            Box::pin(async move {
                let old = current.lock().await.remove(&id);
                match old {
                    Some(old) => stop_running(&st, &id, old).await,
                    None => st.shutdown_node_for(&id).await,
                }
                liveness.unregister(&liveness_name(&id));
                tracing::info!(keyset = %id, "signer stopped (keyset deleted)");
            }) as crate::api::node::BoxFut<'static, ()>
        }));
    }
    let control = SignerControl {
        current: current.clone(),
        stopping: Arc::default(),
    };
    let stopping = control.stopping.clone();
    st.set_credentials_hook(Arc::new(move |creds: UnlockedCredentials| {
        let (st, relay, liveness, local_relay, current, slot, stopping) = (
            st2.clone(),
            relay.clone(),
            liveness.clone(),
            local_relay.clone(),
            current.clone(),
            slot.clone(),
            stopping.clone(),
        );
        tokio::spawn(async move {
            let mut current = current.lock().await;
            if stopping.load(std::sync::atomic::Ordering::SeqCst) {
                return;
            }
            let id = creds.keyset.clone();
            if let Some(old) = current.remove(&id) {
                stop_running(&st, &id, old).await;
            }
            match start(&st, &relay, &liveness, &local_relay, creds).await {
                Ok((label, serving, relays)) => {
                    let bunker = bunker_for(
                        &st,
                        &relay,
                        &slot,
                        &id,
                        &serving,
                        &label,
                        relays,
                        &local_relay,
                    );
                    current.insert(
                        id.clone(),
                        Running {
                            node: serving,
                            bunker,
                        },
                    );
                    tracing::info!(keyset = %id, profile = %label, "signer started");
                    crate::health::notify_status("signer started");
                }
                Err(e) => {
                    tracing::warn!(keyset = %id, "signer not started: {e}");
                    st.publish(
                        "error",
                        &format!("signer not started: {e}"),
                        Some(serde_json::json!({ "keyset": id })),
                    );
                }
            }
        });
    }));
    control
}

/// The device key (file or systemd credential), loaded once and kept in the API state.
fn device_key(st: &AppState) -> Result<Secret32, FactoryError> {
    let mut g = st.device_key.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(k) = g.as_ref() {
        return Ok(k.duplicate());
    }
    let creds = std::env::var_os("CREDENTIALS_DIRECTORY").map(std::path::PathBuf::from);
    let (k, src) = crate::vault::at_rest::load_or_create_device_key(&st.cfg.data_dir, creds)
        .map_err(|e| FactoryError::Bunker(format!("device key: {e}")))?;
    st.vault
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .device_key_source = Some(src);
    *g = Some(k.duplicate());
    Ok(k)
}

/// The NIP-46 bunker of keyset `id`'s freshly started node (every node gets one, published in
/// `slot` under `id`: a current-generation node signs through [`NodeHandle`], a legacy one
/// through [`LegacyHandle`], the same entry points as `/api/sign` and `/api/nip44/*`). A bunker
/// that cannot start is reported and leaves the node running.
#[allow(clippy::too_many_arguments)]
fn bunker_for(
    st: &AppState,
    relay: &Relay,
    slot: &BunkerSlot,
    id: &str,
    serving: &Serving,
    profile_id: &str,
    relays: Vec<String>,
    local_relay: &str,
) -> Option<BunkerRuntime> {
    let (signer, legacy): (Arc<dyn crate::nip46::ThresholdSigner>, bool) = match serving {
        Serving::Next(h) => (Arc::new(crate::nip46::node_signer(h.clone())), false),
        Serving::Legacy(h) => (
            Arc::new(crate::nip46::signer::legacy_node_signer(h.clone())),
            true,
        ),
    };
    let started = start_bunker(
        st,
        relay,
        slot,
        id,
        signer,
        legacy,
        profile_id,
        relays,
        local_relay,
    );
    match started {
        Ok(b) => {
            let transport = hex::encode(b.bunker().transport_pubkey());
            if legacy {
                tracing::warn!(
                    keyset = id,
                    transport = %transport,
                    "nip46: bunker started for legacy FROSTR 1.0.x keyset {id}: {}",
                    super::legacy::MIGRATE_HINT
                );
            } else {
                tracing::info!(keyset = id, transport = %transport, "nip46: bunker started");
            }
            Some(b)
        }
        Err(e) => {
            tracing::warn!(keyset = id, "nip46: bunker not started: {e}");
            st.publish(
                "error",
                &format!("NIP-46 bunker not started: {e}"),
                Some(serde_json::json!({ "keyset": id })),
            );
            None
        }
    }
}

/// Starts the NIP-46 bunker of a started node: threshold signer = the node (`legacy`: a
/// FROSTR 1.0.x node), listening on the node's relays plus the embedded relay, transport key
/// sealed in the store under the profile id (the namespace the default keyset always had; each
/// keyset's identity has its own), found by the API under the keyset id.
#[allow(clippy::too_many_arguments)]
fn start_bunker(
    st: &AppState,
    relay: &Relay,
    slot: &BunkerSlot,
    keyset: &str,
    signer: Arc<dyn crate::nip46::ThresholdSigner>,
    legacy: bool,
    profile_id: &str,
    mut relays: Vec<String>,
    local_relay: &str,
) -> Result<BunkerRuntime, FactoryError> {
    if !relays.iter().any(|r| r == local_relay) {
        relays.push(local_relay.to_string());
    }
    let cfg = BunkerConfig {
        relays,
        // Without RELAYS, bunker:// URIs name the embedded relay as the operator reached the box.
        embedded_relay: st.cfg.relays.is_empty().then(|| local_relay.to_string()),
        ..Default::default()
    };
    BunkerRuntime::start(
        signer,
        StartOptions {
            cfg,
            store: st.store.clone(),
            device_key: device_key(st)?,
            namespace: profile_id,
            keyset,
            relay: Some(relay),
            slot: Some(slot),
            events: Some(st.clone()),
            legacy,
        },
    )
    .map_err(|e| FactoryError::Bunker(e.to_string()))
}

/// Refuses a second keyset for a group another keyset of this box already serves: two shares
/// of one group in one box defeat the threshold, and both nodes would answer the same peers.
fn check_duplicate(st: &AppState, keyset: &str, group_pk_hex: &str) -> Result<(), FactoryError> {
    for (id, n) in st.nodes() {
        if id != keyset && n.status().group_pk.eq_ignore_ascii_case(group_pk_hex) {
            return Err(FactoryError::DuplicateGroup(id));
        }
    }
    Ok(())
}

fn relays_for(st: &AppState, from_cred: &[String], local_relay: &str) -> Vec<String> {
    if !st.cfg.relays.is_empty() {
        st.cfg.relays.clone()
    } else if !from_cred.is_empty() {
        from_cred.to_vec()
    } else {
        vec![local_relay.to_string()]
    }
}

/// Logs (and publishes to `/api/events`) that keyset `keyset` runs the legacy generation, with
/// where the permission came from and the way out (`frostbox migrate`).
fn warn_legacy_started(st: &AppState, keyset: &str) {
    let why = match legacy_source(st, keyset) {
        Some("keyset") => "opted in at import",
        _ => "FROSTR_LEGACY=true",
    };
    tracing::warn!(
        keyset,
        "keyset {keyset} runs legacy FROSTR 1.0.x ({why}): {}",
        super::legacy::MIGRATE_HINT
    );
    st.publish(
        "system",
        &format!(
            "keyset {keyset} runs legacy FROSTR 1.0.x: {}",
            super::legacy::MIGRATE_HINT
        ),
        Some(serde_json::json!({ "keyset": keyset })),
    );
}

/// Decodes legacy credentials and checks that the share belongs to the group.
fn open_legacy(
    creds: &UnlockedCredentials,
) -> Result<
    (
        crate::frostr::legacy::GroupPackage,
        crate::frostr::legacy::SharePackage,
    ),
    FactoryError,
> {
    use crate::frostr::legacy::{GroupPackage, SharePackage};
    let bad = |e: crate::frostr::legacy::Error| FactoryError::LegacyCredential(e.to_string());
    let group_cred = creds.group_cred.as_ref().ok_or(FactoryError::Unsupported)?;
    let group =
        GroupPackage::decode(&group_cred.expose().trim().to_ascii_lowercase()).map_err(bad)?;
    let share = SharePackage::decode(&creds.share_cred.expose().trim().to_ascii_lowercase())
        .map_err(bad)?;
    group.check_share(&share).map_err(bad)?;
    Ok((group, share))
}

/// Decrypts a current-generation bfprofile (the password KDF runs off the async workers).
async fn open_profile(creds: UnlockedCredentials) -> Result<BfProfile, FactoryError> {
    let share = creds.share_cred.expose().trim().to_ascii_lowercase();
    if share.starts_with("bfshare1") || share.starts_with("bfonboard1") {
        return Err(FactoryError::NoGroup);
    }
    if !share.starts_with("bfprofile1") {
        return Err(FactoryError::Unsupported);
    }
    let pw = creds.share_password.ok_or(FactoryError::NeedPassword)?;
    let cred = creds.share_cred;
    tokio::task::spawn_blocking(move || BfProfile::decode(cred.expose(), pw.expose()))
        .await
        .map_err(|e| FactoryError::Profile(e.to_string()))?
        .map_err(|e| FactoryError::Profile(e.to_string()))
}

/// Opens credentials the way a start would (profile decryption, package decoding, the share
/// matching its group, one share per group per box) without starting anything: an import that
/// could never run is refused before it is stored, instead of sitting in "starting".
pub async fn check_credentials(
    st: &AppState,
    creds: UnlockedCredentials,
) -> Result<(), FactoryError> {
    let keyset = creds.keyset.clone();
    let group_pk = if is_legacy(creds.group_cred.as_ref().map(|g| g.expose())) {
        hex::encode(open_legacy(&creds)?.0.npub())
    } else {
        hex::encode(open_profile(creds).await?.group_package.group_pk)
    };
    check_duplicate(st, &keyset, &group_pk)
}

async fn start_legacy(
    st: &AppState,
    relay: &Relay,
    liveness: &Liveness,
    local_relay: &str,
    creds: UnlockedCredentials,
) -> Result<(String, Serving, Vec<String>), FactoryError> {
    let (group, share) = open_legacy(&creds)?;
    check_duplicate(st, &creds.keyset, &hex::encode(group.npub()))?;
    relay.allow_pubkeys(group.commits.iter().map(|c| c.xonly()));
    let label = format!("legacy-{}", &hex::encode(group.gid())[..16]);
    let relays = relays_for(st, &[], local_relay);
    let mut cfg = LegacyConfig::new(group, share, relays.clone());
    cfg.label = label.clone();
    cfg.heartbeat = Some(register_heartbeat(liveness, &creds.keyset));
    let handle = LegacyNode::start(cfg)
        .await
        .map_err(|e| FactoryError::Node(e.to_string()))?;
    warn_legacy_started(st, &creds.keyset);
    st.attach_node_for(&creds.keyset, Arc::new(handle.clone()));
    crate::api::keysets::record_started(st, &creds.keyset, &handle);
    Ok((label, Serving::Legacy(handle), relays))
}

async fn start(
    st: &AppState,
    relay: &Relay,
    liveness: &Liveness,
    local_relay: &str,
    creds: UnlockedCredentials,
) -> Result<(String, Serving, Vec<String>), FactoryError> {
    // Only the legacy generation has a `bfgroup`; a current-generation group travels in a bfprofile.
    if is_legacy(creds.group_cred.as_ref().map(|g| g.expose())) {
        if !legacy_allowed(st, &creds.keyset) {
            return Err(FactoryError::Legacy);
        }
        return start_legacy(st, relay, liveness, local_relay, creds).await;
    }
    let keyset = creds.keyset.clone();
    let profile = open_profile(creds).await?;

    check_duplicate(st, &keyset, &hex::encode(profile.group_package.group_pk))?;
    let relays = relays_for(st, &profile.device.relays, local_relay);
    let members: Vec<[u8; 32]> = profile
        .group_package
        .members
        .iter()
        .map(|m| m.xonly())
        .collect();
    relay.allow_pubkeys(members.iter().copied());

    let label = profile.profile_id.clone();
    let mut cfg = NodeConfig::new(
        profile.group_package,
        profile.device.share_secret.duplicate(),
        relays.clone(),
        Arc::new(StoreLedger::new(st.store.clone())),
    );
    cfg.label = label.clone();
    // Peer policies (stored through the API, else PEER_POLICIES) hold from the first message.
    for (peer, send, receive) in crate::api::policy::for_members(st, &keyset, &members) {
        let mut p = cfg.policy.local(&peer);
        p.set_send_receive(send, receive);
        cfg.policy.set_peer(peer, p);
    }
    cfg.heartbeat = Some(register_heartbeat(liveness, &keyset));
    // The embedded relay (when it is one of the node's relays) is linked in-process.
    cfg.embedded = Some((local_relay.to_string(), relay.clone()));
    let handle = Node::start(cfg)
        .await
        .map_err(|e| FactoryError::Node(e.to_string()))?;
    st.attach_node_for(&keyset, Arc::new(handle.clone()));
    crate::api::keysets::record_started(st, &keyset, &handle);
    Ok((label, Serving::Next(handle), relays))
}
