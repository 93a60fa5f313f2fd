//! The bunker: request handling, policy gate, approvals, audit, rate limits, replay protection.

use super::nostr::{self, Event};
use super::policy::{Decision, Policy};
use super::signer::{ThresholdSigner, UnsignedEvent};
use super::store::{
    AuditEntry, BunkerToken, ClientSession, Nip46Store, RequestRecord, RequestStatus,
    SessionStatus, TransportKind,
};
use super::uri::{BunkerUri, NostrConnectUri, RequestOrigin, validate_relay};
use super::{Error, KIND_NIP46, now_secs, random_hex16};
use crate::vault::secret::Secret32;
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

#[derive(Clone, Debug)]
pub struct BunkerConfig {
    /// Relays the bunker listens on and puts in `bunker://` URIs (used when the store has none).
    pub relays: Vec<String>,
    /// The embedded relay as the box reaches it on loopback (`ws://127.0.0.1:<port>`), set when
    /// no `RELAYS` are configured: a `bunker://` URI made for an API request names it the way
    /// the requester reached the box ([`RequestOrigin::relay_url`]: the `Host` it used, else
    /// `frostbox.local:<port>`), since a loopback URL is useless to a phone on the LAN.
    pub embedded_relay: Option<String>,
    /// How long a request outside policy waits for the operator. Zero → denied at once.
    pub pending_timeout: Duration,
    /// When set, a request that waits for the operator is first answered (once) with a NIP-46
    /// auth challenge `{"id", "result": "auth_url", "error": <url>}`, the URL of the web UI
    /// page of exactly that request ([`auth_url`]: `<base>/#/apps/<client>/<request id>`).
    /// `<base>` is the address the operator used when the client was paired
    /// ([`ClientSession::web_base`]), else this value (`serve`: the box's bound address, or
    /// `http://frostbox.local:<port>`, see [`super::uri::fallback_web_base`]). Clients that
    /// handle auth challenges open it; the real result follows under the same request id.
    pub auth_url_base: Option<String>,
    /// Per-client token bucket: burst and refill per second.
    pub rate_burst: u32,
    pub rate_per_sec: f64,
    /// Requests older/newer than this (by `created_at`) are ignored; replayed ids are
    /// remembered for this long.
    pub replay_window_secs: u64,
    /// Default lifetime of a `bunker://` token.
    pub token_ttl_secs: u64,
    /// `connect` without a secret from an unknown client is queued for operator approval
    /// (true) or refused (false).
    pub accept_unsolicited: bool,
    /// The keyset (identity) this bunker serves, when the box holds several: audit entries
    /// name it, and for a keyset other than `default` the `auth_url` carries `?keyset=<id>`
    /// so the web UI opens that keyset's request. `None` (or `default`): unchanged URLs.
    pub keyset: Option<String>,
}

impl Default for BunkerConfig {
    fn default() -> Self {
        BunkerConfig {
            relays: Vec::new(),
            embedded_relay: None,
            pending_timeout: Duration::from_secs(120),
            auth_url_base: None,
            rate_burst: 30,
            rate_per_sec: 5.0,
            replay_window_secs: 600,
            token_ttl_secs: 24 * 3600,
            accept_unsolicited: true,
            keyset: None,
        }
    }
}

/// Operator decision on a pending request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalDecision {
    ApproveOnce,
    ApproveAlways,
    DenyOnce,
    DenyAlways,
}

impl ApprovalDecision {
    fn approves(self) -> bool {
        matches!(self, Self::ApproveOnce | Self::ApproveAlways)
    }
}

/// Live notifications for the API's event stream / UI.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Notice {
    /// A request waits for the operator.
    Request { request: RequestRecord },
    /// A pending request was resolved or expired.
    Resolved { id: String, status: RequestStatus },
    /// A client session was created, changed or removed.
    Session {
        pubkey: String,
        status: Option<SessionStatus>,
    },
}

struct Reject {
    outcome: &'static str,
    msg: String,
}

fn denied(msg: impl Into<String>) -> Reject {
    Reject {
        outcome: "denied",
        msg: msg.into(),
    }
}
fn failed(msg: impl Into<String>) -> Reject {
    Reject {
        outcome: "error",
        msg: msg.into(),
    }
}

struct Ctx {
    client: [u8; 32],
    client_hex: String,
    transport: TransportKind,
    id: String,
    method: String,
    kind: Option<u16>,
    detail: String,
}

struct Inner {
    cfg: RwLock<BunkerConfig>,
    signer: Arc<dyn ThresholdSigner>,
    store: Arc<dyn Nip46Store>,
    transport_sk: Secret32,
    transport_pk: [u8; 32],
    waiters: Mutex<HashMap<String, oneshot::Sender<ApprovalDecision>>>,
    buckets: Mutex<HashMap<[u8; 32], (f64, Instant)>>,
    seen: Mutex<HashMap<([u8; 32], String), u64>>,
    connect_lock: tokio::sync::Mutex<()>,
    outbox: mpsc::UnboundedSender<Event>,
    notices: broadcast::Sender<Notice>,
    relays_tx: watch::Sender<Vec<String>>,
}

/// The NIP-46 signer for one identity. Cheap to clone.
#[derive(Clone)]
pub struct Bunker {
    inner: Arc<Inner>,
}

/// Receiving ends the transport loop drives: events to publish, and the relay set to listen on.
pub struct BunkerIo {
    pub outbox: mpsc::UnboundedReceiver<Event>,
    pub relays: watch::Receiver<Vec<String>>,
}

const MAX_SEEN: usize = 50_000;
const MAX_BUCKETS: usize = 10_000;
const MAX_PARAM_BYTES: usize = 256 * 1024;

