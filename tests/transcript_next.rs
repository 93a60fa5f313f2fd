//! Replays `bifrost-rs-transcript.json` through Frostbox's FROSTR-NEXT codec and node logic.

use frostbox::frostr::next::wire::{Envelope, Payload};

fn transcript() -> serde_json::Value {
    crate::api_support::shared::vector_json("bifrost-rs-transcript.json")
}

#[test]
fn every_plaintext_reserialises_byte_for_byte() {
    let t = transcript();
    let events = t["transcript"]["events"].as_array().expect("events");
    assert_eq!(events.len(), 10);
    for e in events {
        let plain = e["plaintext"].as_str().expect("plaintext");
        let env = Envelope::from_json(plain).expect("envelope parses");
        assert_eq!(env.payload.type_name(), e["payload_type"].as_str().unwrap());
        assert_eq!(env.to_json(), plain, "step {}", e["step"]);
        assert_eq!(Some(env.sent_at), e["event"]["created_at"].as_u64());
        match &env.payload {
            Payload::PingRequest(p) | Payload::PingResponse(p) => p.validate().expect("ping"),
            Payload::OnboardRequest(o) => o.validate().expect("onboard"),
            Payload::OnboardResponse(o) => o.validate().expect("onboard resp"),
            _ => {}
        }
    }
}

fn envelope(t: &serde_json::Value, i: usize) -> Envelope {
    Envelope::from_json(
        t["transcript"]["events"][i]["plaintext"]
            .as_str()
            .expect("pt"),
    )
    .expect("envelope")
}

/// A nonce "generator" that hands out recorded public nonces (in reverse order, so that the
/// pool's sorting is exercised) with a dummy secret.
fn replay_gen(
    mut v: Vec<frostbox::frostr::next::wire::DerivedPublicNonce>,
) -> impl FnMut() -> Result<(frostbox::frostr::next::wire::DerivedPublicNonce, ()), String> {
    move || {
        v.pop()
            .map(|n| (n, ()))
            .ok_or_else(|| "out of recorded nonces".to_string())
    }
}

/// §6.1 [verified]: a model of exactly the pool rules predicts advertised_nonces, held codes,
/// the sign request's chosen nonce and the sign response's replenish, element for element.
#[test]
fn nonce_pool_model_predicts_transcript() {
    use frostbox::frostr::node::pool::PeerPool;
    let t = transcript();
    let Payload::PingRequest(ping_req) = envelope(&t, 0).payload else {
        panic!("ping req")
    };
    let Payload::PingResponse(ping_resp) = envelope(&t, 1).payload else {
        panic!("ping resp")
    };
    let Payload::SignRequest(sign_req) = envelope(&t, 2).payload else {
        panic!("sign req")
    };
    let Payload::SignResponse(sign_resp) = envelope(&t, 3).payload else {
        panic!("sign resp")
    };
    let Payload::SignRequest(denied_req) = envelope(&t, 6).payload else {
        panic!("denied req")
    };

    let mut alice_for_bob: PeerPool<()> = PeerPool::default();
    let mut bob_for_alice: PeerPool<()> = PeerPool::default();

    // 1. Alice → Bob ping.
    let adv = alice_for_bob
        .advertise(&mut replay_gen(ping_req.advertised_nonces.clone()))
        .expect("alice adv");
    assert_eq!(adv, ping_req.advertised_nonces);
    assert_eq!(alice_for_bob.held_codes(), ping_req.held_peer_nonce_codes);

    // 2. Bob receives and answers.
    bob_for_alice.receive_ping(&ping_req.advertised_nonces, &ping_req.held_peer_nonce_codes);
    let adv = bob_for_alice
        .advertise(&mut replay_gen(ping_resp.advertised_nonces.clone()))
        .expect("bob adv");
    assert_eq!(adv, ping_resp.advertised_nonces);
    assert_eq!(bob_for_alice.held_codes(), ping_resp.held_peer_nonce_codes);

    // 3. Alice receives the response: status as recorded.
    alice_for_bob.receive_ping(
        &ping_resp.advertised_nonces,
        &ping_resp.held_peer_nonce_codes,
    );
    let st = &t["transcript"]["results"]["alice_peer_status_after_ping"][0];
    assert_eq!(
        alice_for_bob.incoming_len() as u64,
        st["incoming_available"].as_u64().unwrap()
    );
    assert_eq!(
        alice_for_bob.outgoing_len() as u64,
        st["outgoing_available"].as_u64().unwrap()
    );
    assert_eq!(
        alice_for_bob.spent_len() as u64,
        st["outgoing_spent"].as_u64().unwrap()
    );
    assert_eq!(
        alice_for_bob.should_send_nonces(),
        st["should_send_nonces"].as_bool().unwrap()
    );

    // 4. Sign: Alice uses the oldest nonce from Bob.
    let oldest = alice_for_bob.take_oldest_incoming().expect("nonce");
    let sets = sign_req.nonces.as_ref().expect("nonce sets");
    let bob_set = sets.iter().find(|s| s.idx == 2).expect("bob set");
    assert_eq!(bob_set.entries[0].code, oldest.code);
    assert_eq!(bob_set.entries[0].binder_pn, oldest.binder_pn);
    assert_eq!(bob_set.entries[0].hidden_pn, oldest.hidden_pn);

    // 5. Bob claims it, then replenish = 69 unspent + 1 new, all sorted by code.
    bob_for_alice
        .claim(&[oldest.code], |_| false)
        .expect("claim");
    let replenish = sign_resp.replenish.clone().expect("replenish");
    let new: Vec<_> = replenish
        .iter()
        .filter(|n| !ping_resp.advertised_nonces.contains(n))
        .cloned()
        .collect();
    assert_eq!(new.len(), 1);
    let rep = bob_for_alice
        .advertise(&mut replay_gen(new))
        .expect("replenish");
    assert_eq!(rep, replenish);
    assert_eq!(bob_for_alice.spent_len(), 1);
    // Claiming the same code again is refused.
    assert!(bob_for_alice.claim(&[oldest.code], |_| false).is_err());

    // 6. Alice stores the replenish; the next (denied) sign uses the next-oldest nonce.
    assert_eq!(alice_for_bob.store_incoming(&replenish), 1);
    let next = alice_for_bob.take_oldest_incoming().expect("nonce");
    let dsets = denied_req.nonces.as_ref().expect("sets");
    let dbob = dsets.iter().find(|s| s.idx == 2).expect("bob set");
    assert_eq!(dbob.entries[0].code, next.code);
}

