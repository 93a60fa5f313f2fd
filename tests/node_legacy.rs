//! Legacy 1.0.x nodes (kind 20004, AES-GCM content, `[tag,id,data]`, static nonces) over an
//! in-process bus: sign, ECDH and ping in both directions, policy refusal, bad events.
//! Interop with the real npm `@frostr/bifrost@1.0.7` nodes is in `tests/interop_legacy_node.rs`.

use std::sync::Arc;
use std::time::Duration;

use frostbox::api::node::SignerNode;
use frostbox::frostr::legacy::transport::KIND;
use frostbox::frostr::legacy::{GroupPackage, SharePackage, keygen, recover_secret};
use frostbox::frostr::node::transport::{LocalBus, Transport, TransportFactory};
use frostbox::frostr::node::{LegacyConfig, LegacyHandle, LegacyNode, NodeError};
use frostbox::nostr::{Event, keys};

use crate::api_support::keys::random_secret;

struct Legacy {
    group: GroupPackage,
    shares: Vec<SharePackage>,
    nodes: Vec<LegacyHandle>,
    bus: LocalBus,
}

async fn start(t: u32, n: u32) -> Legacy {
    let (group, shares) = keygen(t, n, None).expect("keygen");
    let bus = LocalBus::new();
    let mut nodes = Vec::new();
    for s in &shares {
        let mut cfg = LegacyConfig::new(group.clone(), s.duplicate(), vec![]);
        cfg.timeout = Duration::from_millis(1500);
        cfg.tick = Duration::from_millis(100);
        cfg.ping_stale_secs = 1;
        cfg.label = format!("legacy-{}", s.idx);
        let b = bus.clone();
        let f: TransportFactory = Arc::new(move || Arc::new(b.clone()) as Arc<dyn Transport>);
        nodes.push(LegacyNode::start_with(cfg, f).await.expect("start"));
    }
    Legacy {
        group,
        shares,
        nodes,
        bus,
    }
}

#[tokio::test]
async fn legacy_nodes_sign_ecdh_and_ping_each_other() {
    let g = start(2, 3).await;
    let npub = g.group.npub();
    let full = recover_secret(&g.shares[..2], &g.group).expect("recover");
    for (i, node) in g.nodes.iter().enumerate() {
        for k in 0..2u8 {
            let msg = [i as u8 * 16 + k + 1; 32];
            let sig = node.sign(msg).await.expect("sign");
            assert!(
                keys::verify_bip340(&npub, &msg, &sig),
                "node {i} signature must verify under the group key"
            );
        }
        let peer = random_secret();
        let peer_x = keys::xonly_pubkey(&peer).expect("peer");
        let x = node.ecdh(peer_x).await.expect("ecdh");
        let want = keys::ecdh_x(&peer, &npub).expect("ecdh_x");
        assert_eq!(
            &x,
            want.expose(),
            "node {i} ECDH must equal the standard shared x"
        );
        // Same result from the group secret's side.
        let want2 = keys::ecdh_x(&full, &peer_x).expect("ecdh_x");
        assert_eq!(&x, want2.expose());
        for (j, other) in g.nodes.iter().enumerate() {
            if i != j {
                node.ping(other.pubkey()).await.expect("ping");
            }
        }
    }
    // After pings everyone is online: ready, legacy flag and the migrate pointer in status.
    let st = SignerNode::status(&g.nodes[0]);
    assert!(st.legacy);
    assert!(st.ready, "status: {st:?}");
    assert!(st.warnings.iter().any(|w| w.contains("frostbox migrate")));
    assert_eq!(st.peers.len(), 2);
    assert!(st.peers.iter().all(|p| p.online && p.rtt_ms.is_some()));
    for n in &g.nodes {
        n.shutdown().await;
    }
}

#[tokio::test]
async fn three_of_five_legacy_sign() {
    let g = start(3, 5).await;
    let npub = g.group.npub();
    let msg = [0x42; 32];
    let sig = g.nodes[4].sign(msg).await.expect("sign");
    assert!(keys::verify_bip340(&npub, &msg, &sig));
    for n in &g.nodes {
        n.shutdown().await;
    }
}

#[tokio::test]
async fn policy_denied_request_times_out_naming_the_peer() {
    let g = start(2, 3).await;
    let (a, b, c) = (&g.nodes[0], &g.nodes[1], &g.nodes[2]);
    // A may only ask B; B refuses requests from A.
    a.set_peer_policy(c.pubkey().to_vec(), false, true)
        .expect("policy");
    b.set_peer_policy(a.pubkey().to_vec(), true, false)
        .expect("policy");
    let err = a.sign([7; 32]).await.expect_err("B must refuse");
    match err {
        NodeError::Timeout { peers, .. } => assert_eq!(peers, vec![hex::encode(b.pubkey())]),
        e => panic!("unexpected error {e}"),
    }
    // Pings are still answered (FROSTR.md §7.8), and the reply carries B's policy for A.
    a.ping(b.pubkey()).await.expect("ping still answered");
    // No usable peer at all → not enough peers.
    a.set_peer_policy(b.pubkey().to_vec(), false, true)
        .expect("policy");
    assert!(matches!(
        a.sign([8; 32]).await,
        Err(NodeError::NotEnoughPeers { .. })
    ));
    for n in &g.nodes {
        n.shutdown().await;
    }
}

#[tokio::test]
async fn bad_events_are_dropped_without_answer() {
    let g = start(2, 3).await;
    let target = g.nodes[1].pubkey();
    let (before, _) = g.nodes[1].counters();
    let outsider = random_secret();
    let p = vec![vec!["p".to_string(), hex::encode(target)]];
    // Not a member; a member with garbage content; a member with a tampered signature.
    let evs = [
        Event::sign_random(&outsider, 1_800_000_000, KIND, p.clone(), "x?iv=y".into()).expect("ev"),
        Event::sign_random(
            &g.shares[0].seckey,
            1_800_000_000,
            KIND,
            p.clone(),
            "bm90IGdjbQ?iv=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
        )
        .expect("ev"),
        {
            let mut e = Event::sign_random(
                &g.shares[2].seckey,
                1_800_000_000,
                KIND,
                p.clone(),
                "zz".into(),
            )
            .expect("ev");
            e.sig[0] ^= 1;
            e
        },
    ];
    for e in &evs {
        g.bus.publish(e).await.expect("publish");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (after, _) = g.nodes[1].counters();
    assert!(
        after >= before + 2,
        "member events with bad content/signature must be counted as dropped ({before} → {after})"
    );
    // The node still works.
    let msg = [9; 32];
    let sig = g.nodes[1].sign(msg).await.expect("sign after bad events");
    assert!(keys::verify_bip340(&g.group.npub(), &msg, &sig));
    for n in &g.nodes {
        n.shutdown().await;
    }
}