impl Bunker {
    /// Loads (or creates and persists) the transport key, and the relay list.
    pub fn new(
        cfg: BunkerConfig,
        signer: Arc<dyn ThresholdSigner>,
        store: Arc<dyn Nip46Store>,
    ) -> Result<(Bunker, BunkerIo), Error> {
        let transport_sk = match store.transport_key()? {
            Some(k) => k,
            None => {
                let k = Secret32::random();
                store.set_transport_key(&k)?;
                k
            }
        };
        let transport_pk = nostr::keys::xonly_pubkey(&transport_sk)
            .map_err(|e| Error::Crypto(format!("stored transport key: {e}")))?;
        let mut cfg = cfg;
        match store.relays()? {
            Some(r) if !r.is_empty() => cfg.relays = r,
            // Defaults are not persisted: only relays the operator sets (`set_relays`) are, so
            // a changed port or relay list in the configuration takes effect on the next start.
            _ => {
                for r in &cfg.relays {
                    validate_relay(r)?;
                }
            }
        }
        let (outbox, outbox_rx) = mpsc::unbounded_channel();
        let (notices, _) = broadcast::channel(256);
        let (relays_tx, relays_rx) = watch::channel(Vec::new());
        let b = Bunker {
            inner: Arc::new(Inner {
                cfg: RwLock::new(cfg),
                signer,
                store,
                transport_sk,
                transport_pk,
                waiters: Mutex::new(HashMap::new()),
                buckets: Mutex::new(HashMap::new()),
                seen: Mutex::new(HashMap::new()),
                connect_lock: tokio::sync::Mutex::new(()),
                outbox,
                notices,
                relays_tx,
            }),
        };
        b.refresh_relays();
        Ok((
            b,
            BunkerIo {
                outbox: outbox_rx,
                relays: relays_rx,
            },
        ))
    }

    fn cfg(&self) -> BunkerConfig {
        match self.inner.cfg.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    pub fn store(&self) -> &Arc<dyn Nip46Store> {
        &self.inner.store
    }

    /// The keyset this bunker serves ([`BunkerConfig::keyset`]).
    pub fn keyset(&self) -> Option<String> {
        match self.inner.cfg.read() {
            Ok(g) => g.keyset.clone(),
            Err(p) => p.into_inner().keyset.clone(),
        }
    }

    /// Whether `other` is this very bunker (a clone of it), not just one with the same key.
    pub fn same(&self, other: &Bunker) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The remote-signer pubkey (stable across restarts).
    pub fn transport_pubkey(&self) -> [u8; 32] {
        self.inner.transport_pk
    }

    /// The identity (group) pubkey the bunker signs as.
    pub fn identity_pubkey(&self) -> [u8; 32] {
        self.inner.signer.group_pubkey()
    }

    pub fn subscribe_notices(&self) -> broadcast::Receiver<Notice> {
        self.inner.notices.subscribe()
    }

    /// The bunker's own relays.
    pub fn relays(&self) -> Vec<String> {
        self.cfg().relays
    }

    /// Replaces the bunker's own relays (persisted).
    pub fn set_relays(&self, relays: Vec<String>) -> Result<Vec<String>, Error> {
        let mut clean = Vec::new();
        for r in relays {
            let r = validate_relay(&r)?;
            if !clean.contains(&r) {
                clean.push(r);
            }
        }
        if clean.len() > 32 {
            return Err(Error::Invalid("at most 32 relays".into()));
        }
        self.inner.store.set_relays(&clean)?;
        if let Ok(mut g) = self.inner.cfg.write() {
            g.relays = clean.clone();
        }
        self.refresh_relays();
        Ok(clean)
    }

    /// Own relays ∪ relays of `nostrconnect://` clients: what the transport must listen on.
    pub fn listen_relays(&self) -> Vec<String> {
        let mut set: BTreeSet<String> = self.cfg().relays.into_iter().collect();
        if let Ok(clients) = self.inner.store.list_clients() {
            for c in clients {
                set.extend(c.relays);
            }
        }
        set.into_iter().collect()
    }

    fn refresh_relays(&self) {
        let r = self.listen_relays();
        self.inner.relays_tx.send_if_modified(|cur| {
            if *cur != r {
                *cur = r;
                true
            } else {
                false
            }
        });
    }

    fn notify(&self, n: Notice) {
        let _ = self.inner.notices.send(n);
    }

    fn audit(
        &self,
        client: &str,
        request_id: &str,
        method: &str,
        kind: Option<u16>,
        outcome: &str,
        detail: &str,
    ) {
        let e = AuditEntry {
            ts: now_secs(),
            client: client.to_string(),
            request_id: request_id.chars().take(128).collect(),
            method: method.chars().take(64).collect(),
            kind,
            outcome: outcome.to_string(),
            detail: detail.chars().take(512).collect(),
            keyset: self.keyset(),
        };
        if let Err(err) = self.inner.store.append_audit(&e) {
            tracing::warn!(error = %err, "nip46: audit write failed");
        }
    }

    // ---------------------------------------------------------------- tokens and pairing

    /// Creates a single-use `bunker://` token. `policy = Some(..)` pre-approves the grant;
    /// `None` makes the connection wait for operator approval. Returns the token record and
    /// the URI (the only place the secret appears).
    pub fn create_bunker_uri(
        &self,
        label: &str,
        policy: Option<Policy>,
        ttl_secs: Option<u64>,
    ) -> Result<(BunkerToken, String), Error> {
        self.create_bunker_uri_for(label, policy, ttl_secs, None)
    }

    /// The web UI address recorded for a client paired through `origin` (see
    /// [`ClientSession::web_base`]).
    fn web_base_of(origin: Option<&RequestOrigin>) -> Option<String> {
        origin.and_then(RequestOrigin::web_base)
    }

    /// The relays a `bunker://` URI names: the bunker's own, with the embedded relay
    /// ([`BunkerConfig::embedded_relay`]) as `origin` reaches it. Without an origin (no HTTP
    /// request behind the call) the relays are named as the bunker uses them.
    pub fn advertised_relays(&self, origin: Option<&RequestOrigin>) -> Vec<String> {
        let cfg = self.cfg();
        let mut out: Vec<String> = Vec::with_capacity(cfg.relays.len());
        for r in cfg.relays {
            let r = match (origin, &cfg.embedded_relay) {
                (Some(o), Some(local)) if same_relay(&r, local) => o.relay_url(local),
                _ => r,
            };
            if !out.contains(&r) {
                out.push(r);
            }
        }
        out
    }

    /// The relays to name to one client (`get_relays`, `switch_relays`): the ones its bunker://
    /// URI carried (the embedded relay as the operator's browser reached the box, never the
    /// loopback address the bunker itself uses), else the ones its nostrconnect:// URI chose,
    /// else the configured list.
    fn relays_for(&self, sess: &ClientSession, cfg: &BunkerConfig) -> Vec<String> {
        if let Some(id) = &sess.token_id
            && let Ok(tokens) = self.inner.store.list_tokens()
            && let Some(t) = tokens.into_iter().find(|t| &t.id == id)
            && !t.relays.is_empty()
        {
            return t.relays;
        }
        if !sess.relays.is_empty() {
            return sess.relays.clone();
        }
        cfg.relays.clone()
    }

    /// [`Self::create_bunker_uri`] for an operator's HTTP request: the embedded relay is named
    /// as that request reached the box (see [`Self::advertised_relays`]).
    pub fn create_bunker_uri_for(
        &self,
        label: &str,
        policy: Option<Policy>,
        ttl_secs: Option<u64>,
        origin: Option<&RequestOrigin>,
    ) -> Result<(BunkerToken, String), Error> {
        if let Some(p) = &policy {
            p.validate().map_err(Error::Invalid)?;
        }
        let cfg = self.cfg();
        let relays = self.advertised_relays(origin);
        if relays.is_empty() {
            return Err(Error::Invalid("the bunker has no relays configured".into()));
        }
        let mut raw = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut raw);
        let secret = zeroize::Zeroizing::new(hex::encode(raw));
        zeroize::Zeroize::zeroize(&mut raw);
        let now = now_secs();
        let ttl = ttl_secs
            .unwrap_or(cfg.token_ttl_secs)
            .clamp(60, 365 * 24 * 3600);
        let token = BunkerToken {
            id: random_hex16(),
            secret_hash: Sha256::digest(secret.as_bytes()).into(),
            label: label.chars().take(128).collect(),
            relays: relays.clone(),
            policy,
            created_at: now,
            expires_at: now + ttl,
            used_at: None,
            used_by: None,
            web_base: Self::web_base_of(origin),
        };
        self.inner.store.put_token(&token)?;
        let uri = BunkerUri {
            signer_pubkey: self.inner.transport_pk,
            relays,
            secret: Some(secret.to_string()),
        }
        .to_uri();
        Ok((token, uri))
    }

