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
use crate::relay::Relay;
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
enum Running {
    Next(NodeHandle),
    Legacy(LegacyHandle),
}

impl Running {
    async fn shutdown(&self) {
        match self {
            Running::Next(h) => h.shutdown().await,
            Running::Legacy(h) => h.shutdown().await,
        }
    }
}

/// Registers the credentials hook on `st`: each call decodes the credentials off the async
/// threads (PBKDF2 600k), starts a node on the configured relays (or the embedded relay when
/// none are configured), lets the group's members write to the embedded relay, and attaches
/// the node to the API.
pub fn install(st: &AppState, relay: &Relay, liveness: &Liveness, bind: &str) {
    let local_relay = format!("ws://{}", bind.replace("0.0.0.0", "127.0.0.1"));
    let (st2, relay, liveness) = (st.clone(), relay.clone(), liveness.clone());
    // The running node: a new keyset (re-import, unlock) shuts it down before its successor
    // starts, so one share never runs twice. Holding the lock serialises concurrent starts.
    let current: Arc<tokio::sync::Mutex<Option<Running>>> = Arc::default();
    st.set_credentials_hook(Arc::new(move |creds: UnlockedCredentials| {
        let (st, relay, liveness, local_relay, current) = (
            st2.clone(),
            relay.clone(),
            liveness.clone(),
            local_relay.clone(),
            current.clone(),
        );
        tokio::spawn(async move {
            let mut current = current.lock().await;
            if let Some(old) = current.take() {
                st.detach_node();
                old.shutdown().await;
            }
            match start(&st, &relay, &liveness, &local_relay, creds).await {
                Ok((label, handle)) => {
                    *current = Some(handle);
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
) -> Result<(String, Running), FactoryError> {
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
    let mut cfg = LegacyConfig::new(group, share, relays_for(st, &[], local_relay));
    cfg.label = label.clone();
    liveness.register("node", Duration::from_secs(60));
    let lv = liveness.clone();
    cfg.heartbeat = Some(Arc::new(move |_c: &str| lv.beat("node")));
    let handle = LegacyNode::start(cfg)
        .await
        .map_err(|e| FactoryError::Node(e.to_string()))?;
    st.attach_node(Arc::new(handle.clone()));
    Ok((label, Running::Legacy(handle)))
}

async fn start(
    st: &AppState,
    relay: &Relay,
    liveness: &Liveness,
    local_relay: &str,
    creds: UnlockedCredentials,
) -> Result<(String, Running), FactoryError> {
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
    relay.allow_pubkeys(profile.group_package.members.iter().map(|m| m.xonly()));

    let label = profile.profile_id.clone();
    let mut cfg = NodeConfig::new(
        profile.group_package,
        profile.device.share_secret.duplicate(),
        relays,
        Arc::new(StoreLedger::new(st.store.clone())),
    );
    cfg.label = label.clone();
    liveness.register("node", Duration::from_secs(60));
    let lv = liveness.clone();
    cfg.heartbeat = Some(Arc::new(move |_c: &str| lv.beat("node")));
    let handle = Node::start(cfg)
        .await
        .map_err(|e| FactoryError::Node(e.to_string()))?;
    st.attach_node(Arc::new(handle.clone()));
    Ok((label, Running::Next(handle)))
}
