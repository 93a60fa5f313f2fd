//! nostr-tools `BunkerSigner` (npm, tests/interop/nip46, lockfile) against a Frostbox bunker on
//! the embedded relay. Needs `npm ci` in tests/interop/nip46 → run by
//! ci/steps/45-interop-nip46.sh with `--ignored`.

use crate::api_support::{nip46_client, npm, relay};
use frostbox::nip46::{BunkerUri, Policy};
use frostbox::nostr::keys;
use frostbox::vault::secret::Secret32;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs node + npm ci in tests/interop/nip46 (ci/steps/45-interop-nip46.sh)"]
async fn nostr_tools_bunker_signer_interop() {
    let identity = Secret32::random();
    let group = keys::xonly_pubkey(&identity).expect("pk");
    let (url, relay) = relay::start(Default::default()).await;
    let (bunker, stop) = nip46_client::local_bunker(&identity, vec![url.clone()], &relay);
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

    let mut node = npm::bunker_script(&good, &bad, &url, &group, &[], Duration::from_secs(120));
    while let Some(line) = node.line().await {
        if let Some(uri) = line.strip_prefix("NOSTRCONNECT ") {
            let s = bunker.pair_nostrconnect(uri, None).expect("pair");
            assert_eq!(s.profile.name.as_deref(), Some("nostr-tools interop"));
        }
    }
    node.finish(String::new).await;
    let results = &node.results;
    assert_eq!(results.len(), 2, "both flows ran: {results:?}");
    let audit = bunker.store().list_audit(None, 1000).expect("audit");
    for m in nip46_client::INTEROP_METHODS {
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