    /// Operator pastes a `nostrconnect://` URI: the client is approved with `policy` (default:
    /// the permissions it asked for), and the bunker answers its secret on the client's relays.
    pub fn pair_nostrconnect(
        &self,
        uri: &str,
        policy: Option<Policy>,
    ) -> Result<ClientSession, Error> {
        self.pair_nostrconnect_for(uri, policy, None)
    }

    /// [`Self::pair_nostrconnect`] for an operator's HTTP request: the client's `auth_url`s
    /// name the web UI as that request reached the box.
    pub fn pair_nostrconnect_for(
        &self,
        uri: &str,
        policy: Option<Policy>,
        origin: Option<&RequestOrigin>,
    ) -> Result<ClientSession, Error> {
        let u = NostrConnectUri::parse(uri)?;
        let policy = match policy {
            Some(p) => {
                p.validate().map_err(Error::Invalid)?;
                p
            }
            None => u.requested_policy(),
        };
        let now = now_secs();
        let sess = ClientSession {
            pubkey: u.client_pubkey,
            status: SessionStatus::Active,
            profile: u.profile.clone(),
            relays: u.relays.clone(),
            policy,
            requested_perms: u.perms.clone(),
            transport: TransportKind::Nip44,
            token_id: None,
            web_base: Self::web_base_of(origin),
            created_at: now,
            updated_at: now,
            last_active_at: now,
            recent_kinds: Vec::new(),
            recent_methods: Vec::new(),
        };
        self.inner.store.put_client(&sess)?;
        self.refresh_relays();
        let client_hex = hex::encode(u.client_pubkey);
        self.audit(
            &client_hex,
            "",
            "nostrconnect",
            None,
            "ok",
            "paired by operator",
        );
        self.notify(Notice::Session {
            pubkey: client_hex,
            status: Some(SessionStatus::Active),
        });
        let body = json!({ "id": random_hex16(), "result": u.secret }).to_string();
        self.send(&u.client_pubkey, TransportKind::Nip44, &body);
        // Relays do not store ephemeral events: if the client was not subscribed yet, the
        // reply is lost. Repeat it a few times until the client shows up.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let me = self.clone();
            let pk = u.client_pubkey;
            rt.spawn(async move {
                for delay in [1u64, 2, 4, 8] {
                    tokio::time::sleep(Duration::from_secs(delay)).await;
                    let active = me
                        .inner
                        .store
                        .list_audit(Some(&hex::encode(pk)), 2)
                        .map(|a| a.len() > 1)
                        .unwrap_or(true);
                    let paired = matches!(me.inner.store.get_client(&pk), Ok(Some(_)));
                    if active || !paired {
                        break;
                    }
                    me.send(&pk, TransportKind::Nip44, &body);
                }
            });
        }
        Ok(sess)
    }

    // ---------------------------------------------------------------- operator actions

    pub fn list_sessions(&self) -> Result<Vec<ClientSession>, Error> {
        Ok(self.inner.store.list_clients()?)
    }

    pub fn session(&self, pk: &[u8; 32]) -> Result<Option<ClientSession>, Error> {
        Ok(self.inner.store.get_client(pk)?)
    }

    /// Creates or updates a session directly (igloo-server `POST /sessions`).
    pub fn upsert_session(&self, sess: ClientSession) -> Result<(), Error> {
        sess.policy.validate().map_err(Error::Invalid)?;
        self.inner.store.put_client(&sess)?;
        self.refresh_relays();
        self.notify(Notice::Session {
            pubkey: hex::encode(sess.pubkey),
            status: Some(sess.status),
        });
        Ok(())
    }

    /// Replaces the provided parts of a client's policy.
    pub fn set_policy(
        &self,
        pk: &[u8; 32],
        methods: Option<Policy>,
        kinds: Option<Policy>,
    ) -> Result<(), Error> {
        let mut s = self
            .inner
            .store
            .get_client(pk)?
            .ok_or_else(|| Error::NotFound("session".into()))?;
        if let Some(m) = methods {
            m.validate().map_err(Error::Invalid)?;
            s.policy.methods = m.methods;
        }
        if let Some(k) = kinds {
            k.validate().map_err(Error::Invalid)?;
            s.policy.kinds = k.kinds;
        }
        s.updated_at = now_secs();
        self.inner.store.put_client(&s)?;
        self.audit(
            &hex::encode(pk),
            "",
            "policy",
            None,
            "ok",
            &s.policy.to_perms(),
        );
        Ok(())
    }

    /// Revocation: deletes the session; the client must pair again.
    pub fn revoke(&self, pk: &[u8; 32]) -> Result<bool, Error> {
        let deleted = self.inner.store.delete_client(pk)?;
        if deleted {
            let h = hex::encode(pk);
            self.audit(&h, "", "revoke", None, "ok", "session deleted by operator");
            self.notify(Notice::Session {
                pubkey: h,
                status: None,
            });
            self.refresh_relays();
        }
        Ok(deleted)
    }

    /// Approves a pending session (or changes its status).
    pub fn set_status(&self, pk: &[u8; 32], status: SessionStatus) -> Result<(), Error> {
        let mut s = self
            .inner
            .store
            .get_client(pk)?
            .ok_or_else(|| Error::NotFound("session".into()))?;
        s.status = status;
        s.updated_at = now_secs();
        self.inner.store.put_client(&s)?;
        self.notify(Notice::Session {
            pubkey: hex::encode(pk),
            status: Some(status),
        });
        Ok(())
    }

    /// Resolves a pending request. `patch` (igloo-server's `policy`) is merged into the
    /// session policy. Returns the updated record.
    pub fn resolve(
        &self,
        id: &str,
        decision: ApprovalDecision,
        patch: Option<Policy>,
    ) -> Result<RequestRecord, Error> {
        let store = &self.inner.store;
        let mut rec = store
            .get_request(id)?
            .ok_or_else(|| Error::NotFound("request".into()))?;
        if rec.status != RequestStatus::Pending {
            return Err(Error::Invalid(
                format!("request is already {:?}", rec.status).to_lowercase(),
            ));
        }
        let waiter = self
            .inner
            .waiters
            .lock()
            .ok()
            .and_then(|mut w| w.remove(id));
        let Some(waiter) = waiter else {
            rec.status = RequestStatus::Expired;
            rec.updated_at = now_secs();
            store.put_request(&rec)?;
            return Err(Error::NotFound(
                "nobody is waiting for this request any more".into(),
            ));
        };
        if let Some(p) = &patch {
            p.validate().map_err(Error::Invalid)?;
        }
        let mut pk = [0u8; 32];
        hex::decode_to_slice(&rec.session_pubkey, &mut pk)
            .map_err(|e| Error::Invalid(e.to_string()))?;
        if let Some(mut s) = store.get_client(&pk)? {
            if rec.method == "connect" {
                if decision.approves() {
                    s.status = SessionStatus::Active;
                    s.policy = Policy::from_perms(&s.requested_perms).0;
                }
            } else if matches!(
                decision,
                ApprovalDecision::ApproveAlways | ApprovalDecision::DenyAlways
            ) {
                let allow = decision.approves();
                s.policy.methods.insert(rec.method.clone(), allow);
                if let Some(k) = rec.kind {
                    if allow {
                        s.policy.kinds.insert(k.to_string(), true);
                    } else {
                        // deny this kind only, keep the method for other kinds
                        s.policy.methods.insert(rec.method.clone(), true);
                        s.policy.kinds.insert(k.to_string(), false);
                    }
                }
            }
            if let Some(p) = &patch {
                s.policy.merge(p);
            }
            s.updated_at = now_secs();
            store.put_client(&s)?;
        }
        rec.status = if decision.approves() {
            RequestStatus::Approved
        } else {
            RequestStatus::Denied
        };
        rec.updated_at = now_secs();
        store.put_request(&rec)?;
        self.notify(Notice::Resolved {
            id: id.to_string(),
            status: rec.status,
        });
        let _ = waiter.send(decision);
        Ok(rec)
    }

    // ---------------------------------------------------------------- transport

    fn send(&self, client: &[u8; 32], transport: TransportKind, body: &str) {
        let content = match transport {
            TransportKind::Nip44 => {
                nostr::nip44::conversation_key(&self.inner.transport_sk, client)
                    .and_then(|k| nostr::nip44::encrypt(&k, body, nostr::nip44::B64::Padded))
            }
            TransportKind::Nip04 => nostr::nip04::encrypt(&self.inner.transport_sk, client, body),
        };
        let content = match content {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "nip46: cannot encrypt response");
                return;
            }
        };
        let mut aux = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut aux);
        match Event::sign(
            &self.inner.transport_sk,
            now_secs(),
            KIND_NIP46,
            vec![vec!["p".into(), hex::encode(client)]],
            content,
            aux,
        ) {
            Ok(ev) => {
                let _ = self.inner.outbox.send(ev);
            }
            Err(e) => tracing::warn!(error = %e, "nip46: cannot sign response"),
        }
    }

    fn respond(&self, ctx: &Ctx, out: &Result<String, Reject>) {
        let body = match out {
            Ok(r) => json!({ "id": ctx.id, "result": r }),
            Err(e) => json!({ "id": ctx.id, "result": "", "error": e.msg }),
        };
        self.send(&ctx.client, ctx.transport, &body.to_string());
    }

    fn mark_seen(&self, client: [u8; 32], id: &str, window: u64) -> bool {
        let now = now_secs();
        let Ok(mut seen) = self.inner.seen.lock() else {
            return false;
        };
        if seen.len() >= MAX_SEEN {
            seen.retain(|_, ts| *ts + window > now);
            if seen.len() >= MAX_SEEN {
                // still full: refuse rather than forget (flood protection)
                return false;
            }
        }
        seen.insert((client, id.to_string()), now).is_none()
    }

    fn take_token(&self, client: [u8; 32], cfg: &BunkerConfig) -> bool {
        let Ok(mut b) = self.inner.buckets.lock() else {
            return false;
        };
        let now = Instant::now();
        if b.len() >= MAX_BUCKETS && !b.contains_key(&client) {
            b.retain(|_, (_, t)| now.duration_since(*t) < Duration::from_secs(60));
        }
        let burst = f64::from(cfg.rate_burst.max(1));
        let entry = b.entry(client).or_insert((burst, now));
        let refill = now.duration_since(entry.1).as_secs_f64() * cfg.rate_per_sec;
        entry.0 = (entry.0 + refill).min(burst);
        entry.1 = now;
        if entry.0 >= 1.0 {
            entry.0 -= 1.0;
            true
        } else {
            false
        }
    }

    /// Handles one incoming kind-24133 event addressed to this bunker. Responses go to the
    /// outbox. Requests that wait for the operator keep this future pending: the transport
    /// loop spawns one task per event.
    pub async fn handle_event(&self, ev: Event) {
        let me = hex::encode(self.inner.transport_pk);
        if ev.kind != KIND_NIP46
            || !ev
                .tags
                .iter()
                .any(|t| t.len() >= 2 && t[0] == "p" && t[1] == me)
        {
            return;
        }
        let client_hex = hex::encode(ev.pubkey);
        if ev.verify().is_err() {
            self.audit(
                &client_hex,
                "",
                "",
                None,
                "ignored",
                "event id or signature invalid",
            );
            return;
        }
        let cfg = self.cfg();
        let now = now_secs();
        if ev.created_at + cfg.replay_window_secs < now
            || ev.created_at > now + cfg.replay_window_secs
        {
            self.audit(
                &client_hex,
                "",
                "",
                None,
                "ignored",
                "event created_at outside the replay window",
            );
            return;
        }
        let (transport, plain) = if ev.content.contains("?iv=") {
            (
                TransportKind::Nip04,
                nostr::nip04::decrypt(&self.inner.transport_sk, &ev.pubkey, &ev.content),
            )
        } else {
            (
                TransportKind::Nip44,
                nostr::nip44::conversation_key(&self.inner.transport_sk, &ev.pubkey)
                    .and_then(|k| nostr::nip44::decrypt(&k, &ev.content)),
            )
        };
        let plain = match plain {
            Ok(p) => p,
            Err(e) => {
                self.audit(
                    &client_hex,
                    "",
                    "",
                    None,
                    "ignored",
                    &format!("cannot decrypt request: {e}"),
                );
                return;
            }
        };
        let req: Value = match serde_json::from_str(&plain) {
            Ok(v) => v,
            Err(_) => {
                self.audit(&client_hex, "", "", None, "ignored", "request is not JSON");
                return;
            }
        };
        let Some(id) = req
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty() && s.len() <= 128)
        else {
            self.audit(
                &client_hex,
                "",
                "",
                None,
                "ignored",
                "request has no usable id",
            );
            return;
        };
        let mut ctx = Ctx {
            client: ev.pubkey,
            client_hex,
            transport,
            id: id.to_string(),
            method: req
                .get("method")
                .and_then(Value::as_str)
                .unwrap_or("")
                .chars()
                .take(64)
                .collect(),
            kind: None,
            detail: String::new(),
        };
        if !self.mark_seen(ctx.client, &ctx.id, cfg.replay_window_secs) {
            self.audit(
                &ctx.client_hex,
                &ctx.id,
                &ctx.method,
                None,
                "ignored",
                "replayed request id",
            );
            return;
        }
        let out = if !self.take_token(ctx.client, &cfg) {
            Err(failed("rate limit exceeded, slow down"))
        } else {
            match parse_params(&req) {
                Ok(params) if !ctx.method.is_empty() => self.dispatch(&mut ctx, params, &cfg).await,
                Ok(_) => Err(failed("malformed request: missing method")),
                Err(e) => Err(failed(format!("malformed request: {e}"))),
            }
        };
        match &out {
            Ok(_) => self.audit(
                &ctx.client_hex,
                &ctx.id,
                &ctx.method,
                ctx.kind,
                "ok",
                &ctx.detail,
            ),
            Err(r) => self.audit(
                &ctx.client_hex,
                &ctx.id,
                &ctx.method,
                ctx.kind,
                r.outcome,
                &r.msg,
            ),
        }
        self.respond(&ctx, &out);
    }

    async fn dispatch(
        &self,
        ctx: &mut Ctx,
        params: Vec<String>,
        cfg: &BunkerConfig,
    ) -> Result<String, Reject> {
        if ctx.method == "connect" {
            return self.connect(ctx, &params, cfg).await;
        }
        let store = &self.inner.store;
        let sess = store
            .get_client(&ctx.client)
            .map_err(|e| failed(e.to_string()))?
            .ok_or_else(|| {
                denied("unauthorized: unknown client, send connect with a valid secret first")
            })?;
        if sess.status != SessionStatus::Active {
            return Err(denied(
                "unauthorized: the connection is waiting for operator approval",
            ));
        }
        self.touch(&ctx.client, ctx.transport, &ctx.method, None);
        match ctx.method.as_str() {
            "ping" => Ok("pong".into()),
            "get_public_key" => Ok(hex::encode(self.inner.signer.group_pubkey())),
            "get_relays" => {
                let mut m = serde_json::Map::new();
                for r in self.relays_for(&sess, cfg) {
                    m.insert(r, json!({"read": true, "write": true}));
                }
                Ok(Value::Object(m).to_string())
            }
            "switch_relays" => {
                let relays = self.relays_for(&sess, cfg);
                if relays.is_empty() {
                    return Ok("null".into());
                }
                Ok(json!(relays).to_string())
            }
            "logout" => {
                let _ = store.delete_client(&ctx.client);
                self.notify(Notice::Session {
                    pubkey: ctx.client_hex.clone(),
                    status: None,
                });
                self.refresh_relays();
                Ok("ack".into())
            }
            "sign_event" => {
                let tpl = params
                    .first()
                    .ok_or_else(|| failed("sign_event needs the event as params[0]"))?;
                let unsigned =
                    parse_template(tpl, &self.inner.signer.group_pubkey()).map_err(failed)?;
                ctx.kind = Some(unsigned.kind);
                let pending = self
                    .gate(ctx, &sess, tpl.chars().take(4096).collect(), cfg)
                    .await?;
                let res = self.inner.signer.sign_event(unsigned).await;
                let res = match res {
                    Ok(ev)
                        if ev.pubkey == self.inner.signer.group_pubkey() && ev.verify().is_ok() =>
                    {
                        ctx.detail = format!("signed event {}", hex::encode(ev.id));
                        Ok(ev.to_json())
                    }
                    Ok(_) => Err(failed("signing failed: signature does not verify")),
                    Err(e) => Err(failed(format!("signing failed: {e}"))),
                };
                self.finish(pending, &res, Some(ctx.detail.clone()));
                if res.is_ok() {
                    self.touch(&ctx.client, ctx.transport, &ctx.method, ctx.kind);
                }
                res
            }
            "nip04_encrypt" | "nip04_decrypt" | "nip44_encrypt" | "nip44_decrypt" => {
                let (Some(peer), Some(text)) = (params.first(), params.get(1)) else {
                    return Err(failed(format!("{} needs [pubkey, text]", ctx.method)));
                };
                let peer = super::uri::parse_hex_pubkey(peer)
                    .map_err(|_| failed("params[0] is not a 64-hex pubkey"))?;
                let pending = self
                    .gate(ctx, &sess, format!("peer {}", hex::encode(peer)), cfg)
                    .await?;
                let s = &self.inner.signer;
                let text = text.clone();
                let res = match ctx.method.as_str() {
                    "nip04_encrypt" => s.nip04_encrypt(peer, text).await,
                    "nip04_decrypt" => s.nip04_decrypt(peer, text).await,
                    "nip44_encrypt" => s.nip44_encrypt(peer, text).await,
                    _ => s.nip44_decrypt(peer, text).await,
                }
                .map_err(|e| failed(format!("{} failed: {e}", ctx.method)));
                ctx.detail = format!("peer {}", hex::encode(peer));
                self.finish(pending, &res, None);
                if res.is_ok() {
                    self.touch(&ctx.client, ctx.transport, &ctx.method, None);
                }
                res
            }
            other => Err(failed(format!("unsupported method: {other}"))),
        }
    }

    /// Records activity on the session (history of methods and kinds, transport in use).
    fn touch(&self, pk: &[u8; 32], transport: TransportKind, method: &str, kind: Option<u16>) {
        let store = &self.inner.store;
        let Ok(Some(mut s)) = store.get_client(pk) else {
            return;
        };
        let now = now_secs();
        let mut changed = s.transport != transport || now >= s.last_active_at + 30;
        s.transport = transport;
        if super::policy::GATED_METHODS.contains(&method) && kind.is_some()
            || method != "sign_event" && super::policy::GATED_METHODS.contains(&method)
        {
            if s.recent_methods.first().map(String::as_str) != Some(method) {
                s.recent_methods.retain(|m| m != method);
                s.recent_methods.insert(0, method.to_string());
                s.recent_methods.truncate(5);
                changed = true;
            }
            if let Some(k) = kind
                && s.recent_kinds.first() != Some(&k)
            {
                s.recent_kinds.retain(|x| *x != k);
                s.recent_kinds.insert(0, k);
                s.recent_kinds.truncate(5);
                changed = true;
            }
        }
        if changed {
            s.last_active_at = now;
            let _ = store.put_client(&s);
        }
    }

    fn finish(
        &self,
        pending: Option<RequestRecord>,
        res: &Result<String, Reject>,
        result: Option<String>,
    ) {
        let Some(mut rec) = pending else { return };
        match res {
            Ok(_) => {
                rec.status = RequestStatus::Completed;
                rec.result = result;
            }
            Err(e) => {
                rec.status = RequestStatus::Failed;
                rec.error = Some(e.msg.clone());
            }
        }
        rec.updated_at = now_secs();
        let _ = self.inner.store.put_request(&rec);
    }

    /// Policy gate. `Ok(Some(record))` when the operator approved a pending request.
    async fn gate(
        &self,
        ctx: &Ctx,
        sess: &ClientSession,
        shown: String,
        cfg: &BunkerConfig,
    ) -> Result<Option<RequestRecord>, Reject> {
        match sess.policy.decide(&ctx.method, ctx.kind) {
            Decision::Allow => Ok(None),
            Decision::Deny => Err(denied(match ctx.kind {
                Some(k) => format!("denied by policy: {} of kind {k}", ctx.method),
                None => format!("denied by policy: {}", ctx.method),
            })),
            Decision::Ask => self
                .ask(ctx, shown, sess.web_base.as_deref(), cfg)
                .await
                .map(Some),
        }
    }

    /// Queues a request for the operator and waits (with timeout) for the decision. With an
    /// auth URL base ([`BunkerConfig::auth_url_base`], `web_base` of the client's session
    /// first) the client gets one `auth_url` challenge naming the request's page first.
    async fn ask(
        &self,
        ctx: &Ctx,
        shown: String,
        web_base: Option<&str>,
        cfg: &BunkerConfig,
    ) -> Result<RequestRecord, Reject> {
        if cfg.pending_timeout.is_zero() {
            return Err(denied(format!(
                "not permitted: {} needs operator approval",
                ctx.method
            )));
        }
        let now = now_secs();
        let rec = RequestRecord {
            id: random_hex16(),
            client_request_id: ctx.id.clone(),
            session_pubkey: ctx.client_hex.clone(),
            method: ctx.method.clone(),
            params: shown,
            kind: ctx.kind,
            status: RequestStatus::Pending,
            result: None,
            error: None,
            created_at: now,
            updated_at: now,
            expires_at: now + cfg.pending_timeout.as_secs(),
        };
        let (tx, rx) = oneshot::channel();
        if let Ok(mut w) = self.inner.waiters.lock() {
            w.insert(rec.id.clone(), tx);
        }
        self.inner
            .store
            .put_request(&rec)
            .map_err(|e| failed(e.to_string()))?;
        let url = cfg.auth_url_base.as_deref().map(|base| {
            let url = auth_url(web_base.unwrap_or(base), &ctx.client_hex, &rec.id);
            with_keyset(url, cfg.keyset.as_deref())
        });
        self.audit(
            &ctx.client_hex,
            &ctx.id,
            &ctx.method,
            ctx.kind,
            "pending",
            &match &url {
                Some(u) => format!("queued as {}; auth_url {u}", rec.id),
                None => format!("queued as {}", rec.id),
            },
        );
        self.notify(Notice::Request {
            request: rec.clone(),
        });
        if let Some(url) = url {
            // Once per pending request: the client shows the page, then waits for the real
            // answer under the same id (NIP-46 auth challenge).
            let body = json!({ "id": ctx.id, "result": "auth_url", "error": url });
            self.send(&ctx.client, ctx.transport, &body.to_string());
        }
        let outcome = tokio::time::timeout(cfg.pending_timeout, rx).await;
        if let Ok(mut w) = self.inner.waiters.lock() {
            w.remove(&rec.id);
        }
        let latest = self
            .inner
            .store
            .get_request(&rec.id)
            .ok()
            .flatten()
            .unwrap_or(rec);
        match outcome {
            Ok(Ok(d)) if d.approves() => Ok(latest),
            Ok(Ok(_)) => Err(denied("request denied by the operator")),
            Ok(Err(_)) | Err(_) => {
                let mut r = latest;
                if r.status == RequestStatus::Pending {
                    r.status = RequestStatus::Expired;
                    r.updated_at = now_secs();
                    let _ = self.inner.store.put_request(&r);
                    self.notify(Notice::Resolved {
                        id: r.id.clone(),
                        status: r.status,
                    });
                }
                Err(denied("request timed out waiting for operator approval"))
            }
        }
    }

    async fn connect(
        &self,
        ctx: &mut Ctx,
        params: &[String],
        cfg: &BunkerConfig,
    ) -> Result<String, Reject> {
        let target = params.first().map(String::as_str).unwrap_or("");
        if !target.is_empty()
            && target != hex::encode(self.inner.transport_pk)
            && target != hex::encode(self.inner.signer.group_pubkey())
        {
            return Err(failed(
                "connect: params[0] is not this remote signer's pubkey",
            ));
        }
        let secret = params.get(1).map(String::as_str).unwrap_or("");
        let perms = params.get(2).map(String::as_str).unwrap_or("");
        let store = self.inner.store.clone();
        let guard = self.inner.connect_lock.lock().await;
        let existing = store
            .get_client(&ctx.client)
            .map_err(|e| failed(e.to_string()))?;
        if let Some(s) = &existing {
            if s.status == SessionStatus::Active {
                drop(guard);
                self.touch(&ctx.client, ctx.transport, "connect", None);
                ctx.detail = "already connected".into();
                return Ok("ack".into());
            }
            return Err(denied(
                "unauthorized: the connection is waiting for operator approval",
            ));
        }
        let now = now_secs();
        let mut sess = ClientSession {
            pubkey: ctx.client,
            status: SessionStatus::Pending,
            profile: Default::default(),
            relays: Vec::new(),
            policy: Policy::default(),
            requested_perms: perms.chars().take(2048).collect(),
            transport: ctx.transport,
            token_id: None,
            web_base: None,
            created_at: now,
            updated_at: now,
            last_active_at: now,
            recent_kinds: Vec::new(),
            recent_methods: Vec::new(),
        };
        if !secret.is_empty() {
            let h: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
            let mut tok = store
                .get_token_by_hash(&h)
                .map_err(|e| failed(e.to_string()))?
                .ok_or_else(|| denied("unauthorized: invalid connection secret"))?;
            if tok.used_at.is_some() {
                return Err(denied("unauthorized: connection secret already used"));
            }
            if tok.expires_at <= now {
                return Err(denied("unauthorized: connection token expired"));
            }
            tok.used_at = Some(now);
            tok.used_by = Some(ctx.client);
            store.put_token(&tok).map_err(|e| failed(e.to_string()))?;
            sess.token_id = Some(tok.id.clone());
            sess.web_base = tok.web_base.clone();
            sess.profile.name = Some(tok.label.clone()).filter(|l| !l.is_empty());
            ctx.detail = format!("token {}", tok.id);
            if let Some(p) = tok.policy {
                sess.status = SessionStatus::Active;
                sess.policy = p;
                store.put_client(&sess).map_err(|e| failed(e.to_string()))?;
                drop(guard);
                self.notify(Notice::Session {
                    pubkey: ctx.client_hex.clone(),
                    status: Some(sess.status),
                });
                return Ok("ack".into());
            }
        } else if !cfg.accept_unsolicited {
            return Err(denied("unauthorized: a connection secret is required"));
        }
        store.put_client(&sess).map_err(|e| failed(e.to_string()))?;
        drop(guard);
        self.notify(Notice::Session {
            pubkey: ctx.client_hex.clone(),
            status: Some(sess.status),
        });
        let shown = format!("perms={}", sess.requested_perms);
        match self.ask(ctx, shown, sess.web_base.as_deref(), cfg).await {
            Ok(rec) => {
                self.finish(Some(rec), &Ok(String::new()), Some("ack".into()));
                Ok("ack".into())
            }
            Err(e) => {
                if let Ok(Some(s)) = store.get_client(&ctx.client)
                    && s.status == SessionStatus::Pending
                {
                    let _ = store.delete_client(&ctx.client);
                }
                Err(e)
            }
        }
    }
}

