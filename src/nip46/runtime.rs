//! The bunker as part of `frostbox serve`: one running [`Bunker`] per started signing node
//! (one per keyset), published in a [`BunkerSlot`] under the keyset id; the API's
//! `/api/nip46/*` routes read it on every request for the keyset the request selects.
//!
//! * [`BunkerRuntime::start`] builds the bunker on the node (threshold signer), the box's redb
//!   store (transport key sealed with the device key, so the remote-signer pubkey is stable
//!   across restarts; one namespace per identity, recorded per keyset), listens on the relays
//!   through `crate::relay::Pool`, lets the embedded relay accept requests addressed to it,
//!   and forwards its notices to `/api/events` (with the keyset id).
//! * [`BunkerRuntime::shutdown`] stops the transport and waits for it, so a re-import never
//!   leaves two bunkers answering on one transport key.
//! * [`forget_keyset`] deletes a deleted keyset's NIP-46 data (transport key, sessions, tokens).
//! * [`mount`] is the API side: auth first, then the keyset selector (`?keyset=` /
//!   `X-Frostbox-Keyset`, the node routes' [`crate::api::keysets::KeysetSel`]; unknown → 404),
//!   then `409 {"error"}` while that keyset runs no bunker, else the handlers of
//!   [`super::api`] on its bunker.

use super::service::{Bunker, BunkerConfig, Notice};
use super::{Error, redb_store::RedbNip46Store};
use crate::api::AppState;
use crate::relay::Relay;
use crate::store::DEFAULT_KEYSET;
use crate::vault::secret::Secret32;
use axum::Router;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The bunkers currently serving, by keyset id (none while no signing node runs), and what
/// `serve` knows that every bunker started into this slot needs (the web UI's fallback address
/// for `auth_url`). A stopped bunker (keyset locked, node being replaced) stays known by its
/// remote-signer pubkey ([`BunkerInfo::running`] false) until its keyset is forgotten
/// ([`forget_keyset`]). Cheap clone.
#[derive(Clone, Default)]
pub struct BunkerSlot {
    current: Arc<RwLock<BTreeMap<String, SlotEntry>>>,
    auth_url_base: Option<Arc<str>>,
}

/// One keyset's bunker in a [`BunkerSlot`].
#[derive(Clone)]
struct SlotEntry {
    /// The serving bunker; `None` once stopped.
    bunker: Option<Bunker>,
    transport_pubkey: [u8; 32],
    legacy: bool,
}

/// What the API shows about a keyset's bunker (`GET /api/keysets`, `/api/nip46/status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BunkerInfo {
    /// The remote-signer (transport) pubkey: stable across restarts and node restarts.
    pub transport_pubkey: [u8; 32],
    /// The bunker answers requests now (false: stopped with its node, e.g. `POST /api/lock`).
    pub running: bool,
    /// It signs with a legacy FROSTR 1.0.x node (which leaks shares, FROSTR.md §0.2).
    pub legacy: bool,
}

impl BunkerSlot {
    pub fn new() -> BunkerSlot {
        BunkerSlot::default()
    }

    /// Bunkers started into this slot send NIP-46 `auth_url` challenges for requests that wait
    /// for the operator, naming the web UI at `base` unless the client was paired through a
    /// request that named the box's address ([`BunkerConfig::auth_url_base`]). `serve` passes
    /// [`super::uri::fallback_web_base`] of its bound address.
    pub fn with_auth_url_base(mut self, base: impl Into<String>) -> BunkerSlot {
        let base: String = base.into();
        self.auth_url_base = Some(Arc::from(base.trim_end_matches('/')));
        self
    }

    /// The fallback web UI address set by [`Self::with_auth_url_base`].
    pub fn auth_url_base(&self) -> Option<&str> {
        self.auth_url_base.as_deref()
    }

