//! The node's protocol state machine, free of I/O (FROSTR-NEXT §4–§6).
//!
//! Input: an authenticated, decrypted envelope from a group member (`handle`), or a local call
//! (`start_sign`, `start_ecdh`, `start_ping`). Output: envelopes to send (`Outgoing`) and finished
//! operations (`Completion`). The async node (`super::node`) wraps this with the relay pool,
//! NIP-44 and timers. Time is always passed in (`now`, unix seconds), so tests can replay a
//! transcript at its own clock.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use crate::frost::{
    self, GroupKeys, KeyShare, NonceLedger, PublicNonce, ShareSigner, SignRound, SigningNonce,
};
use crate::frostr::next::group::GroupPackage;
use crate::frostr::next::wire::{
    DerivedPublicNonce, EcdhEntry, EcdhPackage, Envelope, ErrorPayload, MemberNonces, NonceEntry,
    OnboardRequest, OnboardResponse, PEER_DENIED, PartialSig, PartialSigPackage, Payload, Ping,
    SignSessionPackage,
};
use crate::vault::secret::Secret32;

use super::peers::{self, DuplicateShare, NodeStatus, PeerStatus};
use super::policy::{Method, Policy};
use super::pool::{Code, PeerPool, PoolConfig, PoolError};
use super::replay::ReplayCache;

/// Result cache windows (§4.3).
pub const SIGN_CACHE_SECS: u64 = 120;
pub const ECDH_CACHE_SECS: u64 = 300;
pub const RESULT_CACHE_CAP: usize = 256;
/// Most hashes / ECDH targets per request (§5.2, §5.4).
pub const MAX_BATCH: usize = 100;

/// `Error` code we answer when a sign request names nonce codes we cannot use (unknown: we
/// restarted and lost the pool, or never issued them; spent; already in the durable ledger).
/// bifrost-rs drops such requests silently (§6.2 responder step 4), which leaves the initiator
/// waiting for its 30 s timeout; peers act on the `Error` variant, not on the code (§5.6), so
/// the answer is compatible. A Frostbox initiator drops its nonces from us and re-pings.
pub const NONCE_UNAVAILABLE: &str = "nonce_unavailable";
/// `Error` code we answer to any other request we refuse after it was authenticated and found
/// fresh (invalid session, members, ECDH package, ...), so the initiator fails now.
pub const BAD_REQUEST: &str = "bad_request";

/// Nonces generated (and burned in the ledger with one write) at a time.
const NONCE_BATCH: usize = 32;

/// Secret nonces whose codes are already in the durable ledger, ready for a peer pool or for a
/// round we start. Refilled a batch at a time, so the ledger's fsync is paid once per
/// `NONCE_BATCH` nonces instead of on the signing path, and no nonce exists outside this stock
/// before its code is on disk. Shared between the engine, which takes from it under the node's
/// engine lock, and the node's [`StockRefiller`], which adds batches generated and burned
/// without that lock when the stock runs low; only an empty stock (startup, a burst of pings)
/// is refilled inline.
#[derive(Default)]
pub struct NonceStock {
    ready: std::sync::Mutex<Vec<SigningNonce>>,
    refilling: std::sync::atomic::AtomicBool,
}

impl NonceStock {
    fn ready(&self) -> std::sync::MutexGuard<'_, Vec<SigningNonce>> {
        self.ready.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn take(
        &self,
        share: &Secret32,
        ledger: &dyn NonceLedger,
    ) -> Result<SigningNonce, frost::Error> {
        if let Some(n) = self.ready().pop() {
            return Ok(n);
        }
        let mut batch = Self::burned_batch(share, ledger)?;
        let first = batch
            .pop()
            .ok_or_else(|| frost::Error::Frost("empty nonce batch".into()))?;
        self.ready().extend(batch);
        Ok(first)
    }

    /// `NONCE_BATCH` fresh nonces whose codes are durably reserved in `ledger` (one write).
    fn burned_batch(
        share: &Secret32,
        ledger: &dyn NonceLedger,
    ) -> Result<Vec<SigningNonce>, frost::Error> {
        let batch = SigningNonce::generate_batch(share, NONCE_BATCH)?;
        let codes: Vec<Code> = batch.iter().map(|n| *n.code()).collect();
        ledger.reserve(&codes)?;
        Ok(batch)
    }

    pub fn len(&self) -> usize {
        self.ready().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Tops up a [`NonceStock`] off the engine lock (the node runs it on a blocking thread).
pub struct StockRefiller {
    stock: Arc<NonceStock>,
    share: Secret32,
    ledger: Arc<dyn NonceLedger>,
}

impl StockRefiller {
    /// True (and the refill is then this caller's job) when the stock is below one batch and
    /// no refill is running.
    pub fn claim(&self) -> bool {
        use std::sync::atomic::Ordering;
        self.stock.len() < NONCE_BATCH
            && self
                .stock
                .refilling
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
    }

    /// Generates one batch, burns its codes in the ledger (fsync) and adds it to the stock.
    /// Call after a successful [`StockRefiller::claim`].
    pub fn refill(&self) -> Result<(), frost::Error> {
        let r = NonceStock::burned_batch(&self.share, self.ledger.as_ref())
            .map(|batch| self.stock.ready().extend(batch));
        self.stock
            .refilling
            .store(false, std::sync::atomic::Ordering::Release);
        r
    }

    /// Nonces ready now.
    pub fn ready(&self) -> usize {
        self.stock.len()
    }
}

/// Which operation a round belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Ping,
    Sign,
    Ecdh,
    Onboard,
}

impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Op::Ping => "ping",
            Op::Sign => "sign",
            Op::Ecdh => "ecdh",
            Op::Onboard => "onboard",
        })
    }
}

/// Errors of node operations. Peer-caused failures name the peer (x-only hex).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeError {
    #[error("{op}: need {need} co-signing peer(s) but only {have} are usable now")]
    NotEnoughPeers { op: Op, need: usize, have: usize },
    #[error("{op} timed out waiting for peer(s) {peers:?}")]
    Timeout { op: Op, peers: Vec<String> },
    #[error("{op} rejected by peer {peer}: {code}: {message}")]
    PeerRejected {
        op: Op,
        peer: String,
        code: String,
        message: String,
    },
    #[error("{op}: invalid response from peer {peer}: {reason}")]
    InvalidPeerResponse {
        op: Op,
        peer: String,
        reason: String,
    },
    #[error("{0} is not a member of this group")]
    UnknownPeer(String),
    #[error("local policy does not allow {method} requests to peer {peer}")]
    PolicyDenied { method: &'static str, peer: String },
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error("transport: {0}")]
    Transport(String),
    #[error("threshold math: {0}")]
    Frost(String),
    #[error("the node is stopped")]
    Stopped,
    #[error(
        "ecdh cross-check failed: quorum {first:?} and quorum {second:?} disagree (a peer runs a defective ECDH rule)"
    )]
    EcdhMismatch { first: Vec<u16>, second: Vec<u16> },
}

impl From<frost::Error> for NodeError {
    fn from(e: frost::Error) -> Self {
        NodeError::Frost(e.to_string())
    }
}

/// Why an inbound message was dropped (logged; `handle_answering` answers refused requests).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Reject {
    #[error("author {0} is not a group member")]
    UnknownAuthor(String),
    #[error("envelope from {peer}: {reason}")]
    Envelope { peer: String, reason: String },
    #[error("freshness/replay from {peer}: {reason}")]
    Replay { peer: String, reason: String },
    #[error("unsolicited {kind} from {peer}")]
    Unsolicited { peer: String, kind: &'static str },
    #[error("invalid {kind} from {peer}: {reason}")]
    Invalid {
        peer: String,
        kind: &'static str,
        reason: String,
    },
    /// A well-formed request naming a nonce we no longer hold (or already spent): the sender
    /// holds stale inventory, so it is answered `NONCE_UNAVAILABLE` and can re-ping at once.
    #[error("nonce unavailable for {peer}: {reason}")]
    NonceUnavailable { peer: String, reason: String },
}

/// An envelope to send to a member (x-only key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub to: [u8; 32],
    pub envelope: Envelope,
}

/// A finished local operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Signature([u8; 64]),
    Ecdh([u8; 32]),
    Pong { peer: [u8; 32], rtt_ms: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub request_id: String,
    pub result: Result<Outcome, NodeError>,
}

