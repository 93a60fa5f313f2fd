//! The node's protocol engine, in memory: groups of Frostbox engines ping, sign and ECDH with
//! each other; bad peers are rejected with a reason; nonces are never reused across a restart.

use std::collections::BTreeMap;
use std::sync::Arc;

use frostbox::frost::{self, MemoryNonceLedger, NonceLedger};
use frostbox::frostr::next::group::GroupPackage;
use frostbox::frostr::next::wire::{Envelope, Payload};
use frostbox::frostr::node::engine::{
    BAD_REQUEST, Completion, Engine, EngineConfig, NONCE_UNAVAILABLE, Outgoing, Started,
};
use frostbox::frostr::node::policy::{Override, PeerPolicy};
use frostbox::frostr::node::{NodeError, Outcome, Reject};
use frostbox::vault::secret::Secret32;

const NOW: u64 = 1_795_316_319;

struct Net {
    engines: BTreeMap<[u8; 32], Engine>,
    order: Vec<[u8; 32]>,
    group: GroupPackage,
    secret: Secret32,
    ledgers: Vec<Arc<MemoryNonceLedger>>,
}

fn net(t: u16, n: u16) -> Net {
    let ks = frost::keygen(t, n).expect("keygen");
    let group = GroupPackage::from_keys("test", &ks.group);
    let secret = frost::recover(&ks.shares).expect("recover");
    let mut engines = BTreeMap::new();
    let mut order = Vec::new();
    let mut ledgers = Vec::new();
    for s in &ks.shares {
        let ledger = Arc::new(MemoryNonceLedger::new());
        ledgers.push(ledger.clone());
        let e = Engine::new(
            group.clone(),
            s.secret.duplicate(),
            ledger,
            EngineConfig::default(),
        )
        .expect("engine");
        order.push(e.xonly());
        engines.insert(e.xonly(), e);
    }
    Net {
        engines,
        order,
        group,
        secret,
        ledgers,
    }
}

impl Net {
    fn key(&self, i: usize) -> [u8; 32] {
        self.order[i]
    }
    fn eng(&mut self, i: usize) -> &mut Engine {
        let k = self.order[i];
        self.engines.get_mut(&k).expect("engine")
    }
    /// Delivers messages until quiet; returns completions seen by `origin` and rejections.
    fn run(
        &mut self,
        from: [u8; 32],
        mut queue: Vec<Outgoing>,
        tamper: &mut dyn FnMut(&[u8; 32], &mut Envelope),
    ) -> (Vec<Completion>, Vec<Reject>) {
        let mut q: Vec<([u8; 32], Outgoing)> = queue.drain(..).map(|o| (from, o)).collect();
        let mut done = Vec::new();
        let mut rejects = Vec::new();
        while !q.is_empty() {
            let (sender, mut o) = q.remove(0);
            tamper(&sender, &mut o.envelope);
            let eng = self.engines.get_mut(&o.to).expect("recipient");
            // `handle_answering`, as the node does: refused requests get an `Error` reply.
            let (h, refused) = eng.handle_answering(&sender, o.envelope, NOW);
            let me = eng.xonly();
            for out in h.outgoing {
                q.push((me, out));
            }
            if let Some(c) = h.completion {
                done.push(c);
            }
            if let Some(r) = refused {
                rejects.push(r);
            }
        }
        (done, rejects)
    }

    fn ping_all(&mut self) {
        for i in 0..self.order.len() {
            for j in 0..self.order.len() {
                if i == j {
                    continue;
                }
                let me = self.key(i);
                let peer = self.key(j);
                let Started::Round { outgoing, .. } =
                    self.eng(i).start_ping(&peer, NOW).expect("ping")
                else {
                    panic!("ping is a round")
                };
                let (done, rej) = self.run(me, outgoing, &mut |_, _| {});
                assert!(rej.is_empty(), "{rej:?}");
                assert!(matches!(done[0].result, Ok(Outcome::Pong { .. })));
            }
        }
    }

