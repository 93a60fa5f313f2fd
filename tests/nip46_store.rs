//! The redb-backed store: transport key (sealed), sessions and used tokens survive a restart.

use frostbox::nip46::redb_store::RedbNip46Store;
use frostbox::nip46::store::{Nip46Store, SessionStatus};
use frostbox::nip46::{Bunker, BunkerConfig, BunkerUri, Event, Policy, local_signer};
use frostbox::nostr::{keys, nip44};
use frostbox::store::Store;
use frostbox::vault::secret::Secret32;
use serde_json::json;
use std::sync::Arc;

fn req(sk: &Secret32, to: &[u8; 32], id: &str, method: &str, params: serde_json::Value) -> Event {
    crate::api_support::nip46_client::request_event(sk, to, id, method, params)
}

fn result(sk: &Secret32, ev: &Event) -> serde_json::Value {
    let k = nip44::conversation_key(sk, &ev.pubkey).expect("conv");
    serde_json::from_str(&nip44::decrypt(&k, &ev.content).expect("dec")).expect("json")
}

#[tokio::test]
async fn state_survives_restart_and_transport_key_is_sealed() {
    let dir = tempfile::tempdir().expect("tmp");
    let identity = Secret32::random();
    let device = Secret32::random();
    let csk = Secret32::random();
    let cpk = keys::xonly_pubkey(&csk).expect("pk");
    let cfg = BunkerConfig {
        relays: vec!["ws://127.0.0.1:3".into()],
        ..Default::default()
    };
    let (signer_pk, secret) = {
        let store = Store::open_dir(dir.path()).expect("open");
        let s = Arc::new(RedbNip46Store::new(
            store.clone(),
            device.duplicate(),
            "main",
        ));
        let (b, mut io) = Bunker::new(
            cfg.clone(),
            Arc::new(local_signer(identity.duplicate())),
            s.clone(),
        )
        .expect("b");
        let (_, uri) = b
            .create_bunker_uri("p", Some(Policy::from_perms("sign_event:1").0), None)
            .expect("uri");
        let uri = BunkerUri::parse(&uri).expect("parse");
        let secret = uri.secret.expect("secret");
        let spk = b.transport_pubkey();
        b.handle_event(req(
            &csk,
            &spk,
            "1",
            "connect",
            json!([hex::encode(spk), secret]),
        ))
        .await;
        assert_eq!(
            result(&csk, &io.outbox.try_recv().expect("r"))["result"],
            "ack"
        );
        // the durable audit log got the connect
        let log = store.audit_log(50).expect("log");
        assert!(
            log.iter()
                .any(|e| e.who == format!("nip46:{}", hex::encode(cpk))
                    && e.action == "nip46.connect")
        );
        // the transport secret is not stored in clear
        let raw = store
            .keyset("nip46-transport/main")
            .expect("ks")
            .expect("present");
        let tk = s.transport_key().expect("tk").expect("some");
        assert!(!String::from_utf8_lossy(&raw).contains(tk.expose_hex().as_str()));
        (spk, secret)
    };
    let store = Store::open_dir(dir.path()).expect("reopen");
    let s = Arc::new(RedbNip46Store::new(store, device.duplicate(), "main"));
    let (b, mut io) = Bunker::new(
        cfg.clone(),
        Arc::new(local_signer(identity.duplicate())),
        s.clone(),
    )
    .expect("b");
    assert_eq!(
        b.transport_pubkey(),
        signer_pk,
        "remote-signer pubkey stable across restarts"
    );
    let sess = s.get_client(&cpk).expect("get").expect("session persisted");
    assert_eq!(sess.status, SessionStatus::Active);
    let tpl = json!({"kind": 1, "content": "after restart", "tags": []}).to_string();
    b.handle_event(req(&csk, &signer_pk, "2", "sign_event", json!([tpl])))
        .await;
    let v = result(&csk, &io.outbox.try_recv().expect("r"));
    Event::from_json(v["result"].as_str().expect("r"))
        .expect("ev")
        .verify()
        .expect("valid");
    // the used token stays used
    let other = Secret32::random();
    b.handle_event(req(
        &other,
        &signer_pk,
        "3",
        "connect",
        json!([hex::encode(signer_pk), secret]),
    ))
    .await;
    assert!(
        result(&other, &io.outbox.try_recv().expect("r"))["error"]
            .as_str()
            .expect("e")
            .contains("already used")
    );
    // another identity namespace has its own transport key
    let s2 = Arc::new(RedbNip46Store::new(
        s.store().clone(),
        device.duplicate(),
        "second",
    ));
    let (b2, _io2) = Bunker::new(cfg, Arc::new(local_signer(Secret32::random())), s2).expect("b2");
    assert_ne!(b2.transport_pubkey(), signer_pk);
    // a wrong device key cannot open the transport key
    let bad = RedbNip46Store::new(s.store().clone(), Secret32::random(), "main");
    assert!(bad.transport_key().is_err());
}