/// What handling one inbound envelope produced.
#[derive(Debug, Default)]
pub struct Handled {
    pub outgoing: Vec<Outgoing>,
    pub completion: Option<Completion>,
    /// Threshold math left to run without the engine ([`Engine::handle_deferred`] only;
    /// [`Engine::handle`] runs it before returning).
    pub deferred: Option<Deferred>,
}

/// Threshold math (a partial signature ≈ 65 µs, an aggregation of our own round ≈ 30 µs)
/// that a handler prepared under the node's engine lock and leaves to run without it, so several
/// rounds' math runs on several cores.
/// Everything that must be exclusive (claiming nonces, the replay cache, the pending round)
/// was done before; [`Deferred::run`] needs no engine, [`Engine::finish`] takes the result.
#[derive(Debug)]
pub enum Deferred {
    /// Our partial signatures for a peer's sign request.
    SignReply(SignReplyJob),
    /// All partial signatures of one of our rounds are in: aggregate and BIP-340-verify.
    Aggregate(AggregateJob),
}

/// Result of a [`Deferred`] job, for [`Engine::finish`].
#[derive(Debug)]
pub enum Computed {
    /// The answer to a sign request, or why it is refused after all (ledger refused a code).
    Reply {
        to: [u8; 32],
        request_id: String,
        now: u64,
        result: Result<Outgoing, Reject>,
    },
    Aggregate {
        request_id: String,
        now: u64,
        msg: [u8; 32],
        result: Result<[u8; 64], frost::Error>,
    },
}

impl Deferred {
    /// Runs the math. Needs no engine lock.
    pub fn run(self) -> Computed {
        match self {
            Deferred::SignReply(job) => job.run(),
            Deferred::Aggregate(job) => job.run(),
        }
    }
}

/// A claimed sign request: the secret nonces (already out of the pool) and the rounds.
pub struct SignReplyJob {
    to: [u8; 32],
    request_id: String,
    now: u64,
    sid: [u8; 32],
    hashes: Vec<[u8; 32]>,
    rounds: Vec<SignRound>,
    /// (hash index, claimed nonce), ascending by hash index.
    items: Vec<(u16, SigningNonce)>,
    replenish: Vec<DerivedPublicNonce>,
    me_idx: u16,
    me_xonly: [u8; 32],
    signer: Arc<ShareSigner>,
    ledger: Arc<dyn NonceLedger>,
}

impl std::fmt::Debug for SignReplyJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignReplyJob")
            .field("to", &hex::encode(self.to))
            .field("request_id", &self.request_id)
            .field("nonces", &self.items.len())
            .finish()
    }
}

impl SignReplyJob {
    fn run(self) -> Computed {
        let (to, request_id, now) = (self.to, self.request_id.clone(), self.now);
        let result = self.sign();
        Computed::Reply {
            to,
            request_id,
            now,
            result,
        }
    }

    fn sign(self) -> Result<Outgoing, Reject> {
        let peer = hex::encode(self.to);
        let invalid = |reason: String| Reject::Invalid {
            peer: peer.clone(),
            kind: "SignRequest",
            reason,
        };
        let mut psigs = Vec::with_capacity(self.items.len());
        for (hash_index, nonce) in self.items {
            let k = usize::from(hash_index);
            let (Some(round), Some(sighash)) = (self.rounds.get(k), self.hashes.get(k)) else {
                return Err(invalid(format!("no round for hash index {k}")));
            };
            // The ledger records the code durably before the signature exists outside.
            let z = match self.signer.sign(round, nonce, self.ledger.as_ref()) {
                Ok(z) => z,
                Err(err @ frost::Error::Ledger(_)) => {
                    return Err(Reject::NonceUnavailable {
                        peer,
                        reason: format!("refusing to sign: {err}"),
                    });
                }
                Err(err) => return Err(invalid(format!("refusing to sign: {err}"))),
            };
            psigs.push(PartialSig {
                hash_index,
                sighash: *sighash,
                partial_sig: z,
            });
        }
        let pkg = PartialSigPackage {
            idx: self.me_idx,
            sid: self.sid,
            pubkey: self.me_xonly,
            psigs,
            nonce_code: None,
            replenish: if self.replenish.is_empty() {
                None
            } else {
                Some(self.replenish)
            },
        };
        Ok(Outgoing {
            to: self.to,
            envelope: Envelope {
                request_id: self.request_id,
                sent_at: self.now,
                payload: Payload::SignResponse(pkg),
            },
        })
    }
}

/// The partial signatures of a finished round of ours, to aggregate.
pub struct AggregateJob {
    request_id: String,
    now: u64,
    msg: [u8; 32],
    round: SignRound,
    partials: Vec<(u16, [u8; 32])>,
    keys: Arc<GroupKeys>,
}

impl std::fmt::Debug for AggregateJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AggregateJob")
            .field("request_id", &self.request_id)
            .field("partials", &self.partials.len())
            .finish()
    }
}

impl AggregateJob {
    fn run(self) -> Computed {
        let result = frost::aggregate(&self.keys, &self.round, &self.partials);
        Computed::Aggregate {
            request_id: self.request_id,
            now: self.now,
            msg: self.msg,
            result,
        }
    }
}

/// What a sign response led to: the round's end (failure), or all partials in.
enum ResponseStep {
    Done(Completion),
    Aggregate(AggregateJob),
}

/// First step of starting a sign round ([`Engine::prepare_sign`]).
#[derive(Debug)]
pub enum PreparedSign {
    /// Cached result.
    Done(Outcome),
    Round(Box<SignStartJob>),
}

/// A sign round whose nonces are taken, before our own partial signature exists.
pub struct SignStartJob {
    now: u64,
    session: SignSessionPackage,
    rounds: Vec<SignRound>,
    own: SigningNonce,
    waiting: BTreeMap<[u8; 32], u16>,
    signer: Arc<ShareSigner>,
    ledger: Arc<dyn NonceLedger>,
}

impl std::fmt::Debug for SignStartJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignStartJob")
            .field("sid", &hex::encode(self.session.sid))
            .field("peers", &self.waiting.len())
            .finish()
    }
}

impl SignStartJob {
    /// Our own partial signature (its nonce code recorded in the ledger first). Needs no
    /// engine lock.
    pub fn run(self) -> Result<SignStarted, NodeError> {
        let round = self
            .rounds
            .first()
            .ok_or_else(|| NodeError::InvalidInput("session has no hashes".into()))?;
        let z = self.signer.sign(round, self.own, self.ledger.as_ref())?;
        Ok(SignStarted {
            now: self.now,
            session: self.session,
            rounds: self.rounds,
            waiting: self.waiting,
            z,
        })
    }
}

/// A sign round with our partial signature, for [`Engine::register_sign`].
#[derive(Debug)]
pub struct SignStarted {
    now: u64,
    session: SignSessionPackage,
    rounds: Vec<SignRound>,
    waiting: BTreeMap<[u8; 32], u16>,
    z: [u8; 32],
}

/// What starting an operation produced: either an immediate result (cache hit) or a round.
#[derive(Debug)]
pub enum Started {
    Done(Outcome),
    Round {
        request_id: String,
        outgoing: Vec<Outgoing>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PeerSelection {
    /// Online peers first, then by x-only hex (bifrost-rs `deterministic_sorted` within each).
    #[default]
    Sorted,
    Random,
}

#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub pool: PoolConfig,
    pub selection: PeerSelection,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            pool: PoolConfig::default(),
            selection: PeerSelection::Sorted,
        }
    }
}

struct PeerState {
    idx: u16,
    xonly: [u8; 32],
    hex: String,
    last_seen: Option<u64>,
    rtt_ms: Option<u64>,
    /// Set when the peer let one of our rounds time out; cleared by its next message.
    unresponsive: bool,
    pool: PeerPool<SigningNonce>,
}

impl PeerState {
    fn online(&self, now: u64) -> bool {
        !self.unresponsive && peers::is_online(self.last_seen, now)
    }
}

enum Pending {
    Ping {
        peer: [u8; 32],
        started_ms: u128,
    },
    Sign {
        session: SignSessionPackage,
        rounds: Vec<SignRound>,
        /// target x-only → idx; removed when its response is in.
        waiting: BTreeMap<[u8; 32], u16>,
        /// per hash: (idx, z)
        partials: Vec<Vec<(u16, [u8; 32])>>,
    },
    Ecdh {
        members: Vec<u16>,
        targets: Vec<[u8; 32]>,
        waiting: BTreeMap<[u8; 32], u16>,
        /// per target: keyshares collected (own first).
        shares: Vec<Vec<[u8; 33]>>,
    },
}

