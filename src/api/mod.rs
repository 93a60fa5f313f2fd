//! HTTP + WebSocket API (axum): igloo-server-compatible routes, auth, metrics, OpenAPI.
//!
//! [`router`] builds the API routes (every one listed in [`openapi::ROUTES`], a test keeps the
//! two in sync) with the security middleware applied. `frostbox serve` merges it with the relay
//! and UI routers.

pub mod auth;
pub mod crypto;
pub mod keyset_admin;
pub mod keysets;
pub mod limits;
pub mod metrics;
pub mod node;
pub mod openapi;
pub mod policy;
pub mod routes;
pub mod ui;

use crate::config::Config;
use crate::store::{DEFAULT_KEYSET, Store};
use crate::vault::SecretString;
use crate::vault::at_rest::{DeviceKeySource, KdfParams};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use limits::{Class, Limiter, LoginBackoff, Rules};
use node::SignerNode;
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;
use tokio::sync::broadcast;

/// Default JSON body limit (64 KiB); `/api/sign` allows 100 KB (igloo-server's numbers). Enforced
/// on the bytes actually read, so chunked bodies cannot bypass it (igloo W23).
pub const MAX_BODY: usize = 64 * 1024;
pub const MAX_SIGN_BODY: usize = 100 * 1000;
/// `/api/nip44/*` and `/api/nip04/*`: a largest NIP-44 payload (87,472 base64 characters) or a
/// 65,535-byte NIP-04 plaintext must fit.
pub const MAX_CRYPTO_BODY: usize = 192 * 1024;

/// A JSON error: `{"error": "...", "code"?: "..."}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub error: String,
    pub code: Option<&'static str>,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, error: impl Into<String>) -> ApiError {
        ApiError {
            status,
            error: error.into(),
            code: None,
            retry_after: None,
        }
    }
    pub fn bad(msg: impl Into<String>) -> ApiError {
        Self::new(StatusCode::BAD_REQUEST, msg)
    }
    pub fn unauthorized() -> ApiError {
        Self::new(StatusCode::UNAUTHORIZED, "authentication required")
    }
    pub fn forbidden(msg: impl Into<String>) -> ApiError {
        Self::new(StatusCode::FORBIDDEN, msg)
    }
    pub fn not_found(msg: impl Into<String>) -> ApiError {
        Self::new(StatusCode::NOT_FOUND, msg)
    }
    pub fn rate_limited(retry: std::time::Duration) -> ApiError {
        ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            error: "rate limit exceeded, try again later".into(),
            code: Some("RATE_LIMITED"),
            retry_after: Some(retry.as_secs().max(1)),
        }
    }
    pub fn no_signer() -> ApiError {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            error: "signer not configured".into(),
            code: Some("NODE_UNAVAILABLE"),
            retry_after: None,
        }
    }
    /// Storage failures: logged, reported without detail.
    pub fn internal(e: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %e, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    }
    pub fn code(mut self, c: &'static str) -> ApiError {
        self.code = Some(c);
        self
    }
}

impl From<crate::store::Error> for ApiError {
    fn from(e: crate::store::Error) -> Self {
        ApiError::internal(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({ "error": self.error });
        if let Some(c) = self.code {
            body["code"] = c.into();
        }
        let mut r = (self.status, axum::Json(body)).into_response();
        if let Some(s) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        r
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Removes quoted fragments from serde messages so a value sent in the wrong field (a
/// password where a number was expected) is never echoed back.
pub fn redact_serde(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut in_q = false;
    for c in msg.chars() {
        if c == '"' || c == '`' {
            if !in_q {
                out.push_str("\"…\"");
            }
            in_q = !in_q;
        } else if !in_q {
            out.push(c);
        }
    }
    out
}

/// JSON body extractor with JSON errors: 413 over the limit, 400 on bad JSON or wrong types.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "request body too large")
                    .code("REQUEST_TOO_LARGE")
            } else {
                ApiError::bad("could not read request body")
            }
        })?;
        if bytes.is_empty() {
            return Err(ApiError::bad("request body must be JSON").code("INVALID_JSON"));
        }
        serde_json::from_slice(&bytes).map(JsonBody).map_err(|e| {
            let code = if e.is_data() {
                "BAD_REQUEST"
            } else {
                "INVALID_JSON"
            };
            ApiError::bad(format!(
                "invalid request body: {}",
                redact_serde(&e.to_string())
            ))
            .code(code)
        })
    }
}

