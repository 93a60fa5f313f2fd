//! Current-generation (FROSTR-NEXT) vector tests. Files consumed, from
//! `$FROSTBOX_SHARED/protocol/vectors/` (default `../shared`):
//!
//! * `bifrost-rs-keyset.json` — keyset (group package compact + pretty, group_id and preimage,
//!   reconstructed secret, per-share pubkeys, x-only identities, profile ids and preimages, share
//!   packages), credentials (`bfshare`, `bfonboard`, `bfprofile`: bech32m data, derived key / IV /
//!   ct_len, plaintexts, decoded payloads, byte-exact re-encoding), the legacy-bfshare rejection.
//!   The kind-10000 `profile_backup` (conversation key, event id/sig, plaintext, parsed, exact
//!   re-encryption with the payload's nonce).
//! * `bifrost-rs-sign-ecdh.json` — sign round with fixed nonces (session package, sid preimage,
//!   nonce commitments, encoded commitments, H4, H5, binding-factor preimages, ρ, λ, R, challenge,
//!   partial-signature packages, official-vs-bifrost, final signature) and the ECDH round under
//!   both the 435e7f6 rule and the corrected rule.
//!
//! The transcript files (`bifrost-rs-transcript.json`, `bifrost-rs-js2-live.json`) belong to the
//! node tests.

use frostbox::frost::{
    self, GroupKeys, KeyShare, MemoryNonceLedger, NonceLedger, ShareSigner, SignRound, SigningNonce,
};
use frostbox::frostr::next::credential::{
    self, BfOnboard, BfProfile, BfShare, CredentialError, Envelope,
};
use frostbox::frostr::next::ecdh::{EcdhPackage, combine, combine_435e7f6};
use frostbox::frostr::next::group::{self, GroupPackage, SharePackage};
use frostbox::frostr::next::session::{
    DerivedPublicNonce, PartialSigPackage, SignSessionPackage, session_id_preimage,
};
use frostbox::vault::secret::Secret32;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::api_support::shared::vector_json as vector;

fn s<'a>(v: &'a Value, path: &str) -> &'a str {
    let mut cur = v;
    for k in path.split('.') {
        cur = match k.parse::<usize>() {
            Ok(i) => &cur[i],
            Err(_) => &cur[k],
        };
    }
    cur.as_str()
        .unwrap_or_else(|| panic!("{path} is not a string: {cur}"))
}

fn h32(x: &str) -> [u8; 32] {
    hex::decode(x).expect("hex").try_into().expect("32 bytes")
}
fn h33(x: &str) -> [u8; 33] {
    hex::decode(x).expect("hex").try_into().expect("33 bytes")
}
fn secret(x: &str) -> Secret32 {
    Secret32::from_hex(x).expect("secret hex")
}

fn keyset_group(v: &Value) -> GroupPackage {
    let g = serde_json::to_string(&v["keyset"]["group_package_json"]).expect("json");
    GroupPackage::from_json(&g).expect("vector group is valid")
}

// ---- keyset ---------------------------------------------------------------------------------