impl Pending {
    fn op(&self) -> Op {
        match self {
            Pending::Ping { .. } => Op::Ping,
            Pending::Sign { .. } => Op::Sign,
            Pending::Ecdh { .. } => Op::Ecdh,
        }
    }
    fn waiting_on(&self) -> Vec<String> {
        match self {
            Pending::Ping { peer, .. } => vec![hex::encode(peer)],
            Pending::Sign { waiting, .. } | Pending::Ecdh { waiting, .. } => {
                waiting.keys().map(hex::encode).collect()
            }
        }
    }
}

/// Small time-bounded result cache.
struct ResultCache<V: Clone> {
    ttl: u64,
    cap: usize,
    map: HashMap<[u8; 32], (V, u64)>,
}

impl<V: Clone> ResultCache<V> {
    fn new(ttl: u64, cap: usize) -> Self {
        Self {
            ttl,
            cap,
            map: HashMap::new(),
        }
    }
    fn get(&self, k: &[u8; 32], now: u64) -> Option<V> {
        self.map
            .get(k)
            .filter(|(_, t)| now.saturating_sub(*t) <= self.ttl)
            .map(|(v, _)| v.clone())
    }
    fn put(&mut self, k: [u8; 32], v: V, now: u64) {
        self.map
            .retain(|_, (_, t)| now.saturating_sub(*t) <= self.ttl);
        while self.map.len() >= self.cap {
            let oldest = self
                .map
                .iter()
                .min_by_key(|(_, (_, t))| *t)
                .map(|(k, _)| *k);
            match oldest {
                Some(o) => {
                    self.map.remove(&o);
                }
                None => break,
            }
        }
        self.map.insert(k, (v, now));
    }
}

/// The protocol engine of one keyset.
pub struct Engine {
    cfg: EngineConfig,
    group: GroupPackage,
    keys: Arc<GroupKeys>,
    gid: [u8; 32],
    me_idx: u16,
    me_xonly: [u8; 32],
    share: Secret32,
    /// Shared with the jobs that run the threshold math outside the node's engine lock.
    signer: Arc<ShareSigner>,
    peers: BTreeMap<[u8; 32], PeerState>,
    replay: ReplayCache,
    policy: Policy,
    pending: HashMap<String, Pending>,
    sign_cache: ResultCache<[u8; 64]>,
    ecdh_cache: ResultCache<[u8; 32]>,
    ledger: Arc<dyn NonceLedger>,
    rejected: u64,
    /// Nonces already burned in the ledger, for peer pools and our own rounds.
    stock: Arc<NonceStock>,
    /// Sign requests that named nonce codes we never generated (see [`DuplicateShare`]).
    duplicate_share: Option<DuplicateShare>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("idx", &self.me_idx)
            .field("pubkey", &hex::encode(self.me_xonly))
            .field("peers", &self.peers.len())
            .field("pending", &self.pending.len())
            .finish()
    }
}