/// The web UI page of one pending request: `<base>/#/apps/<client pubkey hex>/<request id>`
/// (the Apps page, with that app's request brought to the top and focused).
pub fn auth_url(base: &str, client_hex: &str, request_id: &str) -> String {
    format!(
        "{}/#/apps/{client_hex}/{request_id}",
        base.trim_end_matches('/')
    )
}

/// `url` naming keyset `keyset` for the web UI: `…/#/apps/<client>/<request>?keyset=<id>`
/// for a keyset other than `default` (the UI reads `?keyset=` in hash routes); unchanged for
/// the default keyset or none.
pub fn with_keyset(url: String, keyset: Option<&str>) -> String {
    match keyset {
        Some(k) if !k.is_empty() && k != crate::store::DEFAULT_KEYSET => {
            let k: String = form_urlencoded::byte_serialize(k.as_bytes()).collect();
            format!("{url}?keyset={k}")
        }
        _ => url,
    }
}

/// Two relay URLs name the same relay (case of scheme/host, a trailing slash).
fn same_relay(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.trim().trim_end_matches('/').to_ascii_lowercase();
    norm(a) == norm(b)
}

fn parse_params(req: &Value) -> Result<Vec<String>, String> {
    match req.get("params") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => {
            let mut total = 0;
            a.iter()
                .map(|v| match v {
                    Value::String(s) => {
                        total += s.len();
                        if total > MAX_PARAM_BYTES {
                            Err("params too large".to_string())
                        } else {
                            Ok(s.clone())
                        }
                    }
                    _ => Err("params must be an array of strings".to_string()),
                })
                .collect()
        }
        Some(_) => Err("params must be an array of strings".into()),
    }
}

