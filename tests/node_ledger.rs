//! The redb-backed nonce ledger: a consumed code survives a restart (store closed and reopened)
//! and a restarted node refuses to sign with it again.

use std::sync::Arc;

use frostbox::frost::{self, NonceLedger};
use frostbox::frostr::next::group::GroupPackage;
use frostbox::frostr::next::wire::{DerivedPublicNonce, Envelope, Payload};
use frostbox::frostr::node::engine::{Engine, EngineConfig, Started};
use frostbox::frostr::node::{Reject, StoreLedger};
use frostbox::store::Store;
use frostbox::vault::secret::Secret32;

const NOW: u64 = 1_795_316_319;

/// Member `i`'s engine of a dealer-made group, with `ledger`.
fn engine(
    group: &GroupPackage,
    ks: &frost::Keyset,
    i: usize,
    ledger: Arc<dyn NonceLedger>,
) -> Engine {
    Engine::new(
        group.clone(),
        ks.shares[i].secret.duplicate(),
        ledger,
        EngineConfig::default(),
    )
    .expect("engine")
}

#[test]
fn store_ledger_is_durable_and_refuses_reuse() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("data");
    let code = [0x5a; 32];
    {
        let l = StoreLedger::new(Store::open_dir(&path).expect("open"));
        l.record_consumed(&code).expect("first");
        assert!(l.record_consumed(&code).is_err());
    }
    let l = StoreLedger::new(Store::open_dir(&path).expect("reopen"));
    assert!(l.record_consumed(&code).is_err(), "survives a restart");
    l.record_consumed(&[0x5b; 32]).expect("another code");
}

/// `issued` (the duplicate-share check) knows every code this signer generated, reserved or
/// consumed, across a restart, and nothing else.
#[test]
fn store_ledger_knows_which_codes_it_issued() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("data");
    let (reserved, consumed, foreign) = ([0x61; 32], [0x62; 32], [0x63; 32]);
    {
        let l = StoreLedger::new(Store::open_dir(&path).expect("open"));
        assert_eq!(l.issued(&reserved), Some(false));
        l.reserve(&[reserved]).expect("reserve");
        l.record_consumed(&consumed).expect("consume");
        assert_eq!(l.issued(&reserved), Some(true));
        assert_eq!(l.issued(&consumed), Some(true));
        assert_eq!(l.issued(&foreign), Some(false));
    }
    let l = StoreLedger::new(Store::open_dir(&path).expect("reopen"));
    assert_eq!(
        [&reserved, &consumed, &foreign].map(|c| l.issued(c)),
        [Some(true), Some(true), Some(false)]
    );
    let mem = frost::MemoryNonceLedger::new();
    mem.reserve(&[reserved]).expect("reserve");
    assert_eq!(
        (mem.issued(&reserved), mem.issued(&foreign)),
        (Some(true), Some(false))
    );
    // A reserved code is not consumed by reserving it.
    mem.record_consumed(&reserved)
        .expect("first use of a reserved code");
}

/// Kill between claim and send: the responder records consumption (redb), "dies" before the
/// partial signature leaves, restarts from the same data directory with its pool restored, and
/// refuses the code.
#[test]
fn restarted_node_with_redb_ledger_refuses_nonce() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("data");
    let ks = frost::keygen(2, 2).expect("keygen");
    let group = GroupPackage::from_keys("t", &ks.group);
    let mk = |i: usize, ledger: Arc<dyn NonceLedger>| engine(&group, &ks, i, ledger);
    let mut alice = mk(0, Arc::new(frost::MemoryNonceLedger::new()));
    let code = [0x42; 32];
    let (h, b) = (Secret32::new([0x11; 32]), Secret32::new([0x22; 32]));
    let req = {
        let mut bob = mk(
            1,
            Arc::new(StoreLedger::new(Store::open_dir(&path).expect("open"))),
        );
        let nonce = frost::SigningNonce::from_secrets(code, &h, &b).expect("nonce");
        let public = DerivedPublicNonce::of(&nonce);
        bob.insert_outgoing_nonce(&alice.xonly(), nonce)
            .expect("insert");
        let mut pubs = vec![public];
        for _ in 0..5 {
            let n = frost::SigningNonce::generate(&ks.shares[1].secret).expect("n");
            pubs.push(DerivedPublicNonce::of(&n));
        }
        alice.insert_incoming_nonces(&bob.xonly(), &pubs);
        let Started::Round { outgoing, .. } = alice.start_sign([3; 32], NOW).expect("start") else {
            panic!("round")
        };
        let req = outgoing[0].envelope.clone();
        let handled = bob.handle(&alice.xonly(), req.clone(), NOW).expect("signs");
        assert!(matches!(
            handled.outgoing[0].envelope.payload,
            Payload::SignResponse(_)
        ));
        // Crash: the response is never sent; the process (and its store handle) goes away.
        req
    };
    let mut bob2 = mk(
        1,
        Arc::new(StoreLedger::new(Store::open_dir(&path).expect("reopen"))),
    );
    let again = frost::SigningNonce::from_secrets(code, &h, &b).expect("nonce");
    bob2.insert_outgoing_nonce(&alice.xonly(), again)
        .expect("insert");
    let replay = Envelope {
        request_id: "after-restart".into(),
        ..req
    };
    match bob2.handle(&alice.xonly(), replay, NOW) {
        Err(Reject::NonceUnavailable { reason, .. }) => {
            assert!(reason.contains("already consumed"), "{reason}")
        }
        other => panic!("must refuse the consumed nonce: {other:?}"),
    }
}

