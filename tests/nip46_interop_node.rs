//! nostr-tools `BunkerSigner` (npm, tests/interop/nip46, lockfile) against a Frostbox bunker on
//! the embedded relay. Needs `npm ci` in tests/interop/nip46 → run by
//! ci/steps/45-interop-nip46.sh with `--ignored`.

use frostbox::nip46::transport::spawn_with_relay_pool;
use frostbox::nip46::{Bunker, BunkerConfig, BunkerUri, MemStore, Policy, local_signer};
use frostbox::nostr::keys;
use frostbox::relay::{Relay, RelayConfig};
use frostbox::vault::secret::Secret32;
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs node + npm ci in tests/interop/nip46 (ci/steps/45-interop-nip46.sh)"]
async fn nostr_tools_bunker_signer_interop() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/nip46");
    assert!(
        std::path::Path::new(dir)
            .join("node_modules/nostr-tools")
            .exists(),
        "run `npm ci` in {dir} first"
    );
    let identity = Secret32::random();
    let group = keys::xonly_pubkey(&identity).expect("pk");
    let relay = Relay::new(RelayConfig::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "ws://127.0.0.1:{}",
        listener.local_addr().expect("addr").port()
    );
    tokio::spawn(frostbox::relay::server::serve(listener, relay.clone()));

    let cfg = BunkerConfig {
        relays: vec![url.clone()],
        pending_timeout: Duration::ZERO,
        ..Default::default()
    };
    let (bunker, io) = Bunker::new(
        cfg,
        Arc::new(local_signer(identity.duplicate())),
        Arc::new(MemStore::new()),
    )
    .expect("bunker");
    relay.allow_pubkeys([bunker.transport_pubkey()]);
    let stop = spawn_with_relay_pool(bunker.clone(), io);
    let all =
        Policy::from_perms("sign_event,nip04_encrypt,nip04_decrypt,nip44_encrypt,nip44_decrypt").0;
    let (_, good) = bunker
        .create_bunker_uri("nostr-tools", Some(all), None)
        .expect("uri");
    let bad = BunkerUri {
        signer_pubkey: bunker.transport_pubkey(),
        relays: vec![url.clone()],
        secret: Some("00".repeat(32)),
    }
    .to_uri();

    let mut child = std::process::Command::new("node")
        .arg("test.mjs")
        .current_dir(dir)
        .env("BUNKER_URI", &good)
        .env("BAD_URI", &bad)
        .env("RELAY_URL", &url)
        .env("GROUP_PK", hex::encode(group))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("node");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut ok = false;
    let mut results = Vec::new();
    let run = async {
        while let Some(line) = rx.recv().await {
            println!("node: {line}");
            if let Some(uri) = line.strip_prefix("NOSTRCONNECT ") {
                let s = bunker.pair_nostrconnect(uri, None).expect("pair");
                assert_eq!(s.profile.name.as_deref(), Some("nostr-tools interop"));
            } else if let Some(r) = line.strip_prefix("RESULT ") {
                results.push(r.to_string());
            } else if line == "OK" {
                ok = true;
            }
        }
    };
    let finished = tokio::time::timeout(Duration::from_secs(120), run).await;
    if finished.is_err() {
        let _ = child.kill();
    }
    let status = child.wait().expect("wait");
    assert!(finished.is_ok(), "node test timed out");
    assert!(status.success() && ok, "node test failed ({status})");
    assert_eq!(results.len(), 2, "both flows ran: {results:?}");
    let audit = bunker.store().list_audit(None, 1000).expect("audit");
    for m in [
        "connect",
        "sign_event",
        "nip44_encrypt",
        "nip44_decrypt",
        "nip04_encrypt",
        "nip04_decrypt",
        "ping",
        "get_public_key",
        "get_relays",
        "switch_relays",
        "logout",
    ] {
        assert!(
            audit.iter().any(|e| e.method == m && e.outcome == "ok"),
            "audited ok {m}"
        );
    }
    assert!(
        audit
            .iter()
            .any(|e| e.outcome == "denied" && e.detail.contains("already used"))
    );
    assert!(
        audit
            .iter()
            .any(|e| e.outcome == "denied" && e.detail.contains("invalid connection secret"))
    );
    let _ = stop.send(true);
}