/// §6.4 / §5.5: the inviter stores the requester's nonces, fills to 100 and answers with all of
/// its outgoing nonces for the requester, sorted by code.
#[test]
fn onboard_pool_model_predicts_transcript() {
    use frostbox::frostr::node::pool::PeerPool;
    let t = transcript();
    let Payload::OnboardRequest(req) = envelope(&t, 8).payload else {
        panic!("onboard req")
    };
    let Payload::OnboardResponse(resp) = envelope(&t, 9).payload else {
        panic!("onboard resp")
    };
    let mut alice_for_carol: PeerPool<()> = PeerPool::default();
    assert_eq!(alice_for_carol.store_incoming(&req.nonces), 3);
    alice_for_carol
        .fill_outgoing(100, &mut replay_gen(resp.nonces.clone()))
        .expect("fill");
    assert_eq!(alice_for_carol.outgoing_public(), resp.nonces);
    assert_eq!(resp.nonces.len(), 100);
}

#[test]
fn sign_requests_recompute_gid_and_sid() {
    use frostbox::frostr::next::group::GroupPackage;
    let t = transcript();
    let group: GroupPackage =
        serde_json::from_value(t["group_package_json"].clone()).expect("group");
    for i in [2usize, 6] {
        let Payload::SignRequest(s) = envelope(&t, i).payload else {
            panic!("sign req")
        };
        assert_eq!(s.gid, group.group_id());
        assert_eq!(s.compute_sid(), s.sid);
    }
}

// ---------------------------------------------------------------- event-level replay

mod replay {
    use super::*;
    use frostbox::frost::{self, MemoryNonceLedger};
    use frostbox::frostr::next::group::GroupPackage;
    use frostbox::frostr::node::Reject;
    use frostbox::frostr::node::codec::Codec;
    use frostbox::frostr::node::engine::{Engine, EngineConfig, Outcome, Started};
    use frostbox::frostr::node::policy::{Override, PeerPolicy};
    use frostbox::nostr::Event;
    use frostbox::vault::secret::Secret32;
    use std::sync::Arc;

    pub const NOW: u64 = 1_795_316_319;