#[test]
fn keyset_group_package_ids_and_shares() {
    let v = vector("bifrost-rs-keyset.json");
    let g = keyset_group(&v);
    // pretty form byte for byte; compact form re-parses to the same value
    assert_eq!(
        g.to_json_pretty(),
        s(&v, "keyset.group_package_json_text_as_emitted")
    );
    assert_eq!(
        serde_json::from_str::<Value>(&g.to_json()).expect("json"),
        v["keyset"]["group_package_json"]
    );
    // group id and its preimage
    assert_eq!(
        hex::encode(g.group_id_preimage()),
        s(&v, "keyset.group_id_preimage_hex")
    );
    assert_eq!(hex::encode(g.group_id()), s(&v, "keyset.group_id"));
    let keys = g.keys().expect("keys");
    assert_eq!(
        hex::encode(group::group_id(&keys)),
        s(&v, "keyset.group_id")
    );

    let shares = v["keyset"]["shares"].as_array().expect("shares");
    assert_eq!(shares.len(), g.members.len());
    let mut key_shares = Vec::new();
    for sh in shares {
        let idx = sh["idx"].as_u64().expect("idx") as u16;
        let sec = secret(sh["seckey"].as_str().expect("seckey"));
        assert_eq!(
            hex::encode(frost::pubkey33(&sec).expect("pk")),
            sh["member_pubkey33"].as_str().expect("pk33")
        );
        assert_eq!(
            hex::encode(g.member(idx).expect("member").pubkey),
            sh["member_pubkey33"].as_str().expect("pk33")
        );
        let x = frost::xonly(&sec).expect("x");
        assert_eq!(
            hex::encode(x),
            sh["nostr_identity_xonly"].as_str().expect("x")
        );
        assert_eq!(
            hex::encode(group::profile_id_preimage(&x)),
            sh["profile_id_preimage_hex"].as_str().expect("pre")
        );
        assert_eq!(
            group::profile_id(&x),
            sh["profile_id"].as_str().expect("pid")
        );
        assert_eq!(g.find_share(&sec).expect("own idx"), idx);
        let sp =
            SharePackage::from_json(&serde_json::to_string(&sh["share_package_json"]).expect("j"))
                .expect("share pkg");
        assert_eq!(sp.idx, idx);
        assert_eq!(
            sp.profile_id().expect("pid"),
            sh["profile_id"].as_str().expect("pid")
        );
        let emitted = sp.to_json();
        assert_eq!(
            emitted.as_str(),
            format!(
                "{{\"idx\":{idx},\"seckey\":\"{}\"}}",
                sh["seckey"].as_str().expect("s")
            )
        );
        key_shares.push(sp.to_key_share());
    }
    // every pair of shares recovers the group secret; d·G has even y and x = group_pk
    for (a, b) in [(0, 1), (0, 2), (1, 2)] {
        let pair = [key_shares[a].duplicate(), key_shares[b].duplicate()];
        let d = frost::recover(&pair).expect("recover");
        assert_eq!(
            hex::encode(d.expose()),
            s(&v, "keyset.group_secret_reconstructed")
        );
        let d2 = frost::keys::recover_checked(&pair, &g.group_pk).expect("checked");
        assert_eq!(d2.expose(), d.expose());
        let pk = frost::pubkey33(&d).expect("pk");
        assert_eq!(pk[0], 2, "even y");
        assert_eq!(
            hex::encode(&pk[1..]),
            s(&v, "keyset.group_secret_times_G_xonly")
        );
    }
    assert_eq!(
        v["keyset"]["group_secret_check_matches_group_pk"],
        Value::Bool(true)
    );
}

// ---- credentials ----------------------------------------------------------------------------

fn key_iv(v: &str) -> ([u8; 32], [u8; 24], usize) {
    let mut key = None;
    let mut iv = None;
    let mut ct = None;
    for part in v.split_whitespace() {
        let (k, val) = part.split_once('=').expect("k=v");
        match k {
            "key" => key = Some(h32(val)),
            "iv" => iv = Some(<[u8; 24]>::try_from(hex::decode(val).expect("hex")).expect("24")),
            "ct_len" => ct = Some(val.parse().expect("len")),
            _ => panic!("unknown field {k}"),
        }
    }
    (key.expect("key"), iv.expect("iv"), ct.expect("ct"))
}

fn check_envelope(env_json: &str, password: &str, derived: &str) -> Envelope {
    let env: Envelope = serde_json::from_str(env_json).expect("envelope");
    assert_eq!(
        env.to_json(),
        env_json,
        "envelope re-serialises byte for byte"
    );
    let (key, iv, ct_len) = key_iv(derived);
    assert_eq!(
        credential::derive_key(password, &env.salt().expect("salt")).expose(),
        &key
    );
    assert_eq!(env.iv().expect("iv"), iv);
    assert_eq!(env.ct_len(), ct_len);
    env
}

#[test]
fn bfshare_vector() {
    let v = vector("bifrost-rs-keyset.json");
    let c = &v["credentials"];
    let pw = s(c, "password");
    let st = s(c, "bfshare.string");
    assert_eq!(
        st.len() as u64,
        c["bfshare"]["string_len"].as_u64().expect("len")
    );
    let (hrp, data) = credential::bech32m_decode(st).expect("bech32m");
    assert_eq!(hrp, "bfshare");
    assert_eq!(
        std::str::from_utf8(&data).expect("utf8"),
        s(c, "bfshare.bech32m_data_utf8")
    );
    let env = check_envelope(
        s(c, "bfshare.bech32m_data_utf8"),
        pw,
        s(c, "bfshare.derived_key_iv"),
    );
    let pt = env.open(pw).expect("open");
    assert_eq!(
        std::str::from_utf8(pt.expose()).expect("utf8"),
        s(c, "bfshare.plaintext_expected")
    );

    let share = BfShare::decode(st, pw).expect("decode");
    assert_eq!(
        share.share_secret.expose_hex().as_str(),
        s(c, "bfshare.decoded.share_secret")
    );
    let relays: Vec<&str> = c["bfshare"]["decoded"]["relays"]
        .as_array()
        .expect("r")
        .iter()
        .map(|r| r.as_str().expect("s"))
        .collect();
    assert_eq!(share.relays, relays);
    assert_eq!(
        share.plaintext().as_str(),
        s(c, "bfshare.plaintext_expected")
    );
    // byte-exact re-encoding with the vector's salt and IV
    let (_, iv, _) = key_iv(s(c, "bfshare.derived_key_iv"));
    let again = share
        .encode_with(pw, &env.salt().expect("salt"), &iv)
        .expect("encode");
    assert_eq!(again, st);
    // own idx via the keyset group
    let g = keyset_group(&v);
    assert_eq!(
        g.find_share(&share.share_secret).expect("idx") as u64,
        c["bfshare"]["for_share_idx"].as_u64().expect("i")
    );
    // wrong password → decrypt error; wrong HRP → WrongHrp
    assert!(matches!(
        BfShare::decode(st, "not-the-password"),
        Err(CredentialError::Decrypt)
    ));
    assert!(matches!(
        BfOnboard::decode(st, pw),
        Err(CredentialError::WrongHrp { .. })
    ));
}

