//! Replays `bifrost-rs-transcript.json` through Frostbox's FROSTR-NEXT codec and node logic.

use frostbox::frostr::next::wire::{Envelope, Payload};
use std::path::PathBuf;

fn shared_dir() -> PathBuf {
    std::env::var_os("FROSTBOX_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared")))
}

fn transcript() -> serde_json::Value {
    let p = shared_dir().join("protocol/vectors/bifrost-rs-transcript.json");
    let s = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
    serde_json::from_str(&s).expect("transcript json")
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