    /// The running bunker of the default keyset, if any.
    pub fn get(&self) -> Option<Bunker> {
        self.get_for(DEFAULT_KEYSET)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, SlotEntry>> {
        self.current.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, SlotEntry>> {
        self.current.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The running bunker of keyset `keyset`, if any.
    pub fn get_for(&self, keyset: &str) -> Option<Bunker> {
        self.read().get(keyset).and_then(|e| e.bunker.clone())
    }

    /// Keyset `keyset`'s bunker, running or stopped since it last ran in this process; `None`
    /// when none was started (e.g. a keyset still locked after a restart) or it was forgotten.
    pub fn info(&self, keyset: &str) -> Option<BunkerInfo> {
        self.read().get(keyset).map(|e| BunkerInfo {
            transport_pubkey: e.transport_pubkey,
            running: e.bunker.is_some(),
            legacy: e.legacy,
        })
    }

    /// Ids of the keysets whose bunker runs (sorted).
    pub fn keysets(&self) -> Vec<String> {
        self.read()
            .iter()
            .filter(|(_, e)| e.bunker.is_some())
            .map(|(k, _)| k.clone())
            .collect()
    }

    fn set(&self, keyset: &str, b: Bunker, legacy: bool) {
        let e = SlotEntry {
            transport_pubkey: b.transport_pubkey(),
            bunker: Some(b),
            legacy,
        };
        self.write().insert(keyset.to_string(), e);
    }

    /// Marks keyset `keyset`'s bunker stopped if it is still `b` (a successor is left alone).
    fn clear(&self, keyset: &str, b: &Bunker) {
        let mut g = self.write();
        if let Some(e) = g.get_mut(keyset)
            && e.bunker.as_ref().is_some_and(|cur| cur.same(b))
        {
            e.bunker = None;
        }
    }

    /// Forgets keyset `keyset`'s bunker (its data is being deleted): [`Self::info`] answers
    /// `None` until a new bunker starts for it. A running bunker is left alone.
    pub fn forget(&self, keyset: &str) {
        let mut g = self.write();
        if g.get(keyset).is_some_and(|e| e.bunker.is_none()) {
            g.remove(keyset);
        }
    }
}

/// A running bunker: its transport task and the notice forwarder.
pub struct BunkerRuntime {
    bunker: Bunker,
    stop: watch::Sender<bool>,
    transport: JoinHandle<()>,
    notices: Option<JoinHandle<()>>,
    relay: Option<Relay>,
    slot: Option<BunkerSlot>,
    keyset: String,
}

/// What [`BunkerRuntime::start`] needs besides the signer.
pub struct StartOptions<'a> {
    pub cfg: BunkerConfig,
    /// The box's store and device key (the transport key is sealed with it).
    pub store: crate::store::Store,
    pub device_key: Secret32,
    /// Names the identity (the profile id): each keyset has its own bunker and transport key.
    pub namespace: &'a str,
    /// The keyset id the bunker serves: its entry in `slot`, named in audit entries, in
    /// `auth_url`s (non-default keysets) and notices; `namespace` is recorded for it
    /// ([`super::redb_store::record_namespace`]) so deleting the keyset deletes the data.
    pub keyset: &'a str,
    /// The embedded relay: the transport pubkey is allowed on it, so clients can address
    /// kind-24133 requests to the bunker (ephemeral, `p`-tagged to an allowed key).
    pub relay: Option<&'a Relay>,
    /// Where the API finds the bunker.
    pub slot: Option<&'a BunkerSlot>,
    /// Notices go to `/api/events` as type `nip46`.
    pub events: Option<AppState>,
    /// The signer is a legacy FROSTR 1.0.x node: the bunker's status carries the legacy
    /// warning and its start is logged as legacy.
    pub legacy: bool,
}

impl BunkerRuntime {
    /// Builds the bunker and starts its transport (one `crate::relay::Pool` per relay).
    pub fn start(
        signer: Arc<dyn super::ThresholdSigner>,
        opts: StartOptions<'_>,
    ) -> Result<BunkerRuntime, Error> {
        let store = RedbNip46Store::new(opts.store.clone(), opts.device_key, opts.namespace);
        let mut cfg = opts.cfg;
        cfg.keyset = Some(opts.keyset.to_string());
        if cfg.auth_url_base.is_none() {
            cfg.auth_url_base = opts
                .slot
                .and_then(BunkerSlot::auth_url_base)
                .map(str::to_string);
        }
        let (bunker, io) = Bunker::new(cfg, signer, Arc::new(store))?;
        if let Err(e) =
            super::redb_store::record_namespace(&opts.store, opts.keyset, opts.namespace)
        {
            tracing::warn!(keyset = opts.keyset, error = %e, "nip46: namespace not recorded");
        }
        if let Some(r) = opts.relay {
            r.allow_pubkeys([bunker.transport_pubkey()]);
        }
        let notices = opts.events.map(|st| {
            let mut rx = bunker.subscribe_notices();
            let keyset = opts.keyset.to_string();
            tokio::spawn(async move {
                loop {
                    match rx.recv().await {
                        Ok(n) => {
                            let (msg, mut data) = notice_event(&n);
                            if let Some(o) = data.as_object_mut() {
                                o.insert("keyset".into(), serde_json::json!(keyset));
                            }
                            st.publish("nip46", &msg, Some(data));
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(_) => break,
                    }
                }
            })
        });
        let (stop, stop_rx) = watch::channel(false);
        let factory: super::transport::PoolFactory<crate::relay::Pool> =
            Arc::new(crate::relay::Pool::new);
        let transport = tokio::spawn(super::transport::run(bunker.clone(), io, factory, stop_rx));
        if let Some(s) = opts.slot {
            s.set(opts.keyset, bunker.clone(), opts.legacy);
        }
        Ok(BunkerRuntime {
            bunker,
            stop,
            transport,
            notices,
            relay: opts.relay.cloned(),
            slot: opts.slot.cloned(),
            keyset: opts.keyset.to_string(),
        })
    }

    pub fn bunker(&self) -> &Bunker {
        &self.bunker
    }

    /// The keyset this bunker serves.
    pub fn keyset(&self) -> &str {
        &self.keyset
    }

    /// Stops answering: the API slot is emptied first, then the transport closes its relay
    /// connections (waited for), the notice forwarder ends and the embedded relay forgets the
    /// transport pubkey.
    pub async fn shutdown(self) {
        if let Some(s) = &self.slot {
            s.clear(&self.keyset, &self.bunker);
        }
        let _ = self.stop.send(true);
        let mut t = self.transport;
        if tokio::time::timeout(std::time::Duration::from_secs(5), &mut t)
            .await
            .is_err()
        {
            t.abort();
        }
        if let Some(n) = self.notices {
            n.abort();
        }
        if let Some(r) = &self.relay {
            r.disallow_pubkeys([self.bunker.transport_pubkey()]);
        }
    }
}

/// `/api/events` message and data for a bunker notice (no secrets: request params are the
/// template/peer only, see `RequestRecord`).
pub fn notice_event(n: &Notice) -> (String, serde_json::Value) {
    let msg = match n {
        Notice::Request { request } => format!(
            "NIP-46: {} from {}… waits for approval",
            request.method,
            request.session_pubkey.chars().take(12).collect::<String>()
        ),
        Notice::Resolved { id, status } => {
            format!("NIP-46: request {id} {}", serde_json::json!(status))
        }
        Notice::Session { pubkey, status } => match status {
            Some(s) => format!(
                "NIP-46: app {}… is {}",
                pubkey.chars().take(12).collect::<String>(),
                serde_json::json!(s)
            ),
            None => format!(
                "NIP-46: app {}… removed",
                pubkey.chars().take(12).collect::<String>()
            ),
        },
    };
    (
        msg.replace('"', ""),
        serde_json::to_value(n).unwrap_or_default(),
    )
}

impl super::api::BunkerSource for BunkerSlot {
    fn current(&self) -> Option<Bunker> {
        self.get()
    }
    fn current_for(&self, keyset: &str) -> Option<Bunker> {
        self.get_for(keyset)
    }
    fn legacy_for(&self, keyset: &str) -> bool {
        self.info(keyset).is_some_and(|i| i.legacy)
    }
}

/// Deletes the NIP-46 data of keyset `keyset` (transport key, client sessions, bunker
/// tokens, relays) after its bunker was stopped: `DELETE /api/keysets/{id}` and
/// `DELETE /api/keyset` call it, since that data belongs to the deleted identity (a later
/// import of it gets a new remote-signer pubkey). Returns how many records went; a store error
/// is logged and counts as none.
pub fn forget_keyset(st: &AppState, keyset: &str) -> usize {
    if let Some(slot) = st.bunker_slot() {
        slot.forget(keyset);
    }
    match super::redb_store::forget_keyset(&st.store, keyset) {
        Ok(n) => {
            if n > 0 {
                tracing::info!(keyset, records = n, "nip46: bunker data deleted");
            }
            n
        }
        Err(e) => {
            tracing::warn!(keyset, error = %e, "nip46: bunker data not deleted");
            0
        }
    }
}

async fn require_auth(
    State(st): State<AppState>,
    req: Request,
    next: axum::middleware::Next,
) -> Response {
    use axum::extract::FromRequestParts;
    let (mut parts, body) = req.into_parts();
    if let Err(e) = crate::api::auth::Auth::from_request_parts(&mut parts, &st).await {
        return e.into_response();
    }
    // The same selector as the node routes: `?keyset=` / `X-Frostbox-Keyset`, default
    // `default`, unknown → 404 `UNKNOWN_KEYSET`.
    let sel = match crate::api::keysets::KeysetSel::from_request_parts(&mut parts, &st).await {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    parts.extensions.insert(super::api::SelectedKeyset(sel.0));
    parts
        .extensions
        .insert(super::api::TrustProxy(st.cfg.trust_proxy));
    next.run(Request::from_parts(parts, body)).await
}

/// `/api/nip46/*` for the API router (state applied): authenticated like every user route
/// (auth is checked first), then the keyset selector (unknown → 404 JSON), then
/// `409 {"error","code":"NODE_UNAVAILABLE"}` while the selected keyset runs no bunker.
/// Unknown `/api/nip46/...` paths fall through to the API's JSON 404.
pub fn mount(st: AppState, slot: BunkerSlot) -> Router {
    super::api::routes_on::<BunkerSlot>()
        .route_layer(axum::middleware::from_fn_with_state(st, require_auth))
        .layer(axum::extract::DefaultBodyLimit::max(crate::api::MAX_BODY))
        .with_state(slot)
}