#[test]
fn bfonboard_vector() {
    let v = vector("bifrost-rs-keyset.json");
    let c = &v["credentials"];
    let pw = s(c, "password");
    let st = s(c, "bfonboard.string");
    assert_eq!(
        st.len() as u64,
        c["bfonboard"]["string_len"].as_u64().expect("len")
    );
    let (hrp, data) = credential::bech32m_decode(st).expect("bech32m");
    assert_eq!(hrp, "bfonboard");
    assert_eq!(
        std::str::from_utf8(&data).expect("utf8"),
        s(c, "bfonboard.bech32m_data_utf8")
    );
    let env = check_envelope(
        s(c, "bfonboard.bech32m_data_utf8"),
        pw,
        s(c, "bfonboard.derived_key_iv"),
    );
    let ob = BfOnboard::decode(st, pw).expect("decode");
    assert_eq!(
        ob.share_secret.expose_hex().as_str(),
        s(c, "bfonboard.decoded.share_secret")
    );
    assert_eq!(hex::encode(ob.peer_pk), s(c, "bfonboard.decoded.peer_pk"));
    assert_eq!(hex::encode(ob.peer_pk), s(c, "bfonboard.peer_pk"));
    let relays: Vec<&str> = c["bfonboard"]["decoded"]["relays"]
        .as_array()
        .expect("r")
        .iter()
        .map(|r| r.as_str().expect("s"))
        .collect();
    assert_eq!(ob.relays, relays);
    // the decrypted plaintext is exactly what we emit
    let pt = env.open(pw).expect("open");
    assert_eq!(
        std::str::from_utf8(pt.expose()).expect("utf8"),
        ob.plaintext().as_str()
    );
    let (_, iv, _) = key_iv(s(c, "bfonboard.derived_key_iv"));
    assert_eq!(
        ob.encode_with(pw, &env.salt().expect("salt"), &iv)
            .expect("enc"),
        st
    );
    let g = keyset_group(&v);
    assert_eq!(
        g.find_share(&ob.share_secret).expect("idx") as u64,
        c["bfonboard"]["for_share_idx"].as_u64().expect("i")
    );
    assert_eq!(g.find_xonly(&ob.peer_pk), Some(1));
}

