//! Frostbox nodes over the embedded relay (`crate::relay::Relay` on 127.0.0.1:0) with the real
//! client pool: a 2-of-3 and a 3-of-5 group sign and ECDH.

use std::sync::Arc;
use std::time::Duration;

use frostbox::frost::{self, MemoryNonceLedger};
use frostbox::frostr::next::group::GroupPackage;
use frostbox::frostr::node::{Node, NodeConfig, NodeHandle};

use frostbox::vault::secret::Secret32;

use crate::api_support::keys::plain_ecdh_x;
use crate::api_support::relay;

async fn relay_for(members: &GroupPackage) -> String {
    relay::allowing(members.members.iter().map(|m| m.xonly()))
        .await
        .0
}

async fn run_group(t: u16, n: u16) {
    let ks = frost::keygen(t, n).expect("keygen");
    let group = GroupPackage::from_keys("relay test", &ks.group);
    let secret = frost::recover(&ks.shares).expect("recover");
    let url = relay_for(&group).await;
    let mut nodes: Vec<NodeHandle> = Vec::new();
    for s in &ks.shares {
        let mut cfg = NodeConfig::new(
            group.clone(),
            s.secret.duplicate(),
            vec![url.clone()],
            Arc::new(MemoryNonceLedger::new()),
        );
        cfg.ecdh_cross_check = n > t;
        cfg.label = format!("{t}of{n}-m{}", s.idx);
        nodes.push(Node::start(cfg).await.expect("start"));
    }
    let mut ready = false;
    for _ in 0..300 {
        if nodes.iter().all(|n| n.status().ready) {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        ready,
        "not ready: {:?}",
        nodes.iter().map(|n| n.status()).collect::<Vec<_>>()
    );
    for (i, node) in nodes.iter().enumerate() {
        let msg = [0x30 + i as u8; 32];
        let sig = node.sign(msg).await.expect("sign");
        assert!(frost::verify_bip340(&group.group_pk, &msg, &sig));
    }
    let target = frost::xonly(&Secret32::random()).expect("x");
    let want = plain_ecdh_x(&secret, &target);
    for node in nodes.iter().take(2) {
        assert_eq!(node.ecdh(target).await.expect("ecdh"), want);
    }
    for node in &nodes {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_of_three_over_embedded_relay() {
    run_group(2, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_of_five_over_embedded_relay() {
    run_group(3, 5).await;
}

/// Issue 5: sustained signing through the embedded relay with its default limits (50 msg/s
/// per connection for strangers). Group members authenticate (NIP-42) and get the member
/// limit; before, the co-signer's replies were refused as "rate-limited" after the 200-message
/// burst and the signer waited out its timeout. Sequential, then 8 concurrent signers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sustained_signing_over_default_relay_loses_nothing() {
    let ks = frost::keygen(2, 2).expect("keygen");
    let group = GroupPackage::from_keys("sustained", &ks.group);
    let (url, relay) = relay::allowing(group.members.iter().map(|m| m.xonly())).await;
    let mut nodes = Vec::new();
    for s in &ks.shares {
        let mut cfg = NodeConfig::new(
            group.clone(),
            s.secret.duplicate(),
            vec![url.clone()],
            Arc::new(MemoryNonceLedger::new()),
        );
        cfg.timeouts.sign = Duration::from_secs(10);
        cfg.label = format!("sustained-m{}", s.idx);
        nodes.push(Node::start(cfg).await.expect("start"));
    }
    for _ in 0..500 {
        if nodes.iter().all(|n| n.status().ready) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let signer = nodes[0].clone();
    const SEQ: u32 = 400;
    for k in 0..SEQ {
        let mut msg = [0x11; 32];
        msg[..4].copy_from_slice(&k.to_be_bytes());
        let sig = signer
            .sign(msg)
            .await
            .unwrap_or_else(|e| panic!("sequential sign {k}: {e}"));
        assert!(frost::verify_bip340(&group.group_pk, &msg, &sig));
    }
    let mut tasks = Vec::new();
    for c in 0..8u32 {
        let signer = signer.clone();
        let gpk = group.group_pk;
        tasks.push(tokio::spawn(async move {
            for k in 0..40u32 {
                let mut msg = [0x22; 32];
                msg[..4].copy_from_slice(&(c * 1000 + k).to_be_bytes());
                let sig = signer
                    .sign(msg)
                    .await
                    .unwrap_or_else(|e| panic!("client {c} sign {k}: {e}"));
                assert!(frost::verify_bip340(&gpk, &msg, &sig));
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    assert_eq!(relay.stats().rate_limited, 0, "{:?}", relay.stats());
    for n in &nodes {
        let (dropped, restarts) = n.counters();
        assert_eq!((dropped, restarts), (0, 0), "{:?}", n.status());
        n.shutdown().await;
    }
}

/// The relay side of the fix: a connection that authenticated (NIP-42) as a group member is
/// not held to the strangers' 50 msg/s (burst 200); an anonymous one still is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authenticated_member_connection_is_not_rate_limited() {
    use frostbox::relay::Pool;
    use frostbox::relay::client::PoolConfig;
    let member = Secret32::random();
    let member_x = frost::xonly(&member).expect("x");
    let (url, relay) = relay::allowing([member_x]).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs();
    let make = |tag: &str| -> Vec<frostbox::nostr::Event> {
        (0..400u32)
            .map(|k| {
                frostbox::nostr::Event::sign(
                    &member,
                    now,
                    20000,
                    vec![vec!["p".into(), hex::encode(member_x)]],
                    format!("{tag} {k}"),
                    [0; 32],
                )
                .expect("event")
            })
            .collect()
    };
    let burst = |pool: Pool, events: Vec<frostbox::nostr::Event>| {
        async move {
            for _ in 0..500 {
                if pool.connected() > 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            // Let the AUTH exchange (sent on connect) finish.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let results =
                futures_util::future::join_all(events.iter().map(|ev| pool.publish(ev))).await;
            pool.shutdown().await;
            results.iter().filter(|r| r.is_ok()).count()
        }
    };
    let authed = Pool::with_config(
        vec![url.clone()],
        PoolConfig {
            auth_key: Some(Arc::new(member.duplicate())),
            ..PoolConfig::default()
        },
    );
    assert_eq!(
        burst(authed, make("authed")).await,
        400,
        "{:?}",
        relay.stats()
    );
    let limited_before = relay.stats().rate_limited;
    assert_eq!(limited_before, 0);
    let anonymous = Pool::new(vec![url.clone()]);
    let accepted = burst(anonymous, make("anonymous")).await;
    assert!(accepted < 400, "anonymous burst of 400 must hit the limit");
    assert!(relay.stats().rate_limited > 0);
}