    pub struct Fixture {
        pub t: serde_json::Value,
        pub group: GroupPackage,
        pub secrets: Vec<Secret32>,
        pub keys: Vec<[u8; 32]>,
    }

    pub fn fixture() -> Fixture {
        let t = transcript();
        let group: GroupPackage =
            serde_json::from_value(t["group_package_json"].clone()).expect("group");
        let secrets: Vec<Secret32> = t["shares"]
            .as_array()
            .expect("shares")
            .iter()
            .map(|s| Secret32::from_hex(s["seckey"].as_str().expect("hex")).expect("secret"))
            .collect();
        let keys = secrets
            .iter()
            .map(|s| frost::xonly(s).expect("x"))
            .collect();
        Fixture {
            t,
            group,
            secrets,
            keys,
        }
    }

    impl Fixture {
        pub fn engine(&self, i: usize) -> Engine {
            Engine::new(
                self.group.clone(),
                self.secrets[i].duplicate(),
                Arc::new(MemoryNonceLedger::new()),
                EngineConfig::default(),
            )
            .expect("engine")
        }
        pub fn event(&self, i: usize) -> Event {
            serde_json::from_value(self.t["transcript"]["events"][i]["event"].clone())
                .expect("event")
        }
        /// Opens recorded event `i` with the recipient's codec (§2 steps 1–4).
        pub fn open(&self, i: usize) -> ([u8; 32], Envelope) {
            let ev = self.event(i);
            let to = ev.tags[0][1].clone();
            let r = self
                .keys
                .iter()
                .position(|k| hex::encode(k) == to)
                .expect("recipient");
            let codec = Codec::new(
                self.secrets[r].duplicate(),
                self.keys.iter().copied().filter(|k| *k != self.keys[r]),
            )
            .expect("codec");
            codec.open(&ev).expect("open")
        }
    }

    #[test]
    fn codec_opens_every_recorded_event() {
        let f = fixture();
        for i in 0..10 {
            let (from, env) = f.open(i);
            let ev = f.event(i);
            assert_eq!(from, ev.pubkey);
            assert_eq!(
                env.to_json(),
                f.t["transcript"]["events"][i]["plaintext"]
                    .as_str()
                    .unwrap()
            );
        }
    }

    #[test]
    fn frostbox_bob_answers_recorded_ping_like_bifrost_rs() {
        let f = fixture();
        let (from, req) = f.open(0);
        let (_, recorded) = f.open(1);
        let Payload::PingResponse(rec) = recorded.payload else {
            panic!("resp")
        };
        let mut bob = f.engine(1);
        let h = bob.handle(&from, req, NOW).expect("handled");
        assert_eq!(h.outgoing.len(), 1);
        assert_eq!(h.outgoing[0].to, f.keys[0]);
        let env = &h.outgoing[0].envelope;
        assert_eq!(env.request_id, recorded.request_id);
        assert_eq!(env.sent_at, NOW);
        let Payload::PingResponse(mine) = &env.payload else {
            panic!("PingResponse")
        };
        // Same inventory rule: 70 fresh nonces, sorted; holds exactly Alice's 70 codes;
        // the same policy profile bytes.
        assert_eq!(mine.advertised_nonces.len(), 70);
        assert!(
            mine.advertised_nonces
                .windows(2)
                .all(|w| w[0].code < w[1].code)
        );
        assert_eq!(mine.held_peer_nonce_codes, rec.held_peer_nonce_codes);
        assert_eq!(mine.policy_profile, rec.policy_profile);
        mine.validate().expect("a bifrost-rs initiator accepts it");
        // And a Frostbox Alice accepts Bob's answer as the response to her ping.
        let mut alice = f.engine(0);
        let Started::Round { .. } = alice
            .start_ping_with_id(&f.keys[1], NOW, recorded.request_id.clone())
            .expect("ping")
        else {
            panic!("round")
        };
        let h = alice
            .handle(&f.keys[1], env.clone(), NOW)
            .expect("alice accepts");
        assert!(matches!(
            h.completion.map(|c| c.result),
            Some(Ok(Outcome::Pong { .. }))
        ));
    }