#[test]
fn bfprofile_vector() {
    let v = vector("bifrost-rs-keyset.json");
    let c = &v["credentials"];
    let pw = s(c, "password");
    let st = s(c, "bfprofile.string");
    assert_eq!(
        st.len() as u64,
        c["bfprofile"]["string_len"].as_u64().expect("len")
    );
    assert!(st.len() > 1023, "exercises the long bech32m path");
    let (hrp, data) = credential::bech32m_decode(st).expect("bech32m");
    assert_eq!(hrp, "bfprofile");
    assert_eq!(
        std::str::from_utf8(&data[..64]).expect("ascii"),
        s(c, "bfprofile.outer_profile_id_ascii")
    );
    assert_eq!(
        std::str::from_utf8(&data[64..]).expect("utf8"),
        s(c, "bfprofile.bech32m_data_after_64_bytes_utf8")
    );
    let env = check_envelope(
        s(c, "bfprofile.bech32m_data_after_64_bytes_utf8"),
        pw,
        s(c, "bfprofile.derived_key_iv"),
    );
    let pt = env.open(pw).expect("open");
    assert_eq!(
        std::str::from_utf8(pt.expose()).expect("utf8"),
        s(c, "bfprofile.plaintext_payload_json")
    );

    let p = BfProfile::decode(st, pw).expect("decode");
    assert_eq!(
        p.plaintext().as_str(),
        s(c, "bfprofile.plaintext_payload_json"),
        "re-serialised plaintext is byte-exact"
    );
    // field by field against `decoded`
    let d = &c["bfprofile"]["decoded"];
    assert_eq!(p.profile_id, s(d, "profile_id"));
    assert_eq!(u64::from(p.version), d["version"].as_u64().expect("v"));
    assert_eq!(p.device.name, s(d, "device.name"));
    assert_eq!(
        p.device.share_secret.expose_hex().as_str(),
        s(d, "device.share_secret")
    );
    let relays: Vec<&str> = d["device"]["relays"]
        .as_array()
        .expect("r")
        .iter()
        .map(|r| r.as_str().expect("s"))
        .collect();
    assert_eq!(p.device.relays, relays);
    assert_eq!(
        serde_json::to_value(&p.device.manual_peer_policy_overrides).expect("v"),
        d["device"]["manual_peer_policy_overrides"]
    );
    assert_eq!(
        serde_json::to_value(&p.group_package).expect("v"),
        d["group_package"]
    );
    let x = frost::xonly(&p.device.share_secret).expect("x");
    assert_eq!(
        group::profile_id(&x),
        s(c, "bfprofile.outer_profile_id_ascii")
    );
    assert_eq!(
        p.group_package
            .find_share(&p.device.share_secret)
            .expect("idx") as u64,
        c["bfprofile"]["for_share_idx"].as_u64().expect("i")
    );
    let (_, iv, _) = key_iv(s(c, "bfprofile.derived_key_iv"));
    assert_eq!(
        p.encode_with(pw, &env.salt().expect("salt"), &iv)
            .expect("enc"),
        st
    );

    // outer id mismatch is detected: swap the outer id for another share's id
    let mut forged = s(&v, "keyset.shares.1.profile_id").as_bytes().to_vec();
    forged.extend_from_slice(&data[64..]);
    let forged = credential::bech32m_encode("bfprofile", &forged).expect("enc");
    assert!(matches!(
        BfProfile::decode(&forged, pw),
        Err(CredentialError::ProfileIdMismatch)
    ));
}

#[test]
fn legacy_bfshare_is_rejected() {
    let v = vector("bifrost-rs-keyset.json");
    assert!(s(&v, "credentials.legacy_1_0_bfshare_decode_result").starts_with("rejected"));
    // a 100-byte binary legacy share fails at the envelope JSON step
    let legacy = credential::bech32m_encode("bfshare", &[7u8; 100]).expect("enc");
    let err = BfShare::decode(&legacy, "pw").expect_err("must reject");
    assert!(
        matches!(err, CredentialError::Envelope("bfshare", _)),
        "{err}"
    );
}

// ---- sign round -----------------------------------------------------------------------------

struct SignVec {
    v: Value,
    keys: GroupKeys,
}

fn sign_vec() -> SignVec {
    let v = vector("bifrost-rs-sign-ecdh.json");
    let g = GroupPackage::from_json(&serde_json::to_string(&v["group_package_json"]).expect("j"))
        .expect("group");
    let keys = g.keys().expect("keys");
    SignVec { v, keys }
}

fn vector_nonce(n: &Value) -> SigningNonce {
    SigningNonce::from_secrets(
        h32(n["code"].as_str().expect("code")),
        &secret(n["hiding_secret"].as_str().expect("h")),
        &secret(n["binding_secret"].as_str().expect("b")),
    )
    .expect("nonce")
}

