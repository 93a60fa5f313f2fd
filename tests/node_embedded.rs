//! The node's in-process link to the relay embedded in the same process
//! (`frostr::node::transport::EmbeddedLink`): a 2-of-3 group signs with one node linked
//! in-process and one over a WebSocket; events reach the linked node only after the relay's
//! verification at ingest, and events from an external relay are still verified by the pool.

use std::sync::Arc;
use std::time::Duration;

use frostbox::frost::{self, MemoryNonceLedger};
use frostbox::frostr::next::group::GroupPackage;
use frostbox::frostr::node::transport::{EmbeddedLink, Transport};
use frostbox::frostr::node::{Node, NodeConfig, NodeHandle};
use frostbox::nostr::{Event, Filter};
use frostbox::relay::{Pool, PoolConfig, Relay, RelayConfig, proto};
use frostbox::vault::secret::Secret32;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use crate::api_support::relay::serve;
use frostbox::store::now;

fn ev(n: u8, content: &str) -> Event {
    Event::sign(
        &Secret32::new([n; 32]),
        now(),
        20000,
        vec![],
        content.to_owned(),
        [0; 32],
    )
    .expect("sign")
}

async fn next_event(rx: &mut mpsc::Receiver<Event>, wait: Duration) -> Option<Event> {
    tokio::time::timeout(wait, rx.recv()).await.ok().flatten()
}

/// Publishes over a WebSocket like a remote client; returns the relay's OK flag.
async fn ws_publish(url: &str, e: &Event) -> bool {
    crate::api_support::relay::ws_publish(url, e)
        .await
        .is_some_and(|t| t.contains(",true,"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_node_signs_with_a_websocket_peer() {
    let ks = frost::keygen(2, 3).expect("keygen");
    let group = GroupPackage::from_keys("embedded", &ks.group);
    let relay = Relay::new(RelayConfig::default());
    relay.allow_pubkeys(group.members.iter().map(|m| m.xonly()));
    let url = serve(relay.clone()).await;
    let mut nodes: Vec<NodeHandle> = Vec::new();
    for (i, s) in ks.shares.iter().take(2).enumerate() {
        let mut cfg = NodeConfig::new(
            group.clone(),
            s.secret.duplicate(),
            vec![url.clone()],
            Arc::new(MemoryNonceLedger::new()),
        );
        if i == 0 {
            // Named with a trailing slash and upper case: still recognised as the embedded one.
            cfg.relays = vec![format!("{}/", url.to_uppercase())];
            cfg.embedded = Some((url.clone(), relay.clone()));
        }
        nodes.push(Node::start(cfg).await.expect("start"));
    }
    for _ in 0..300 {
        if nodes.iter().all(|n| n.status().ready) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(nodes.iter().all(|n| n.status().ready), "not ready");
    // The linked node uses no WebSocket: the relay sees the other node's connection only.
    assert_eq!(relay.stats().connections, 1);
    assert_eq!(relay.local_subscriptions(), 1);
    assert_eq!(nodes[0].relay_status().len(), 1);
    assert!(nodes[0].relay_status()[0].connected);
    for round in 0..20u8 {
        for (i, node) in nodes.iter().enumerate() {
            let msg = [round.wrapping_mul(7).wrapping_add(i as u8); 32];
            let sig = node.sign(msg).await.expect("sign");
            assert!(frost::verify_bip340(&group.group_pk, &msg, &sig));
        }
    }
    assert_eq!(relay.stats().local_dropped, 0);
    for node in &nodes {
        node.shutdown().await;
    }
    // Shutting the linked node down ends its in-process subscription.
    assert_eq!(relay.local_subscriptions(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linked_events_are_verified_once_and_external_ones_by_the_pool() {
    let relay = Relay::new(RelayConfig {
        open: true,
        ..RelayConfig::default()
    });
    let url = serve(relay.clone()).await;

    // An external relay that answers the REQ with a forged event, a good one, and a copy of
    // an event that also reaches us through the embedded relay.
    let via_both = ev(5, "via both");
    let good_ext = ev(6, "external good");
    let mut forged_ext = ev(6, "external forged");
    forged_ext.sig[3] ^= 1;
    let frames = vec![
        proto::event_msg("link", &forged_ext.to_json()),
        proto::event_msg("link", &good_ext.to_json()),
    ];
    let (go_tx, go_rx) = tokio::sync::watch::channel(false);
    let dup = proto::event_msg("link", &via_both.to_json());
    let rogue = crate::api_support::relay::scripted(frames, Some((go_rx, dup))).await;
    let pool = Pool::with_config(vec![rogue], PoolConfig::default());
    let link = EmbeddedLink::new(relay.clone(), url.clone(), Some(pool));
    assert!(link.verifies_events());
    let mut rx = link
        .subscribe("link", vec![Filter::new().kinds([20000])])
        .await;

    // From the external relay: the forged event is dropped by the pool, the good one passes.
    assert_eq!(
        next_event(&mut rx, Duration::from_secs(5)).await,
        Some(good_ext)
    );

    // A remote client sends the embedded relay a forged event: refused at ingest, never
    // delivered in-process (nothing downstream verifies it again).
    let mut forged = ev(7, "forged via websocket");
    forged.sig[0] ^= 1;
    assert!(!ws_publish(&url, &forged).await);
    let mut bad_id = ev(7, "bad id");
    bad_id.content.push('!');
    assert!(!ws_publish(&url, &bad_id).await);
    assert!(!relay.submit(forged.clone()).0);
    // Our own events skip the signature check but not the id check.
    assert!(!relay.publish_own(&bad_id).0);
    assert_eq!(next_event(&mut rx, Duration::from_millis(300)).await, None);

    // A good one from a remote client arrives once, even when the external relay repeats it.
    assert!(ws_publish(&url, &via_both).await);
    assert_eq!(
        next_event(&mut rx, Duration::from_secs(5)).await,
        Some(via_both.clone())
    );
    go_tx.send_replace(true);
    assert_eq!(next_event(&mut rx, Duration::from_millis(500)).await, None);

    // Publishing through the link reaches the embedded relay's WebSocket subscribers.
    let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .expect("connect");
    ws.send(Message::Text(
        proto::client_req_msg("w", &[Filter::new().kinds([20000])]).into(),
    ))
    .await
    .expect("req");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mine = ev(8, "published through the link");
    link.publish(&mine).await.expect("publish");
    let got = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(m)) = ws.next().await {
            if let Ok(t) = m.to_text()
                && t.starts_with("[\"EVENT\"")
            {
                return Some(t.to_owned());
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
    .expect("event over the websocket");
    assert!(got.contains(&mine.id_hex()));
    // This test's filter does not exclude our own author (a node's names the other members
    // only), so the event also comes back through the in-process subscription.
    assert_eq!(
        next_event(&mut rx, Duration::from_secs(2)).await,
        Some(mine)
    );

    link.shutdown().await;
    assert_eq!(link.connected(), 0);
    assert_eq!(next_event(&mut rx, Duration::from_secs(2)).await, None);
    assert!(link.publish(&ev(9, "after shutdown")).await.is_err());
}