    fn sign(&mut self, i: usize, msg: [u8; 32]) -> Result<[u8; 64], NodeError> {
        let me = self.key(i);
        match self.eng(i).start_sign(msg, NOW)? {
            Started::Done(Outcome::Signature(s)) => Ok(s),
            Started::Done(o) => panic!("{o:?}"),
            Started::Round { outgoing, .. } => {
                let (done, _) = self.run(me, outgoing, &mut |_, _| {});
                match done.into_iter().next().expect("completion").result? {
                    Outcome::Signature(s) => Ok(s),
                    o => panic!("{o:?}"),
                }
            }
        }
    }

    fn ecdh(&mut self, i: usize, target: [u8; 32]) -> Result<[u8; 32], NodeError> {
        let me = self.key(i);
        match self.eng(i).start_ecdh(target, NOW)? {
            Started::Done(Outcome::Ecdh(x)) => Ok(x),
            Started::Done(o) => panic!("{o:?}"),
            Started::Round { outgoing, .. } => {
                let (done, _) = self.run(me, outgoing, &mut |_, _| {});
                match done.into_iter().next().expect("completion").result? {
                    Outcome::Ecdh(x) => Ok(x),
                    o => panic!("{o:?}"),
                }
            }
        }
    }
}

use crate::api_support::keys::plain_ecdh_x;

#[test]
fn two_of_three_ping_sign_ecdh() {
    let mut n = net(2, 3);
    n.ping_all();
    let st = n.eng(0).status(NOW);
    assert!(st.threshold_reachable);
    assert_eq!(st.sign_ready_peers, 2);
    for i in 0..3 {
        let msg = [i as u8 + 1; 32];
        let sig = n.sign(i, msg).expect("sign");
        assert!(frost::verify_bip340(&n.group.group_pk, &msg, &sig));
    }
    let target_secret = Secret32::random();
    let target = frost::xonly(&target_secret).expect("x");
    let want = plain_ecdh_x(&n.secret, &target);
    for i in 0..3 {
        assert_eq!(n.ecdh(i, target).expect("ecdh"), want);
    }
    // The corrected output is also the target's own view (NIP-44 shared_x).
    assert_eq!(plain_ecdh_x(&target_secret, &n.group.group_pk), want);
}

#[test]
fn three_of_five_sign_and_ecdh() {
    let mut n = net(3, 5);
    n.ping_all();
    for i in [0, 2, 4] {
        let msg = [0x40 + i as u8; 32];
        let sig = n.sign(i, msg).expect("sign");
        assert!(frost::verify_bip340(&n.group.group_pk, &msg, &sig));
    }
    let target = frost::xonly(&Secret32::random()).expect("x");
    let want = plain_ecdh_x(&n.secret, &target);
    assert_eq!(n.ecdh(1, target).expect("ecdh"), want);
    assert_eq!(n.ecdh(3, target).expect("ecdh"), want);
}

#[test]
fn sign_result_is_cached() {
    let mut n = net(2, 3);
    n.ping_all();
    let msg = [9; 32];
    let sig = n.sign(0, msg).expect("sign");
    let before =
        n.eng(1).status(NOW).peers[0].outgoing_spent + n.eng(2).status(NOW).peers[0].outgoing_spent;
    let Started::Done(Outcome::Signature(again)) = n.eng(0).start_sign(msg, NOW).expect("sign")
    else {
        panic!("expected a cache hit")
    };
    assert_eq!(again, sig);
    let after =
        n.eng(1).status(NOW).peers[0].outgoing_spent + n.eng(2).status(NOW).peers[0].outgoing_spent;
    assert_eq!(
        before, after,
        "no network traffic / nonces for a cached result"
    );
}