/// Burned in advance: one durable write for a batch; each reserved code is then consumed once
/// from memory, and after a restart every reserved code (used or not) counts as consumed.
#[test]
fn reserved_codes_are_durable_before_use_and_usable_once() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("data");
    let (a, b) = ([0x61; 32], [0x62; 32]);
    {
        let store = Store::open_dir(&path).expect("open");
        let l = StoreLedger::new(store.clone());
        l.reserve(&[a, b]).expect("reserve");
        assert!(store.is_consumed(&a).expect("read") && store.is_consumed(&b).expect("read"));
        assert_eq!(store.consumed_count().expect("count"), 2);
        l.record_consumed(&a)
            .expect("a reserved code is usable once");
        assert_eq!(store.consumed_count().expect("count"), 2, "no second write");
        assert!(l.record_consumed(&a).is_err(), "and only once");
        assert!(l.reserve(&[b]).is_err(), "a code cannot be reserved twice");
    }
    let l = StoreLedger::new(Store::open_dir(&path).expect("reopen"));
    assert!(
        l.record_consumed(&b).is_err(),
        "reserved but unused = consumed after restart"
    );
}

/// Every nonce a node advertises is in the redb ledger before the ping carrying it leaves, and a
/// co-signed round then writes nothing to the ledger (the fsync left the signing path).
#[test]
fn advertised_nonces_are_burned_before_they_leave() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Store::open_dir(&dir.path().join("data")).expect("open");
    let ks = frost::keygen(2, 2).expect("keygen");
    let group = GroupPackage::from_keys("t", &ks.group);
    let mk = |i: usize, ledger: Arc<dyn NonceLedger>| engine(&group, &ks, i, ledger);
    let mut alice = mk(0, Arc::new(frost::MemoryNonceLedger::new()));
    let mut bob = mk(1, Arc::new(StoreLedger::new(store.clone())));
    let Started::Round { outgoing, .. } = bob.start_ping(&alice.xonly(), NOW).expect("ping") else {
        panic!("round")
    };
    let Payload::PingRequest(ping) = &outgoing[0].envelope.payload else {
        panic!("ping")
    };
    assert!(!ping.advertised_nonces.is_empty());
    for n in &ping.advertised_nonces {
        assert!(
            store.is_consumed(&n.code).expect("read"),
            "advertised before burned"
        );
    }
    // Burned a batch at a time (the rest wait in the node's stock, already on disk).
    let burned = store.consumed_count().expect("count");
    assert!(burned >= ping.advertised_nonces.len() as u64);
    alice.insert_incoming_nonces(&bob.xonly(), &ping.advertised_nonces);
    let Started::Round { outgoing, .. } = alice.start_sign([9; 32], NOW).expect("start") else {
        panic!("round")
    };
    let h = bob
        .handle(&alice.xonly(), outgoing[0].envelope.clone(), NOW)
        .expect("bob co-signs");
    assert!(matches!(
        h.outgoing[0].envelope.payload,
        Payload::SignResponse(_)
    ));
    assert_eq!(
        store.consumed_count().expect("count"),
        burned,
        "no write while signing"
    );
}
