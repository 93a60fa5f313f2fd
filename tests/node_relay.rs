//! Frostbox nodes over the embedded relay (`crate::relay::Relay` on 127.0.0.1:0) with the real
//! client pool: a 2-of-3 and a 3-of-5 group sign and ECDH.

use std::sync::Arc;
use std::time::Duration;

use frostbox::frost::{self, MemoryNonceLedger};
use frostbox::frostr::next::group::GroupPackage;
use frostbox::frostr::node::{Node, NodeConfig, NodeHandle};
use frostbox::relay::{Relay, RelayConfig};
use frostbox::vault::secret::Secret32;

async fn relay_for(members: &GroupPackage) -> String {
    let relay = Relay::new(RelayConfig::default());
    relay.allow_pubkeys(members.members.iter().map(|m| m.xonly()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(frostbox::relay::server::serve(listener, relay));
    format!("ws://127.0.0.1:{port}")
}

fn plain_ecdh_x(secret: &Secret32, peer: &[u8; 32]) -> [u8; 32] {
    let mut b = [2u8; 33];
    b[1..].copy_from_slice(peer);
    let pk = secp256k1::PublicKey::from_slice(&b).expect("pk");
    let sk = secp256k1::SecretKey::from_secret_bytes(*secret.expose()).expect("sk");
    let pt = secp256k1::ecdh::shared_secret_point(&pk, &sk);
    let mut x = [0u8; 32];
    x.copy_from_slice(&pt[..32]);
    x
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