/// Vault state shown in status.
#[derive(Clone, Debug, serde::Serialize)]
pub struct VaultStatus {
    pub mode: crate::config::VaultMode,
    /// A keyset is stored.
    pub has_keyset: bool,
    /// Locked mode and not yet unlocked since start.
    pub locked: bool,
    pub device_key_source: Option<DeviceKeySource>,
}

/// Decrypted credentials handed to the node factory (see [`AppState::set_credentials_hook`]).
pub struct UnlockedCredentials {
    /// The keyset id these credentials belong to ([`crate::store::DEFAULT_KEYSET`] for the
    /// single-keyset routes and `GROUP_CRED`/`SHARE_CRED`).
    pub keyset: String,
    pub group_cred: Option<SecretString>,
    pub share_cred: SecretString,
    /// Password of an encrypted `bfprofile`/`bfshare`, sealed at rest with the keyset.
    pub share_password: Option<SecretString>,
}

pub type CredentialsHook = Arc<dyn Fn(UnlockedCredentials) + Send + Sync>;

/// Stops the node (and bunker) of a keyset id; installed by the node factory.
pub type StopHook = Arc<dyn Fn(String) -> node::BoxFut<'static, ()> + Send + Sync>;

/// One attached node's activity forwarder (see [`AppState::forward_activity`]).
struct Forwarder {
    task: tokio::task::AbortHandle,
    handoff: Arc<Handoff>,
}

/// Where `subscribe` leaves an idle forwarder its node's fresh activity receiver. The slot's
/// mutex orders every idle/awake transition against `arm`, so a receiver is made only for a
/// forwarder that is idle and is always taken by it (none is orphaned with stale items).
struct Handoff {
    node: Arc<dyn SignerNode>,
    slot: Mutex<Slot>,
}

struct Slot {
    idle: bool,
    rx: Option<broadcast::Receiver<crate::frostr::node::Activity>>,
}

impl Handoff {
    fn lock(&self) -> std::sync::MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A listener arrived: subscribe to the node now if the forwarder is idle.
    fn arm(&self) {
        let mut s = self.lock();
        if s.idle && s.rx.is_none() {
            s.rx = self.node.subscribe_activity();
        }
    }

    /// The forwarder lets go of the node (nobody listens).
    fn sleep(&self) {
        let mut s = self.lock();
        s.idle = true;
        s.rx = None;
    }

    /// The idle forwarder looks for work: the receiver `arm` left, else (when `listened`,
    /// i.e. a listener came between its last look and now) a fresh one; `None` = stay idle.
    fn wake(&self, listened: bool) -> Option<broadcast::Receiver<crate::frostr::node::Activity>> {
        let mut s = self.lock();
        let rx = match s.rx.take() {
            Some(r) => Some(r),
            None if listened => self.node.subscribe_activity(),
            None => None,
        };
        if rx.is_some() {
            s.idle = false;
        }
        rx
    }
}

pub struct Inner {
    pub cfg: Config,
    pub store: Store,
    /// The running node of each keyset id.
    nodes: RwLock<BTreeMap<String, Arc<dyn SignerNode>>>,
    pub limiter: Limiter,
    pub backoff: LoginBackoff,
    events: broadcast::Sender<Arc<EventFrame>>,
    /// The task forwarding each attached node's activity to `events`, by keyset id.
    forwarders: Mutex<HashMap<String, Forwarder>>,
    /// Notified when `/api/events` gains a subscriber.
    listener_added: Arc<tokio::sync::Notify>,
    setup_code: Mutex<Option<SecretString>>,
    pub started: Instant,
    ready: AtomicBool,
    pub kdf: KdfParams,
    pub vault: Mutex<VaultStatus>,
    pub device_key: Mutex<Option<crate::vault::Secret32>>,
    key_last_write: Mutex<HashMap<u64, Instant>>,
    pub ws_conns: Mutex<HashMap<IpAddr, u32>>,
    creds_hook: RwLock<Option<CredentialsHook>>,
    stop_hook: RwLock<Option<StopHook>>,
    /// The NIP-46 bunkers of `serve` (installed by the node factory; `GET /api/keysets`).
    bunkers: RwLock<Option<crate::nip46::BunkerSlot>>,
}

