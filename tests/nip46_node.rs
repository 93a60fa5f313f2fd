//! The bunker on a real Frostbox node pair (FROSTR 2-of-2, both nodes on the embedded relay):
//! a NIP-46 client signs and encrypts over the relay, every signature is a threshold signature
//! under the group key, NIP-04/NIP-44 come from threshold ECDH and match a plain local peer.

use frostbox::frost::{self, MemoryNonceLedger};
use frostbox::frostr::next::group::GroupPackage;
use frostbox::frostr::node::{Node, NodeConfig, NodeHandle};
use frostbox::nip46::transport::{NostrPool, spawn_with_relay_pool};
use frostbox::nip46::{Bunker, BunkerConfig, BunkerUri, MemStore, Policy, node_signer};
use frostbox::nostr::{Filter, keys, nip04, nip44};
use frostbox::relay::Pool;
use frostbox::vault::secret::Secret32;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

use crate::api_support::{nip46_client, relay};

async fn node_pair(url: &str) -> (Vec<NodeHandle>, Secret32) {
    let ks = frost::keygen(2, 2).expect("keygen");
    let group = GroupPackage::from_keys("nip46", &ks.group);
    let secret = frost::recover(&ks.shares).expect("recover");
    let mut nodes = Vec::new();
    for s in &ks.shares {
        let mut cfg = NodeConfig::new(
            group.clone(),
            s.secret.duplicate(),
            vec![url.to_string()],
            Arc::new(MemoryNonceLedger::new()),
        );
        cfg.label = format!("m{}", s.idx);
        nodes.push(Node::start(cfg).await.expect("start node"));
    }
    for _ in 0..300 {
        if nodes.iter().all(|n| n.status().ready) {
            return (nodes, secret);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "nodes not ready: {:?}",
        nodes.iter().map(|n| n.status()).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bunker_signs_with_a_frostr_node_pair() {
    let (url, _relay) = relay::open().await;
    let (nodes, group_secret) = node_pair(&url).await;
    let group = nodes[0].group_pk();
    assert_eq!(keys::xonly_pubkey(&group_secret).ok(), Some(group));

    let cfg = BunkerConfig {
        relays: vec![url.clone()],
        pending_timeout: Duration::ZERO,
        ..Default::default()
    };
    let (bunker, io) = Bunker::new(
        cfg,
        Arc::new(node_signer(nodes[0].clone())),
        Arc::new(MemStore::new()),
    )
    .expect("bunker");
    let stop = spawn_with_relay_pool(bunker.clone(), io);
    let perms = "sign_event:1,nip44_encrypt,nip44_decrypt,nip04_encrypt,nip04_decrypt";
    let (_, uri) = bunker
        .create_bunker_uri("pair", Some(Policy::from_perms(perms).0), None)
        .expect("uri");
    let uri = BunkerUri::parse(&uri).expect("parse");

    let csk = Secret32::random();
    let cpk = keys::xonly_pubkey(&csk).expect("pk");
    let conv = nip44::conversation_key(&csk, &uri.signer_pubkey).expect("conv");
    let pool = Pool::new(vec![url.clone()]);
    let mut rx = NostrPool::subscribe(
        &pool,
        "c",
        vec![
            Filter::new()
                .kinds([24133])
                .authors([uri.signer_pubkey])
                .p_tags([cpk]),
        ],
    )
    .await;
    for _ in 0..100 {
        if pool.connected() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut call = async |id: &str, method: &str, params: Value| -> Value {
        let ev = nip46_client::request_event(&csk, &uri.signer_pubkey, id, method, params);
        pool.publish(&ev).await;
        loop {
            let r = tokio::time::timeout(Duration::from_secs(20), rx.recv())
                .await
                .expect("response in time")
                .expect("open");
            let v: Value = serde_json::from_str(&nip44::decrypt(&conv, &r.content).expect("dec"))
                .expect("json");
            if v["id"] == id {
                return v;
            }
        }
    };
    assert_eq!(
        call(
            "1",
            "connect",
            json!([
                hex::encode(uri.signer_pubkey),
                uri.secret.clone().expect("s")
            ])
        )
        .await["result"],
        "ack"
    );
    assert_eq!(
        call("2", "get_public_key", json!([])).await["result"],
        hex::encode(group)
    );
    let tpl = json!({"kind": 1, "content": "threshold-signed via NIP-46", "tags": []}).to_string();
    let v = call("3", "sign_event", json!([tpl])).await;
    let ev = nip46_client::verified_event(&v);
    assert_eq!(ev.pubkey, group);

    let peer = Secret32::random();
    let peer_pk = keys::xonly_pubkey(&peer).expect("pk");
    let pconv = nip44::conversation_key(&peer, &group).expect("conv");
    let v = call(
        "4",
        "nip44_encrypt",
        json!([hex::encode(peer_pk), "via threshold ECDH"]),
    )
    .await;
    assert_eq!(
        nip44::decrypt(&pconv, v["result"].as_str().expect("ct")).expect("peer decrypts"),
        "via threshold ECDH"
    );
    let ct = nip44::encrypt(&pconv, "to the group", nip44::B64::Padded).expect("enc");
    assert_eq!(
        call("5", "nip44_decrypt", json!([hex::encode(peer_pk), ct])).await["result"],
        "to the group"
    );
    let v = call(
        "6",
        "nip04_encrypt",
        json!([hex::encode(peer_pk), "legacy dm"]),
    )
    .await;
    assert_eq!(
        nip04::decrypt(&peer, &group, v["result"].as_str().expect("ct")).expect("peer decrypts"),
        "legacy dm"
    );
    let ct = nip04::encrypt(&peer, &group, "dm back").expect("enc");
    assert_eq!(
        call("7", "nip04_decrypt", json!([hex::encode(peer_pk), ct])).await["result"],
        "dm back"
    );
    let _ = stop.send(true);
}