#[test]
fn without_nonces_sign_fails_immediately_naming_the_shortfall() {
    let mut n = net(2, 3);
    let err = n.sign(0, [1; 32]).expect_err("no nonces yet");
    assert!(
        matches!(
            err,
            NodeError::NotEnoughPeers {
                need: 1,
                have: 0,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn many_signatures_replenish_automatically() {
    let mut n = net(2, 3);
    n.ping_all();
    // 150 signatures > the 70 nonces of one ping: replenish in each response keeps it going.
    for k in 0..150u32 {
        let mut msg = [0u8; 32];
        msg[..4].copy_from_slice(&k.to_be_bytes());
        let sig = n.sign(0, msg).expect("sign");
        assert!(frost::verify_bip340(&n.group.group_pk, &msg, &sig));
    }
    assert!(n.eng(0).status(NOW).threshold_reachable);
}

#[test]
fn policy_denied_sign_fails_with_peer_rejected_naming_the_peer() {
    let mut n = net(2, 2);
    n.ping_all();
    let alice = n.key(0);
    let bob = n.key(1);
    let mut deny = PeerPolicy::default();
    deny.respond.sign = Override::Deny;
    n.eng(1).policy_mut().set_peer(alice, deny);
    let Started::Round { outgoing, .. } = n.eng(0).start_sign([5; 32], NOW).expect("start") else {
        panic!("round")
    };
    let (done, _) = n.run(alice, outgoing, &mut |_, _| {});
    let err = done[0].result.clone().expect_err("denied");
    match err {
        NodeError::PeerRejected {
            peer,
            code,
            message,
            ..
        } => {
            assert_eq!(peer, hex::encode(bob));
            assert_eq!(code, "peer_denied");
            assert_eq!(message, "inbound sign denied by local policy");
        }
        e => panic!("{e}"),
    }
    // After Bob tells Alice (ping profile), Alice no longer even asks Bob.
    let Started::Round { outgoing, .. } = n.eng(0).start_ping(&bob, NOW).expect("ping") else {
        panic!("round")
    };
    n.run(alice, outgoing, &mut |_, _| {});
    let st = n.eng(0).status(NOW);
    assert!(!st.peers[0].can_request_sign);
    assert!(!st.threshold_reachable);
    assert!(matches!(
        n.sign(0, [6; 32]),
        Err(NodeError::NotEnoughPeers { .. })
    ));
}

#[test]
fn invalid_partial_signature_fails_round_naming_peer() {
    let mut n = net(2, 3);
    n.ping_all();
    let alice = n.key(0);
    let Started::Round { outgoing, .. } = n.eng(0).start_sign([7; 32], NOW).expect("start") else {
        panic!("round")
    };
    let target = outgoing[0].to;
    let (done, _) = n.run(alice, outgoing, &mut |sender, env| {
        if let Payload::SignResponse(p) = &mut env.payload {
            assert_eq!(sender, &target);
            p.psigs[0].partial_sig[31] ^= 1;
        }
    });
    match done[0].result.clone() {
        Err(NodeError::InvalidPeerResponse { peer, reason, .. }) => {
            assert_eq!(peer, hex::encode(target));
            assert!(reason.contains("partial signature"), "{reason}");
        }
        r => panic!("{r:?}"),
    }
    assert_eq!(n.eng(0).pending_count(), 0);
}

#[test]
fn replayed_stale_future_and_foreign_messages_are_rejected() {
    let mut n = net(2, 3);
    let alice = n.key(0);
    let bob = n.key(1);
    let Started::Round { outgoing, .. } = n.eng(0).start_ping(&bob, NOW).expect("ping") else {
        panic!("round")
    };
    let env = outgoing[0].envelope.clone();
    assert!(n.eng(1).handle(&alice, env.clone(), NOW).is_ok());
    // Replay.
    assert!(matches!(
        n.eng(1).handle(&alice, env.clone(), NOW + 1),
        Err(Reject::Replay { .. })
    ));
    // Stale and from the future.
    let mut stale = env.clone();
    stale.request_id = "other1".into();
    stale.sent_at = NOW - 301;
    assert!(matches!(
        n.eng(1).handle(&alice, stale, NOW),
        Err(Reject::Replay { .. })
    ));
    let mut fut = env.clone();
    fut.request_id = "other2".into();
    fut.sent_at = NOW + 31;
    assert!(matches!(
        n.eng(1).handle(&alice, fut, NOW),
        Err(Reject::Replay { .. })
    ));
    // Not a member.
    let stranger = frost::xonly(&Secret32::random()).expect("x");
    assert!(matches!(
        n.eng(1).handle(&stranger, env.clone(), NOW),
        Err(Reject::UnknownAuthor(_))
    ));
    // Unsolicited response.
    let mut unsolicited = env;
    unsolicited.request_id = "other3".into();
    if let Payload::PingRequest(p) = unsolicited.payload {
        unsolicited.payload = Payload::PingResponse(p);
    }
    assert!(matches!(
        n.eng(1).handle(&alice, unsolicited, NOW),
        Err(Reject::Unsolicited { .. })
    ));
    assert_eq!(n.eng(1).rejected_count(), 5);
}

#[test]
fn bad_sign_requests_are_dropped_without_answer() {
    let mut n = net(2, 3);
    n.ping_all();
    let alice = n.key(0);
    let Started::Round { outgoing, .. } = n.eng(0).start_sign([8; 32], NOW).expect("start") else {
        panic!("round")
    };
    let to = outgoing[0].to;
    let base = outgoing[0].envelope.clone();
    let idx = n.engines[&to].idx();
    type Tamper = Box<dyn Fn(&mut Envelope)>;
    let cases: Vec<(&str, Tamper)> = vec![
        (
            "sid",
            Box::new(|e| {
                if let Payload::SignRequest(s) = &mut e.payload {
                    s.sid[0] ^= 1;
                }
            }),
        ),
        (
            "members",
            Box::new(|e| {
                if let Payload::SignRequest(s) = &mut e.payload {
                    s.members.reverse();
                    s.sid = s.compute_sid();
                }
            }),
        ),
        (
            "code",
            Box::new(move |e| {
                if let Payload::SignRequest(s) = &mut e.payload
                    && let Some(sets) = &mut s.nonces
                {
                    for set in sets.iter_mut().filter(|x| x.idx == idx) {
                        set.entries[0].code = [0xee; 32];
                    }
                }
            }),
        ),
        (
            "gid",
            Box::new(|e| {
                if let Payload::SignRequest(s) = &mut e.payload {
                    s.gid[0] ^= 1;
                    s.sid = s.compute_sid();
                }
            }),
        ),
    ];
    for (i, (name, f)) in cases.iter().enumerate() {
        let mut env = base.clone();
        env.request_id = format!("bad-{i}");
        f(&mut env);
        let r = n
            .engines
            .get_mut(&to)
            .expect("e")
            .handle(&alice, env.clone(), NOW);
        // A stale nonce code is its own refusal (answered NONCE_UNAVAILABLE); the rest are invalid.
        let refused_as_wanted = |r: &Reject| match r {
            Reject::NonceUnavailable { .. } => *name == "code",
            Reject::Invalid { .. } => *name != "code",
            _ => false,
        };
        assert!(
            matches!(&r, Err(x) if refused_as_wanted(x)),
            "{name}: {r:?}"
        );
        // The node path answers the refusal under the request id, so Alice fails at once.
        env.request_id = format!("bad-answered-{i}");
        let (h, refused) = n
            .engines
            .get_mut(&to)
            .expect("e")
            .handle_answering(&alice, env, NOW);
        assert!(
            matches!(&refused, Some(x) if refused_as_wanted(x)),
            "{name}"
        );
        assert_eq!(h.outgoing.len(), 1, "{name}");
        assert_eq!(h.outgoing[0].to, alice);
        assert_eq!(
            h.outgoing[0].envelope.request_id,
            format!("bad-answered-{i}")
        );
        match &h.outgoing[0].envelope.payload {
            Payload::Error(e) => {
                let want = if *name == "code" {
                    NONCE_UNAVAILABLE
                } else {
                    BAD_REQUEST
                };
                assert_eq!(e.code, want, "{name}: {}", e.message);
            }
            p => panic!("{name}: {p:?}"),
        }
    }
    // The genuine request still works: nothing was consumed by the bad ones.
    let (done, rej) = n.run(alice, vec![Outgoing { to, envelope: base }], &mut |_, _| {});
    assert!(rej.is_empty(), "{rej:?}");
    assert!(matches!(done[0].result, Ok(Outcome::Signature(_))));
}

/// A node is killed after its nonce consumption was recorded but before the partial signature
/// went out. Even if its pool state were restored, the restarted node refuses the code.
#[test]
fn restarted_node_refuses_to_reuse_a_nonce() {
    let ks = frost::keygen(2, 2).expect("keygen");
    let group = GroupPackage::from_keys("t", &ks.group);
    let ledger_a = Arc::new(MemoryNonceLedger::new());
    let ledger_b = Arc::new(MemoryNonceLedger::new());
    let mk = |i: usize, l: Arc<MemoryNonceLedger>| {
        Engine::new(
            group.clone(),
            ks.shares[i].secret.duplicate(),
            l,
            EngineConfig::default(),
        )
        .expect("engine")
    };
    let mut alice = mk(0, ledger_a.clone());
    let mut bob = mk(1, ledger_b.clone());
    let (ka, kb) = (alice.xonly(), bob.xonly());
    // Bob's outgoing nonce for Alice, from fixed secrets so the "restored" node has it too.
    let code = [0x42; 32];
    let h = Secret32::new([0x11; 32]);
    let b = Secret32::new([0x22; 32]);
    let nonce = frost::SigningNonce::from_secrets(code, &h, &b).expect("nonce");
    let public = frostbox::frostr::next::wire::DerivedPublicNonce::of(&nonce);
    bob.insert_outgoing_nonce(&ka, nonce).expect("insert");
    alice.insert_incoming_nonces(&kb, &[public; 1]);
    // Alice needs > 5 nonces from Bob to consider him; add 5 decoys behind the real one.
    for k in 0..5u8 {
        let n = frost::SigningNonce::generate(&ks.shares[1].secret).expect("n");
        let mut d = frostbox::frostr::next::wire::DerivedPublicNonce::of(&n);
        d.code = [k; 32];
        alice.insert_incoming_nonces(&kb, &[d]);
    }
    let Started::Round { outgoing, .. } = alice.start_sign([3; 32], NOW).expect("start") else {
        panic!("round")
    };
    let req = outgoing[0].envelope.clone();
    // Bob handles it: consumption is recorded, then Bob "dies" before sending.
    let h1 = bob.handle(&ka, req.clone(), NOW).expect("bob signs");
    assert_eq!(h1.outgoing.len(), 1);
    assert!(ledger_b.contains(&code));
    drop(h1);
    drop(bob);
    // Restart with the same ledger and a restored pool holding the same nonce.
    let mut bob2 = mk(1, ledger_b.clone());
    let again = frost::SigningNonce::from_secrets(code, &h, &b).expect("nonce");
    bob2.insert_outgoing_nonce(&ka, again).expect("insert");
    let r = bob2.handle(&ka, req, NOW);
    match r {
        Err(Reject::NonceUnavailable { reason, .. }) => {
            assert!(reason.contains("already consumed"), "{reason}")
        }
        other => panic!("restarted node must refuse: {other:?}"),
    }
    // And the ledger itself refuses a second record.
    assert!(ledger_b.record_consumed(&code).is_err());
}

#[test]
fn onboard_request_gets_group_and_100_sorted_nonces() {
    let mut n = net(2, 3);
    let carol = n.key(2);
    let alice_key = n.key(0);
    let mut nonces = Vec::new();
    for _ in 0..3 {
        let s = Secret32::random();
        let nn = frost::SigningNonce::generate(&s).expect("n");
        nonces.push(frostbox::frostr::next::wire::DerivedPublicNonce::of(&nn));
    }
    let env = Envelope {
        request_id: "onb".into(),
        sent_at: NOW,
        payload: Payload::OnboardRequest(frostbox::frostr::next::wire::OnboardRequest {
            version: 1,
            nonces,
        }),
    };
    let h = n.eng(0).handle(&carol, env, NOW).expect("onboard");
    assert_eq!(h.outgoing[0].to, carol);
    let Payload::OnboardResponse(r) = &h.outgoing[0].envelope.payload else {
        panic!("response")
    };
    assert_eq!(r.group, n.group);
    assert_eq!(r.nonces.len(), 100);
    assert!(r.nonces.windows(2).all(|w| w[0].code < w[1].code));
    let st = n.eng(0).status(NOW);
    let c = st
        .peers
        .iter()
        .find(|p| p.pubkey == hex::encode(carol))
        .expect("carol");
    assert_eq!(c.incoming_nonces, 3);
    let _ = (alice_key, &n.ledgers);
}

fn msg_of(k: u32) -> [u8; 32] {
    let mut m = [0x5a; 32];
    m[..4].copy_from_slice(&k.to_be_bytes());
    m
}

/// Issue 5 (one sign in ~2,000 lost): Bob builds a ping that re-advertises a nonce Alice holds
/// (normal, §6.1); before it arrives Alice uses that nonce in a sign request. Alice used to
/// store it again on receipt and, dozens of signatures later, use it a second time; Bob refused
/// the spent code and (like bifrost-rs) dropped the request, so the sign timed out. Alice now
/// remembers the codes she used and ignores stale advertisements of them.
#[test]
fn stale_readvertisement_of_a_used_nonce_is_ignored() {
    let mut n = net(2, 2);
    n.ping_all();
    let (alice, bob) = (n.key(0), n.key(1));
    // Past the 70 nonces of the first ping: Alice now signs with replenished nonces, which
    // Bob re-advertises (his observation of Alice comes from pings only).
    for k in 0..90 {
        n.sign(0, msg_of(k)).expect("warm-up sign");
    }
    for round in 0..5u32 {
        let Started::Round {
            outgoing: ping,
            request_id: ping_rid,
        } = n.eng(1).start_ping(&alice, NOW).expect("ping")
        else {
            panic!("ping is a round")
        };
        let Payload::PingRequest(p) = &ping[0].envelope.payload else {
            panic!("ping request")
        };
        let advertised: Vec<[u8; 32]> = p.advertised_nonces.iter().map(|d| d.code).collect();
        let Started::Round { outgoing: sign, .. } = n
            .eng(0)
            .start_sign(msg_of(1000 + round), NOW)
            .expect("sign")
        else {
            panic!("sign is a round")
        };
        let Payload::SignRequest(sess) = &sign[0].envelope.payload else {
            panic!("sign request")
        };
        let bob_idx = n.engines[&bob].idx();
        let used = sess
            .nonces
            .as_ref()
            .and_then(|sets| sets.iter().find(|s| s.idx == bob_idx))
            .map(|s| s.entries[0].code)
            .expect("bob's nonce");
        assert!(
            advertised.contains(&used),
            "round {round}: the race needs Bob's ping to carry the nonce Alice just used"
        );
        // Bob's ping (built before he saw the request) reaches Alice first. Her answer is not
        // delivered (it would refresh Bob's observation and end the re-advertising).
        let (_, refused) = n
            .eng(0)
            .handle_answering(&bob, ping[0].envelope.clone(), NOW);
        assert!(refused.is_none(), "{refused:?}");
        assert!(n.eng(1).cancel(&ping_rid));
        // What Alice now holds from Bob (her next ping's `held_peer_nonce_codes`).
        let Started::Round {
            outgoing: probe,
            request_id: probe_rid,
        } = n.eng(0).start_ping(&bob, NOW).expect("probe")
        else {
            panic!("ping is a round")
        };
        assert!(n.eng(0).cancel(&probe_rid));
        let Payload::PingRequest(held) = &probe[0].envelope.payload else {
            panic!("ping request")
        };
        assert!(
            !held.held_peer_nonce_codes.contains(&used),
            "round {round}: the used nonce is back in Alice's pool"
        );
        let (done, rej) = n.run(alice, sign, &mut |_, _| {});
        assert!(rej.is_empty(), "{rej:?}");
        assert!(matches!(done[0].result, Ok(Outcome::Signature(_))));
    }
    // Every nonce Alice holds from Bob is still one Bob can serve: 300 more signatures (more
    // than the pool holds) never hit a refused nonce.
    for k in 0..300 {
        let sig = n.sign(0, msg_of(2000 + k)).expect("sign after stale pings");
        assert!(frost::verify_bip340(
            &n.group.group_pk,
            &msg_of(2000 + k),
            &sig
        ));
    }
}

/// Issue 4: a responder that lost its pool (restart) answers `nonce_unavailable` instead of
/// dropping the request; the initiator fails at once, drops the stale nonces and a ping makes
/// signing work again.
#[test]
fn restarted_responder_answers_nonce_unavailable_and_a_ping_recovers() {
    let mut n = net(2, 2);
    n.ping_all();
    let (alice, bob) = (n.key(0), n.key(1));
    n.sign(0, [1; 32]).expect("sign before the restart");
    assert!(n.eng(0).incoming_nonces(&bob) > 5);
    // Bob restarts: same share and ledger, empty pools.
    let share = n.engines.get(&bob).expect("bob").share_secret().duplicate();
    let fresh = Engine::new(
        n.group.clone(),
        share,
        n.ledgers[1].clone(),
        EngineConfig::default(),
    )
    .expect("engine");
    n.engines.insert(bob, fresh);
    let Started::Round { outgoing, .. } = n.eng(0).start_sign([2; 32], NOW).expect("start") else {
        panic!("round")
    };
    let (done, rej) = n.run(alice, outgoing, &mut |_, _| {});
    assert_eq!(rej.len(), 1, "Bob refuses the unknown code: {rej:?}");
    match done[0].result.clone() {
        Err(NodeError::PeerRejected {
            peer,
            code,
            message,
            ..
        }) => {
            assert_eq!(peer, hex::encode(bob));
            assert_eq!(code, NONCE_UNAVAILABLE);
            assert!(message.contains("unknown"), "{message}");
        }
        other => panic!("expected an immediate refusal: {other:?}"),
    }
    assert_eq!(n.eng(0).incoming_nonces(&bob), 0, "stale nonces dropped");
    assert_eq!(n.eng(0).online_peers_short_of_nonces(NOW), vec![bob]);
    let Started::Round { outgoing, .. } = n.eng(0).start_ping(&bob, NOW).expect("ping") else {
        panic!("round")
    };
    n.run(alice, outgoing, &mut |_, _| {});
    let sig = n.sign(0, [2; 32]).expect("sign after the ping");
    assert!(frost::verify_bip340(&n.group.group_pk, &[2; 32], &sig));
}

/// A refused ECDH request is answered too (`bad_request`), so the initiator does not wait.
#[test]
fn invalid_ecdh_request_is_answered_with_an_error() {
    let mut n = net(2, 3);
    n.ping_all();
    let alice = n.key(0);
    let target = frost::xonly(&Secret32::random()).expect("x");
    let Started::Round { outgoing, .. } = n.eng(0).start_ecdh(target, NOW).expect("start") else {
        panic!("round")
    };
    let (done, rej) = n.run(alice, outgoing, &mut |_, env| {
        if let Payload::EcdhRequest(p) = &mut env.payload {
            p.members.reverse();
        }
    });
    assert_eq!(rej.len(), 1, "{rej:?}");
    match done[0].result.clone() {
        Err(NodeError::PeerRejected { code, message, .. }) => {
            assert_eq!(code, BAD_REQUEST);
            assert!(message.contains("ascending"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

/// The node claims a request's nonces under its engine lock and computes the partial
/// signatures (and, on the initiator, the aggregate) outside it. Many rounds prepared before any
/// math ran, their math run on parallel threads and finished in another order: every signature
/// verifies, each nonce code is recorded exactly once, and a second request naming a nonce that
/// is claimed but not yet signed with is refused.
#[test]
fn deferred_sign_math_runs_in_parallel_without_reusing_a_nonce() {
    use frostbox::frostr::node::engine::{Computed, Deferred, PreparedSign};
    const ROUNDS: usize = 8;
    let mut n = net(2, 3);
    n.ping_all();
    let me = n.key(0);
    // Initiator: ROUNDS rounds started (own nonce taken, own partial on a thread each).
    let mut jobs = Vec::new();
    for k in 0..ROUNDS {
        match n
            .eng(0)
            .prepare_sign(msg_of(k as u32), NOW)
            .expect("prepare")
        {
            PreparedSign::Round(job) => jobs.push(job),
            PreparedSign::Done(o) => panic!("fresh message answered from cache: {o:?}"),
        }
    }
    let signed: Vec<_> = std::thread::scope(|s| {
        let hs: Vec<_> = jobs.into_iter().map(|j| s.spawn(|| j.run())).collect();
        hs.into_iter()
            .map(|h| h.join().expect("thread").expect("own partial"))
            .collect()
    });
    let mut requests = Vec::new();
    for st in signed.into_iter().rev() {
        let Started::Round { outgoing, .. } = n.eng(0).register_sign(st) else {
            panic!("round")
        };
        assert_eq!(outgoing.len(), 1);
        requests.push(outgoing.into_iter().next().expect("request"));
    }
    let peer = requests[0].to;
    assert!(requests.iter().all(|o| o.to == peer), "sorted selection");
    // Co-signer: every request claimed before any partial signature exists.
    let mut replies_jobs = Vec::new();
    for o in &requests {
        let eng = n.engines.get_mut(&peer).expect("peer");
        let (mut h, refused) = eng.handle_answering_deferred(&me, o.envelope.clone(), NOW);
        assert!(refused.is_none(), "{refused:?}");
        assert!(h.outgoing.is_empty(), "the reply waits for the math");
        match h.deferred.take() {
            Some(d @ Deferred::SignReply(_)) => replies_jobs.push(d),
            other => panic!("expected a sign job, got {other:?}"),
        }
    }
    // The same session again under a fresh request id: its nonce is claimed, so refused.
    let mut dup = requests[0].envelope.clone();
    dup.request_id = Envelope::new_request_id();
    let eng = n.engines.get_mut(&peer).expect("peer");
    let (h, refused) = eng.handle_answering_deferred(&me, dup, NOW);
    assert!(
        matches!(refused, Some(Reject::NonceUnavailable { .. })),
        "{refused:?}"
    );
    assert!(h.deferred.is_none());
    assert!(matches!(
        &h.outgoing[0].envelope.payload,
        Payload::Error(e) if e.code == NONCE_UNAVAILABLE
    ));
    let computed: Vec<Computed> = std::thread::scope(|s| {
        let hs: Vec<_> = replies_jobs
            .into_iter()
            .map(|d| s.spawn(|| d.run()))
            .collect();
        hs.into_iter().map(|h| h.join().expect("thread")).collect()
    });
    // Replies finished in reverse order, then delivered to the initiator, whose aggregations
    // also run in parallel.
    let mut replies = Vec::new();
    for c in computed.into_iter().rev() {
        let (h, refused) = n.engines.get_mut(&peer).expect("peer").finish(c);
        assert!(refused.is_none(), "{refused:?}");
        replies.extend(h.outgoing);
    }
    assert_eq!(replies.len(), ROUNDS);
    let mut agg = Vec::new();
    for o in replies {
        let (mut h, refused) = n.eng(0).handle_answering_deferred(&peer, o.envelope, NOW);
        assert!(refused.is_none(), "{refused:?}");
        match h.deferred.take() {
            Some(d @ Deferred::Aggregate(_)) => agg.push(d),
            other => panic!("expected an aggregation, got {other:?}"),
        }
    }
    let computed: Vec<Computed> = std::thread::scope(|s| {
        let hs: Vec<_> = agg.into_iter().map(|d| s.spawn(|| d.run())).collect();
        hs.into_iter().map(|h| h.join().expect("thread")).collect()
    });
    let mut msgs = std::collections::BTreeSet::new();
    for c in computed {
        let (h, _) = n.eng(0).finish(c);
        let c = h.completion.expect("completion");
        let Ok(Outcome::Signature(sig)) = c.result else {
            panic!("{:?}", c.result)
        };
        let k = (0..ROUNDS as u32)
            .find(|k| frost::verify_bip340(&n.group.group_pk, &msg_of(*k), &sig))
            .expect("signature verifies for one of the messages");
        assert!(
            msgs.insert(k),
            "two rounds produced message {k}'s signature"
        );
    }
    assert_eq!(msgs.len(), ROUNDS);
    // One own partial per round on each side, every code recorded once (a second record of
    // a code is refused by the ledger, which would have failed a round above).
    let peer_pos = n.order.iter().position(|k| *k == peer).expect("peer");
    assert_eq!(n.ledgers[0].len(), ROUNDS);
    assert_eq!(n.ledgers[peer_pos].len(), ROUNDS);
    assert_eq!(n.eng(0).pending_count(), 0);
}