fn to_dpn(code: [u8; 32], p: PublicNonce) -> DerivedPublicNonce {
    DerivedPublicNonce {
        binder_pn: p.binder,
        hidden_pn: p.hidden,
        code,
    }
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

impl Engine {
    /// Builds the engine for the member holding `share` in `group`. The share's index is found
    /// by its 33-byte public key (§8.5).
    pub fn new(
        group: GroupPackage,
        share: Secret32,
        ledger: Arc<dyn NonceLedger>,
        cfg: EngineConfig,
    ) -> Result<Self, NodeError> {
        let keys = group
            .keys()
            .map_err(|e| NodeError::InvalidInput(e.to_string()))?;
        let me_idx = group
            .find_share(&share)
            .map_err(|e| NodeError::InvalidInput(e.to_string()))?;
        let me_xonly = frost::xonly(&share)?;
        let signer = Arc::new(ShareSigner::new(
            &KeyShare::new(me_idx, share.duplicate()),
            &keys,
        )?);
        let keys = Arc::new(keys);
        let mut peers = BTreeMap::new();
        for m in &group.members {
            if m.idx == me_idx {
                continue;
            }
            let x = m.xonly();
            peers.insert(
                x,
                PeerState {
                    idx: m.idx,
                    xonly: x,
                    hex: hex::encode(x),
                    last_seen: None,
                    rtt_ms: None,
                    unresponsive: false,
                    pool: PeerPool::new(cfg.pool),
                },
            );
        }
        Ok(Self {
            gid: group.group_id(),
            group,
            keys,
            me_idx,
            me_xonly,
            share,
            signer,
            peers,
            replay: ReplayCache::default(),
            policy: Policy::default(),
            pending: HashMap::new(),
            sign_cache: ResultCache::new(SIGN_CACHE_SECS, RESULT_CACHE_CAP),
            ecdh_cache: ResultCache::new(ECDH_CACHE_SECS, RESULT_CACHE_CAP),
            ledger,
            cfg,
            rejected: 0,
            duplicate_share: None,
            stock: Arc::default(),
        })
    }

    pub fn idx(&self) -> u16 {
        self.me_idx
    }
    pub fn xonly(&self) -> [u8; 32] {
        self.me_xonly
    }
    pub fn group(&self) -> &GroupPackage {
        &self.group
    }
    pub fn group_pk(&self) -> [u8; 32] {
        self.group.group_pk
    }
    pub fn threshold(&self) -> u16 {
        self.group.threshold
    }
    /// The share secret, for the transport layer (event signing, NIP-44 conversation keys).
    pub fn share_secret(&self) -> &Secret32 {
        &self.share
    }
    pub fn peer_keys(&self) -> Vec<[u8; 32]> {
        self.peers.keys().copied().collect()
    }
    pub fn is_member(&self, xonly: &[u8; 32]) -> bool {
        self.peers.contains_key(xonly)
    }
    pub fn policy(&self) -> &Policy {
        &self.policy
    }
    pub fn policy_mut(&mut self) -> &mut Policy {
        &mut self.policy
    }
    pub fn rejected_count(&self) -> u64 {
        self.rejected
    }
    pub fn pending_count(&self) -> usize {
        self.pending.len()
    }

    /// The refiller of this engine's nonce stock (the node tops it up off the engine lock).
    pub fn stock_refiller(&self) -> StockRefiller {
        StockRefiller {
            stock: self.stock.clone(),
            share: self.share.duplicate(),
            ledger: self.ledger.clone(),
        }
    }

    /// A nonce generator for a peer pool, fed from the burned stock.
    fn gen_for<'a>(
        share: &'a Secret32,
        stock: &'a NonceStock,
        ledger: &'a dyn NonceLedger,
    ) -> impl FnMut() -> Result<(DerivedPublicNonce, SigningNonce), frost::Error> + 'a {
        move || {
            let n = stock.take(share, ledger)?;
            Ok((to_dpn(*n.code(), n.public()), n))
        }
    }

    /// Inserts an outgoing nonce for `peer` (restoring a persisted pool; tests). Codes the
    /// ledger already consumed are refused when they are claimed.
    pub fn insert_outgoing_nonce(
        &mut self,
        peer: &[u8; 32],
        nonce: SigningNonce,
    ) -> Result<(), NodeError> {
        let st = self
            .peers
            .get_mut(peer)
            .ok_or_else(|| NodeError::UnknownPeer(hex::encode(peer)))?;
        let mut once = Some((to_dpn(*nonce.code(), nonce.public()), nonce));
        let want = st.pool.outgoing_len() + 1;
        st.pool
            .fill_outgoing(want, &mut || once.take().ok_or("no more"))
            .map_err(|e| NodeError::InvalidInput(e.to_string()))
    }

    /// Stores public nonces from `peer` as incoming (restoring state; tests).
    pub fn insert_incoming_nonces(
        &mut self,
        peer: &[u8; 32],
        nonces: &[DerivedPublicNonce],
    ) -> usize {
        self.peers
            .get_mut(peer)
            .map(|st| st.pool.store_incoming(nonces))
            .unwrap_or(0)
    }

    // ---------------------------------------------------------------- status

    pub fn status(&self, now: u64) -> NodeStatus {
        let peers: Vec<PeerStatus> = self
            .peers
            .values()
            .map(|p| {
                let online = p.online(now);
                let can_sign = self.policy.allows_outbound(&p.xonly, Method::Sign);
                let can_ecdh = self.policy.allows_outbound(&p.xonly, Method::Ecdh);
                PeerStatus {
                    idx: p.idx,
                    pubkey: p.hex.clone(),
                    last_seen: p.last_seen,
                    rtt_ms: p.rtt_ms,
                    online,
                    incoming_nonces: p.pool.incoming_len(),
                    outgoing_nonces: p.pool.outgoing_len(),
                    outgoing_spent: p.pool.spent_len(),
                    should_send_nonces: p.pool.should_send_nonces(),
                    can_request_sign: can_sign,
                    can_request_ecdh: can_ecdh,
                    sign_ready: online && can_sign && p.pool.has_usable_incoming(),
                    ecdh_ready: online && can_ecdh,
                }
            })
            .collect();
        let t = self.group.threshold;
        let reachable = peers::threshold_reachable(t, &peers);
        let need = usize::from(t.saturating_sub(1));
        NodeStatus {
            idx: self.me_idx,
            pubkey: hex::encode(self.me_xonly),
            group_pk: hex::encode(self.group.group_pk),
            threshold: t,
            ready: reachable,
            threshold_reachable: reachable,
            ecdh_reachable: peers.iter().filter(|p| p.ecdh_ready).count() >= need,
            sign_ready_peers: peers.iter().filter(|p| p.sign_ready).count(),
            online_peers: peers.iter().filter(|p| p.online).count(),
            peers,
            legacy: false,
            relays_connected: 0,
            duplicate_share: self.duplicate_share.clone().filter(|d| d.is_recent(now)),
        }
    }

    /// After a sign request from `from` failed on an unknown code: counts the codes that this
    /// signer never generated (the ledger has every code we ever advertised) and returns how
    /// many. Codes we generated but no longer hold (a restart) do not count.
    fn note_foreign_codes(&mut self, from: &[u8; 32], codes: &[Code], now: u64) -> u64 {
        let pool = self.peers.get(from).map(|st| &st.pool);
        let foreign = codes
            .iter()
            .filter(|c| !pool.is_some_and(|p| p.knows(c)))
            .filter(|c| self.ledger.issued(c) == Some(false))
            .count() as u64;
        if foreign == 0 {
            return 0;
        }
        let peer = hex::encode(from);
        let prev = self.duplicate_share.as_ref().map_or(0, |d| d.codes);
        // One log line per warning window, not per request.
        let quiet = self
            .duplicate_share
            .as_ref()
            .is_some_and(|d| d.is_recent(now));
        if !quiet {
            tracing::warn!(
                peer = %peer,
                "a peer asked to sign with a nonce this signer never generated: is the same share \
                 loaded in another signer? (each share must run in exactly one)"
            );
        }
        self.duplicate_share = Some(DuplicateShare {
            peer,
            codes: prev + foreign,
            last_at: now,
        });
        foreign
    }

    // ---------------------------------------------------------------- ping

    fn build_ping(&mut self, peer: &[u8; 32], now: u64) -> Result<Ping, NodeError> {
        let profile = self.policy.profile_for(peer, now);
        let st = self
            .peers
            .get_mut(peer)
            .ok_or_else(|| NodeError::UnknownPeer(hex::encode(peer)))?;
        let advertised = st
            .pool
            .advertise(&mut Self::gen_for(
                &self.share,
                &self.stock,
                self.ledger.as_ref(),
            ))
            .map_err(|e| NodeError::Frost(e.to_string()))?;
        Ok(Ping {
            version: 2,
            advertised_nonces: advertised,
            held_peer_nonce_codes: st.pool.held_codes(),
            policy_profile: Some(profile),
        })
    }

    /// Starts a ping round towards `peer`.
    pub fn start_ping(&mut self, peer: &[u8; 32], now: u64) -> Result<Started, NodeError> {
        self.start_ping_with_id(peer, now, Envelope::new_request_id())
    }

    /// As `start_ping`, with a caller-chosen request id (transcript replay).
    pub fn start_ping_with_id(
        &mut self,
        peer: &[u8; 32],
        now: u64,
        request_id: String,
    ) -> Result<Started, NodeError> {
        if !self.policy.allows_outbound(peer, Method::Ping) {
            return Err(NodeError::PolicyDenied {
                method: "ping",
                peer: hex::encode(peer),
            });
        }
        let ping = self.build_ping(peer, now)?;
        self.pending.insert(
            request_id.clone(),
            Pending::Ping {
                peer: *peer,
                started_ms: now_ms(),
            },
        );
        Ok(Started::Round {
            outgoing: vec![Outgoing {
                to: *peer,
                envelope: Envelope {
                    request_id: request_id.clone(),
                    sent_at: now,
                    payload: Payload::PingRequest(ping),
                },
            }],
            request_id,
        })
    }

    fn receive_ping(&mut self, from: &[u8; 32], ping: &Ping) {
        if let Some(profile) = &ping.policy_profile {
            self.policy.observe(&self.me_xonly, *from, profile);
        }
        if let Some(st) = self.peers.get_mut(from) {
            st.pool
                .receive_ping(&ping.advertised_nonces, &ping.held_peer_nonce_codes);
        }
    }

    // ---------------------------------------------------------------- sign

    /// Peers usable for `method` now, best first (online, then sorted by x-only hex).
    pub fn candidates(&self, method: Method, now: u64) -> Vec<[u8; 32]> {
        self.select_peers(method, now, usize::MAX)
    }

    /// Member index of a peer.
    pub fn peer_idx(&self, peer: &[u8; 32]) -> Option<u16> {
        self.peers.get(peer).map(|p| p.idx)
    }

    /// Peers that need a ping now: not seen within `stale_secs`, or low on nonces either way.
    pub fn peers_needing_ping(&self, now: u64, stale_secs: u64) -> Vec<[u8; 32]> {
        let min = self.cfg.pool.min_threshold;
        self.peers
            .values()
            .filter(|p| {
                p.last_seen
                    .is_none_or(|t| now.saturating_sub(t) >= stale_secs)
                    || p.pool.incoming_len() < min
                    || p.pool.should_send_nonces()
            })
            .map(|p| p.xonly)
            .collect()
    }

    /// Online peers we may ask to sign but hold too few nonces from (they refused a stale
    /// nonce, or replenishment has not caught up): a ping refills them.
    pub fn online_peers_short_of_nonces(&self, now: u64) -> Vec<[u8; 32]> {
        self.peers
            .values()
            .filter(|p| p.online(now))
            .filter(|p| self.policy.allows_outbound(&p.xonly, Method::Sign))
            .filter(|p| !p.pool.has_usable_incoming())
            .map(|p| p.xonly)
            .collect()
    }

    /// How many incoming nonces we hold from `peer` (0 for a stranger).
    pub fn incoming_nonces(&self, peer: &[u8; 32]) -> usize {
        self.peers
            .get(peer)
            .map(|p| p.pool.incoming_len())
            .unwrap_or(0)
    }

    fn select_peers(&self, method: Method, now: u64, need: usize) -> Vec<[u8; 32]> {
        let mut cands: Vec<&PeerState> = self
            .peers
            .values()
            .filter(|p| self.policy.allows_outbound(&p.xonly, method))
            .filter(|p| method != Method::Sign || p.pool.has_usable_incoming())
            .collect();
        match self.cfg.selection {
            PeerSelection::Sorted => cands.sort_by_key(|p| (!p.online(now), p.hex.clone())),
            PeerSelection::Random => {
                use rand::seq::SliceRandom;
                cands.shuffle(&mut rand::thread_rng());
                cands.sort_by_key(|p| !p.online(now));
            }
        }
        cands.into_iter().take(need).map(|p| p.xonly).collect()
    }

    /// Starts a sign round for one 32-byte message (§6.2): [`Engine::prepare_sign`], our own
    /// partial signature, [`Engine::register_sign`] in one call (tests, transcripts).
    pub fn start_sign(&mut self, msg: [u8; 32], now: u64) -> Result<Started, NodeError> {
        match self.prepare_sign(msg, now)? {
            PreparedSign::Done(o) => Ok(Started::Done(o)),
            PreparedSign::Round(job) => {
                let signed = job.run()?;
                Ok(self.register_sign(signed))
            }
        }
    }

    /// First step of a sign round, under the engine lock: result cache, peer choice, the
    /// peers' incoming nonces and our own nonce are taken out of their pools (so no other
    /// round can use them), the session is built. The returned job computes our partial
    /// signature without the engine; [`Engine::register_sign`] then makes the round pending.
    pub fn prepare_sign(&mut self, msg: [u8; 32], now: u64) -> Result<PreparedSign, NodeError> {
        if let Some(sig) = self.sign_cache.get(&msg, now) {
            return Ok(PreparedSign::Done(Outcome::Signature(sig)));
        }
        let need = usize::from(self.group.threshold.saturating_sub(1));
        let chosen = self.select_peers(Method::Sign, now, need);
        if chosen.len() < need {
            return Err(NodeError::NotEnoughPeers {
                op: Op::Sign,
                need,
                have: chosen.len(),
            });
        }
        // Take the oldest incoming nonce of each chosen peer.
        let mut taken: Vec<([u8; 32], u16, DerivedPublicNonce)> = Vec::new();
        for p in &chosen {
            let st = self
                .peers
                .get_mut(p)
                .ok_or_else(|| NodeError::UnknownPeer(hex::encode(p)))?;
            match st.pool.take_oldest_incoming() {
                Some(n) => taken.push((*p, st.idx, n)),
                None => {
                    for (q, _, n) in taken {
                        if let Some(s) = self.peers.get_mut(&q) {
                            s.pool.restore_incoming_front(n);
                        }
                    }
                    return Err(NodeError::NotEnoughPeers {
                        op: Op::Sign,
                        need,
                        have: 0,
                    });
                }
            }
        }
        let own = self.stock.take(&self.share, self.ledger.as_ref())?;
        let own_pub = own.public();
        let mut sets: Vec<MemberNonces> = taken
            .iter()
            .map(|(_, idx, n)| MemberNonces {
                idx: *idx,
                entries: vec![NonceEntry {
                    hash_index: 0,
                    binder_pn: n.binder_pn,
                    hidden_pn: n.hidden_pn,
                    code: n.code,
                }],
            })
            .collect();
        sets.push(MemberNonces {
            idx: self.me_idx,
            entries: vec![NonceEntry {
                hash_index: 0,
                binder_pn: own_pub.binder,
                hidden_pn: own_pub.hidden,
                code: *own.code(),
            }],
        });
        sets.sort_by_key(|s| s.idx);
        let members: Vec<u16> = sets.iter().map(|s| s.idx).collect();
        let mut session = SignSessionPackage {
            gid: self.gid,
            sid: [0; 32],
            members,
            hashes: vec![msg],
            content: None,
            kind: "message".into(),
            stamp: (now & 0xffff_ffff) as u32,
            nonces: Some(sets),
        };
        session.sid = session.compute_sid();
        let rounds = Self::rounds_for(&session)?;
        Ok(PreparedSign::Round(Box::new(SignStartJob {
            now,
            session,
            rounds,
            own,
            waiting: taken.iter().map(|(p, i, _)| (*p, *i)).collect(),
            signer: self.signer.clone(),
            ledger: self.ledger.clone(),
        })))
    }

    /// Last step of starting a sign round, under the engine lock: the round becomes pending
    /// (so the peers' answers find it) and the requests to send are returned.
    pub fn register_sign(&mut self, signed: SignStarted) -> Started {
        let SignStarted {
            now,
            session,
            rounds,
            waiting,
            z,
        } = signed;
        let request_id = Envelope::new_request_id();
        let outgoing = waiting
            .keys()
            .map(|p| Outgoing {
                to: *p,
                envelope: Envelope {
                    request_id: request_id.clone(),
                    sent_at: now,
                    payload: Payload::SignRequest(session.clone()),
                },
            })
            .collect();
        self.pending.insert(
            request_id.clone(),
            Pending::Sign {
                session,
                rounds,
                waiting,
                partials: vec![vec![(self.me_idx, z)]],
            },
        );
        Started::Round {
            request_id,
            outgoing,
        }
    }

    /// One frost signing round per hash, from the session's nonce sets.
    fn rounds_for(session: &SignSessionPackage) -> Result<Vec<SignRound>, NodeError> {
        let sets = session
            .nonces
            .as_ref()
            .ok_or_else(|| NodeError::InvalidInput("session has no nonces".into()))?;
        let mut rounds = Vec::with_capacity(session.hashes.len());
        for (k, h) in session.hashes.iter().enumerate() {
            let mut commits = Vec::with_capacity(sets.len());
            for s in sets {
                let e = s
                    .entries
                    .iter()
                    .find(|e| usize::from(e.hash_index) == k)
                    .ok_or_else(|| {
                        NodeError::InvalidInput(format!(
                            "member {} has no nonce for hash {k}",
                            s.idx
                        ))
                    })?;
                commits.push((
                    s.idx,
                    PublicNonce {
                        hidden: e.hidden_pn,
                        binder: e.binder_pn,
                    },
                ));
            }
            rounds.push(SignRound::new(h, &commits)?);
        }
        Ok(rounds)
    }

    /// §5.2 / §6.2 responder checks 2–3: canonical members, gid/sid, nonce sets.
    fn validate_session(&self, from_idx: u16, s: &SignSessionPackage) -> Result<(), String> {
        if s.gid != self.gid {
            return Err("gid does not match our group".into());
        }
        if s.compute_sid() != s.sid {
            return Err("sid does not match the session".into());
        }
        if s.hashes.is_empty() || s.hashes.len() > MAX_BATCH {
            return Err(format!("{} hashes (1…100 allowed)", s.hashes.len()));
        }
        self.validate_members(&s.members)?;
        if !s.members.contains(&from_idx) {
            return Err("sender is not in members".into());
        }
        if !s.members.contains(&self.me_idx) {
            return Err("we are not in members".into());
        }
        let sets = s.nonces.as_ref().ok_or("no nonce sets")?;
        let idxs: Vec<u16> = sets.iter().map(|x| x.idx).collect();
        if idxs != s.members {
            return Err("nonce sets do not match members".into());
        }
        for set in sets {
            if set.entries.len() != s.hashes.len() {
                return Err(format!(
                    "member {} has {} nonce entries for {} hashes",
                    set.idx,
                    set.entries.len(),
                    s.hashes.len()
                ));
            }
            let mut seen = HashSet::new();
            for e in &set.entries {
                if usize::from(e.hash_index) >= s.hashes.len() || !seen.insert(e.hash_index) {
                    return Err(format!("member {} has a bad hash_index", set.idx));
                }
            }
        }
        Ok(())
    }

    fn validate_members(&self, members: &[u16]) -> Result<(), String> {
        if members.windows(2).any(|w| w[0] >= w[1]) {
            return Err("members are not strictly ascending".into());
        }
        if members.len() < usize::from(self.group.threshold) {
            return Err(format!(
                "{} members, threshold is {}",
                members.len(),
                self.group.threshold
            ));
        }
        if let Some(m) = members.iter().find(|m| self.group.member(**m).is_none()) {
            return Err(format!("member {m} is not in the group"));
        }
        Ok(())
    }

    /// A peer's sign request, under the engine lock: validation, the nonces it names are
    /// claimed (removed from the pool: no other request can use them) and their commitments
    /// checked, the replenishment is advertised. The partial signatures themselves are
    /// computed by the returned job, without the engine.
    fn handle_sign_request(
        &mut self,
        from: &[u8; 32],
        from_idx: u16,
        request_id: &str,
        s: SignSessionPackage,
        now: u64,
    ) -> Result<SignReplyJob, Reject> {
        let peer = hex::encode(from);
        let invalid = |reason: String| Reject::Invalid {
            peer: peer.clone(),
            kind: "SignRequest",
            reason,
        };
        self.validate_session(from_idx, &s).map_err(&invalid)?;
        let rounds = Self::rounds_for(&s).map_err(|e| invalid(e.to_string()))?;
        let sets = s
            .nonces
            .as_ref()
            .ok_or_else(|| invalid("no nonces".into()))?;
        let mine = sets
            .iter()
            .find(|x| x.idx == self.me_idx)
            .ok_or_else(|| invalid("no nonce set for us".into()))?;
        let mut entries = mine.entries.clone();
        entries.sort_by_key(|e| e.hash_index);
        let codes: Vec<Code> = entries.iter().map(|e| e.code).collect();
        let st = self
            .peers
            .get_mut(from)
            .ok_or_else(|| Reject::UnknownAuthor(peer.clone()))?;
        let claimed = match st.pool.claim(&codes, |_| false) {
            Ok(c) => c,
            Err(e) => {
                let foreign = matches!(e, PoolError::UnknownCode(_))
                    && self.note_foreign_codes(from, &codes, now) > 0;
                let reason = if foreign {
                    format!(
                        "{e}; this signer never generated it (is the same share loaded in another signer?)"
                    )
                } else {
                    e.to_string()
                };
                return Err(Reject::NonceUnavailable { peer, reason });
            }
        };
        let mut items = Vec::with_capacity(claimed.len());
        for (k, (public, nonce)) in claimed.into_iter().enumerate() {
            let e = &entries[k];
            if public.binder_pn != e.binder_pn || public.hidden_pn != e.hidden_pn {
                return Err(invalid(format!(
                    "commitment for code {} does not match the nonce we issued",
                    hex::encode(e.code)
                )));
            }
            items.push((e.hash_index, nonce));
        }
        let st = self
            .peers
            .get_mut(from)
            .ok_or_else(|| Reject::UnknownAuthor(peer.clone()))?;
        let replenish = st
            .pool
            .advertise(&mut Self::gen_for(
                &self.share,
                &self.stock,
                self.ledger.as_ref(),
            ))
            .map_err(|e| invalid(e.to_string()))?;
        Ok(SignReplyJob {
            to: *from,
            request_id: request_id.to_string(),
            now,
            sid: s.sid,
            hashes: s.hashes,
            rounds,
            items,
            replenish,
            me_idx: self.me_idx,
            me_xonly: self.me_xonly,
            signer: self.signer.clone(),
            ledger: self.ledger.clone(),
        })
    }

    fn handle_sign_response(
        &mut self,
        from: &[u8; 32],
        from_idx: u16,
        request_id: &str,
        pkg: PartialSigPackage,
        now: u64,
    ) -> Option<ResponseStep> {
        let peer = hex::encode(from);
        let Some(Pending::Sign {
            session,
            rounds,
            waiting,
            partials,
        }) = self.pending.get_mut(request_id)
        else {
            return None;
        };
        let fail = |reason: String| NodeError::InvalidPeerResponse {
            op: Op::Sign,
            peer: peer.clone(),
            reason,
        };
        let check = (|| -> Result<(), NodeError> {
            if waiting.get(from) != Some(&from_idx) {
                return Err(fail("not a target of this round, or answered twice".into()));
            }
            if pkg.idx != from_idx {
                return Err(fail(format!(
                    "idx {} is not the sender's index {from_idx}",
                    pkg.idx
                )));
            }
            if pkg.sid != session.sid {
                return Err(fail("sid does not match the session".into()));
            }
            if pkg.psigs.len() != session.hashes.len() {
                return Err(fail(format!(
                    "{} partial signatures for {} hashes",
                    pkg.psigs.len(),
                    session.hashes.len()
                )));
            }
            let mut seen = HashSet::new();
            for p in &pkg.psigs {
                let k = usize::from(p.hash_index);
                if k >= session.hashes.len() || !seen.insert(k) {
                    return Err(fail("bad or duplicate hash_index".into()));
                }
                if p.sighash != session.hashes[k] {
                    return Err(fail("sighash does not match the session".into()));
                }
                // The aggregated hash (index 0) is checked by `frost::aggregate`, which verifies
                // the final signature and, only if it fails, every share to name the culprit:
                // verifying it here too cost ~10 % of a round's CPU (BENCHMARKS.md, Node).
                if k > 0 {
                    frost::verify_partial(&self.keys, &rounds[k], from_idx, &p.partial_sig)
                        .map_err(|_| fail("invalid partial signature".into()))?;
                }
            }
            Ok(())
        })();
        if let Err(e) = check {
            // A target's invalid answer fails the whole round; strangers are just ignored.
            if waiting.contains_key(from) {
                self.pending.remove(request_id);
                return Some(ResponseStep::Done(Completion {
                    request_id: request_id.to_string(),
                    result: Err(e),
                }));
            }
            return None;
        }
        waiting.remove(from);
        for p in &pkg.psigs {
            let k = usize::from(p.hash_index);
            if partials.len() <= k {
                partials.resize(k + 1, Vec::new());
            }
            partials[k].push((from_idx, p.partial_sig));
        }
        let done = waiting.is_empty();
        if let (Some(rep), Some(st)) = (&pkg.replenish, self.peers.get_mut(from)) {
            st.pool.store_incoming(rep);
        }
        if !done {
            return None;
        }
        let Some(Pending::Sign {
            session,
            mut rounds,
            mut partials,
            ..
        }) = self.pending.remove(request_id)
        else {
            return None;
        };
        let Some(&msg) = session
            .hashes
            .first()
            .filter(|_| !rounds.is_empty() && !partials.is_empty())
        else {
            return Some(ResponseStep::Done(Completion {
                request_id: request_id.to_string(),
                result: Err(NodeError::Frost("sign round without a hash".into())),
            }));
        };
        // The aggregation runs without the engine lock; the round is no longer
        // pending, so a late or repeated answer cannot start a second one.
        Some(ResponseStep::Aggregate(AggregateJob {
            request_id: request_id.to_string(),
            now,
            msg,
            round: rounds.swap_remove(0),
            partials: partials.swap_remove(0),
            keys: self.keys.clone(),
        }))
    }

    // ---------------------------------------------------------------- ecdh

    /// Starts an ECDH round with the x-only `target` (§6.3, corrected rule).
    pub fn start_ecdh(&mut self, target: [u8; 32], now: u64) -> Result<Started, NodeError> {
        if let Some(x) = self.ecdh_cache.get(&target, now) {
            return Ok(Started::Done(Outcome::Ecdh(x)));
        }
        let need = usize::from(self.group.threshold.saturating_sub(1));
        let chosen = self.select_peers(Method::Ecdh, now, need);
        self.start_ecdh_with(target, &chosen, now)
    }

    /// ECDH with an explicit set of peers (second-quorum cross-check).
    pub fn start_ecdh_with(
        &mut self,
        target: [u8; 32],
        chosen: &[[u8; 32]],
        now: u64,
    ) -> Result<Started, NodeError> {
        let need = usize::from(self.group.threshold.saturating_sub(1));
        if chosen.len() < need {
            return Err(NodeError::NotEnoughPeers {
                op: Op::Ecdh,
                need,
                have: chosen.len(),
            });
        }
        let mut waiting = BTreeMap::new();
        for p in chosen {
            let st = self
                .peers
                .get(p)
                .ok_or_else(|| NodeError::UnknownPeer(hex::encode(p)))?;
            waiting.insert(*p, st.idx);
        }
        let mut members: Vec<u16> = waiting.values().copied().collect();
        members.push(self.me_idx);
        members.sort_unstable();
        let own = frost::ecdh_share(self.me_idx, &self.share, &members, &target)?;
        let pkg = EcdhPackage {
            idx: self.me_idx,
            members: members.clone(),
            entries: vec![EcdhEntry {
                ecdh_pk: target,
                keyshare: own,
            }],
        };
        let request_id = Envelope::new_request_id();
        let outgoing = waiting
            .keys()
            .map(|p| Outgoing {
                to: *p,
                envelope: Envelope {
                    request_id: request_id.clone(),
                    sent_at: now,
                    payload: Payload::EcdhRequest(pkg.clone()),
                },
            })
            .collect();
        self.pending.insert(
            request_id.clone(),
            Pending::Ecdh {
                members,
                targets: vec![target],
                waiting,
                shares: vec![vec![own]],
            },
        );
        Ok(Started::Round {
            request_id,
            outgoing,
        })
    }

    fn validate_ecdh(&self, from_idx: u16, p: &EcdhPackage) -> Result<(), String> {
        if p.idx != from_idx {
            return Err(format!(
                "idx {} is not the sender's index {from_idx}",
                p.idx
            ));
        }
        self.validate_members(&p.members)?;
        if !p.members.contains(&self.me_idx) || !p.members.contains(&from_idx) {
            return Err("members must contain both sender and receiver".into());
        }
        if p.entries.is_empty() || p.entries.len() > MAX_BATCH {
            return Err(format!("{} entries (1…100 allowed)", p.entries.len()));
        }
        Ok(())
    }

    fn handle_ecdh_request(
        &mut self,
        from: &[u8; 32],
        from_idx: u16,
        request_id: &str,
        p: EcdhPackage,
        now: u64,
    ) -> Result<Vec<Outgoing>, Reject> {
        let peer = hex::encode(from);
        let invalid = |reason: String| Reject::Invalid {
            peer: peer.clone(),
            kind: "EcdhRequest",
            reason,
        };
        self.validate_ecdh(from_idx, &p).map_err(&invalid)?;
        let mut entries = Vec::with_capacity(p.entries.len());
        for e in &p.entries {
            let ks = frost::ecdh_share(self.me_idx, &self.share, &p.members, &e.ecdh_pk)
                .map_err(|e| invalid(e.to_string()))?;
            entries.push(EcdhEntry {
                ecdh_pk: e.ecdh_pk,
                keyshare: ks,
            });
        }
        Ok(vec![Outgoing {
            to: *from,
            envelope: Envelope {
                request_id: request_id.to_string(),
                sent_at: now,
                payload: Payload::EcdhResponse(EcdhPackage {
                    idx: self.me_idx,
                    members: p.members,
                    entries,
                }),
            },
        }])
    }

    fn handle_ecdh_response(
        &mut self,
        from: &[u8; 32],
        from_idx: u16,
        request_id: &str,
        p: EcdhPackage,
        now: u64,
    ) -> Option<Completion> {
        let peer = hex::encode(from);
        let valid = self.validate_ecdh(from_idx, &p);
        let Some(Pending::Ecdh {
            members,
            targets,
            waiting,
            shares,
        }) = self.pending.get_mut(request_id)
        else {
            return None;
        };
        if !waiting.contains_key(from) {
            return None;
        }
        let fail = |reason: String| NodeError::InvalidPeerResponse {
            op: Op::Ecdh,
            peer: peer.clone(),
            reason,
        };
        let check = (|| {
            valid.map_err(&fail)?;
            if &p.members != members {
                return Err(fail("members differ from the request".into()));
            }
            let mut got = Vec::with_capacity(targets.len());
            for t in targets.iter() {
                let e =
                    p.entries.iter().find(|e| &e.ecdh_pk == t).ok_or_else(|| {
                        fail(format!("no keyshare for target {}", hex::encode(t)))
                    })?;
                got.push(e.keyshare);
            }
            Ok(got)
        })();
        match check {
            Err(e) => {
                self.pending.remove(request_id);
                Some(Completion {
                    request_id: request_id.to_string(),
                    result: Err(e),
                })
            }
            Ok(got) => {
                waiting.remove(from);
                for (k, ks) in got.into_iter().enumerate() {
                    shares[k].push(ks);
                }
                if !waiting.is_empty() {
                    return None;
                }
                let target = targets[0];
                let result = frost::ecdh_combine(&shares[0]);
                self.pending.remove(request_id);
                let result = match result {
                    Ok(x) => {
                        self.ecdh_cache.put(target, x, now);
                        Ok(Outcome::Ecdh(x))
                    }
                    Err(e) => Err(NodeError::InvalidPeerResponse {
                        op: Op::Ecdh,
                        peer,
                        reason: format!("keyshare does not combine: {e}"),
                    }),
                };
                Some(Completion {
                    request_id: request_id.to_string(),
                    result,
                })
            }
        }
    }

    /// Forgets a cached ECDH result (after a failed cross-check).
    pub fn forget_ecdh(&mut self, target: &[u8; 32]) {
        self.ecdh_cache.map.remove(target);
    }

    // ---------------------------------------------------------------- onboard

    fn handle_onboard_request(
        &mut self,
        from: &[u8; 32],
        request_id: &str,
        req: OnboardRequest,
        now: u64,
    ) -> Result<Vec<Outgoing>, Reject> {
        let peer = hex::encode(from);
        req.validate().map_err(|e| Reject::Invalid {
            peer: peer.clone(),
            kind: "OnboardRequest",
            reason: e.to_string(),
        })?;
        let size = self.cfg.pool.pool_size;
        let st = self
            .peers
            .get_mut(from)
            .ok_or_else(|| Reject::UnknownAuthor(peer.clone()))?;
        st.pool.store_incoming(&req.nonces);
        st.pool
            .fill_outgoing(
                size,
                &mut Self::gen_for(&self.share, &self.stock, self.ledger.as_ref()),
            )
            .map_err(|e| Reject::Invalid {
                peer: peer.clone(),
                kind: "OnboardRequest",
                reason: e.to_string(),
            })?;
        let nonces = st.pool.outgoing_public();
        Ok(vec![Outgoing {
            to: *from,
            envelope: Envelope {
                request_id: request_id.to_string(),
                sent_at: now,
                payload: Payload::OnboardResponse(OnboardResponse {
                    group: self.group.clone(),
                    nonces,
                }),
            },
        }])
    }

    // ---------------------------------------------------------------- dispatch

    /// Forgets a pending round whose caller went away (no peer is blamed).
    pub fn cancel(&mut self, request_id: &str) -> bool {
        self.pending.remove(request_id).is_some()
    }

    /// Fails a pending round (timeout); returns its completion.
    pub fn expire(&mut self, request_id: &str) -> Option<Completion> {
        let p = self.pending.remove(request_id)?;
        let silent: Vec<[u8; 32]> = match &p {
            Pending::Ping { peer, .. } => vec![*peer],
            Pending::Sign { waiting, .. } | Pending::Ecdh { waiting, .. } => {
                waiting.keys().copied().collect()
            }
        };
        for k in silent {
            if let Some(st) = self.peers.get_mut(&k) {
                st.unresponsive = true;
            }
        }
        Some(Completion {
            request_id: request_id.to_string(),
            result: Err(NodeError::Timeout {
                op: p.op(),
                peers: p.waiting_on(),
            }),
        })
    }

    /// As [`Engine::handle`], but a request that was authenticated, fresh and then refused
    /// (invalid session, unusable nonce codes, bad ECDH package, ...) is answered with an
    /// `Error` (`NONCE_UNAVAILABLE` or `BAD_REQUEST`, the reason as message) under its
    /// `request_id`, so the initiator fails at once instead of at its timeout. Returns what to
    /// send and complete, and the reason a message was refused or dropped (for the log).
    pub fn handle_answering(
        &mut self,
        from: &[u8; 32],
        env: Envelope,
        now: u64,
    ) -> (Handled, Option<Reject>) {
        self.answering(from, env, now, true)
    }

    /// As [`Engine::handle_answering`], but threshold math is left in `Handled::deferred`:
    /// the caller runs it without holding the engine ([`Deferred::run`]) and hands the result
    /// to [`Engine::finish`].
    pub fn handle_answering_deferred(
        &mut self,
        from: &[u8; 32],
        env: Envelope,
        now: u64,
    ) -> (Handled, Option<Reject>) {
        self.answering(from, env, now, false)
    }

    fn answering(
        &mut self,
        from: &[u8; 32],
        env: Envelope,
        now: u64,
        inline: bool,
    ) -> (Handled, Option<Reject>) {
        let rid = env.request_id.clone();
        let is_request = matches!(
            env.payload,
            Payload::PingRequest(_)
                | Payload::SignRequest(_)
                | Payload::EcdhRequest(_)
                | Payload::OnboardRequest(_)
        ) && !self.pending.contains_key(&rid);
        let r = if inline {
            self.handle(from, env, now)
        } else {
            self.handle_deferred(from, env, now)
        };
        match r {
            Ok(h) => (h, None),
            Err(r) => {
                let mut h = Handled::default();
                if is_request && let Some(o) = refusal_reply(from, rid, now, &r) {
                    h.outgoing.push(o);
                }
                (h, Some(r))
            }
        }
    }

    /// Takes the result of a [`Deferred`] job (under the engine lock again): a refused reply
    /// is counted and answered with an `Error`, an aggregate is cached and completes its round.
    pub fn finish(&mut self, c: Computed) -> (Handled, Option<Reject>) {
        let mut h = Handled::default();
        match c {
            Computed::Reply { result: Ok(o), .. } => {
                h.outgoing.push(o);
                (h, None)
            }
            Computed::Reply {
                to,
                request_id,
                now,
                result: Err(r),
            } => {
                self.rejected += 1;
                if let Some(o) = refusal_reply(&to, request_id, now, &r) {
                    h.outgoing.push(o);
                }
                (h, Some(r))
            }
            Computed::Aggregate {
                request_id,
                now,
                msg,
                result,
            } => {
                h.completion = Some(self.finish_aggregate(request_id, now, msg, result));
                (h, None)
            }
        }
    }

    fn finish_aggregate(
        &mut self,
        request_id: String,
        now: u64,
        msg: [u8; 32],
        result: Result<[u8; 64], frost::Error>,
    ) -> Completion {
        let result = match result {
            Ok(sig) => {
                self.sign_cache.put(msg, sig, now);
                Ok(Outcome::Signature(sig))
            }
            Err(frost::Error::BadPartialSignature(i)) => Err(NodeError::InvalidPeerResponse {
                op: Op::Sign,
                peer: self
                    .group
                    .member(i)
                    .map(|m| hex::encode(m.xonly()))
                    .unwrap_or_default(),
                reason: "invalid partial signature".into(),
            }),
            Err(e) => Err(e.into()),
        };
        Completion { request_id, result }
    }

    /// Handles one authenticated, decrypted envelope from `from` (steps 5–6 of §2, then the
    /// handlers of §5/§6). Errors are reasons to drop the message; a policy denial is answered
    /// with an `Error` payload (in `Handled.outgoing`). Threshold math runs before it returns.
    pub fn handle(&mut self, from: &[u8; 32], env: Envelope, now: u64) -> Result<Handled, Reject> {
        let mut h = self.handle_deferred(from, env, now)?;
        if let Some(job) = h.deferred.take() {
            let (done, refused) = self.finish(job.run());
            if let Some(r) = refused {
                // Answered by the caller (`handle_answering`), like any other refusal.
                return Err(r);
            }
            h.outgoing.extend(done.outgoing);
            h.completion = h.completion.or(done.completion);
        }
        Ok(h)
    }

    /// As [`Engine::handle`], with the threshold math left in `Handled::deferred`.
    pub fn handle_deferred(
        &mut self,
        from: &[u8; 32],
        env: Envelope,
        now: u64,
    ) -> Result<Handled, Reject> {
        let r = self.handle_inner(from, env, now);
        if r.is_err() {
            self.rejected += 1;
        }
        r
    }

    fn handle_inner(
        &mut self,
        from: &[u8; 32],
        env: Envelope,
        now: u64,
    ) -> Result<Handled, Reject> {
        let peer = hex::encode(from);
        let Some(st) = self.peers.get_mut(from) else {
            return Err(Reject::UnknownAuthor(peer));
        };
        let from_idx = st.idx;
        st.last_seen = Some(now);
        st.unresponsive = false;
        self.replay
            .check(&peer, &env.request_id, env.sent_at, now)
            .map_err(|e| Reject::Replay {
                peer: peer.clone(),
                reason: e.to_string(),
            })?;
        env.check().map_err(|e| Reject::Envelope {
            peer: peer.clone(),
            reason: e.to_string(),
        })?;
        let rid = env.request_id;
        let mut out = Handled::default();

        if self.pending.contains_key(&rid) {
            out.completion = match env.payload {
                Payload::PingResponse(ping) => {
                    ping.validate().map_err(|e| Reject::Invalid {
                        peer: peer.clone(),
                        kind: "PingResponse",
                        reason: e.to_string(),
                    })?;
                    let Some(Pending::Ping {
                        peer: target,
                        started_ms,
                    }) = self.pending.get(&rid)
                    else {
                        return Err(Reject::Unsolicited {
                            peer,
                            kind: "PingResponse",
                        });
                    };
                    if target != from {
                        return Err(Reject::Unsolicited {
                            peer,
                            kind: "PingResponse",
                        });
                    }
                    let rtt =
                        u64::try_from(now_ms().saturating_sub(*started_ms)).unwrap_or(u64::MAX);
                    self.pending.remove(&rid);
                    self.receive_ping(from, &ping);
                    if let Some(st) = self.peers.get_mut(from) {
                        st.rtt_ms = Some(rtt);
                    }
                    Some(Completion {
                        request_id: rid,
                        result: Ok(Outcome::Pong {
                            peer: *from,
                            rtt_ms: rtt,
                        }),
                    })
                }
                Payload::SignResponse(pkg) => {
                    match self.handle_sign_response(from, from_idx, &rid, pkg, now) {
                        Some(ResponseStep::Done(c)) => Some(c),
                        Some(ResponseStep::Aggregate(job)) => {
                            out.deferred = Some(Deferred::Aggregate(job));
                            None
                        }
                        None => None,
                    }
                }
                Payload::EcdhResponse(pkg) => {
                    self.handle_ecdh_response(from, from_idx, &rid, pkg, now)
                }
                Payload::Error(e) => {
                    let targeted = match self.pending.get(&rid) {
                        Some(Pending::Ping { peer: p, .. }) => p == from,
                        Some(Pending::Sign { waiting, .. })
                        | Some(Pending::Ecdh { waiting, .. }) => waiting.contains_key(from),
                        None => false,
                    };
                    if !targeted {
                        return Err(Reject::Unsolicited {
                            peer,
                            kind: "Error",
                        });
                    }
                    let op = self
                        .pending
                        .remove(&rid)
                        .map(|p| p.op())
                        .unwrap_or(Op::Sign);
                    tracing::warn!(peer = %peer, "peer rejected request: {}:{}", e.code, e.message);
                    if e.code == NONCE_UNAVAILABLE
                        && let Some(st) = self.peers.get_mut(from)
                    {
                        // The peer no longer knows (some of) the nonces we hold from it: it
                        // restarted, or we hold a stale copy. Drop them all; a ping refills.
                        let n = st.pool.clear_incoming();
                        tracing::info!(peer = %peer, "dropped {n} stale nonce(s) from the peer; it needs a ping");
                    }
                    Some(Completion {
                        request_id: rid,
                        result: Err(NodeError::PeerRejected {
                            op,
                            peer,
                            code: e.code,
                            message: e.message,
                        }),
                    })
                }
                other => {
                    return Err(Reject::Unsolicited {
                        peer,
                        kind: other.type_name(),
                    });
                }
            };
            return Ok(out);
        }

        let method = match &env.payload {
            Payload::PingRequest(_) => Method::Ping,
            Payload::OnboardRequest(_) => Method::Onboard,
            Payload::SignRequest(_) => Method::Sign,
            Payload::EcdhRequest(_) => Method::Ecdh,
            other => {
                return Err(Reject::Unsolicited {
                    peer,
                    kind: other.type_name(),
                });
            }
        };
        if !self.policy.allows_inbound(from, method) {
            tracing::info!(peer = %peer, method = method.as_str(), "inbound request denied by local policy");
            out.outgoing.push(error_reply(
                from,
                rid,
                now,
                PEER_DENIED,
                method.denied_message(),
            ));
            return Ok(out);
        }
        out.outgoing = match env.payload {
            Payload::PingRequest(ping) => {
                ping.validate().map_err(|e| Reject::Invalid {
                    peer: peer.clone(),
                    kind: "PingRequest",
                    reason: e.to_string(),
                })?;
                self.receive_ping(from, &ping);
                let resp = self.build_ping(from, now).map_err(|e| Reject::Invalid {
                    peer: peer.clone(),
                    kind: "PingRequest",
                    reason: e.to_string(),
                })?;
                vec![Outgoing {
                    to: *from,
                    envelope: Envelope {
                        request_id: rid,
                        sent_at: now,
                        payload: Payload::PingResponse(resp),
                    },
                }]
            }
            Payload::SignRequest(s) => {
                let job = self.handle_sign_request(from, from_idx, &rid, s, now)?;
                out.deferred = Some(Deferred::SignReply(job));
                Vec::new()
            }
            Payload::EcdhRequest(p) => self.handle_ecdh_request(from, from_idx, &rid, p, now)?,
            Payload::OnboardRequest(r) => self.handle_onboard_request(from, &rid, r, now)?,
            _ => Vec::new(),
        };
        Ok(out)
    }
}

/// The `Error` answer to a refused request (`BAD_REQUEST` / `NONCE_UNAVAILABLE`), if the
/// refusal is one that is answered.
fn refusal_reply(to: &[u8; 32], request_id: String, now: u64, r: &Reject) -> Option<Outgoing> {
    let code = match r {
        Reject::Invalid { .. } => BAD_REQUEST,
        Reject::NonceUnavailable { .. } => NONCE_UNAVAILABLE,
        _ => return None,
    };
    Some(error_reply(to, request_id, now, code, r.to_string()))
}

/// An `Error` answer under `request_id` to peer `to`: how a refused request is answered
/// (policy denial, unusable nonces, bad package), so the initiator fails at once (§5.6).
fn error_reply(
    to: &[u8; 32],
    request_id: String,
    now: u64,
    code: &str,
    message: String,
) -> Outgoing {
    Outgoing {
        to: *to,
        envelope: Envelope {
            request_id,
            sent_at: now,
            payload: Payload::Error(ErrorPayload {
                code: code.into(),
                message,
            }),
        },
    }
}
