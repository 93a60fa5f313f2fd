//! A minimal NIP-46 client for process tests (NIP-44 transport, one relay): connect, call a
//! method, count duplicate answers.
use frostbox::nip46::transport::NostrPool;
use frostbox::nip46::{BunkerUri, Event};
use frostbox::nostr::{Filter, keys, nip44};
use frostbox::relay::Pool;
use frostbox::vault::secret::Secret32;
use serde_json::{Value, json};
use std::time::Duration;

/// A minimal NIP-46 client (NIP-44 transport) over one relay.
pub struct Client {
    pub sk: Secret32,
    pub pk: [u8; 32],
    pub signer: [u8; 32],
    pub conv: Secret32,
    pub pool: Pool,
    pub rx: tokio::sync::mpsc::Receiver<Event>,
}

impl Client {
    pub async fn new(relay: &str, signer: [u8; 32], sk: Secret32) -> Client {
        let pk = keys::xonly_pubkey(&sk).expect("pk");
        let conv = nip44::conversation_key(&sk, &signer).expect("conv");
        let pool = Pool::new(vec![relay.to_string()]);
        let rx = NostrPool::subscribe(
            &pool,
            "c",
            vec![Filter::new().kinds([24133]).authors([signer]).p_tags([pk])],
        )
        .await;
        for _ in 0..200 {
            if pool.connected() == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        Client {
            sk,
            pk,
            signer,
            conv,
            pool,
            rx,
        }
    }

    pub async fn send(&self, id: &str, method: &str, params: Value) {
        let body = json!({"id": id, "method": method, "params": params}).to_string();
        self.send_plain(&body).await;
    }

    pub async fn send_plain(&self, body: &str) {
        let content = nip44::encrypt(&self.conv, body, nip44::B64::Padded).expect("enc");
        let ev = Event::sign_random(
            &self.sk,
            frostbox::store::now(),
            24133,
            vec![vec!["p".into(), hex::encode(self.signer)]],
            content,
        )
        .expect("sign");
        let _ = self.pool.publish(&ev).await;
    }

    /// Sends a request; returns the response and how many responses with this id arrived
    /// within `extra` after the first.
    pub async fn call_counted(
        &mut self,
        id: &str,
        method: &str,
        params: Value,
        extra: Duration,
    ) -> (Value, usize) {
        self.send(id, method, params).await;
        self.recv_counted(id, method, extra).await
    }

    pub async fn recv_counted(
        &mut self,
        id: &str,
        method: &str,
        extra: Duration,
    ) -> (Value, usize) {
        let mut first: Option<Value> = None;
        let mut n = 0;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let until = match &first {
                Some(_) => tokio::time::Instant::now() + extra,
                None => deadline,
            };
            match tokio::time::timeout_at(until.min(deadline), self.rx.recv()).await {
                Ok(Some(r)) => {
                    let v: Value =
                        serde_json::from_str(&nip44::decrypt(&self.conv, &r.content).expect("dec"))
                            .expect("json");
                    if v["id"] == id {
                        n += 1;
                        if first.is_none() {
                            first = Some(v);
                        }
                    }
                }
                _ => break,
            }
        }
        (first.unwrap_or_else(|| panic!("no answer to {method}")), n)
    }

    /// `connect` with the bunker:// URI's signer pubkey and secret; returns the answer.
    pub async fn connect(&mut self, id: &str, uri: &BunkerUri) -> Value {
        let secret = uri
            .secret
            .clone()
            .expect("the bunker:// URI carries a secret");
        self.call(
            id,
            "connect",
            json!([hex::encode(uri.signer_pubkey), secret]),
        )
        .await
    }

    pub async fn call(&mut self, id: &str, method: &str, params: Value) -> Value {
        self.call_counted(id, method, params, Duration::ZERO)
            .await
            .0
    }
}
