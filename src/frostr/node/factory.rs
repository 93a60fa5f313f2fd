//! Starts a signing node from decrypted credentials: the glue between the API's keyset vault
//! (import, unlock, unattended start, `GROUP_CRED`/`SHARE_CRED`) and [`Node::start`].
//!
//! Only a `bfprofile` carries everything a node needs (share, group, relays); a current-generation
//! `bfshare` has no group. Legacy credentials (`bfgroup` + `bfshare`) are refused (FROSTR.md §0.2,
//! `frostbox migrate`) unless the legacy switch is on (`FROSTR_LEGACY=true` in the environment or
//! the stored settings); then a legacy 1.0.x node ([`super::legacy`]) serves them.

use super::legacy::{LegacyConfig, LegacyHandle, LegacyNode};
use super::{Node, NodeConfig, NodeHandle, StoreLedger};
use crate::api::{AppState, UnlockedCredentials};
use crate::frostr::next::credential::BfProfile;
use crate::health::Liveness;
use crate::nip46::runtime::StartOptions;
use crate::nip46::{BunkerConfig, BunkerRuntime, BunkerSlot};
use crate::relay::Relay;
use crate::vault::secret::Secret32;
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
         with fully trusted peers), set FROSTR_LEGACY=true.",
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

/// Import-time check used by the API: legacy credentials without the switch are refused with
/// [`FactoryError::Legacy`] (explains the risk and points at `frostbox migrate`).
pub fn check_import(st: &AppState, group_cred: Option<&str>) -> Result<(), FactoryError> {
    if is_legacy(group_cred) && !legacy_enabled(st) {
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

/// The running node and its NIP-46 bunker (current generation only: the bunker signs through
/// [`NodeHandle`]).
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

/// The signer `serve` runs (node + bunker), for a graceful stop.
#[derive(Clone)]
pub struct SignerControl {
    current: Arc<tokio::sync::Mutex<Option<Running>>>,
    stopping: Arc<std::sync::atomic::AtomicBool>,
}

impl SignerControl {
    /// Stops the bunker (API slot emptied, relay connections closed), detaches and stops the
    /// node (subscriptions and relay connections closed); credentials arriving afterwards start
    /// nothing. Waits for a start in progress to finish first.
    pub async fn shutdown(&self, st: &AppState) {
        self.stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let old = self.current.lock().await.take();
        if let Some(old) = old {
            if let Some(b) = old.bunker {
                b.shutdown().await;
                tracing::info!("nip46: bunker stopped");
            }
            st.detach_node();
            old.node.shutdown().await;
            tracing::info!("signer stopped");
        }
    }
}

/// [`install`], plus the NIP-46 bunker: each started node gets a bunker for its identity
/// (published in `bunkers` for the `/api/nip46/*` routes); a new keyset stops the old bunker
/// before the old node, so one transport key never answers twice.
pub fn install_with_bunker(
    st: &AppState,
    relay: &Relay,
    liveness: &Liveness,
    bind: &str,
    bunkers: &BunkerSlot,
) -> SignerControl {
    let local_relay = format!("ws://{}", bind.replace("0.0.0.0", "127.0.0.1"));
    let (st2, relay, liveness, slot) =
        (st.clone(), relay.clone(), liveness.clone(), bunkers.clone());
    // The running node: a new keyset (re-import, unlock) shuts it down before its successor
    // starts, so one share never runs twice. Holding the lock serialises concurrent starts.
    let current: Arc<tokio::sync::Mutex<Option<Running>>> = Arc::default();
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
            if let Some(old) = current.take() {
                if let Some(b) = old.bunker {
                    b.shutdown().await;
                }
                st.detach_node();
                old.node.shutdown().await;
            }
            match start(&st, &relay, &liveness, &local_relay, creds).await {
                Ok((label, serving, relays)) => {
                    let started = match &serving {
                        Serving::Next(handle) => Some(start_bunker(
                            &st,
                            &relay,
                            &slot,
                            handle,
                            &label,
                            relays,
                            &local_relay,
                        )),
                        Serving::Legacy(_) => None,
                    };
                    let bunker = match started {
                        None => None,
                        Some(Ok(b)) => {
                            tracing::info!(
                                transport = %hex::encode(b.bunker().transport_pubkey()),
                                "nip46: bunker started"
                            );
                            Some(b)
                        }
                        Some(Err(e)) => {
                            tracing::warn!("nip46: bunker not started: {e}");
                            st.publish("error", &format!("NIP-46 bunker not started: {e}"), None);
                            None
                        }
                    };
                    *current = Some(Running {
                        node: serving,
                        bunker,
                    });
                    tracing::info!(profile = %label, "signer started");
                    crate::health::notify_status("signer started");
                }
                Err(e) => {
                    tracing::warn!("signer not started: {e}");
                    st.publish("error", &format!("signer not started: {e}"), None);
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

/// Starts the NIP-46 bunker of a started node: threshold signer = the node, listening on the
/// node's relays plus the embedded relay, transport key sealed in the store under the profile id.
fn start_bunker(
    st: &AppState,
    relay: &Relay,
    slot: &BunkerSlot,
    node: &NodeHandle,
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
        Arc::new(crate::nip46::node_signer(node.clone())),
        StartOptions {
            cfg,
            store: st.store.clone(),
            device_key: device_key(st)?,
            namespace: profile_id,
            relay: Some(relay),
            slot: Some(slot),
            events: Some(st.clone()),
        },
    )
    .map_err(|e| FactoryError::Bunker(e.to_string()))
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

async fn start_legacy(
    st: &AppState,
    relay: &Relay,
    liveness: &Liveness,
    local_relay: &str,
    creds: UnlockedCredentials,
) -> Result<(String, Serving, Vec<String>), FactoryError> {
    use crate::frostr::legacy::{GroupPackage, SharePackage};
    let bad = |e: crate::frostr::legacy::Error| FactoryError::LegacyCredential(e.to_string());
    let group_cred = creds.group_cred.ok_or(FactoryError::Unsupported)?;
    let group =
        GroupPackage::decode(&group_cred.expose().trim().to_ascii_lowercase()).map_err(bad)?;
    let share = SharePackage::decode(&creds.share_cred.expose().trim().to_ascii_lowercase())
        .map_err(bad)?;
    group.check_share(&share).map_err(bad)?;
    relay.allow_pubkeys(group.commits.iter().map(|c| c.xonly()));
    let label = format!("legacy-{}", &hex::encode(group.gid())[..16]);
    let relays = relays_for(st, &[], local_relay);
    let mut cfg = LegacyConfig::new(group, share, relays.clone());
    cfg.label = label.clone();
    liveness.register("node", Duration::from_secs(60));
    let lv = liveness.clone();
    cfg.heartbeat = Some(Arc::new(move |_c: &str| lv.beat("node")));
    let handle = LegacyNode::start(cfg)
        .await
        .map_err(|e| FactoryError::Node(e.to_string()))?;
    st.attach_node(Arc::new(handle.clone()));
    Ok((label, Serving::Legacy(handle), relays))
}

async fn start(
    st: &AppState,
    relay: &Relay,
    liveness: &Liveness,
    local_relay: &str,
    creds: UnlockedCredentials,
) -> Result<(String, Serving, Vec<String>), FactoryError> {
    let share = creds.share_cred.expose().trim().to_ascii_lowercase();
    // Only the legacy generation has a `bfgroup`; a current-generation group travels in a bfprofile.
    if is_legacy(creds.group_cred.as_ref().map(|g| g.expose())) {
        if !legacy_enabled(st) {
            return Err(FactoryError::Legacy);
        }
        return start_legacy(st, relay, liveness, local_relay, creds).await;
    }
    if share.starts_with("bfshare1") || share.starts_with("bfonboard1") {
        return Err(FactoryError::NoGroup);
    }
    if !share.starts_with("bfprofile1") {
        return Err(FactoryError::Unsupported);
    }
    let pw = creds.share_password.ok_or(FactoryError::NeedPassword)?;
    let cred = creds.share_cred;
    let profile =
        tokio::task::spawn_blocking(move || BfProfile::decode(cred.expose(), pw.expose()))
            .await
            .map_err(|e| FactoryError::Profile(e.to_string()))?
            .map_err(|e| FactoryError::Profile(e.to_string()))?;

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
    for (peer, send, receive) in crate::api::policy::for_members(st, &members) {
        let mut p = cfg.policy.local(&peer);
        p.set_send_receive(send, receive);
        cfg.policy.set_peer(peer, p);
    }
    liveness.register("node", Duration::from_secs(60));
    let lv = liveness.clone();
    cfg.heartbeat = Some(Arc::new(move |_c: &str| lv.beat("node")));
    let handle = Node::start(cfg)
        .await
        .map_err(|e| FactoryError::Node(e.to_string()))?;
    st.attach_node(Arc::new(handle.clone()));
    Ok((label, Serving::Next(handle), relays))
}
