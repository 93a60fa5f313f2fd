//! Property tests for the current-generation threshold math and decoders (no vector files).

use frostbox::frost::{self, KeyShare, MemoryNonceLedger, ShareSigner, SignRound, SigningNonce};
use frostbox::frostr::next::credential::{self, BfOnboard, BfProfile, BfShare};
use frostbox::frostr::next::ecdh::EcdhPackage;
use frostbox::frostr::next::group::{GroupPackage, SharePackage};
use frostbox::frostr::next::session::{PartialSigPackage, SignSessionPackage};
use frostbox::vault::secret::Secret32;
use proptest::prelude::*;
use proptest::sample::subsequence;

fn valid_secret() -> impl Strategy<Value = [u8; 32]> {
    any::<[u8; 32]>().prop_filter("valid scalar", |b| {
        frost::pubkey33(&Secret32::new(*b)).is_ok()
    })
}

/// (k, n, chosen member indices) with 2 ≤ k ≤ min(n, kmax), n ≤ nmax.
fn k_of_n(kmax: u16, nmax: u16) -> impl Strategy<Value = (u16, u16, Vec<u16>)> {
    (2..=nmax).prop_flat_map(move |n| {
        (2..=n.min(kmax)).prop_flat_map(move |k| {
            let ids: Vec<u16> = (1..=n).collect();
            (Just(k), Just(n), subsequence(ids, k as usize))
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn split_then_recover((k, n, chosen) in k_of_n(15, 20), sk in valid_secret()) {
        let secret = Secret32::new(sk);
        let ks = frost::split(&secret, k, n).expect("split");
        prop_assert_eq!(ks.shares.len(), n as usize);
        // the group key is the x-only key of the secret
        prop_assert_eq!(ks.group.group_pk(), &frost::xonly(&secret).expect("x"));
        let picked: Vec<KeyShare> = chosen.iter().map(|i| ks.shares[*i as usize - 1].duplicate()).collect();
        let d = frost::keys::recover_checked(&picked, ks.group.group_pk()).expect("recover");
        // even-y representative of the same key
        let pk = frost::pubkey33(&d).expect("pk");
        prop_assert_eq!(pk[0], 2);
        prop_assert_eq!(&pk[1..], &frost::xonly(&secret).expect("x")[..]);
        let orig = frost::pubkey33(&secret).expect("pk");
        if orig[0] == 2 { prop_assert_eq!(d.expose(), secret.expose()); }
        // one share fewer than k gives a different key
        if k > 2 {
            let fewer = &picked[..picked.len() - 1];
            prop_assert!(frost::keys::recover_checked(fewer, ks.group.group_pk()).is_err());
        }
    }
}

fn sign_round(
    ks: &frost::Keyset,
    signers: &[u16],
    msg: &[u8; 32],
) -> (SignRound, Vec<(u16, [u8; 32])>) {
    let nonces: Vec<SigningNonce> = signers
        .iter()
        .map(|i| SigningNonce::generate(&ks.shares[*i as usize - 1].secret).expect("nonce"))
        .collect();
    let commits: Vec<(u16, frost::PublicNonce)> = signers
        .iter()
        .zip(&nonces)
        .map(|(i, n)| (*i, n.public()))
        .collect();
    let round = SignRound::new(msg, &commits).expect("round");
    let ledger = MemoryNonceLedger::new();
    let mut parts = Vec::new();
    for (i, n) in signers.iter().zip(nonces) {
        let signer = ShareSigner::new(&ks.shares[*i as usize - 1], &ks.group).expect("signer");
        parts.push((*i, signer.sign(&round, n, &ledger).expect("sign")));
    }
    (round, parts)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn sign_aggregate_verifies((k, n, chosen) in k_of_n(5, 7), msg in any::<[u8; 32]>()) {
        let ks = frost::keygen(k, n).expect("keygen");
        let (round, parts) = sign_round(&ks, &chosen, &msg);
        for (i, z) in &parts {
            prop_assert!(frost::verify_partial(&ks.group, &round, *i, z).is_ok());
        }
        let sig = frost::aggregate(&ks.group, &round, &parts).expect("aggregate");
        prop_assert!(frost::verify_bip340(ks.group.group_pk(), &msg, &sig));
        let mut other = msg;
        other[0] ^= 0x80;
        prop_assert!(!frost::verify_bip340(ks.group.group_pk(), &other, &sig));
    }

    #[test]
    fn tampered_partial_names_signer(
        (k, n, chosen) in k_of_n(5, 7),
        msg in any::<[u8; 32]>(),
        who in any::<prop::sample::Index>(),
        delta in 1u8..=255,
        byte in 0usize..32,
    ) {
        let ks = frost::keygen(k, n).expect("keygen");
        let (round, mut parts) = sign_round(&ks, &chosen, &msg);
        let bad = who.index(parts.len());
        parts[bad].1[byte] ^= delta;
        let bad_idx = parts[bad].0;
        let want = frost::Error::BadPartialSignature(bad_idx);
        prop_assert_eq!(frost::verify_partial(&ks.group, &round, bad_idx, &parts[bad].1), Err(want.clone()));
        prop_assert_eq!(frost::aggregate(&ks.group, &round, &parts), Err(want));
        for (j, (i, z)) in parts.iter().enumerate() {
            if j != bad { prop_assert!(frost::verify_partial(&ks.group, &round, *i, z).is_ok()); }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn decoders_never_panic_on_strings(s in ".{0,300}") {
        let _ = credential::bech32m_decode(&s);
        let _ = credential::peek(&s);
        let _ = BfShare::decode(&s, "pw");
        let _ = BfOnboard::decode(&s, "pw");
        let _ = BfProfile::decode(&s, "pw");
        let _ = GroupPackage::from_json(&s);
        let _ = SharePackage::from_json(&s);
        let _ = SignSessionPackage::from_json(&s);
        let _ = PartialSigPackage::from_json(&s);
        let _ = EcdhPackage::from_json(&s);
    }

    #[test]
    fn decoders_never_panic_on_bytes(b in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = BfShare::parse_plaintext(&b);
        let _ = BfOnboard::parse_plaintext(&b);
        let _ = BfProfile::parse_plaintext(&b);
        // arbitrary payloads behind a valid checksum reach the envelope parser
        for hrp in ["bfshare", "bfonboard", "bfprofile"] {
            let s = credential::bech32m_encode(hrp, &b).expect("encode");
            let (h, back) = credential::bech32m_decode(&s).expect("round trip");
            prop_assert_eq!(h.as_str(), hrp);
            prop_assert_eq!(&back, &b);
            prop_assert!(BfShare::decode(&s, "pw").is_err());
            let _ = BfOnboard::decode(&s, "pw");
            let _ = BfProfile::decode(&s, "pw");
            let _ = credential::peek(&s);
        }
    }

    #[test]
    fn json_decoders_never_panic_on_structured_input(
        idx in any::<u16>(), th in any::<u16>(), hexs in "[0-9a-fA-F]{0,70}", name in ".{0,8}",
    ) {
        let g = format!("{{\"group_name\":{:?},\"group_pk\":\"{hexs}\",\"threshold\":{th},\"members\":[{{\"idx\":{idx},\"pubkey\":\"{hexs}\"}}]}}", name);
        prop_assert!(GroupPackage::from_json(&g).is_err() || hexs.len() == 64);
        let s = format!("{{\"idx\":{idx},\"seckey\":\"{hexs}\"}}");
        let _ = SharePackage::from_json(&s);
        let e = format!("{{\"idx\":{idx},\"members\":[{idx},{th}],\"entries\":[{{\"ecdh_pk\":\"{hexs}\",\"keyshare\":\"{hexs}\"}}]}}");
        let _ = EcdhPackage::from_json(&e);
    }
}

#[test]
fn long_bech32m_round_trips_beyond_1023() {
    let data = vec![0x5a; 3000];
    let s = credential::bech32m_encode("bfprofile", &data).expect("encode");
    assert!(s.len() > 4000);
    let (h, back) = credential::bech32m_decode(&s).expect("decode");
    assert_eq!(h, "bfprofile");
    assert_eq!(back, data);
    // a flipped character fails the checksum
    let mut bad: Vec<char> = s.chars().collect();
    let i = bad.len() / 2;
    bad[i] = if bad[i] == 'q' { 'p' } else { 'q' };
    let bad: String = bad.into_iter().collect();
    assert!(credential::bech32m_decode(&bad).is_err());
}

#[test]
fn credential_round_trip_and_wrong_password() {
    let ks = frost::keygen(2, 3).expect("keygen");
    let share = BfShare {
        share_secret: ks.shares[0].secret.duplicate(),
        relays: vec!["wss://a.example/x?y=1 2".into(), "ws://b".into()],
    };
    let s = share.encode("correct horse").expect("encode");
    let back = BfShare::decode(&s, "correct horse").expect("decode");
    assert_eq!(back.share_secret, share.share_secret);
    assert_eq!(back.relays, share.relays);
    assert!(matches!(
        BfShare::decode(&s, "wrong"),
        Err(credential::CredentialError::Decrypt)
    ));
    let g = GroupPackage::from_keys("g", &ks.group);
    let p = BfProfile::new(
        "alice",
        ks.shares[1].secret.duplicate(),
        vec!["ws://r".into()],
        vec![],
        g.clone(),
    )
    .expect("profile");
    let ps = p.encode("pw").expect("encode");
    let back = BfProfile::decode(&ps, "pw").expect("decode");
    assert_eq!(back.group_package, g);
    assert_eq!(back.profile_id, p.profile_id);
}

#[test]
fn group_validation_errors() {
    let ks = frost::keygen(2, 3).expect("keygen");
    let g = GroupPackage::from_keys("g", &ks.group);
    let mut bad = g.clone();
    bad.threshold = 4;
    assert!(GroupPackage::from_json(&bad.to_json()).is_err());
    let mut bad = g.clone();
    bad.members[1].idx = bad.members[0].idx;
    assert!(GroupPackage::from_json(&bad.to_json()).is_err());
    let mut bad = g.clone();
    bad.members[0].idx = 0;
    assert!(GroupPackage::from_json(&bad.to_json()).is_err());
    let mut bad = g.clone();
    bad.members[2].pubkey = bad.members[0].pubkey;
    assert!(GroupPackage::from_json(&bad.to_json()).is_err());
    let mut bad = g.clone();
    bad.members[0].pubkey[0] = 5;
    assert!(GroupPackage::from_json(&bad.to_json()).is_err());
    let mut bad = g.clone();
    bad.group_name = "  ".into();
    assert!(GroupPackage::from_json(&bad.to_json()).is_err());
    assert!(GroupPackage::from_json(&g.to_json()).is_ok());
}