    #[test]
    fn frostbox_alice_accepts_recorded_ping_response() {
        let f = fixture();
        let (from, resp) = f.open(1);
        let mut alice = f.engine(0);
        alice
            .start_ping_with_id(&f.keys[1], NOW, resp.request_id.clone())
            .expect("ping");
        let h = alice.handle(&from, resp, NOW).expect("accepted");
        assert!(matches!(
            h.completion.map(|c| c.result),
            Some(Ok(Outcome::Pong { .. }))
        ));
        let st = alice.status(NOW);
        let bob = st.peers.iter().find(|p| p.idx == 2).expect("bob");
        let rec = &f.t["transcript"]["results"]["alice_peer_status_after_ping"][0];
        assert_eq!(
            bob.incoming_nonces as u64,
            rec["incoming_available"].as_u64().unwrap()
        );
        assert_eq!(
            bob.outgoing_nonces as u64,
            rec["outgoing_available"].as_u64().unwrap()
        );
        // (Bob's held codes are bifrost-rs Alice's, not ours, so `should_send_nonces` differs.)
        assert_eq!(bob.last_seen, rec["last_seen"].as_u64());
        assert!(bob.sign_ready);
    }

    #[test]
    fn recorded_sign_request_validates_and_is_dropped_for_unknown_nonce() {
        // Frostbox-Bob never issued the nonce Alice claims (bifrost-rs generated it at random),
        // so everything up to the claim passes and the request is dropped without an answer.
        let f = fixture();
        let (from, req) = f.open(2);
        let mut bob = f.engine(1);
        match bob.handle(&from, req, NOW) {
            Err(Reject::NonceUnavailable { reason, .. }) => {
                assert!(reason.contains("unknown"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn recorded_partial_signature_verifies_in_frostbox() {
        let f = fixture();
        let (_, req) = f.open(2);
        let (_, resp) = f.open(3);
        let Payload::SignRequest(session) = req.payload else {
            panic!("req")
        };
        let Payload::SignResponse(pkg) = resp.payload else {
            panic!("resp")
        };
        let keys = f.group.keys().expect("keys");
        let rounds = session.rounds().expect("rounds");
        assert_eq!(pkg.sid, session.sid);
        frost::verify_partial(&keys, &rounds[0], pkg.idx, &pkg.psigs[0].partial_sig)
            .expect("Bob's recorded partial signature verifies");
        let mut bad = pkg.psigs[0].partial_sig;
        bad[0] ^= 1;
        assert!(frost::verify_partial(&keys, &rounds[0], pkg.idx, &bad).is_err());
        let sig: [u8; 64] = hex::decode(
            f.t["transcript"]["results"]["sign_signature"]
                .as_str()
                .unwrap(),
        )
        .expect("hex")
        .try_into()
        .expect("64");
        assert!(frost::verify_bip340(
            &f.group.group_pk,
            &session.hashes[0],
            &sig
        ));
    }

    #[test]
    fn denied_sign_error_reproduces_recorded_bytes() {
        let f = fixture();
        let (from, req) = f.open(6);
        let mut bob = f.engine(1);
        let mut deny = PeerPolicy::default();
        deny.respond.sign = Override::Deny;
        bob.policy_mut().set_peer(f.keys[0], deny);
        let h = bob.handle(&from, req, NOW).expect("answered");
        assert_eq!(h.outgoing.len(), 1);
        assert_eq!(
            h.outgoing[0].envelope.to_json(),
            f.t["transcript"]["events"][7]["plaintext"]
                .as_str()
                .unwrap()
        );
    }

    #[test]
    fn frostbox_bob_answers_recorded_ecdh_with_corrected_rule() {
        let f = fixture();
        let (from, req) = f.open(4);
        let Payload::EcdhRequest(alice_pkg) = req.payload.clone() else {
            panic!("req")
        };
        let mut bob = f.engine(1);
        let h = bob.handle(&from, req, NOW).expect("answered");
        let Payload::EcdhResponse(bob_pkg) = &h.outgoing[0].envelope.payload else {
            panic!("EcdhResponse")
        };
        assert_eq!(bob_pkg.idx, 2);
        assert_eq!(bob_pkg.members, alice_pkg.members);
        assert_eq!(bob_pkg.entries.len(), 1);
        let target = alice_pkg.entries[0].ecdh_pk;
        assert_eq!(bob_pkg.entries[0].ecdh_pk, target);
        // Alice (bifrost-rs 435e7f6) sent an unweighted share; re-weighting it and adding
        // Frostbox-Bob's λ-weighted share gives the true group ECDH x.
        let a = frost::ecdh_share_reweight(1, &[1, 2], &alice_pkg.entries[0].keyshare)
            .expect("reweight");
        let x = frost::ecdh_combine(&[a, bob_pkg.entries[0].keyshare]).expect("combine");
        let shares: Vec<frost::KeyShare> = (0..2)
            .map(|i| frost::KeyShare::new(i as u16 + 1, f.secrets[i].duplicate()))
            .collect();
        let d = frost::recover(&shares).expect("recover");
        let mut b = [2u8; 33];
        b[1..].copy_from_slice(&target);
        let pk = secp256k1::PublicKey::from_slice(&b).expect("pk");
        let sk = secp256k1::SecretKey::from_secret_bytes(*d.expose()).expect("sk");
        let pt = secp256k1::ecdh::shared_secret_point(&pk, &sk);
        assert_eq!(x[..], pt[..32]);
    }

    #[test]
    fn frostbox_alice_answers_recorded_onboard_request() {
        let f = fixture();
        let (from, req) = f.open(8);
        let (_, rec) = f.open(9);
        let Payload::OnboardResponse(rec) = rec.payload else {
            panic!("resp")
        };
        let mut alice = f.engine(0);
        let h = alice.handle(&from, req, NOW).expect("answered");
        assert_eq!(h.outgoing[0].to, f.keys[2]);
        let Payload::OnboardResponse(mine) = &h.outgoing[0].envelope.payload else {
            panic!("OnboardResponse")
        };
        assert_eq!(mine.group, rec.group);
        assert_eq!(mine.group.to_json(), rec.group.to_json());
        assert_eq!(mine.nonces.len(), rec.nonces.len());
        assert!(mine.nonces.windows(2).all(|w| w[0].code < w[1].code));
        let carol = alice
            .status(NOW)
            .peers
            .into_iter()
            .find(|p| p.idx == 3)
            .expect("carol");
        assert_eq!(carol.incoming_nonces, 3);
    }

    #[test]
    fn transcript_replayed_late_is_rejected_as_stale() {
        let f = fixture();
        let (from, req) = f.open(0);
        let mut bob = f.engine(1);
        assert!(matches!(
            bob.handle(&from, req.clone(), NOW + 301),
            Err(Reject::Replay { .. })
        ));
        assert!(bob.handle(&from, req.clone(), NOW + 300).is_ok());
        assert!(matches!(
            bob.handle(&from, req, NOW + 300),
            Err(Reject::Replay { .. })
        ));
    }
}

/// `bifrost-rs-sign-ecdh.json`: with the vector's fixed nonces restored into its pool, a
/// Frostbox responder reproduces bifrost-rs's partial signature byte for byte, for either member;
/// the two aggregate to the recorded BIP-340 signature. ECDH answers combine to the true x.
mod sign_ecdh_vector {
    use super::*;
    use frostbox::frost::{self, MemoryNonceLedger};
    use frostbox::frostr::next::group::GroupPackage;
    use frostbox::frostr::next::wire::{EcdhEntry, EcdhPackage, SignSessionPackage};
    use frostbox::frostr::node::engine::{Engine, EngineConfig};
    use frostbox::vault::secret::Secret32;
    use std::sync::Arc;

    const NOW: u64 = 1_795_316_319;

    fn vector() -> serde_json::Value {
        crate::api_support::shared::vector_json("bifrost-rs-sign-ecdh.json")
    }

    fn h32(v: &serde_json::Value) -> [u8; 32] {
        hex::decode(v.as_str().expect("str"))
            .expect("hex")
            .try_into()
            .expect("32")
    }

    #[test]
    fn frostbox_responders_reproduce_recorded_partial_signatures() {
        let v = vector();
        let group: GroupPackage =
            serde_json::from_value(v["group_package_json"].clone()).expect("group");
        let secrets: Vec<Secret32> = v["shares"]
            .as_array()
            .expect("shares")
            .iter()
            .map(|s| Secret32::from_hex(s["seckey"].as_str().unwrap()).expect("s"))
            .collect();
        let keys: Vec<[u8; 32]> = secrets
            .iter()
            .map(|s| frost::xonly(s).expect("x"))
            .collect();
        let sr = &v["sign_round"];
        let session: SignSessionPackage =
            serde_json::from_value(sr["session_package_wire"].clone()).expect("session");
        let mut partials = Vec::new();
        for (r, o) in [(0usize, 1usize), (1, 0)] {
            let ledger = Arc::new(MemoryNonceLedger::new());
            let mut eng = Engine::new(
                group.clone(),
                secrets[r].duplicate(),
                ledger.clone(),
                EngineConfig::default(),
            )
            .expect("engine");
            let n = &sr["nonces"][r];
            let nonce = frost::SigningNonce::from_secrets(
                h32(&n["code"]),
                &Secret32::from_hex(n["hiding_secret"].as_str().unwrap()).expect("h"),
                &Secret32::from_hex(n["binding_secret"].as_str().unwrap()).expect("b"),
            )
            .expect("nonce");
            eng.insert_outgoing_nonce(&keys[o], nonce).expect("insert");
            let env = Envelope {
                request_id: format!("vector-{r}"),
                sent_at: NOW,
                payload: Payload::SignRequest(session.clone()),
            };
            let h = eng.handle(&keys[o], env, NOW).expect("signed");
            let Payload::SignResponse(pkg) = &h.outgoing[0].envelope.payload else {
                panic!("SignResponse")
            };
            let want = &sr["partial_sig_packages_wire"][r];
            assert_eq!(u64::from(pkg.idx), want["idx"].as_u64().unwrap());
            assert_eq!(pkg.sid, h32(&want["sid"]));
            assert_eq!(pkg.pubkey, h32(&want["pubkey"]));
            assert_eq!(pkg.psigs[0].sighash, h32(&want["psigs"][0]["sighash"]));
            assert_eq!(
                pkg.psigs[0].partial_sig,
                h32(&want["psigs"][0]["partial_sig"]),
                "member {} partial signature",
                r + 1
            );
            assert!(ledger.contains(&h32(&n["code"])), "consumption recorded");
            partials.push((pkg.idx, pkg.psigs[0].partial_sig));
        }
        let keys_pkg = group.keys().expect("keys");
        let rounds = session.rounds().expect("rounds");
        let sig = frost::aggregate(&keys_pkg, &rounds[0], &partials).expect("aggregate");
        assert_eq!(
            hex::encode(sig),
            sr["final_signature"].as_str().expect("final")
        );
    }

    #[test]
    fn frostbox_ecdh_responses_combine_to_true_x() {
        let v = vector();
        let group: GroupPackage =
            serde_json::from_value(v["group_package_json"].clone()).expect("group");
        let secrets: Vec<Secret32> = v["shares"]
            .as_array()
            .expect("shares")
            .iter()
            .map(|s| Secret32::from_hex(s["seckey"].as_str().unwrap()).expect("s"))
            .collect();
        let keys: Vec<[u8; 32]> = secrets
            .iter()
            .map(|s| frost::xonly(s).expect("x"))
            .collect();
        let er = &v["ecdh_round"];
        let target = h32(&er["target_pubkey_xonly"]);
        let true_x = h32(&er["true_ecdh_x (NIP-04/NIP-44 shared_x)"]);
        for (init, resp) in [(0usize, 1usize), (0, 2), (1, 2)] {
            let mut members = vec![init as u16 + 1, resp as u16 + 1];
            members.sort_unstable();
            let own =
                frost::ecdh_share(init as u16 + 1, &secrets[init], &members, &target).expect("own");
            let req = EcdhPackage {
                idx: init as u16 + 1,
                members: members.clone(),
                entries: vec![EcdhEntry {
                    ecdh_pk: target,
                    keyshare: own,
                }],
            };
            let mut eng = Engine::new(
                group.clone(),
                secrets[resp].duplicate(),
                Arc::new(MemoryNonceLedger::new()),
                EngineConfig::default(),
            )
            .expect("engine");
            let env = Envelope {
                request_id: format!("ecdh-{init}-{resp}"),
                sent_at: NOW,
                payload: Payload::EcdhRequest(req),
            };
            let h = eng.handle(&keys[init], env, NOW).expect("answered");
            let Payload::EcdhResponse(p) = &h.outgoing[0].envelope.payload else {
                panic!("EcdhResponse")
            };
            assert_eq!(p.members, members);
            let x = frost::ecdh_combine(&[own, p.entries[0].keyshare]).expect("combine");
            assert_eq!(x, true_x, "members {members:?}");
        }
    }
}
