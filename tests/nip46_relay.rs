//! The bunker over the real embedded relay (`crate::relay::Relay` on 127.0.0.1:0), restricted
//! mode with only the bunker's transport key allowed: clients reach it through the relay's
//! "ephemeral events p-tagging an allowed key" rule. Includes a reconnect: the TCP path to the
//! relay is cut and the bunker must resubscribe and keep answering.

use frostbox::nip46::transport::NostrPool;
use frostbox::nip46::{BunkerUri, Event, Policy};
use frostbox::nostr::{Filter, keys, nip44};
use frostbox::relay::Pool;
use frostbox::relay::RelayConfig;
use frostbox::vault::secret::Secret32;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// TCP proxy whose live connections can be cut.
struct Proxy {
    port: u16,
    conns: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(target: u16) -> Proxy {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = l.local_addr().expect("addr").port();
        let conns: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let c2 = conns.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = l.accept().await {
                let h = tokio::spawn(async move {
                    if let Ok(mut out) = tokio::net::TcpStream::connect(("127.0.0.1", target)).await
                    {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                    }
                });
                if let Ok(mut v) = c2.lock() {
                    v.push(h);
                }
            }
        });
        Proxy { port, conns }
    }
    fn cut(&self) {
        if let Ok(mut v) = self.conns.lock() {
            for h in v.drain(..) {
                h.abort();
            }
        }
    }
}

struct RemoteClient {
    sk: Secret32,
    pool: Pool,
    rx: mpsc::Receiver<Event>,
    signer: [u8; 32],
}

impl RemoteClient {
    async fn new(relay: &str, signer: [u8; 32]) -> RemoteClient {
        let sk = Secret32::random();
        let pk = keys::xonly_pubkey(&sk).expect("pk");
        let pool = Pool::new(vec![relay.to_string()]);
        let rx = pool
            .subscribe(
                "c",
                vec![Filter::new().kinds([24133]).authors([signer]).p_tags([pk])],
            )
            .await;
        RemoteClient {
            sk,
            pool,
            rx,
            signer,
        }
    }

    async fn call(&mut self, id: &str, method: &str, params: Value) -> Value {
        let k = nip44::conversation_key(&self.sk, &self.signer).expect("conv");
        let ev = crate::api_support::nip46_client::request_event(
            &self.sk,
            &self.signer,
            id,
            method,
            params,
        );
        NostrPool::publish(&self.pool, ev).await;
        loop {
            let resp = tokio::time::timeout(Duration::from_secs(10), self.rx.recv())
                .await
                .unwrap_or_else(|_| panic!("no response to {method}"))
                .expect("channel");
            let v: Value = serde_json::from_str(&nip44::decrypt(&k, &resp.content).expect("dec"))
                .expect("json");
            if v["id"] == id {
                return v;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bunker_over_embedded_relay_survives_reconnect() {
    let identity = Secret32::random();
    let group = keys::xonly_pubkey(&identity).expect("pk");
    // restricted
    let (client_url, relay) = crate::api_support::relay::start(RelayConfig::default()).await;
    let relay_port = crate::api_support::relay::port_of(&client_url);
    let proxy = Proxy::start(relay_port).await;
    let bunker_url = format!("ws://127.0.0.1:{}", proxy.port);

    let (bunker, stop) =
        crate::api_support::nip46_client::local_bunker(&identity, vec![bunker_url.clone()], &relay);

    let (_, uri) = bunker
        .create_bunker_uri(
            "relay-test",
            Some(Policy::from_perms("sign_event:1,nip44_encrypt").0),
            None,
        )
        .expect("uri");
    let uri = BunkerUri::parse(&uri).expect("parse");
    let mut c = RemoteClient::new(&client_url, uri.signer_pubkey).await;
    tokio::time::sleep(Duration::from_millis(300)).await; // both subscriptions in place

    let t0 = std::time::Instant::now();
    let v = c
        .call(
            "1",
            "connect",
            json!([
                hex::encode(uri.signer_pubkey),
                uri.secret.clone().expect("s")
            ]),
        )
        .await;
    assert_eq!(v["result"], "ack", "{v}");
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "connect answered within seconds"
    );
    let v = c.call("2", "get_public_key", json!([])).await;
    assert_eq!(v["result"], hex::encode(group));
    let tpl = json!({"kind": 1, "content": "over the relay", "tags": []}).to_string();
    let v = c.call("3", "sign_event", json!([tpl])).await;
    let ev = Event::from_json(v["result"].as_str().expect("r")).expect("ev");
    ev.verify().expect("valid");
    assert_eq!(ev.pubkey, group);

    // cut the bunker's connection; it must reconnect, resubscribe and answer again
    proxy.cut();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let v = c.call("4", "sign_event", json!([tpl])).await;
    assert!(
        v["result"]
            .as_str()
            .is_some_and(|r| r.contains("over the relay")),
        "answered after reconnect: {v}"
    );
    let denied = c
        .call("5", "nip04_encrypt", json!([hex::encode(group), "x"]))
        .await;
    assert!(
        denied["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{denied}"
    );
    let _ = stop.send(true);
}