#[test]
fn sign_round_session_package_and_ids() {
    let SignVec { v, keys } = sign_vec();
    let r = &v["sign_round"];
    // nonce scalars = SHA256(label ‖ "#0") and their commitments
    for n in r["nonces"].as_array().expect("nonces") {
        let idx = n["idx"].as_u64().expect("idx");
        for (kind, field) in [("hiding", "hiding_secret"), ("binding", "binding_secret")] {
            let label = format!("frostr-next/sign-vector/{kind}/{idx}#0");
            assert_eq!(
                hex::encode(Sha256::digest(label.as_bytes())),
                n[field].as_str().expect("s")
            );
        }
        let nonce = vector_nonce(n);
        let d = DerivedPublicNonce::of(&nonce);
        assert_eq!(
            hex::encode(d.hidden_pn),
            n["hidden_pn"].as_str().expect("h")
        );
        assert_eq!(
            hex::encode(d.binder_pn),
            n["binder_pn"].as_str().expect("b")
        );
        assert_eq!(
            serde_json::to_string(&d).expect("j"),
            format!(
                "{{\"binder_pn\":\"{}\",\"hidden_pn\":\"{}\",\"code\":\"{}\"}}",
                n["binder_pn"].as_str().expect("b"),
                n["hidden_pn"].as_str().expect("h"),
                n["code"].as_str().expect("c")
            )
        );
    }
    assert_eq!(
        hex::encode(Sha256::digest(b"frostr-next/sign-vector/message")),
        s(r, "message_sighash")
    );

    // build the session ourselves and compare with the wire package
    let msg = h32(s(r, "message_sighash"));
    let nonces: Vec<(u16, Vec<DerivedPublicNonce>)> = r["nonces"]
        .as_array()
        .expect("n")
        .iter()
        .map(|n| {
            (
                n["idx"].as_u64().expect("i") as u16,
                vec![DerivedPublicNonce::of(&vector_nonce(n))],
            )
        })
        .collect();
    let wire = &r["session_package_wire"];
    let stamp = wire["stamp"].as_u64().expect("stamp") as u32;
    let built =
        SignSessionPackage::build(&keys, vec![1, 2], vec![msg], None, "message", stamp, nonces)
            .expect("build");
    let parsed =
        SignSessionPackage::from_json(&serde_json::to_string(wire).expect("j")).expect("parse");
    assert_eq!(built, parsed);
    assert_eq!(
        serde_json::from_str::<Value>(&built.to_json()).expect("j"),
        *wire
    );
    // key order of the emitted package (§5.2)
    let j = built.to_json();
    let order = [
        "\"gid\"",
        "\"sid\"",
        "\"members\"",
        "\"hashes\"",
        "\"content\":null",
        "\"kind\"",
        "\"stamp\"",
        "\"nonces\"",
        "\"hash_index\"",
        "\"binder_pn\"",
        "\"hidden_pn\"",
        "\"code\"",
    ];
    let pos: Vec<usize> = order.iter().map(|k| j.find(k).expect(k)).collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]), "{j}");
    assert_eq!(
        hex::encode(session_id_preimage(
            &built.gid,
            &built.members,
            &built.hashes,
            None,
            "message",
            stamp
        )),
        s(r, "session_id_preimage_hex")
    );
    assert_eq!(hex::encode(built.sid), s(wire, "sid"));
    assert_eq!(hex::encode(built.gid), s(wire, "gid"));
    parsed.validate(&keys).expect("valid");
    // a tampered sid is refused
    let mut bad = parsed.clone();
    bad.stamp += 1;
    assert!(bad.validate(&keys).is_err());
}