/// Deleting a keyset deletes its bunker's data (transport key, sessions, tokens, relays) by the
/// namespace recorded for it, and nothing of another keyset's bunker; a namespace still
/// recorded for another keyset (the same identity) is kept.
#[test]
fn forgetting_a_keyset_deletes_only_its_bunker_data() {
    use frostbox::nip46::redb_store::{forget_keyset, namespace_of, record_namespace};
    use frostbox::nip46::store::{ClientSession, TransportKind};
    let dir = tempfile::tempdir().expect("tmp");
    let store = Store::open_dir(dir.path()).expect("open");
    let device = Secret32::random();
    let session = |pk: [u8; 32]| ClientSession {
        pubkey: pk,
        status: SessionStatus::Active,
        profile: Default::default(),
        relays: vec![],
        policy: Policy::default(),
        requested_perms: String::new(),
        transport: TransportKind::Nip44,
        token_id: None,
        web_base: None,
        created_at: 1,
        updated_at: 1,
        last_active_at: 1,
        recent_kinds: vec![],
        recent_methods: vec![],
    };
    let mut stores = Vec::new();
    for (keyset, ns) in [("default", "ns-default"), ("b", "ns-b")] {
        let s = RedbNip46Store::new(store.clone(), device.duplicate(), ns);
        s.set_transport_key(&Secret32::random()).expect("tk");
        s.put_client(&session([ns.len() as u8; 32]))
            .expect("client");
        s.set_relays(&["ws://127.0.0.1:9".into()]).expect("relays");
        record_namespace(&store, keyset, ns).expect("record");
        assert_eq!(
            namespace_of(&store, keyset).expect("ns").as_deref(),
            Some(ns)
        );
        stores.push(s);
    }
    let default_tk = stores[0].transport_key().expect("tk").expect("some");

    // keyset b: transport key, client, relays and the namespace record (4 records)
    assert_eq!(forget_keyset(&store, "b").expect("forget"), 4);
    assert!(stores[1].transport_key().expect("tk").is_none());
    assert!(stores[1].list_clients().expect("clients").is_empty());
    assert!(stores[1].relays().expect("relays").is_none());
    assert!(namespace_of(&store, "b").expect("ns").is_none());
    assert_eq!(
        forget_keyset(&store, "b").expect("again"),
        0,
        "nothing left"
    );
    // the default keyset's bunker is untouched
    assert_eq!(
        stores[0]
            .transport_key()
            .expect("tk")
            .expect("some")
            .expose(),
        default_tk.expose()
    );
    assert_eq!(stores[0].list_clients().expect("clients").len(), 1);
    assert!(store.keyset_ids().expect("ids").is_empty(), "no keyset ids");

    // a namespace another keyset still records is kept; only the record goes
    record_namespace(&store, "c", "ns-default").expect("record");
    assert_eq!(forget_keyset(&store, "c").expect("forget"), 1);
    assert!(stores[0].transport_key().expect("tk").is_some());
    assert_eq!(stores[0].list_clients().expect("clients").len(), 1);
}
