//! Async Frostbox nodes over an in-process bus: full rounds through the event codec, timeouts,
//! bad events, supervisor reconnect, the `Nodes` registry.

use std::sync::Arc;
use std::time::Duration;

use frostbox::frost::{self, MemoryNonceLedger};
use frostbox::frostr::next::group::GroupPackage;
use frostbox::frostr::next::wire::{Envelope, ErrorPayload, Payload};
use frostbox::frostr::node::codec::{Codec, KIND};
use frostbox::frostr::node::policy::Override;
use frostbox::frostr::node::transport::{LocalBus, Transport, TransportFactory};
use frostbox::frostr::node::{Node, NodeConfig, NodeError, NodeHandle, Nodes, SupervisorConfig};
use frostbox::nostr::Event;
use frostbox::vault::secret::Secret32;

struct Group {
    nodes: Vec<NodeHandle>,
    group: GroupPackage,
    secret: Secret32,
    bus: LocalBus,
    shares: Vec<Secret32>,
}

fn fast_supervisor() -> SupervisorConfig {
    SupervisorConfig {
        tick: Duration::from_millis(50),
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        disconnected_after: Duration::from_millis(100),
        ..SupervisorConfig::default()
    }
}

/// A node config for `share` of `group` on `bus` (memory ledger, no relays), and its transport.
fn bus_node(
    group: &GroupPackage,
    share: &Secret32,
    bus: &LocalBus,
) -> (NodeConfig, TransportFactory) {
    bus_node_with(group, share, bus, Arc::new(MemoryNonceLedger::new()))
}

/// [`bus_node`] with a given ledger (kept across a restart, as the store keeps it on disk).
fn bus_node_with(
    group: &GroupPackage,
    share: &Secret32,
    bus: &LocalBus,
    ledger: Arc<dyn frost::NonceLedger>,
) -> (NodeConfig, TransportFactory) {
    let b = bus.clone();
    let factory: TransportFactory = Arc::new(move || Arc::new(b.clone()) as Arc<dyn Transport>);
    let cfg = NodeConfig::new(group.clone(), share.duplicate(), vec![], ledger);
    (cfg, factory)
}

async fn group(t: u16, n: u16, cross_check: bool) -> Group {
    let ks = frost::keygen(t, n).expect("keygen");
    let group = GroupPackage::from_keys("bus", &ks.group);
    let secret = frost::recover(&ks.shares).expect("recover");
    let bus = LocalBus::new();
    let mut nodes = Vec::new();
    for s in &ks.shares {
        let (mut cfg, factory) = bus_node(&group, &s.secret, &bus);
        cfg.ecdh_cross_check = cross_check;
        cfg.supervisor = fast_supervisor();
        cfg.timeouts.sign = Duration::from_secs(5);
        cfg.timeouts.ecdh = Duration::from_secs(5);
        cfg.label = format!("m{}", s.idx);
        nodes.push(Node::start_with(cfg, factory).await.expect("start"));
    }
    let shares = ks.shares.iter().map(|s| s.secret.duplicate()).collect();
    Group {
        nodes,
        group,
        secret,
        bus,
        shares,
    }
}

async fn wait_ready(nodes: &[NodeHandle]) {
    for _ in 0..200 {
        if nodes.iter().all(|n| n.status().ready) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "nodes not ready: {:?}",
        nodes.iter().map(|n| n.status()).collect::<Vec<_>>()
    );
}