#[test]
fn sign_round_intermediates_via_official_crate() {
    use frost_core::Ciphersuite;
    use frost_secp256k1_tr::Secp256K1Sha256TR as Suite;
    use k256::elliptic_curve::sec1::{FromEncodedPoint, ToEncodedPoint};
    let SignVec { v, keys } = sign_vec();
    let r = &v["sign_round"];
    let msg = h32(s(r, "message_sighash"));
    let nonces: Vec<SigningNonce> = r["nonces"]
        .as_array()
        .expect("n")
        .iter()
        .map(vector_nonce)
        .collect();
    let commits: Vec<(u16, frost::PublicNonce)> = nonces
        .iter()
        .zip([1u16, 2])
        .map(|(n, i)| (i, n.public()))
        .collect();
    let round = SignRound::new(&msg, &commits).expect("round");

    // encoded group commitments: id32 ‖ hiding ‖ binding per member
    let mut enc = Vec::new();
    for (i, c) in &commits {
        let mut id = [0u8; 32];
        id[30..].copy_from_slice(&i.to_be_bytes());
        enc.extend_from_slice(&id);
        enc.extend_from_slice(&c.hidden);
        enc.extend_from_slice(&c.binder);
    }
    assert_eq!(hex::encode(&enc), s(r, "encoded_group_commitments_hex"));
    assert_eq!(hex::encode(Suite::H4(&msg)), s(r, "H4_msg"));
    assert_eq!(hex::encode(Suite::H5(&enc)), s(r, "H5_com"));

    // binding-factor preimages from the official crate, ρ = H1(preimage)
    let mut vk = [0u8; 33];
    vk[0] = 2;
    vk[1..].copy_from_slice(keys.group_pk());
    let vk = frost_secp256k1_tr::VerifyingKey::deserialize(&vk).expect("vk");
    let mut pk = std::collections::BTreeMap::new();
    for (i, c) in &commits {
        let id = frost_secp256k1_tr::Identifier::try_from(*i).expect("id");
        let sc = frost_secp256k1_tr::round1::SigningCommitments::new(
            frost_secp256k1_tr::round1::NonceCommitment::deserialize(&c.hidden).expect("h"),
            frost_secp256k1_tr::round1::NonceCommitment::deserialize(&c.binder).expect("b"),
        );
        pk.insert(id, sc);
    }
    let sp = frost_secp256k1_tr::SigningPackage::new(pk, &msg);
    let pre = sp.binding_factor_preimages(&vk, &[]).expect("preimages");
    let inter = r["intermediates"].as_array().expect("i");
    let mut rsum = k256::ProjectivePoint::IDENTITY;
    for ((_, p), iv) in pre.iter().zip(inter) {
        let idx = iv["idx"].as_u64().expect("idx") as u16;
        assert_eq!(
            hex::encode(p),
            iv["binding_factor_preimage"].as_str().expect("p")
        );
        let rho = Suite::H1(p);
        assert_eq!(
            hex::encode(rho.to_bytes()),
            iv["binding_factor_rho"].as_str().expect("rho")
        );
        assert_eq!(
            hex::encode(frost::lagrange_bytes(idx, &[1, 2]).expect("l")),
            iv["lagrange_lambda"].as_str().expect("l")
        );
        let c = round.commitment(idx).expect("c");
        let pt = |b: &[u8; 33]| {
            k256::ProjectivePoint::from(
                Option::<k256::AffinePoint>::from(k256::AffinePoint::from_encoded_point(
                    &k256::EncodedPoint::from_bytes(b).expect("ep"),
                ))
                .expect("pt"),
            )
        };
        rsum += pt(&c.hidden) + pt(&c.binder) * rho;
    }
    let rc = rsum.to_affine().to_encoded_point(true);
    assert_eq!(
        hex::encode(rc.as_bytes()),
        s(r, "group_commitment_R_compressed")
    );
    assert_eq!(
        rc.as_bytes()[0] == 3,
        r["group_commitment_R_has_odd_y_so_nonces_negated"]
            .as_bool()
            .expect("b")
    );
    // BIP-340 challenge over x(R), group_pk, msg
    let tag = Sha256::digest(b"BIP0340/challenge");
    let e = Sha256::new()
        .chain_update(tag)
        .chain_update(tag)
        .chain_update(&rc.as_bytes()[1..])
        .chain_update(keys.group_pk())
        .chain_update(msg)
        .finalize();
    let e = <k256::Scalar as k256::elliptic_curve::ops::Reduce<k256::U256>>::reduce_bytes(&e);
    assert_eq!(hex::encode(e.to_bytes()), s(r, "challenge_e"));

    // partial signatures with our signer, checked against both bifrost and official values
    let ledger = MemoryNonceLedger::new();
    let shares = v["shares"].as_array().expect("shares");
    let mut parts = Vec::new();
    for ((sh, nonce), ovb) in shares
        .iter()
        .zip(nonces)
        .zip(r["official_vs_bifrost"].as_array().expect("o"))
    {
        let idx = sh["idx"].as_u64().expect("idx") as u16;
        let ks = KeyShare::new(idx, secret(sh["seckey"].as_str().expect("s")));
        let signer = ShareSigner::new(&ks, &keys).expect("signer");
        let z = signer.sign(&round, nonce, &ledger).expect("sign");
        assert_eq!(
            hex::encode(z),
            ovb["bifrost_rs_partial_sig"].as_str().expect("b")
        );
        assert_eq!(
            hex::encode(z),
            ovb["official_3_0_0_partial_sig"].as_str().expect("o")
        );
        assert_eq!(ovb["equal"], Value::Bool(true));
        frost::verify_partial(&keys, &round, idx, &z).expect("verifies");
        parts.push((idx, z));
    }
    assert_eq!(ledger.len(), 2, "both nonce codes recorded");
    let sig = frost::aggregate(&keys, &round, &parts).expect("aggregate");
    assert_eq!(hex::encode(sig), s(r, "final_signature"));
    assert_eq!(hex::encode(sig), s(r, "official_aggregate_signature"));
    assert_eq!(
        &hex::encode(sig)[..64],
        &s(r, "group_commitment_R_compressed")[2..]
    );
    assert!(frost::verify_bip340(keys.group_pk(), &msg, &sig));
    assert_eq!(r["bip340_verify_with_k256"], Value::Bool(true));
    assert_eq!(r["official_equals_bifrost_signature"], Value::Bool(true));
}

