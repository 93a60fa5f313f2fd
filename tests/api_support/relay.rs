//! Relays served in the test process on 127.0.0.1:0.

use frostbox::relay::{Relay, RelayConfig};

/// Serves `relay` on 127.0.0.1:0 (a task of the current runtime); returns its `ws://` URL.
pub async fn serve(relay: Relay) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(frostbox::relay::server::serve(listener, relay));
    format!("ws://127.0.0.1:{port}")
}

/// A relay with `cfg`, served: its `ws://` URL and a handle on it.
pub async fn start(cfg: RelayConfig) -> (String, Relay) {
    let relay = Relay::new(cfg);
    (serve(relay.clone()).await, relay)
}

/// A relay that accepts events from anyone, served.
pub async fn open() -> (String, Relay) {
    start(RelayConfig {
        open: true,
        ..RelayConfig::default()
    })
    .await
}

/// A default (restricted) relay that lets `writers` (x-only keys) write, served.
pub async fn allowing(writers: impl IntoIterator<Item = [u8; 32]>) -> (String, Relay) {
    let relay = Relay::new(RelayConfig::default());
    relay.allow_pubkeys(writers);
    (serve(relay.clone()).await, relay)
}

/// The port of a `ws://127.0.0.1:<port>` URL.
pub fn port_of(url: &str) -> u16 {
    url.rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {url}"))
}

/// A default relay on which the members of every group in `groups` may write, served.
pub async fn for_groups(groups: &[&super::groups::Group]) -> (String, Relay) {
    allowing(
        groups
            .iter()
            .flat_map(|g| g.pkg.members.iter().map(|m| m.xonly())),
    )
    .await
}

/// An open relay configuration without rate limits (tests that publish in bursts).
pub fn open_cfg() -> RelayConfig {
    RelayConfig {
        open: true,
        rate_per_sec: 10_000.0,
        rate_burst: 10_000.0,
        ..RelayConfig::default()
    }
}

/// A scripted "relay" on 127.0.0.1:0 (no Nostr logic): on every `REQ` it sends `frames` (raw
/// JSON messages) and, with `then` = (switch, frame), sends `frame` once the switch turns true.
/// Returns its `ws://` URL.
pub async fn scripted(
    frames: Vec<String>,
    then: Option<(tokio::sync::watch::Receiver<bool>, String)>,
) -> String {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("ws://{}", l.local_addr().expect("addr"));
    let frames = std::sync::Arc::new(frames);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = l.accept().await {
            let (frames, mut then) = (frames.clone(), then.clone());
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
                    return;
                };
                while let Some(Ok(m)) = ws.next().await {
                    if m.to_text().is_ok_and(|t| t.starts_with("[\"REQ\"")) {
                        for f in frames.iter() {
                            let _ = ws.send(Message::Text(f.clone().into())).await;
                        }
                        if let Some((go, last)) = then.as_mut() {
                            let _ = go.wait_for(|v| *v).await;
                            let _ = ws.send(Message::Text(last.clone().into())).await;
                        }
                    }
                }
            });
        }
    });
    url
}

/// Publishes `e` to `url` over a fresh WebSocket like a remote client; returns the relay's `OK`
/// frame (`None` when the connection ended without one).
pub async fn ws_publish(url: &str, e: &frostbox::nostr::Event) -> Option<String> {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    let msg = frostbox::relay::proto::client_event_msg(e);
    ws.send(Message::Text(msg.into())).await.expect("send");
    while let Some(Ok(m)) = ws.next().await {
        if let Ok(t) = m.to_text()
            && t.starts_with("[\"OK\"")
        {
            return Some(t.to_string());
        }
    }
    None
}