use crate::api_support::keys::plain_ecdh_x;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_of_three_over_bus_with_ecdh_cross_check() {
    let g = group(2, 3, true).await;
    wait_ready(&g.nodes).await;
    for (i, n) in g.nodes.iter().enumerate() {
        let msg = [i as u8 + 10; 32];
        let sig = n.sign(msg).await.expect("sign");
        assert!(frost::verify_bip340(&g.group.group_pk, &msg, &sig));
        assert_eq!(n.group_pk(), g.group.group_pk);
    }
    let target = frost::xonly(&Secret32::random()).expect("x");
    let want = plain_ecdh_x(&g.secret, &target);
    for n in &g.nodes {
        assert_eq!(n.ecdh(target).await.expect("ecdh"), want);
    }
    let rtt = g.nodes[0].ping(g.nodes[1].pubkey()).await.expect("ping");
    assert!(rtt < Duration::from_secs(5));
    let st = g.nodes[0].status();
    assert!(st.threshold_reachable && st.ready);
    assert_eq!(st.peers.len(), 2);
    assert!(
        st.peers
            .iter()
            .all(|p| p.rtt_ms.is_some() && p.last_seen.is_some())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_survives_first_peer_offline() {
    let g = group(2, 3, false).await;
    wait_ready(&g.nodes).await;
    // The lowest-sorted peer of node 0 goes away; node 0 still signs via the other one.
    let st = g.nodes[0].status();
    let first = st
        .peers
        .iter()
        .map(|p| p.pubkey.clone())
        .min()
        .expect("peer");
    let off = g
        .nodes
        .iter()
        .find(|n| hex::encode(n.pubkey()) == first)
        .expect("node");
    off.shutdown().await;
    // Make node 0 see the other peer as the only online one: ping it now.
    let other = g
        .nodes
        .iter()
        .skip(1)
        .find(|n| hex::encode(n.pubkey()) != first)
        .expect("other");
    g.nodes[0].ping(other.pubkey()).await.expect("ping");
    assert!(g.nodes[0].status().threshold_reachable);
    let msg = [0x77; 32];
    // If the vanished peer is picked first, that round times out naming it; the peer is then
    // marked unresponsive and the next round uses the online one.
    let sig = match g.nodes[0].sign(msg).await {
        Ok(sig) => sig,
        Err(NodeError::Timeout { peers, .. }) => {
            assert_eq!(peers, vec![first.clone()]);
            g.nodes[0]
                .sign(msg)
                .await
                .expect("second round uses the online peer")
        }
        Err(e) => panic!("{e}"),
    };
    assert!(frost::verify_bip340(&g.group.group_pk, &msg, &sig));
    let st = g.nodes[0].status();
    assert!(st.threshold_reachable);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_names_the_silent_peer() {
    let g = group(2, 2, false).await;
    wait_ready(&g.nodes).await;
    let silent = g.nodes[1].pubkey();
    g.nodes[1].shutdown().await;
    let mut cfg_msg = [0u8; 32];
    cfg_msg[0] = 1;
    let t0 = std::time::Instant::now();
    let err = g.nodes[0].sign(cfg_msg).await.expect_err("peer is gone");
    assert!(t0.elapsed() >= Duration::from_secs(4));
    match err {
        NodeError::Timeout { peers, .. } => assert_eq!(peers, vec![hex::encode(silent)]),
        e => panic!("{e}"),
    }
}

/// Malformed, misaddressed, foreign, forged and replayed events are dropped with a reason;
/// the node keeps working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_events_are_dropped_and_node_keeps_working() {
    let g = group(2, 3, false).await;
    wait_ready(&g.nodes).await;
    let victim = &g.nodes[0];
    let vkey = victim.pubkey();
    let (dropped0, _) = victim.counters();
    let peer_secret = g.shares[1].duplicate();
    let ptag = vec![vec!["p".to_string(), hex::encode(vkey)]];
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs();
    let mk = |content: &str, tags: Vec<Vec<String>>| {
        Event::sign(&peer_secret, now, KIND, tags, content.to_string(), [0; 32]).expect("ev")
    };
    // 1. Not NIP-44 at all.
    g.bus
        .publish(&mk("garbage", ptag.clone()))
        .await
        .expect("pub");
    // 2. Valid NIP-44 but not an envelope.
    let codec = Codec::new(peer_secret.duplicate(), [vkey]).expect("codec");
    let conv = frostbox::nostr::nip44::conversation_key(&peer_secret, &vkey).expect("conv");
    let junk = frostbox::nostr::nip44::encrypt(
        &conv,
        "{\"nope\":1}",
        frostbox::nostr::nip44::B64::Unpadded,
    )
    .expect("enc");
    g.bus.publish(&mk(&junk, ptag.clone())).await.expect("pub");
    // 3. Two p tags.
    let mut two = ptag.clone();
    two.push(vec!["p".into(), hex::encode(g.nodes[2].pubkey())]);
    g.bus.publish(&mk(&junk, two)).await.expect("pub");
    // 4. A stale envelope (sent 10 minutes ago).
    let stale = Envelope {
        request_id: "stale-1".into(),
        sent_at: now - 600,
        payload: Payload::Error(ErrorPayload {
            code: "x".into(),
            message: "y".into(),
        }),
    };
    let ev = codec.seal(&vkey, &stale).expect("seal");
    g.bus.publish(&ev).await.expect("pub");
    // 5. A forged signature.
    let mut forged = codec
        .seal(
            &vkey,
            &Envelope {
                request_id: "forged".into(),
                sent_at: now,
                payload: stale.payload.clone(),
            },
        )
        .expect("seal");
    forged.sig[0] ^= 1;
    g.bus.publish(&forged).await.expect("pub");
    // 6. A stranger (not a member) — the filter's authors exclude it, so send directly.
    let stranger = Secret32::random();
    let sc = Codec::new(stranger, [vkey]).expect("codec");
    let sev = sc.seal(&vkey, &stale).expect("seal");
    assert!(
        Codec::new(g.shares[0].duplicate(), [g.nodes[1].pubkey()])
            .expect("codec")
            .open(&sev)
            .is_err()
    );
    // 7. An unsolicited response, replayed twice.
    let unsolicited = codec
        .seal(
            &vkey,
            &Envelope {
                request_id: "unsolicited".into(),
                sent_at: now,
                payload: stale.payload.clone(),
            },
        )
        .expect("seal");
    g.bus.publish(&unsolicited).await.expect("pub");
    g.bus.publish(&unsolicited).await.expect("pub");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (dropped1, _) = victim.counters();
    assert!(
        dropped1 - dropped0 >= 6,
        "expected ≥ 6 drops, got {}",
        dropped1 - dropped0
    );
    let msg = [0x55; 32];
    let sig = victim.sign(msg).await.expect("still signs");
    assert!(frost::verify_bip340(&g.group.group_pk, &msg, &sig));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supervisor_recreates_lost_transport() {
    let g = group(2, 2, false).await;
    wait_ready(&g.nodes).await;
    g.bus.kill();
    tokio::time::sleep(Duration::from_millis(150)).await;
    g.bus.revive();
    // Both nodes must resubscribe (with backoff) and sign again.
    let mut ok = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (_, r0) = g.nodes[0].counters();
        let (_, r1) = g.nodes[1].counters();
        if r0 > 0 && r1 > 0 && g.nodes[0].sign([0x99; 32]).await.is_ok() {
            ok = true;
            break;
        }
    }
    assert!(ok, "nodes did not recover after the relay came back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_registry_holds_several_keysets() {
    let a = group(2, 2, false).await;
    let b = group(2, 3, false).await;
    let reg = Nodes::new();
    reg.insert("a".into(), a.nodes[0].clone()).await;
    assert_eq!(reg.single().map(|n| n.group_pk()), Some(a.group.group_pk));
    reg.insert("b".into(), b.nodes[0].clone()).await;
    assert!(reg.single().is_none());
    assert_eq!(reg.ids(), vec!["a".to_string(), "b".to_string()]);
    assert_eq!(reg.get("b").map(|n| n.group_pk()), Some(b.group.group_pk));
    assert_eq!(reg.statuses().len(), 2);
    assert!(reg.remove("a").await);
    assert!(matches!(
        a.nodes[0].sign([1; 32]).await,
        Err(NodeError::Stopped)
    ));
    reg.shutdown_all().await;
    assert!(reg.ids().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_is_refused_with_migrate_hint() {
    let ks = frost::keygen(2, 2).expect("keygen");
    let group = GroupPackage::from_keys("l", &ks.group);
    let mut cfg = NodeConfig::new(
        group,
        ks.shares[0].secret.duplicate(),
        vec![],
        Arc::new(MemoryNonceLedger::new()),
    );
    cfg.legacy = true;
    let bus = LocalBus::new();
    let f: TransportFactory = Arc::new(move || Arc::new(bus.clone()) as Arc<dyn Transport>);
    let err = Node::start_with(cfg, f).await.expect_err("legacy refused");
    assert!(err.to_string().contains("frostbox migrate"), "{err}");
}

/// Issue 4: the co-signer restarts (its nonce pool is runtime state and is gone); the signer
/// still holds its old nonces. The co-signer answers `nonce_unavailable`, the signer re-pings
/// and signs in the same call, well before the sign timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_recovers_at_once_after_the_cosigner_restarts() {
    let g = group(2, 2, false).await;
    wait_ready(&g.nodes).await;
    g.nodes[0].sign([0x31; 32]).await.expect("sign before");
    g.nodes[1].shutdown().await;
    let (mut cfg, factory) = bus_node(&g.group, &g.shares[1], &g.bus);
    cfg.supervisor = fast_supervisor();
    cfg.label = "m2-restarted".into();
    let restarted = Node::start_with(cfg, factory).await.expect("restart");
    // The signer still believes it holds plenty of the co-signer's nonces.
    let st = g.nodes[0].status();
    assert!(st.peers[0].incoming_nonces > 5, "{st:?}");
    let t0 = std::time::Instant::now();
    let sig = g.nodes[0]
        .sign([0x32; 32])
        .await
        .expect("sign after the restart");
    assert!(frost::verify_bip340(&g.group.group_pk, &[0x32; 32], &sig));
    // Sign timeout is 5 s: the refusal was answered, not waited out.
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    // And signing continues normally with the refreshed pool.
    for k in 0..20u8 {
        g.nodes[0].sign([0x40 + k; 32]).await.expect("sign");
    }
    restarted.shutdown().await;
}

/// An ECDH refusal (policy) reaches the initiator as an error at once, also with the
/// second-quorum cross-check running two rounds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ecdh_refusal_is_reported_at_once() {
    let g = group(2, 3, true).await;
    wait_ready(&g.nodes).await;
    let asker = g.nodes[0].pubkey();
    for n in &g.nodes[1..] {
        n.update_peer_policy(&asker, |p| p.respond.ecdh = Override::Deny);
    }
    let target = frost::xonly(&Secret32::random()).expect("x");
    let t0 = std::time::Instant::now();
    let err = g.nodes[0].ecdh(target).await.expect_err("denied");
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    match err {
        NodeError::PeerRejected { code, message, .. } => {
            assert_eq!(code, "peer_denied");
            assert_eq!(message, "inbound ecdh denied by local policy");
        }
        // A ping carried the peers' new policy profile first: not even asked.
        NodeError::NotEnoughPeers { .. } => {}
        e => panic!("{e}"),
    }
    // Without the cross-check too.
    let g2 = group(2, 2, false).await;
    wait_ready(&g2.nodes).await;
    g2.nodes[1].update_peer_policy(&g2.nodes[0].pubkey(), |p| p.respond.ecdh = Override::Deny);
    let t0 = std::time::Instant::now();
    let err = g2.nodes[0].ecdh(target).await.expect_err("denied");
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    assert!(
        matches!(
            err,
            NodeError::PeerRejected { .. } | NodeError::NotEnoughPeers { .. }
        ),
        "{err}"
    );
}

/// Waits (≤ `limit`) for a `want` activity about `peer` on node activity stream `act`.
async fn next_peer_status(
    act: &mut tokio::sync::broadcast::Receiver<frostbox::frostr::node::Activity>,
    want: frostbox::frostr::node::ActivityKind,
    peer: &str,
    limit: Duration,
) -> frostbox::frostr::node::Activity {
    tokio::time::timeout(limit, async {
        loop {
            match act.recv().await {
                Ok(a) if a.kind == want && a.peer.as_deref() == Some(peer) => return a,
                Ok(_) => {}
                Err(e) => panic!("activity stream: {e}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {want:?} for {peer} within {limit:?}"))
}

/// The supervisor keeps ticking while a probe waits for an absent peer and while no relay is
/// connected: it reports a stopped peer offline within a tick of the grace passing (not after
/// the ping timeout), and its heartbeat never pauses (a paused heartbeat stops the systemd
/// watchdog pings and gets the box restarted). Node 0's clock is stepped past the grace so
/// the test need not wait two minutes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supervisor_ticks_through_unanswered_probes_and_relay_outages() {
    use frostbox::frostr::node::ActivityKind;
    use frostbox::frostr::node::peers::PEER_ONLINE_GRACE_SECS;
    use std::sync::atomic::{AtomicU64, Ordering};

    let ks = frost::keygen(2, 3).expect("keygen");
    let group = GroupPackage::from_keys("tick", &ks.group);
    let bus = LocalBus::new();
    let skew = Arc::new(AtomicU64::new(0));
    let beats = Arc::new(AtomicU64::new(0));
    let mut nodes = Vec::new();
    let mut act = None;
    // Members 1 and 2 run; member 3 never does, so a probe to it is always outstanding.
    for s in ks.shares.iter().take(2) {
        let (mut cfg, factory) = bus_node(&group, &s.secret, &bus);
        cfg.supervisor = SupervisorConfig {
            // Outages are left alone here: the transport is not re-created while it is down.
            disconnected_after: Duration::from_secs(600),
            ..fast_supervisor()
        };
        cfg.timeouts.ping = Duration::from_secs(30);
        cfg.label = format!("m{}", s.idx);
        if nodes.is_empty() {
            let sk = skew.clone();
            let sys = frostbox::frostr::node::node::system_clock();
            cfg.clock = Arc::new(move || sys() + sk.load(Ordering::SeqCst));
            let bt = beats.clone();
            cfg.heartbeat = Some(Arc::new(move |_: &str| {
                bt.fetch_add(1, Ordering::SeqCst);
            }));
        }
        let n = Node::start_with(cfg, factory).await.expect("start");
        if nodes.is_empty() {
            act = Some(n.subscribe_activity());
        }
        nodes.push(n);
    }
    let mut act = act.expect("node 0 started");
    let peer = hex::encode(nodes[1].pubkey());
    // Member 2 is heard: its start-up ping reaches node 0.
    next_peer_status(
        &mut act,
        ActivityKind::PeerOnline,
        &peer,
        Duration::from_secs(5),
    )
    .await;

    // Probes to member 3 (30 s timeout) are outstanding from the start: the loop still beats.
    let beats_in_1s = || async {
        let b0 = beats.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(1000)).await;
        beats.load(Ordering::SeqCst) - b0
    };
    let n = beats_in_1s().await;
    assert!(n >= 5, "heartbeats while a probe is outstanding: {n}");

    // Member 2 stops; node 0's clock passes the grace: offline at the next tick, not after
    // the 30 s ping timeout.
    nodes[1].shutdown().await;
    skew.store(PEER_ONLINE_GRACE_SECS + 5, Ordering::SeqCst);
    let t0 = std::time::Instant::now();
    let a = next_peer_status(
        &mut act,
        ActivityKind::PeerOffline,
        &peer,
        Duration::from_secs(3),
    )
    .await;
    assert!(a.method.is_none() && a.ms.is_none(), "{a:?}");
    eprintln!("offline reported {:?} after the grace", t0.elapsed());
    assert!(
        !nodes[0]
            .status()
            .peers
            .iter()
            .any(|p| p.pubkey == peer && p.online)
    );

    // No relay at all: the heartbeat goes on.
    bus.kill();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let n = beats_in_1s().await;
    assert!(n >= 5, "heartbeats while no relay is connected: {n}");
    bus.revive();
    nodes[0].shutdown().await;
}

/// Counts every nonce code a node records as consumed (before a partial signature leaves).
#[derive(Default)]
struct RecordingLedger {
    inner: MemoryNonceLedger,
    records: std::sync::Mutex<Vec<[u8; 32]>>,
}

impl frost::NonceLedger for RecordingLedger {
    fn record_consumed(&self, code: &[u8; 32]) -> Result<(), frost::LedgerError> {
        if let Ok(mut g) = self.records.lock() {
            g.push(*code);
        }
        self.inner.record_consumed(code)
    }
}

/// Many concurrent signs on one node (their threshold math runs outside the engine lock, on
/// both the initiator and the co-signers): all complete, every signature verifies, and no
/// nonce code is ever presented for a second signature on any member.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_signs_all_verify_and_never_reuse_a_nonce() {
    use futures_util::StreamExt;
    const SIGNS: usize = 160;
    let ks = frost::keygen(2, 3).expect("keygen");
    let group = GroupPackage::from_keys("bus", &ks.group);
    let bus = LocalBus::new();
    let mut nodes = Vec::new();
    let mut ledgers = Vec::new();
    for s in &ks.shares {
        let ledger = Arc::new(RecordingLedger::default());
        ledgers.push(ledger.clone());
        let (mut cfg, factory) = bus_node(&group, &s.secret, &bus);
        cfg.ledger = ledger;
        cfg.supervisor = fast_supervisor();
        cfg.timeouts.sign = Duration::from_secs(10);
        cfg.label = format!("c{}", s.idx);
        nodes.push(Node::start_with(cfg, factory).await.expect("start"));
    }
    wait_ready(&nodes).await;
    let msg = |k: usize| {
        let mut m = [0xc5; 32];
        m[..8].copy_from_slice(&(k as u64).to_be_bytes());
        m
    };
    let signer = nodes[0].clone();
    let results: Vec<(usize, Result<[u8; 64], NodeError>)> = futures_util::stream::iter(0..SIGNS)
        .map(|k| {
            let n = signer.clone();
            async move { (k, n.sign(msg(k)).await) }
        })
        .buffer_unordered(24)
        .collect()
        .await;
    for (k, r) in &results {
        let sig = r.as_ref().unwrap_or_else(|e| panic!("sign {k}: {e}"));
        assert!(
            frost::verify_bip340(&group.group_pk, &msg(*k), sig),
            "signature {k} does not verify"
        );
    }
    // Each sign: one partial by the signer and one by one co-signer, each with its own nonce.
    let mut all = std::collections::HashSet::new();
    let mut total = 0;
    for l in &ledgers {
        let recs = l.records.lock().map(|g| g.clone()).unwrap_or_default();
        total += recs.len();
        for c in recs {
            assert!(
                all.insert(c),
                "nonce code {} recorded twice",
                hex::encode(c)
            );
        }
    }
    assert_eq!(
        total,
        2 * SIGNS,
        "one own and one co-signer partial per signature"
    );
    for n in &nodes {
        n.shutdown().await;
    }
}

/// The same share loaded in two signers (igloo users' "signing breaks silently" with Frost2x and
/// Igloo both holding one share): the peer's requests reach both, and the one that never
/// generated the nonce a request names says so in its status and in the API's warnings. A
/// restart that keeps the ledger (the same data directory) is not mistaken for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signer_with_the_same_share_is_reported() {
    use frostbox::api::node::SignerNode;
    let ks = frost::keygen(2, 2).expect("keygen");
    let group = GroupPackage::from_keys("bus", &ks.group);
    let bus = LocalBus::new();
    let start = |share: &Secret32, ledger: Arc<dyn frost::NonceLedger>, label: &str| {
        let (mut cfg, factory) = bus_node_with(&group, share, &bus, ledger);
        cfg.supervisor = fast_supervisor();
        cfg.timeouts.sign = Duration::from_secs(5);
        cfg.label = label.to_string();
        Node::start_with(cfg, factory)
    };
    let fresh = || -> Arc<dyn frost::NonceLedger> { Arc::new(MemoryNonceLedger::new()) };
    let p = start(&ks.shares[0].secret, fresh(), "p").await.expect("p");
    let x_ledger = fresh();
    let x = start(&ks.shares[1].secret, x_ledger.clone(), "x")
        .await
        .expect("x");
    wait_ready(&[p.clone(), x.clone()]).await;
    for k in 0..3u8 {
        p.sign([0x50 + k; 32]).await.expect("sign");
    }
    assert_eq!(x.status().duplicate_share, None);

    // A restart with the same ledger: the signer still names nonces from before, which the
    // restarted node no longer holds but did generate.
    x.shutdown().await;
    let x = start(&ks.shares[1].secret, x_ledger, "x-restarted")
        .await
        .expect("restart");
    for k in 0..5u8 {
        p.sign([0x60 + k; 32])
            .await
            .expect("sign after the restart");
    }
    assert_eq!(
        x.status().duplicate_share,
        None,
        "a restart is not a second signer"
    );
    assert!(
        !SignerNode::status(&x)
            .warnings
            .iter()
            .any(|w| w.contains("another signer")),
    );

    // The twin: same share, its own ledger.
    let y = start(&ks.shares[1].secret, fresh(), "y")
        .await
        .expect("twin");
    let p_hex = hex::encode(p.pubkey());
    let mut seen = None;
    for k in 0..40u8 {
        // Rounds may fail now (one of the two refuses): that is the problem being reported.
        let _ = p.sign([0x70 + k; 32]).await;
        seen = [&x, &y]
            .into_iter()
            .find_map(|n| n.status().duplicate_share.map(|d| (n.clone(), d)));
        if seen.is_some() {
            break;
        }
    }
    let (flagged, d) = seen.expect("neither signer reported the duplicate share");
    assert_eq!(d.peer, p_hex);
    assert!(d.codes >= 1, "{d:?}");
    let info = SignerNode::status(&flagged);
    assert!(
        info.warnings.iter().any(|w| w.contains("another signer")),
        "{:?}",
        info.warnings
    );
    let api = info
        .duplicate_share
        .expect("duplicate_share in the API status");
    assert_eq!((api.peer.as_str(), api.codes), (p_hex.as_str(), d.codes));
    for n in [p, x, y] {
        n.shutdown().await;
    }
}

/// A co-signer answers with `replenish` (up to 70 nonces, ≈ 15 KB) while its view of the
/// initiator's holdings is below `min_threshold`, and that view changes only when a ping arrives
/// (FROSTR-NEXT §6.1). It pings the initiator as soon as it had to replenish, so the view is
/// fresh again long before the supervisor's next tick (here: an hour away).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cosigner_refreshes_its_view_after_replenishing() {
    let ks = frost::keygen(2, 2).expect("keygen");
    let group = GroupPackage::from_keys("bus", &ks.group);
    let bus = LocalBus::new();
    let mut nodes = Vec::new();
    for s in &ks.shares {
        let (mut cfg, factory) = bus_node(&group, &s.secret, &bus);
        cfg.supervisor = SupervisorConfig {
            tick: Duration::from_secs(3600),
            ..fast_supervisor()
        };
        cfg.label = format!("r{}", s.idx);
        nodes.push(Node::start_with(cfg, factory).await.expect("start"));
    }
    wait_ready(&nodes).await;
    let view = |n: &NodeHandle| {
        n.status()
            .peers
            .first()
            .map(|p| (p.should_send_nonces, p.outgoing_spent))
            .expect("one peer")
    };
    // Whether the start-up pings crossed (the co-signer's view is then empty and its first
    // answer replenishes) or not (70 advertised nonces are seen held, and answer 51 is the first
    // to replenish), 60 signatures need at least one `replenish`; without an early ping the view
    // would stay stale until the next tick.
    for k in 0..60u8 {
        let msg = [k; 32];
        let sig = nodes[0].sign(msg).await.expect("sign");
        assert!(frost::verify_bip340(&group.group_pk, &msg, &sig));
    }
    let mut last = view(&nodes[1]);
    for _ in 0..100 {
        if !last.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        last = view(&nodes[1]);
    }
    assert_eq!(
        last,
        (false, 60),
        "co-signer still thinks the initiator is short of its nonces"
    );
    for n in &nodes {
        n.shutdown().await;
    }
}