#[test]
fn sign_round_session_sign_verify_aggregate() {
    let SignVec { v, keys } = sign_vec();
    let r = &v["sign_round"];
    let session = SignSessionPackage::from_json(
        &serde_json::to_string(&r["session_package_wire"]).expect("j"),
    )
    .expect("s");
    let ledger = MemoryNonceLedger::new();
    let mut responses = Vec::new();
    for ((sh, n), wire) in v["shares"]
        .as_array()
        .expect("s")
        .iter()
        .zip(r["nonces"].as_array().expect("n"))
        .zip(r["partial_sig_packages_wire"].as_array().expect("p"))
    {
        let idx = sh["idx"].as_u64().expect("idx") as u16;
        let ks = KeyShare::new(idx, secret(sh["seckey"].as_str().expect("s")));
        let signer = ShareSigner::new(&ks, &keys).expect("signer");
        let resp = session
            .sign(&keys, &signer, vec![vector_nonce(n)], &ledger, None)
            .expect("sign");
        assert_eq!(
            serde_json::from_str::<Value>(&resp.to_json()).expect("j"),
            *wire
        );
        let parsed =
            PartialSigPackage::from_json(&serde_json::to_string(wire).expect("j")).expect("parse");
        assert_eq!(parsed, resp);
        session.verify_response(&keys, &parsed).expect("verifies");
        responses.push(parsed);
    }
    // the same nonce cannot be used twice: the ledger refuses
    let sh = &v["shares"][0];
    let ks = KeyShare::new(1, secret(sh["seckey"].as_str().expect("s")));
    let signer = ShareSigner::new(&ks, &keys).expect("signer");
    let again = session.sign(
        &keys,
        &signer,
        vec![vector_nonce(&r["nonces"][0])],
        &ledger,
        None,
    );
    assert!(again.is_err(), "reused nonce code must be refused");

    let sigs = session.aggregate(&keys, &responses).expect("aggregate");
    assert_eq!(hex::encode(sigs[0]), s(r, "final_signature"));

    // a tampered partial signature names its signer
    let mut bad = responses.clone();
    bad[1].psigs[0].partial_sig[31] ^= 1;
    let err = session
        .verify_response(&keys, &bad[1])
        .expect_err("tampered");
    assert!(err.to_string().contains("member 2"), "{err}");
    let err = session.aggregate(&keys, &bad).expect_err("tampered");
    assert!(err.to_string().contains("member 2"), "{err}");
}

// ---- ECDH -----------------------------------------------------------------------------------

#[test]
fn ecdh_round_both_rules() {
    let v = vector("bifrost-rs-sign-ecdh.json");
    let e = &v["ecdh_round"];
    let ks = vector("bifrost-rs-keyset.json");
    let g = keyset_group(&ks);
    let keys = g.keys().expect("keys");
    let shares: Vec<KeyShare> = ks["keyset"]["shares"]
        .as_array()
        .expect("s")
        .iter()
        .map(|s| {
            KeyShare::new(
                s["idx"].as_u64().expect("i") as u16,
                secret(s["seckey"].as_str().expect("k")),
            )
        })
        .collect();
    let tsec = secret(s(e, "target_secret"));
    assert_eq!(
        hex::encode(Sha256::digest(b"frostr-next/ecdh-vector/target-secret#0")),
        s(e, "target_secret")
    );
    let target = frost::xonly(&tsec).expect("x");
    assert_eq!(hex::encode(target), s(e, "target_pubkey_xonly"));
    // target side: t · lift_x(group_pk)
    let t_side = frost::ecdh_share_435e7f6(&tsec, keys.group_pk()).expect("t");
    assert_eq!(
        hex::encode(t_side),
        s(e, "target_side_t_times_groupP_compressed")
    );
    let true_x = s(e, "true_ecdh_x (NIP-04/NIP-44 shared_x)");
    assert_eq!(&s(e, "true_ecdh_point_compressed")[2..], true_x);
    assert_eq!(
        hex::encode(Sha256::digest(h33(s(e, "true_ecdh_point_compressed")))),
        s(e, "sha256_of_true_point_compressed")
    );

    for (key, members) in [("members_1_2", [1u16, 2]), ("members_1_3", [1u16, 3])] {
        let set = &e[key];
        // 435e7f6 packages reproduce the vector byte for byte
        let mut old = Vec::new();
        for m in members {
            let p = EcdhPackage::build_435e7f6(&shares[m as usize - 1], &members, &[target])
                .expect("pkg");
            // members_1_3 lists only package 3; package 1 is the 1_2 one (unweighted shares do
            // not depend on the member set)
            match set.get(format!("ecdh_package_{m}")) {
                Some(wire) => {
                    assert_eq!(
                        serde_json::from_str::<Value>(&p.to_json()).expect("j"),
                        *wire
                    );
                    assert_eq!(
                        EcdhPackage::from_json(&serde_json::to_string(wire).expect("j"))
                            .expect("parse"),
                        p
                    );
                }
                None => assert_eq!(
                    hex::encode(p.entries[0].keyshare),
                    s(
                        e,
                        &format!("members_1_2.ecdh_package_{m}.entries.0.keyshare")
                    )
                ),
            }
            p.validate(&keys, m, members[0]).expect("valid");
            old.push(p);
        }
        assert_eq!(
            hex::encode(combine_435e7f6(&old, &target).expect("c")),
            s(set, "bifrost_combined_output")
        );
        if let Some(sum) = set.get("sum_of_keyshares_compressed") {
            let ks: Vec<[u8; 33]> = old.iter().map(|p| p.entries[0].keyshare).collect();
            assert_eq!(
                hex::encode(frost::ecdh::ecdh_sum_compressed(&ks).expect("sum")),
                sum.as_str().expect("s")
            );
        }
        if let Some(w) = set.get("lagrange_weighted_sum_compressed") {
            let rw: Vec<[u8; 33]> = old
                .iter()
                .map(|p| {
                    frost::ecdh_share_reweight(p.idx, &members, &p.entries[0].keyshare).expect("rw")
                })
                .collect();
            assert_eq!(
                hex::encode(frost::ecdh::ecdh_sum_compressed(&rw).expect("sum")),
                w.as_str().expect("s")
            );
        }
        // corrected rule gives the true shared x for this member set
        let new: Vec<EcdhPackage> = members
            .iter()
            .map(|m| {
                EcdhPackage::build(&shares[*m as usize - 1], &members, &[target]).expect("pkg")
            })
            .collect();
        assert_eq!(hex::encode(combine(&new, &target).expect("c")), true_x);
        assert_ne!(s(set, "bifrost_combined_output"), true_x);
    }
    // and for {2,3}
    let new: Vec<EcdhPackage> = [2u16, 3]
        .iter()
        .map(|m| EcdhPackage::build(&shares[*m as usize - 1], &[2, 3], &[target]).expect("p"))
        .collect();
    assert_eq!(hex::encode(combine(&new, &target).expect("c")), true_x);
    assert_eq!(e["lagrange_weighted_equals_true_point"], Value::Bool(true));
    assert_eq!(e["bifrost_output_equals_true_x"], Value::Bool(false));
    assert_eq!(
        e["bifrost_output_equals_sha256_true_point"],
        Value::Bool(false)
    );
    assert_eq!(
        e["bifrost_output_same_for_both_member_sets"],
        Value::Bool(false)
    );
}