/// Parses a `sign_event` template. `pubkey`, if present, must be the identity.
pub fn parse_template(s: &str, identity: &[u8; 32]) -> Result<UnsignedEvent, String> {
    let v: Value = serde_json::from_str(s).map_err(|_| "event template is not JSON".to_string())?;
    let o = v.as_object().ok_or("event template is not an object")?;
    let kind = o
        .get("kind")
        .and_then(Value::as_u64)
        .ok_or("event template has no numeric kind")?;
    let kind = u16::try_from(kind).map_err(|_| "kind out of range (0..=65535)".to_string())?;
    let content = match o.get("content") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err("content must be a string".into()),
    };
    let created_at = match o.get("created_at") {
        None | Some(Value::Null) => now_secs(),
        Some(v) => v
            .as_u64()
            .ok_or("created_at must be a non-negative integer")?,
    };
    let tags = match o.get("tags") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|t| {
                t.as_array()
                    .ok_or("each tag must be an array")?
                    .iter()
                    .map(|x| {
                        x.as_str()
                            .map(str::to_string)
                            .ok_or("tag items must be strings")
                    })
                    .collect::<Result<Vec<String>, _>>()
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err("tags must be an array".into()),
    };
    if let Some(pk) = o.get("pubkey").and_then(Value::as_str)
        && !pk.is_empty()
        && pk != hex::encode(identity)
    {
        return Err("event pubkey is not the identity this bunker signs for".into());
    }
    Ok(UnsignedEvent {
        created_at,
        kind,
        tags,
        content,
    })
}