/// Shared state of the API (cheap clone).
#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// `kdf` are the Argon2id parameters for new password hashes and sealed keysets
    /// ([`KdfParams::RECORD`] in production).
    pub fn new(cfg: Config, store: Store, kdf: KdfParams) -> AppState {
        let rules = Rules::new(cfg.rate_limit_max, cfg.rate_limit_window);
        let limiter = Limiter::new(cfg.rate_limit_enabled, rules);
        let (tx, _) = broadcast::channel(256);
        // The mode of a stored keyset is the mode it was sealed in, not the configured default
        // (a password-sealed keyset used to show "unattended" after a restart).
        let stored = store.keyset(DEFAULT_KEYSET).ok().flatten();
        let sealed_mode = stored.as_deref().and_then(|b| {
            serde_json::from_slice::<crate::vault::at_rest::Sealed>(b)
                .ok()
                .map(|s| s.mode)
        });
        let vault = VaultStatus {
            mode: match sealed_mode.as_deref() {
                Some("password") => crate::config::VaultMode::Locked,
                Some(_) => crate::config::VaultMode::Unattended,
                None => cfg.vault_mode,
            },
            has_keyset: stored.is_some(),
            locked: false,
            device_key_source: None,
        };
        AppState(Arc::new(Inner {
            cfg,
            store,
            nodes: RwLock::new(BTreeMap::new()),
            limiter,
            backoff: LoginBackoff::default(),
            events: tx,
            forwarders: Mutex::new(HashMap::new()),
            listener_added: Arc::new(tokio::sync::Notify::new()),
            setup_code: Mutex::new(None),
            started: Instant::now(),
            ready: AtomicBool::new(false),
            kdf,
            vault: Mutex::new(vault),
            device_key: Mutex::new(None),
            key_last_write: Mutex::new(HashMap::new()),
            ws_conns: Mutex::new(HashMap::new()),
            creds_hook: RwLock::new(None),
            stop_hook: RwLock::new(None),
            bunkers: RwLock::new(None),
        }))
    }

    /// Attaches (or replaces) the signing node of the default keyset.
    pub fn attach_node(&self, n: Arc<dyn SignerNode>) {
        self.attach_node_for(DEFAULT_KEYSET, n);
    }
    /// Attaches (or replaces) the signing node of keyset `id` and applies the peer policies.
    pub fn attach_node_for(&self, id: &str, n: Arc<dyn SignerNode>) {
        policy::apply_to_node(self, id, n.as_ref());
        self.forward_activity(id, n.clone());
        self.nodes
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_string(), n);
        self.publish(
            "system",
            "signer attached",
            Some(serde_json::json!({ "keyset": id })),
        );
    }
    /// Detaches the default keyset's node (it keeps running until shut down).
    pub fn detach_node(&self) {
        self.detach_node_for(DEFAULT_KEYSET);
    }
    /// Detaches keyset `id`'s node and returns it (the caller may shut it down).
    pub fn detach_node_for(&self, id: &str) -> Option<Arc<dyn SignerNode>> {
        self.stop_forwarder(id);
        self.nodes
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id)
    }
    /// The default keyset's node.
    pub fn node(&self) -> Option<Arc<dyn SignerNode>> {
        self.node_for(DEFAULT_KEYSET)
    }
    /// Keyset `id`'s node.
    pub fn node_for(&self, id: &str) -> Option<Arc<dyn SignerNode>> {
        self.nodes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }
    /// Every attached node with its keyset id (sorted by id).
    pub fn nodes(&self) -> Vec<(String, Arc<dyn SignerNode>)> {
        self.nodes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Called with decrypted credentials after a keyset import or unlock (and by `serve` at
    /// start in unattended mode). The node factory builds a node and calls [`attach_node`].
    ///
    /// [`attach_node`]: AppState::attach_node
    pub fn set_credentials_hook(&self, h: CredentialsHook) {
        *self.creds_hook.write().unwrap_or_else(|p| p.into_inner()) = Some(h);
    }
    pub(crate) fn credentials_hook(&self) -> Option<CredentialsHook> {
        self.creds_hook
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Installs how a keyset's node is stopped for good (`DELETE /api/keysets/{id}`).
    pub fn set_stop_hook(&self, h: StopHook) {
        *self.stop_hook.write().unwrap_or_else(|p| p.into_inner()) = Some(h);
    }

    /// Installs where the per-keyset NIP-46 bunkers are published (the node factory does).
    pub fn set_bunker_slot(&self, slot: crate::nip46::BunkerSlot) {
        *self.bunkers.write().unwrap_or_else(|p| p.into_inner()) = Some(slot);
    }
    /// The per-keyset NIP-46 bunkers, if the node factory installed them.
    pub fn bunker_slot(&self) -> Option<crate::nip46::BunkerSlot> {
        self.bunkers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Stops keyset `id`'s node: through the factory's stop hook (node, bunker and watchdog
    /// heartbeat), else by detaching and shutting down the attached node.
    pub async fn stop_keyset(&self, id: &str) {
        let hook = self
            .stop_hook
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        match hook {
            Some(h) => h(id.to_string()).await,
            None => self.shutdown_node_for(id).await,
        }
    }

    /// Detaches keyset `id`'s node, if attached, and shuts it down.
    pub async fn shutdown_node_for(&self, id: &str) {
        if let Some(n) = self.detach_node_for(id) {
            n.shutdown().await;
        }
    }

    /// Marks the server ready (store open, listener bound).
    pub fn set_ready(&self, r: bool) {
        self.ready.store(r, Ordering::SeqCst);
    }
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// Installs a one-time setup code for first-run onboarding.
    pub fn set_setup_code(&self, code: Option<SecretString>) {
        *self.setup_code.lock().unwrap_or_else(|p| p.into_inner()) = code;
    }
    pub(crate) fn setup_code_matches(&self, given: &str) -> bool {
        use subtle::ConstantTimeEq;
        let g = self.setup_code.lock().unwrap_or_else(|p| p.into_inner());
        match g.as_ref() {
            Some(c) => c.expose().as_bytes().ct_eq(given.as_bytes()).into(),
            None => false,
        }
    }
    pub(crate) fn has_setup_code(&self) -> bool {
        self.setup_code
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// Subscribes to the live event stream (JSON frames tagged with their keyset). Idle
    /// activity forwarders get their node's subscription here, before this returns, so nothing
    /// a node does after a client subscribed is missed (a forwarder that subscribed when its
    /// task next ran lost what happened in between: a sign right after connecting, say).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<EventFrame>> {
        let rx = self.events.subscribe();
        for f in self
            .forwarders
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
        {
            f.handoff.arm();
        }
        self.listener_added.notify_waiters();
        rx
    }

    /// Publishes an event to `/api/events` listeners. Never put secrets in `message`/`data`.
    /// A string `data.keyset` ties the event to that keyset (`/api/events?keyset=` filters on
    /// it); without one the event is box-wide.
    pub fn publish(&self, kind: &str, message: &str, data: Option<serde_json::Value>) {
        if self.events.receiver_count() == 0 {
            return;
        }
        let _ = self.events.send(event_frame(kind, message, data));
    }

    /// Starts forwarding node `n`'s activity to `/api/events` as keyset `id`'s events
    /// (replacing the forwarder of a node attached before). The forwarder holds a subscription
    /// to the node only while `/api/events` has listeners, so an unwatched node builds no
    /// activity at all. Needs a tokio runtime; without one (or for a node without activity)
    /// nothing is forwarded.
    fn forward_activity(&self, id: &str, n: Arc<dyn SignerNode>) {
        self.stop_forwarder(id);
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let Some(first) = n.subscribe_activity() else {
            return;
        };
        let handoff = Arc::new(Handoff {
            node: n,
            slot: Mutex::new(Slot {
                idle: false,
                rx: None,
            }),
        });
        let h = handoff.clone();
        let events = self.events.clone();
        let listener = self.listener_added.clone();
        let keyset = id.to_string();
        let task = rt.spawn(async move {
            let mut rx = Some(first);
            loop {
                if rx.is_none() {
                    // Nobody watched: take the subscription `subscribe` made, or wait for it.
                    let woken = listener.notified();
                    tokio::pin!(woken);
                    woken.as_mut().enable();
                    rx = h.wake(events.receiver_count() > 0);
                    if rx.is_none() {
                        woken.await;
                        continue;
                    }
                }
                let Some(r) = rx.as_mut() else { return };
                match r.recv().await {
                    Ok(_) if events.receiver_count() == 0 => {
                        h.sleep();
                        rx = None;
                    }
                    Ok(a) => {
                        let (kind, message, data) = activity_event(&keyset, &a);
                        let _ = events.send(event_frame(kind, &message, Some(data)));
                    }
                    Err(broadcast::error::RecvError::Lagged(k)) => {
                        tracing::debug!(keyset = %keyset, "event stream skipped {k} node activities");
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        self.forwarders
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                id.to_string(),
                Forwarder {
                    task: task.abort_handle(),
                    handoff,
                },
            );
    }

    fn stop_forwarder(&self, id: &str) {
        if let Some(f) = self
            .forwarders
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id)
        {
            f.task.abort();
        }
    }

    /// How many activity forwarders run (one per attached node that reports activity).
    pub fn activity_forwarders(&self) -> usize {
        self.forwarders
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter(|f| !f.task.is_finished())
            .count()
    }

    /// Writes API key `last_used_*` at most once a minute per key (flash wear, igloo W13).
    pub(crate) fn should_write_key_use(&self, id: u64) -> bool {
        let mut m = self
            .key_last_write
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        match m.get(&id) {
            Some(t) if now.duration_since(*t).as_secs() < 60 => false,
            _ => {
                m.insert(id, now);
                true
            }
        }
    }
}

/// One `/api/events` frame: its JSON text and the keyset it belongs to (`None`: box-wide), so
/// per-keyset subscribers filter without parsing the JSON.
#[derive(Debug)]
pub struct EventFrame {
    pub keyset: Option<String>,
    pub json: String,
}

/// A frame of `type`/`message`/`data`, tied to the keyset named by a string `data.keyset`.
fn event_frame(kind: &str, message: &str, data: Option<serde_json::Value>) -> Arc<EventFrame> {
    let keyset = data
        .as_ref()
        .and_then(|d| d.get("keyset"))
        .and_then(|k| k.as_str())
        .map(str::to_string);
    let mut v = serde_json::json!({
        "type": kind,
        "message": message,
        "timestamp": iso8601(crate::store::now()),
        "id": hex::encode(rand::random::<[u8; 6]>()),
    });
    if let Some(d) = data {
        v["data"] = d;
    }
    Arc::new(EventFrame {
        keyset,
        json: v.to_string(),
    })
}

/// `3f2a…c1` for a hex key.
fn short_key(hex: &str) -> String {
    match (
        hex.get(..4),
        hex.len().checked_sub(2).and_then(|i| hex.get(i..)),
    ) {
        (Some(a), Some(b)) if hex.len() > 8 => format!("{a}…{b}"),
        _ => hex.to_string(),
    }
}

/// An event frame (`type`, `message`, `data`) for one node activity of keyset `keyset`, in
/// igloo-server's vocabulary: `sign` / `ecdh` / `onboard` for requests served and own rounds,
/// `warning` for requests refused or failed, `peer-status` for presence changes.
pub fn activity_event(
    keyset: &str,
    a: &crate::frostr::node::Activity,
) -> (&'static str, String, serde_json::Value) {
    use crate::frostr::node::ActivityKind as K;
    let method = a.method.unwrap_or("request");
    let peer = a.peer.as_deref().map(short_key).unwrap_or_default();
    let ms = a.ms.unwrap_or(0);
    let peers = a
        .peers
        .iter()
        .map(|p| short_key(p))
        .collect::<Vec<_>>()
        .join(", ");
    let reason = a.reason.as_deref().unwrap_or("");
    let (kind, message) = match a.kind {
        K::Served => (
            method,
            match method {
                "sign" => format!("co-signed for {peer} ({ms} ms)"),
                "ecdh" => format!("ECDH share sent to {peer} ({ms} ms)"),
                _ => format!("answered {method} request from {peer} ({ms} ms)"),
            },
        ),
        K::Refused => (
            "warning",
            format!("refused {method} request from {peer}: {reason}"),
        ),
        K::Failed => (
            "warning",
            format!("could not answer {method} request from {peer}: {reason}"),
        ),
        K::RoundOk => (
            method,
            match method {
                "sign" => format!("signed with {peers} ({ms} ms)"),
                _ => format!("{method} with {peers} done ({ms} ms)"),
            },
        ),
        K::RoundFailed => (method, format!("{method} failed after {ms} ms: {reason}")),
        K::PeerOnline => ("peer-status", format!("peer {peer} online")),
        K::PeerOffline => ("peer-status", format!("peer {peer} offline")),
    };
    let data = serde_json::json!({
        "keyset": keyset,
        "kind": a.kind.as_str(),
        "peer": a.peer,
        "peers": a.peers,
        "method": a.method,
        "ms": a.ms,
        "ok": a.ok(),
        "reason": a.reason,
    });
    (kind, message, data)
}

/// Formats unix seconds as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn iso8601(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil-from-days (Howard Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// The client address: the socket peer, or with `TRUST_PROXY` the first `X-Forwarded-For` hop.
pub fn client_ip(st: &AppState, headers: &HeaderMap, ext: &axum::http::Extensions) -> IpAddr {
    if st.cfg.trust_proxy {
        let fwd = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse().ok());
        if let Some(ip) = fwd {
            return ip;
        }
        if let Some(ip) = headers
            .get("x-real-ip")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok())
        {
            return ip;
        }
    }
    ext.get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

fn host_of(url_or_host: &str) -> &str {
    let s = url_or_host
        .split_once("://")
        .map(|(_, r)| r)
        .unwrap_or(url_or_host);
    let s = s.split('/').next().unwrap_or(s);
    if let Some(rest) = s.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    s.rsplit_once(':').map(|(h, _)| h).unwrap_or(s)
}

/// Whether `origin` may call the API: listed in `ALLOWED_ORIGINS`, `*`, or (`@self`) the same
/// host as the request's `Host` header.
pub fn origin_allowed(st: &AppState, origin: &str, headers: &HeaderMap) -> bool {
    let origin = origin.trim_end_matches('/');
    for a in &st.cfg.allowed_origins {
        if a == "*" || a.eq_ignore_ascii_case(origin) {
            return true;
        }
        if a == "@self" {
            let host = headers
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !host.is_empty() && host_of(host).eq_ignore_ascii_case(host_of(origin)) {
                return true;
            }
        }
    }
    false
}

/// Route class for rate limiting and metrics labels.
fn classify(method: &Method, path: &str) -> Option<(Class, &'static str)> {
    if !path.starts_with("/api/") {
        return None;
    }
    if path == "/api/events" {
        return Some((Class::WsUpgrade, "events"));
    }
    if path == "/api/sign" {
        return Some((Class::Sign, "sign"));
    }
    if path.starts_with("/api/nip44/") || path.starts_with("/api/nip04/") {
        return Some((Class::Sign, "crypto"));
    }
    if path == "/api/peers/ping" {
        return Some((Class::Sign, "ping"));
    }
    if path.starts_with("/api/recover") {
        return Some((Class::Recovery, "recover"));
    }
    if path.starts_with("/api/env") && *method != Method::GET {
        return Some((Class::EnvWrite, "env"));
    }
    if *method == Method::GET || *method == Method::HEAD {
        return Some((Class::Read, "read"));
    }
    if path.starts_with("/api/auth/") || path.starts_with("/api/onboarding/") {
        // Failed attempts are charged to AuthFail by the handlers.
        return Some((Class::Read, "auth"));
    }
    Some((Class::Write, "write"))
}

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data:; connect-src 'self' ws: wss:; font-src 'self' data:; object-src 'none'; \
base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The outer middleware: CORS (preflight + headers), rate limits per IP and class, security
/// headers, `Cache-Control: no-store` on the API, request metrics.
pub async fn gate(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let t0 = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let allowed_origin = origin
        .as_deref()
        .filter(|o| origin_allowed(&st, o, req.headers()))
        .map(str::to_string);
    let class = classify(&method, &path);
    let label = class.map(|c| c.1).unwrap_or("other");

    let mut resp = if method == Method::OPTIONS && path.starts_with("/api/") {
        let mut r = StatusCode::NO_CONTENT.into_response();
        if allowed_origin.is_some() {
            let h = r.headers_mut();
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST, PUT, DELETE, OPTIONS"),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static(
                    "Content-Type, Authorization, X-API-Key, X-Session-ID, X-Frostbox-Keyset",
                ),
            );
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
        }
        r
    } else {
        let ip = client_ip(&st, req.headers(), req.extensions());
        let limited = match class {
            Some((c, _)) => st.limiter.check(ip, c).err(),
            None => None,
        };
        match limited {
            Some(wait) => {
                metrics::inc(
                    "frostbox_http_rejections_total",
                    &[("reason", "rate_limit")],
                );
                ApiError::rate_limited(wait).into_response()
            }
            None => next.run(req).await,
        }
    };

    let h = resp.headers_mut();
    if let Some(o) = allowed_origin
        && let Ok(v) = HeaderValue::from_str(&o)
    {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        h.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    if origin.is_some() {
        h.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(self), microphone=(), geolocation=()"),
    );
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
    }
    if st.cfg.secure_cookies {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    if path.starts_with("/api/") && !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    let status = resp.status().as_u16().to_string();
    metrics::inc(
        "frostbox_http_requests_total",
        &[("route", label), ("status", &status)],
    );
    metrics::observe(
        "frostbox_http_request_duration_seconds",
        &[("route", label)],
        t0.elapsed().as_secs_f64(),
    );
    resp
}

async fn not_found() -> ApiError {
    ApiError::not_found("not found")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
}

/// The API routes (state applied, body limit set). Unknown `/api/*` paths answer
/// `404 {"error":"not found"}` through a catch-all route, so no router-wide fallback is taken:
/// the UI router may own the fallback (SPA) and the relay owns `GET /`.
pub fn api_router(st: AppState) -> Router {
    routes::api_routes()
        .route("/api/{*rest}", axum::routing::any(not_found))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(st)
}

/// The whole application: the API merged with `extra` routers (relay, UI), JSON 405s, and the
/// security middleware around everything. `serve` and the tests use this.
pub fn app(st: AppState, extra: Vec<Router>) -> Router {
    let mut r = api_router(st.clone());
    for e in extra {
        r = r.merge(e);
    }
    r.method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(st, gate))
}

/// An empty body response with a status (used by `/ready` when not ready).
pub fn empty(status: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601(1_763_769_600 + 3661), "2025-11-22T01:01:01Z");
    }

    #[test]
    fn serde_messages_are_redacted() {
        let e = serde_json::from_str::<u64>("\"hunter2\"")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("hunter2"));
        assert!(
            !redact_serde(&e).contains("hunter2"),
            "{}",
            redact_serde(&e)
        );
    }

    use crate::frostr::node::{Activity, ActivityKind};
    use node::{BoxFut, NodeCallError, NodeStatusInfo};

    /// A node that only reports activity (what the test sends on its channel).
    struct Reporting(broadcast::Sender<Activity>);

    impl SignerNode for Reporting {
        fn sign(&self, _: [u8; 32]) -> BoxFut<'_, Result<[u8; 64], NodeCallError>> {
            Box::pin(async { Err(NodeCallError::NotReady("test".into())) })
        }
        fn ecdh(&self, _: [u8; 32]) -> BoxFut<'_, Result<[u8; 32], NodeCallError>> {
            Box::pin(async { Err(NodeCallError::NotReady("test".into())) })
        }
        fn ping(&self, _: Vec<u8>) -> BoxFut<'_, Result<std::time::Duration, NodeCallError>> {
            Box::pin(async { Err(NodeCallError::NotReady("test".into())) })
        }
        fn status(&self) -> NodeStatusInfo {
            NodeStatusInfo::default()
        }
        fn set_peer_policy(&self, _: Vec<u8>, _: bool, _: bool) -> Result<(), NodeCallError> {
            Ok(())
        }
        fn subscribe_activity(&self) -> Option<broadcast::Receiver<Activity>> {
            Some(self.0.subscribe())
        }
    }

    fn served(peer: u8) -> Activity {
        Activity {
            kind: ActivityKind::Served,
            method: Some("sign"),
            peer: Some(hex::encode([peer; 32])),
            peers: vec![],
            ms: Some(12),
            reason: None,
        }
    }

    async fn until(what: &str, f: impl Fn() -> bool) {
        for _ in 0..200 {
            if f() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("timed out: {what}");
    }

    async fn next_frame(rx: &mut broadcast::Receiver<Arc<EventFrame>>) -> Arc<EventFrame> {
        loop {
            let f = tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv())
                .await
                .expect("frame in time")
                .expect("open");
            // Skip the box's own notices ("signer attached").
            if !f.json.contains("\"system\"") {
                return f;
            }
        }
    }

    fn state() -> (AppState, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tmp");
        let mut cfg = Config::from_lookup(|_| None).expect("config");
        cfg.data_dir = dir.path().to_path_buf();
        let store = Store::open_dir(dir.path()).expect("store");
        (AppState::new(cfg, store, KdfParams::TEST), dir)
    }

    #[tokio::test]
    async fn node_activity_is_forwarded_per_keyset_and_forwarders_end_on_detach() {
        let (st, _dir) = state();
        let (tx_a, _) = broadcast::channel(16);
        let (tx_b, _) = broadcast::channel(16);
        st.attach_node_for("a", Arc::new(Reporting(tx_a.clone())));
        st.attach_node_for("b", Arc::new(Reporting(tx_b.clone())));
        assert_eq!(st.activity_forwarders(), 2);

        let mut rx = st.subscribe();
        until("forwarder subscribed", || tx_a.receiver_count() == 1).await;
        tx_a.send(served(7)).expect("sent");
        let f = next_frame(&mut rx).await;
        assert_eq!(f.keyset.as_deref(), Some("a"));
        let v: serde_json::Value = serde_json::from_str(&f.json).expect("json");
        assert_eq!(v["type"], "sign");
        assert_eq!(v["data"]["keyset"], "a");
        assert_eq!(v["data"]["peer"], hex::encode([7u8; 32]));
        assert_eq!(v["data"]["ok"], true);
        assert_eq!(v["data"]["ms"], 12);
        assert_eq!(v["message"], "co-signed for 0707…07 (12 ms)");

        // With nobody on /api/events, a forwarder lets go of its node's channel (the node then
        // builds nothing), and takes it again when a listener comes.
        drop(rx);
        let _ = tx_b.send(served(8));
        until("idle forwarder unsubscribed", || tx_b.receiver_count() == 0).await;
        let mut rx = st.subscribe();
        // The node is subscribed to before `subscribe` returns: an activity right after a
        // client connects is never lost to the forwarder's task not having run yet.
        assert_eq!(tx_b.receiver_count(), 1, "subscribed synchronously");
        tx_b.send(served(9)).expect("sent");
        assert_eq!(next_frame(&mut rx).await.keyset.as_deref(), Some("b"));

        // Detach ends the forwarder; replacing a node ends the old one's.
        st.detach_node_for("a");
        until("forwarder a gone", || tx_a.receiver_count() == 0).await;
        let (tx_b2, _) = broadcast::channel(16);
        st.attach_node_for("b", Arc::new(Reporting(tx_b2.clone())));
        until("old forwarder b gone", || tx_b.receiver_count() == 0).await;
        until("new forwarder b", || tx_b2.receiver_count() == 1).await;
        assert_eq!(st.activity_forwarders(), 1);
        st.detach_node_for("b");
        until("forwarder b gone", || tx_b2.receiver_count() == 0).await;
        until("no forwarders", || st.activity_forwarders() == 0).await;
    }

    #[test]
    fn activity_frames_speak_igloo() {
        let mut a = served(0x3f);
        a.kind = ActivityKind::Refused;
        a.reason = Some("peer_denied: inbound sign denied by local policy".into());
        let (kind, msg, data) = activity_event("k1", &a);
        assert_eq!(kind, "warning");
        assert!(
            msg.starts_with("refused sign request from 3f3f…3f"),
            "{msg}"
        );
        assert_eq!(data["ok"], false);
        assert_eq!(data["kind"], "refused");
        a.kind = ActivityKind::PeerOnline;
        let (kind, msg, _) = activity_event("k1", &a);
        assert_eq!((kind, msg.as_str()), ("peer-status", "peer 3f3f…3f online"));
        a.kind = ActivityKind::RoundOk;
        a.peers = vec![hex::encode([1u8; 32]), hex::encode([2u8; 32])];
        let (kind, msg, data) = activity_event("k1", &a);
        assert_eq!(kind, "sign");
        assert_eq!(msg, "signed with 0101…01, 0202…02 (12 ms)");
        assert_eq!(data["peers"].as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn hosts_parse() {
        assert_eq!(host_of("http://umbrel.local:8002"), "umbrel.local");
        assert_eq!(host_of("192.168.1.2:80"), "192.168.1.2");
        assert_eq!(host_of("http://[::1]:8002/x"), "::1");
        assert_eq!(host_of("example.com"), "example.com");
    }
}