#[test]
fn ledger_refuses_second_use() {
    let l = MemoryNonceLedger::new();
    l.record_consumed(&[1; 32]).expect("first");
    assert!(l.record_consumed(&[1; 32]).is_err());
}

// ---- kind-10000 profile backup --------------------------------------------------------------

#[test]
fn profile_backup_vector() {
    use frostbox::frostr::next::backup::{ProfileBackup, backup_conversation_key};
    let v = vector("bifrost-rs-keyset.json");
    let b = &v["credentials"]["profile_backup"];
    let idx = b["for_share_idx"].as_u64().expect("idx") as usize;
    let share = secret(s(&v, &format!("keyset.shares.{}.seckey", idx - 1)));
    assert!(
        s(b, "conversation_key_rule")
            .starts_with("HMAC-SHA256(key=ascii('frostr-profile-backup/v1')")
    );
    assert_eq!(
        hex::encode(backup_conversation_key(&share).expose()),
        s(b, "conversation_key")
    );

    let ev = frostbox::nostr::Event::from_json(&serde_json::to_string(&b["event"]).expect("j"))
        .expect("event");
    assert_eq!(ev.kind, 10000);
    assert!(ev.tags.is_empty());
    assert_eq!(ev.pubkey, frost::xonly(&share).expect("x"));
    ev.verify().expect("id and signature verify");
    assert_eq!(
        ev.content.contains('='),
        b["content_has_padding_char"].as_bool().expect("b")
    );

    let parsed = ProfileBackup::from_event(&share, &ev).expect("decrypt");
    assert_eq!(
        parsed.to_json(),
        s(b, "plaintext"),
        "plaintext byte for byte"
    );
    assert_eq!(serde_json::to_value(&parsed).expect("v"), b["parsed"]);
    // re-encrypting with the payload's own nonce reproduces the content
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(&ev.content)
        .expect("b64");
    let nonce: [u8; 32] = raw[1..33].try_into().expect("nonce");
    assert_eq!(
        parsed.encrypt_content(&share, Some(nonce)).expect("enc"),
        ev.content
    );
    // the backup matches the bfprofile of the same share and rebuilds it
    let pw = s(&v, "credentials.password");
    let profile = BfProfile::decode(s(&v, "credentials.bfprofile.string"), pw).expect("profile");
    assert_eq!(
        ProfileBackup::from_profile(&profile).expect("backup"),
        parsed
    );
    let rebuilt = parsed
        .clone()
        .into_profile(share.duplicate())
        .expect("rebuild");
    assert_eq!(
        rebuilt.plaintext().as_str(),
        s(&v, "credentials.bfprofile.plaintext_payload_json")
    );
    // another share cannot read it, and a fresh event round-trips
    let other = secret(s(&v, "keyset.shares.1.seckey"));
    assert!(ProfileBackup::from_event(&other, &ev).is_err());
    let fresh = parsed.to_event(&share, 1_800_000_000).expect("event");
    assert_eq!(
        ProfileBackup::from_event(&share, &fresh).expect("back"),
        parsed
    );
}
