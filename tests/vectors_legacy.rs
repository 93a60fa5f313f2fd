//! Legacy 1.0.x (FROSTR.md, `@frostr/bifrost` 1.0.7) against the shared vectors.
//!
//! Files consumed (all under `$FROSTBOX_SHARED/protocol/vectors/`):
//! * `bifrost-ecc.vec.json` — additive nonce shift, pass and fail cases (§5.3, §11.1)
//! * `bifrost-group.vec.json` — dealer split from seeds, `bfgroup`, `bfshare`s, legacy `bfcred` (§3, §11.2)
//! * `bifrost-session.vec.json` — gid, sid, bind hashes, shifted nonces, tweaked signing (§5, §11.3)
//! * `frost-hash.json` — H4 / H5 (§4.1, §11.4)
//! * `frost-spec.json` — pure FROST: coefficients, shares, H3 nonces, prefix, binders, R, challenge, psigs, sig (§11.5)
//! * `frost-spec_fail.json` — obsolete odd-y vector used as a negative test (§11.6)
//! * `e2e-npm.json` — every value of the npm-generated end-to-end vector (§11.7)
//! * `live-transcript-npm.json` — what is recomputable: event ids/sigs, decryption of every
//!   envelope, sid, node 2's partial signature, the final signature, the ECDH secret (§11.8)

use frostbox::frostr::legacy::credential::{GroupJson, GroupPackage, SharePackage};
use frostbox::frostr::legacy::dealer::{generate_dealer_pkg, recover_secret, static_nonces};
use frostbox::frostr::legacy::ecdh::{EcdhPackage, combine_ecdh, create_ecdh_pkg};
use frostbox::frostr::legacy::math::{
    self, KeyContext, PubNonce, SecNonce, SignContext, h1, h3, h4, h5, lagrange, scalar_hex,
    scalar_reduce, scalar_strict,
};
use frostbox::frostr::legacy::session::{
    SessionContext, SessionPackage, bind_hash, shift_pub_nonce, shift_sec_nonce,
};
use frostbox::frostr::legacy::transport::{
    decode_envelope, decrypt_content, encode_envelope, encrypt_content_with_iv, transport_key,
};
use frostbox::frostr::legacy::{Error, bech32m, migrate};
use frostbox::vault::Secret32;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::api_support::shared::vector_json as load;

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}
fn b32(v: &Value) -> [u8; 32] {
    let mut b = [0u8; 32];
    hex::decode_to_slice(s(v), &mut b).expect("hex32");
    b
}
fn sec(v: &Value) -> Secret32 {
    Secret32::from_hex(s(v)).expect("secret hex")
}
fn pt(v: &Value) -> secp256k1::PublicKey {
    math::parse_point(&hex::decode(s(v)).expect("hex"), "vector point").expect("point")
}
fn hx(p: &secp256k1::PublicKey) -> String {
    hex::encode(p.serialize())
}
fn sc(v: &Value) -> k256::Scalar {
    scalar_reduce(&b32(v))
}
fn n_minus_1_or_1(v: &k256::Scalar) -> &'static str {
    if math::scalar_eq(v, &k256::Scalar::ONE) {
        "1"
    } else if math::scalar_eq(v, &-k256::Scalar::ONE) {
        "n-1"
    } else {
        "?"
    }
}

// ------------------------------------------------------------------ bifrost-ecc

#[test]
fn bifrost_ecc_nonce_shift() {
    let v = load("bifrost-ecc.vec.json");
    let pass = v["pass"].as_array().expect("pass");
    assert!(!pass.is_empty());
    for c in pass {
        let d = scalar_strict(&b32(&c["internal_secnonce"]), "nonce").expect("secnonce");
        let t = b32(&c["internal_tweak"]);
        let n = SecNonce {
            hidden: d,
            binder: d,
        };
        let shifted = shift_sec_nonce(&n, &t);
        assert_eq!(scalar_hex(&shifted.hidden), s(&c["target_secnonce"]));
        let p = pt(&c["internal_pubnonce"]);
        let sp = shift_pub_nonce(
            &PubNonce {
                hidden: p,
                binder: p,
            },
            &t,
        )
        .expect("shift");
        assert_eq!(hx(&sp.hidden), s(&c["target_pubnonce"]));
        // The shifted secret matches the shifted point.
        assert_eq!(math::mul_gen(&shifted.hidden).expect("mul"), sp.hidden);
    }
    let fail = v["fail"].as_array().expect("fail");
    assert_eq!(fail.len(), 4);
    for c in fail {
        let sn = hex::decode(s(&c["internal_secnonce"])).expect("hex");
        let pn = hex::decode(s(&c["internal_pubnonce"])).expect("hex");
        let sec_ok = <[u8; 32]>::try_from(sn.as_slice())
            .ok()
            .and_then(|b| scalar_strict(&b, "nonce").ok())
            .is_some();
        let pub_ok = math::parse_point(&pn, "nonce").is_ok();
        assert!(!(sec_ok && pub_ok), "must reject: {}", s(&c["reason"]));
    }
}

// ------------------------------------------------------------------ bifrost-group

fn seeds64(seeds: &[Value]) -> Vec<[u8; 64]> {
    seeds
        .iter()
        .map(|x| {
            let b = b32(x);
            let mut s = [0u8; 64];
            s[..32].copy_from_slice(&b);
            s[32..].copy_from_slice(&b);
            s
        })
        .collect()
}

#[test]
fn bifrost_group_dealer_and_codecs() {
    let v = load("bifrost-group.vec.json");
    let seeds = v["seeds"].as_array().expect("seeds");
    for (x, name) in seeds.iter().zip(["alice", "bob", "carol"]) {
        assert_eq!(s(x), hex::encode(Sha256::digest(name)));
    }
    let coeffs = vec![sec(&seeds[0]), sec(&seeds[1])];
    // Nonce seed of share i = seeds[i−1] ‖ seeds[i−1].
    let nonce_seeds = seeds64(seeds);
    let (group, shares) = generate_dealer_pkg(2, 3, &coeffs, Some(&nonce_seeds)).expect("dealer");
    assert_eq!(group.encode(), s(&v["group"]));
    for (sh, want) in shares.iter().zip(v["shares"].as_array().expect("shares")) {
        assert_eq!(sh.encode().as_str(), s(want));
        let back = SharePackage::decode(s(want)).expect("decode share");
        assert_eq!(back.to_bytes(), sh.to_bytes());
        group.check_share(&back).expect("share in group");
    }
    let g2 = GroupPackage::decode(s(&v["group"])).expect("decode group");
    assert_eq!(g2, group);
    // Legacy bfcred (1.0.1–1.0.3) = share 1 bytes ‖ group bytes.
    let (hrp, cred) = bech32m::decode(s(&v["cred"])).expect("bfcred");
    assert_eq!(hrp, "bfcred");
    let mut want = shares[0].to_bytes().to_vec();
    want.extend_from_slice(&group.to_bytes());
    assert_eq!(cred, want);
    // The group secret is seeds[0].
    let rec = recover_secret(&shares[1..], &group).expect("recover");
    assert_eq!(rec.expose(), &b32(&seeds[0]));
}

// ------------------------------------------------------------------ bifrost-session

#[test]
fn bifrost_session_vector() {
    let v = load("bifrost-session.vec.json");
    let group = GroupPackage::decode(s(&v["group"])).expect("group");
    let shares: Vec<SharePackage> = v["shares"]
        .as_array()
        .expect("shares")
        .iter()
        .map(|x| SharePackage::decode(s(x)).expect("share"))
        .collect();
    let sess: SessionPackage = serde_json::from_value(v["session"].clone()).expect("session json");
    assert_eq!(hex::encode(group.gid()), sess.gid);
    let rebuilt = SessionPackage::create(
        &group,
        sess.members.clone(),
        sess.hashes.clone(),
        sess.content.clone(),
        &sess.kind,
        sess.stamp,
    )
    .expect("create");
    assert_eq!(rebuilt, sess);
    let ctx = SessionContext::new(&group, &sess).expect("ctx");
    let sid = ctx.sid;
    let commits = v["sig_commits"].as_array().expect("commits");
    let secrets = v["sig_shares"].as_array().expect("sig_shares");
    assert_eq!(commits.len(), 8);
    for (c, k) in commits.iter().zip(secrets) {
        let idx = c["idx"].as_u64().expect("idx") as u32;
        let sighash = s(&c["sighash"]);
        let vec: Vec<[u8; 32]> = sess
            .hashes
            .iter()
            .find(|h| h[0] == sighash)
            .expect("vector")
            .iter()
            .map(|x| b32(&Value::String(x.clone())))
            .collect();
        let t = bind_hash(&sid, idx, &vec);
        assert_eq!(hex::encode(t), s(&c["bind_hash"]));
        assert_eq!(s(&c["sid"]), sess.sid);
        let com = group.commit(idx).expect("commit");
        assert_eq!(hx(&com.pubkey), s(&c["pubkey"]));
        let pn = shift_pub_nonce(&com.pub_nonce(), &t).expect("shift");
        assert_eq!(hx(&pn.hidden), s(&c["hidden_pn"]));
        assert_eq!(hx(&pn.binder), s(&c["binder_pn"]));
        let share = shares.iter().find(|x| x.idx == idx).expect("share");
        assert_eq!(k["idx"].as_u64(), Some(u64::from(idx)));
        assert_eq!(share.seckey.expose_hex().as_str(), s(&k["seckey"]));
        assert_eq!(s(&k["bind_hash"]), s(&c["bind_hash"]));
        let sn = shift_sec_nonce(&share.sec_nonce().expect("nonce"), &t);
        assert_eq!(scalar_hex(&sn.hidden), s(&k["hidden_sn"]));
        assert_eq!(scalar_hex(&sn.binder), s(&k["binder_sn"]));
    }
    // No psigs are stored: sign all four tweaked sighashes, verify, aggregate, BIP-340 verify.
    let pkgs: Vec<_> = sess
        .members
        .iter()
        .map(|m| {
            ctx.sign(&group, shares.iter().find(|x| x.idx == *m).expect("share"))
                .expect("sign")
        })
        .collect();
    let sigs = ctx.aggregate(&group, &sess, &pkgs).expect("aggregate");
    assert_eq!(sigs.len(), 4);
    for e in &sigs {
        // Signed under the tweaked key, not the group key.
        assert_ne!(&e.signing_key[2..], &hex::encode(group.npub()));
    }
}

// ------------------------------------------------------------------ frost-hash

#[test]
fn frost_hash_h4_h5() {
    let v = load("frost-hash.json");
    assert_eq!(
        hex::encode(h4(&hex::decode(s(&v["h4_pimg"])).expect("hex"))),
        s(&v["h4_hash"])
    );
    assert_eq!(
        hex::encode(h5(&hex::decode(s(&v["h5_pimg"])).expect("hex"))),
        s(&v["h5_hash"])
    );
    for k in ["h1", "h2", "h3"] {
        assert_eq!(s(&v[format!("{k}_hash")]), "", "upstream left {k} empty");
    }
}

// ------------------------------------------------------------------ frost-spec

struct SpecResult {
    psigs: Vec<String>,
    sig: [u8; 64],
}

/// Recomputes a `frost-spec*.json` file; asserts everything up to the challenge.
fn run_frost_spec(v: &Value) -> SpecResult {
    let g = &v["group"];
    let secrets: Vec<k256::Scalar> = g["secrets"]
        .as_array()
        .expect("secrets")
        .iter()
        .map(sc)
        .collect();
    for (a, c) in secrets
        .iter()
        .zip(g["commits"].as_array().expect("commits"))
    {
        assert_eq!(hx(&math::mul_gen(a).expect("mul")), s(c));
    }
    let gpk = pt(&g["grp_pubkey"]);
    assert_eq!(s(&g["grp_pubkey"]), s(&g["commits"][0]));
    let key = KeyContext::new(&gpk, &[]).expect("key");
    let msg = hex::decode(s(&g["message"])).expect("msg");
    assert_eq!(msg, b"hello world!");
    let mut nonces = Vec::new();
    let mut secs = Vec::new();
    for m in g["identifiers"].as_array().expect("ids") {
        let idx = m.as_u64().expect("idx") as u32;
        let mem = v["members"]
            .as_array()
            .expect("members")
            .iter()
            .find(|x| x["idx"].as_u64() == Some(u64::from(idx)))
            .expect("member");
        // seckey = f(idx)
        let x = k256::Scalar::from(u64::from(idx));
        let f = secrets
            .iter()
            .rev()
            .fold(k256::Scalar::ZERO, |acc, a| acc * x + a);
        assert_eq!(scalar_hex(&f), s(&mem["seckey"]));
        let mut pre = b32(&mem["nseed_h"]).to_vec();
        pre.extend_from_slice(&b32(&mem["seckey"]));
        let dh = h3(&pre);
        let mut pre = b32(&mem["nseed_b"]).to_vec();
        pre.extend_from_slice(&b32(&mem["seckey"]));
        let db = h3(&pre);
        assert_eq!(scalar_hex(&dh), s(&mem["snonce_h"]));
        assert_eq!(scalar_hex(&db), s(&mem["snonce_b"]));
        let sn = SecNonce {
            hidden: dh,
            binder: db,
        };
        let pn = sn.public().expect("pub");
        assert_eq!(hx(&pn.hidden), s(&mem["pnonce_h"]));
        assert_eq!(hx(&pn.binder), s(&mem["pnonce_b"]));
        nonces.push((idx, pn));
        secs.push((idx, f, sn, mem.clone()));
    }
    let ctx = SignContext::new(key, &msg, &nonces).expect("ctx");
    assert_eq!(hex::encode(&ctx.prefix), s(&g["grp_prefix"]));
    assert_eq!(hx(&ctx.group_pn), s(&g["grp_pnonce"]));
    assert_eq!(hex::encode(ctx.challenge_digest), s(&g["challenge"]));
    let mut psigs = Vec::new();
    let mut zs = Vec::new();
    for (idx, f, sn, mem) in &secs {
        assert_eq!(
            scalar_hex(&ctx.binder(*idx).expect("binder")),
            s(&mem["binder"])
        );
        let z = ctx.partial_sign(*idx, f, sn).expect("psig");
        ctx.verify_partial(*idx, &math::mul_gen(f).expect("pk"), &z)
            .expect("psig verifies");
        psigs.push(scalar_hex(&z));
        zs.push(z);
    }
    SpecResult {
        psigs,
        sig: ctx.aggregate(&zs),
    }
}

#[test]
fn frost_spec_vector() {
    let v = load("frost-spec.json");
    let r = run_frost_spec(&v);
    for (p, m) in r
        .psigs
        .iter()
        .zip(v["members"].as_array().expect("members"))
    {
        assert_eq!(p, s(&m["psig"]));
    }
    assert_eq!(hex::encode(r.sig), s(&v["group"]["sig"]));
    let gpk = pt(&v["group"]["grp_pubkey"]);
    assert!(math::verify_bip340(
        &math::xonly(&gpk),
        b"hello world!",
        &r.sig
    ));
}

#[test]
fn frost_spec_fail_is_rejected() {
    let v = load("frost-spec_fail.json");
    let gpk = pt(&v["group"]["grp_pubkey"]);
    assert!(!math::has_even_y(&gpk), "this vector has an odd-y key");
    let stored: [u8; 64] = hex::decode(s(&v["group"]["sig"]))
        .expect("hex")
        .try_into()
        .expect("64");
    // The stored (pre-1.1.3 parity bug) signature does not verify...
    assert!(!math::verify_bip340(
        &math::xonly(&gpk),
        b"hello world!",
        &stored
    ));
    // ...everything up to the challenge still matches, and 1.1.3 math gives a valid signature.
    let r = run_frost_spec(&v);
    for (p, m) in r
        .psigs
        .iter()
        .zip(v["members"].as_array().expect("members"))
    {
        assert_ne!(p, s(&m["psig"]), "stored psigs are the buggy ones");
    }
    assert_eq!(
        r.psigs,
        [
            "6fa9be0b0d0bf7dd8b8e23e8d65290b79e32b1ff7b9e97bfcee93c4be2fbc728",
            "2777d85e15bbc4b8c668f630b4af52fe0c31944b41e3fef25742207c65350e12"
        ]
    );
    assert_eq!(
        hex::encode(r.sig),
        "57b5d016fb131d666a629ddbcf9f0dddd9413c413af45b9809da568631bda2dc9721966922c7bc9651f71a198b01e3b5aa64464abd8296b2262b5cc84830d53a"
    );
    assert!(math::verify_bip340(
        &math::xonly(&gpk),
        b"hello world!",
        &r.sig
    ));
}

// ------------------------------------------------------------------ e2e-npm

struct E2e {
    v: Value,
    group: GroupPackage,
    shares: Vec<SharePackage>,
}

fn e2e() -> E2e {
    let v = load("e2e-npm.json");
    let group = GroupPackage::decode(s(&v["keygen"]["bfgroup"])).expect("group");
    let shares = v["keygen"]["bfshares"]
        .as_array()
        .expect("bfshares")
        .iter()
        .map(|x| SharePackage::decode(s(x)).expect("share"))
        .collect();
    E2e { v, group, shares }
}

#[test]
fn e2e_keygen() {
    let E2e { v, group, shares } = e2e();
    let k = &v["keygen"];
    assert_eq!(
        s(&k["nsec_hex"]),
        hex::encode(Sha256::digest("frostr-e2e/nsec/0"))
    );
    assert_eq!(s(&k["coeffs"][0]), s(&k["nsec_hex"]));
    let coeffs: Vec<Secret32> = k["coeffs"]
        .as_array()
        .expect("coeffs")
        .iter()
        .map(sec)
        .collect();
    let seeds: Vec<[u8; 64]> = k["aux_seeds"]
        .as_array()
        .expect("seeds")
        .iter()
        .map(|x| {
            hex::decode(s(x))
                .expect("hex")
                .try_into()
                .expect("64-byte seed")
        })
        .collect();
    let t = k["threshold"].as_u64().expect("t") as u32;
    let n = k["count"].as_u64().expect("n") as u32;
    let (g, sh) = generate_dealer_pkg(t, n, &coeffs, Some(&seeds)).expect("dealer");
    assert_eq!(g.encode(), s(&k["bfgroup"]));
    assert_eq!(hex::encode(g.to_bytes()), s(&k["group_bytes_hex"]));
    assert_eq!(g, group);
    assert_eq!(
        serde_json::to_value(g.to_json()).expect("json"),
        k["group_pkg"]
    );
    assert_eq!(
        GroupPackage::from_json(
            &serde_json::from_value::<GroupJson>(k["group_pkg"].clone()).expect("gj")
        )
        .expect("from json"),
        g
    );
    for (i, share) in sh.iter().enumerate() {
        assert_eq!(share.encode().as_str(), s(&k["bfshares"][i]));
        assert_eq!(hex::encode(share.to_bytes()), s(&k["share_bytes_hex"][i]));
        let j: Value = serde_json::from_str(&share.to_json()).expect("share json");
        assert_eq!(j, k["share_pkgs"][i]);
        assert_eq!(share.to_bytes(), shares[i].to_bytes());
        // static nonces reproduce from the seed (only bytes 0..32 matter)
        let (d, e) = static_nonces(&seeds[i], &share.secret_scalar().expect("s"));
        assert_eq!(scalar_hex(&d), share.hidden_sn.expose_hex().as_str());
        assert_eq!(scalar_hex(&e), share.binder_sn.expose_hex().as_str());
        let mut other = seeds[i];
        other[40] ^= 0xff;
        assert_eq!(
            scalar_hex(&static_nonces(&other, &share.secret_scalar().expect("s")).0),
            scalar_hex(&d)
        );
    }
    assert_eq!(hex::encode(g.gid()), s(&k["group_id"]));
    assert_eq!(hex::encode(g.npub()), s(&k["npub_hex"]));
    assert_eq!(
        s(&k["group_pk_parity"]),
        if math::has_even_y(&g.group_pk) {
            "even"
        } else {
            "odd"
        }
    );
    let rec = recover_secret(&shares[1..], &group).expect("recover");
    assert_eq!(
        rec.expose_hex().as_str(),
        s(&k["recovered_from_shares_2_3"])
    );
    assert_eq!(rec.expose_hex().as_str(), s(&k["nsec_hex"]));
    // npub / nsec bech32 (NIP-19 is plain bech32, not bech32m): checked through the npub x.
    assert!(s(&k["npub_bech32"]).starts_with("npub1"));
    // Migration keeps the npub (odd-y group: secret negated).
    let m = migrate::recover_even_y(&shares[..2], &group).expect("migrate");
    assert!(m.negated);
    assert_eq!(hex::encode(m.group_xonly), s(&k["npub_hex"]));
    let want = -scalar_reduce(&b32(&k["nsec_hex"]));
    assert_eq!(m.secret.expose_hex().as_str(), scalar_hex(&want));
}

fn event_id(pubkey: &str, created_at: u64, kind: u64, tags: &Value, content: &str) -> String {
    let ser = serde_json::to_string(&serde_json::json!([
        0, pubkey, created_at, kind, tags, content
    ]))
    .expect("ser");
    hex::encode(Sha256::digest(ser.as_bytes()))
}

#[test]
fn e2e_sessions() {
    let E2e { v, group, shares } = e2e();
    let ev = &v["nostr_event"];
    let t = &ev["template"];
    let id = event_id(
        s(&t["pubkey"]),
        t["created_at"].as_u64().expect("ts"),
        t["kind"].as_u64().expect("kind"),
        &t["tags"],
        s(&t["content"]),
    );
    assert_eq!(id, s(&ev["id"]));
    assert_eq!(id, s(&ev["signed"]["id"]));
    let mut event_sig_checked = false;
    let sessions = v["sessions"].as_array().expect("sessions");
    assert_eq!(sessions.len(), 3);
    let mut n_sighash = 0;
    for sj in sessions {
        let sess: SessionPackage = serde_json::from_value(sj["session"].clone()).expect("session");
        let o = &sj["options"];
        let req: Vec<u32> =
            serde_json::from_value(sj["requested_members"].clone()).expect("members");
        let rebuilt = SessionPackage::create(
            &group,
            req,
            sess.hashes.clone(),
            o["content"].as_str().map(str::to_string),
            s(&o["type"]),
            o["stamp"].as_u64().expect("stamp"),
        )
        .expect("create");
        assert_eq!(rebuilt, sess);
        assert_eq!(sess.to_json(), s(&sj["wire"]["sign_req_data"]));
        assert_eq!(
            SessionPackage::from_json(s(&sj["wire"]["sign_req_data"])).expect("parse"),
            sess
        );
        let ctx = SessionContext::new(&group, &sess).expect("ctx");
        let pkgs: Vec<_> = sess
            .members
            .iter()
            .map(|m| ctx.sign(&group, &shares[(*m - 1) as usize]).expect("sign"))
            .collect();
        for (p, want) in pkgs.iter().zip(sj["psig_pkgs"].as_array().expect("pkgs")) {
            assert_eq!(serde_json::to_value(p).expect("json"), *want);
        }
        for (p, want) in pkgs
            .iter()
            .zip(sj["wire"]["sign_res_data"].as_array().expect("res"))
        {
            assert_eq!(p.to_json(), s(want));
        }
        let sigs = ctx.aggregate(&group, &sess, &pkgs).expect("aggregate");
        for (k, ps) in sj["per_sighash"]
            .as_array()
            .expect("per")
            .iter()
            .enumerate()
        {
            n_sighash += 1;
            let c = &ctx.contexts[k];
            let vec = &ctx.vectors[k];
            assert_eq!(hex::encode(vec[0]), s(&ps["sighash"]));
            let tw: Vec<String> = vec[1..].iter().map(hex::encode).collect();
            assert_eq!(serde_json::to_value(&tw).expect("tw"), ps["tweaks"]);
            assert_eq!(hx(&group.group_pk), s(&ps["internal_group_pk"]));
            assert_eq!(hx(&c.key.key), s(&ps["signing_group_pk"]));
            assert_eq!(n_minus_1_or_1(&c.key.parity), s(&ps["key_state"]["parity"]));
            assert_eq!(n_minus_1_or_1(&c.key.state), s(&ps["key_state"]["state"]));
            assert_eq!(scalar_hex(&c.key.acc), s(&ps["key_state"]["tweak"]));
            for mn in ps["member_nonces"].as_array().expect("mn") {
                let idx = mn["idx"].as_u64().expect("idx") as u32;
                let t = bind_hash(&ctx.sid, idx, vec);
                assert_eq!(hex::encode(t), s(&mn["bind_hash"]));
                let pos = c.members.iter().position(|m| *m == idx).expect("pos");
                assert_eq!(hx(&c.nonces[pos].hidden), s(&mn["hidden_pn"]));
                assert_eq!(hx(&c.nonces[pos].binder), s(&mn["binder_pn"]));
                let sn = shift_sec_nonce(&shares[(idx - 1) as usize].sec_nonce().expect("sn"), &t);
                assert_eq!(scalar_hex(&sn.hidden), s(&mn["hidden_sn"]));
                assert_eq!(scalar_hex(&sn.binder), s(&mn["binder_sn"]));
            }
            assert_eq!(hex::encode(&c.prefix), s(&ps["bind_prefix"]));
            for bf in ps["bind_factors"].as_array().expect("bf") {
                let idx = bf["idx"].as_u64().expect("idx") as u32;
                assert_eq!(scalar_hex(&c.binder(idx).expect("b")), s(&bf["factor"]));
                // binder = H1(prefix ‖ idx32)
                let mut pre = c.prefix.clone();
                pre.extend_from_slice(&math::idx32(idx));
                assert_eq!(scalar_hex(&h1(&pre)), s(&bf["factor"]));
            }
            assert_eq!(hx(&c.group_pn), s(&ps["group_pn"]));
            assert_eq!(
                if math::has_even_y(&c.group_pn) {
                    "even"
                } else {
                    "odd"
                },
                s(&ps["group_pn_parity"])
            );
            assert_eq!(hex::encode(c.challenge_digest), s(&ps["challenge"]));
            assert_eq!(scalar_hex(&c.challenge), s(&ps["challenge_mod_n"]));
            for (m, l) in ps["lagrange"].as_object().expect("lagrange") {
                let idx: u32 = m.parse().expect("idx");
                assert_eq!(scalar_hex(&lagrange(idx, &sess.members).expect("l")), s(l));
            }
            for p in ps["psigs"].as_array().expect("psigs") {
                let idx = p["idx"].as_u64().expect("idx") as u32;
                let pk = pkgs.iter().find(|x| x.idx == idx).expect("pkg");
                assert_eq!(pk.psigs[k].1, s(&p["psig"]));
            }
            assert_eq!(sigs[k].signature, s(&ps["signature"]));
            assert_eq!(sigs[k].signing_key, s(&ps["signature_pubkey"]));
            assert_eq!(sigs[k].sighash, s(&ps["sighash"]));
            let sig: [u8; 64] = hex::decode(&sigs[k].signature)
                .expect("hex")
                .try_into()
                .expect("64");
            assert_eq!(
                math::verify_bip340(&math::xonly(&c.key.key), &vec[0], &sig),
                ps["bip340_valid"].as_bool().expect("bool")
            );
            assert_eq!(
                sigs[k].signature[..64] == hex::encode(math::xonly(&c.group_pn)),
                ps["R_x_equals_sig_r"].as_bool().expect("bool")
            );
            if s(&ps["sighash"]) == id {
                assert_eq!(sigs[k].signature, s(&ev["signed"]["sig"]));
                event_sig_checked = true;
            }
        }
    }
    assert!(event_sig_checked);
    assert_eq!(n_sighash, 9);
    assert_eq!(ev["nostr_tools_verifyEvent"], Value::Bool(true));
}

#[test]
fn e2e_ecdh() {
    let E2e { v, group, shares } = e2e();
    let e = &v["ecdh"];
    let members: Vec<u32> = serde_json::from_value(e["members"].clone()).expect("members");
    let mut pkgs = Vec::new();
    for want in e["pkgs"].as_array().expect("pkgs") {
        let idx = want["idx"].as_u64().expect("idx") as u32;
        let p =
            create_ecdh_pkg(&shares[(idx - 1) as usize], &members, s(&e["ecdh_pk"])).expect("pkg");
        assert_eq!(serde_json::to_value(&p).expect("json"), *want);
        pkgs.push(p);
    }
    assert_eq!(pkgs[0].to_json(), s(&e["wire"]["ecdh_req_data"]));
    assert_eq!(pkgs[1].to_json(), s(&e["wire"]["ecdh_res_data"]));
    assert_eq!(
        EcdhPackage::from_json(s(&e["wire"]["ecdh_res_data"])).expect("parse"),
        pkgs[1]
    );
    let secret = combine_ecdh(&pkgs, Some(&group)).expect("combine");
    assert_eq!(hex::encode(secret), s(&e["secret"]));
    assert_eq!(hex::encode(&secret[1..]), s(&e["shared_x"]));
    // Counterparty side: peer_seckey · group_pk.
    let peer = sec(&e["peer_seckey"]);
    assert_eq!(
        hex::encode(math::xonly(
            &math::mul_gen(&scalar_reduce(peer.expose())).expect("pk")
        )),
        s(&e["ecdh_pk"])
    );
    let peer_side = math::mul(&group.group_pk, &scalar_reduce(peer.expose())).expect("mul");
    assert_eq!(hx(&peer_side), s(&e["peer_side_shared_point"]));
    assert_eq!(
        math::xonly(&peer_side) == secret[1..],
        e["x_matches_peer_side"].as_bool().expect("bool")
    );
    // NIP-44 v2 conversation key = HMAC-SHA256(key = "nip44-v2", shared_x).
    use hmac::Mac;
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(b"nip44-v2").expect("hmac");
    mac.update(&secret[1..]);
    assert_eq!(
        hex::encode(mac.finalize().into_bytes()),
        s(&e["nip44_conversation_key"])
    );
    // A wrong keyshare gives a wrong secret; a package set missing a member is refused.
    assert!(combine_ecdh(&pkgs[..1], Some(&group)).is_err());
}

fn verify_event(ev: &Value) {
    let id = event_id(
        s(&ev["pubkey"]),
        ev["created_at"].as_u64().expect("ts"),
        ev["kind"].as_u64().expect("kind"),
        &ev["tags"],
        s(&ev["content"]),
    );
    assert_eq!(id, s(&ev["id"]));
    let sig: [u8; 64] = hex::decode(s(&ev["sig"]))
        .expect("hex")
        .try_into()
        .expect("64");
    assert!(math::verify_bip340(
        &b32(&ev["pubkey"]),
        &b32(&ev["id"]),
        &sig
    ));
}

#[test]
fn e2e_transport() {
    let E2e { v, shares, .. } = e2e();
    let t = &v["transport"];
    let sender = sec(&t["sender_seckey"]);
    let recipient = sec(&t["recipient_seckey"]);
    assert_eq!(sender.expose(), shares[0].seckey.expose());
    assert_eq!(recipient.expose(), shares[1].seckey.expose());
    assert_eq!(
        hex::encode(shares[0].transport_pubkey().expect("pk")),
        s(&t["sender_pubkey"])
    );
    assert_eq!(
        hex::encode(shares[1].transport_pubkey().expect("pk")),
        s(&t["recipient_pubkey"])
    );
    let key = transport_key(&sender, &b32(&t["recipient_pubkey"])).expect("key");
    let key2 = transport_key(&recipient, &b32(&t["sender_pubkey"])).expect("key");
    assert_eq!(key.expose_hex().as_str(), s(&t["shared_key"]));
    assert_eq!(key, key2);
    let iv: [u8; 24] = hex::decode(s(&t["iv"]))
        .expect("hex")
        .try_into()
        .expect("24");
    let content = encrypt_content_with_iv(&key, s(&t["payload_json"]), &iv).expect("enc");
    assert_eq!(content, s(&t["content"]));
    let pt = decrypt_content(&key2, &content).expect("dec");
    assert_eq!(pt, s(&t["payload_json"]));
    let env = decode_envelope(&pt).expect("envelope");
    assert_eq!(
        serde_json::json!([env.tag, env.id, env.data]),
        t["decrypts_to"]
    );
    assert_eq!(encode_envelope(&env), s(&t["payload_json"]));
    let resp = decode_envelope(s(&t["example_response_payload_json"])).expect("resp");
    assert_eq!(resp.id, env.id);
    assert_eq!(
        encode_envelope(&resp),
        s(&t["example_response_payload_json"])
    );
    // Event: id, deterministic BIP-340 signature with the fixed aux.
    let ev = &t["event"];
    assert_eq!(s(&ev["content"]), content);
    verify_event(ev);
    let kp = secp256k1::Keypair::from_secret_bytes(*sender.expose()).expect("kp");
    let sig = secp256k1::schnorr::sign_with_aux_rand(&b32(&ev["id"]), &kp, &b32(&t["bip340_aux"]));
    assert_eq!(hex::encode(sig.to_byte_array()), s(&ev["sig"]));
    // Tampering is detected.
    let mut bad = content.clone().into_bytes();
    bad[3] = if bad[3] == b'A' { b'B' } else { b'A' };
    assert_eq!(
        decrypt_content(&key, std::str::from_utf8(&bad).expect("utf8")).unwrap_err(),
        Error::Decrypt
    );
}

// ------------------------------------------------------------------ live transcript

#[test]
fn live_transcript_recomputed() {
    let E2e { group, shares, .. } = e2e();
    let v = load("live-transcript-npm.json");
    for np in v["node_pubkeys"].as_array().expect("pubkeys") {
        let idx = np["idx"].as_u64().expect("idx") as u32;
        assert_eq!(
            hex::encode(group.commit(idx).expect("c").xonly()),
            s(&np["pubkey"])
        );
    }
    let mut sign_req = None;
    let mut sign_res = None;
    let mut ecdh_req = None;
    let mut ecdh_res = None;
    let mut events = 0;
    for f in v["transcript"].as_array().expect("transcript") {
        let frame = f["frame"].as_array().expect("frame");
        if s(&frame[0]) != "EVENT" {
            continue;
        }
        events += 1;
        let ev = &frame[1];
        verify_event(ev);
        let author = b32(&ev["pubkey"]);
        let p = b32(&ev["tags"][0][1]);
        let sender = group.commit_by_xonly(&author).expect("author in group");
        let recipient = group.commit_by_xonly(&p).expect("recipient in group");
        let key =
            transport_key(&shares[(recipient.idx - 1) as usize].seckey, &author).expect("key");
        let key_s = transport_key(&shares[(sender.idx - 1) as usize].seckey, &p).expect("key");
        assert_eq!(key, key_s);
        let env = decode_envelope(&decrypt_content(&key, s(&ev["content"])).expect("decrypt"))
            .expect("envelope");
        let want = &f["decrypted_envelope"];
        assert_eq!(serde_json::json!([env.tag, env.id, env.data]), *want);
        match env.tag.as_str() {
            "/sign/req" => sign_req = Some(env.data),
            "/sign/res" => sign_res = Some(env.data),
            "/ecdh/req" => ecdh_req = Some(env.data),
            "/ecdh/res" => ecdh_res = Some(env.data),
            _ => {}
        }
    }
    assert!(events >= 7);
    let sess = SessionPackage::from_json(&sign_req.expect("sign req")).expect("session");
    assert_eq!(hex::encode(sess.recompute_sid().expect("sid")), sess.sid);
    assert_eq!(sess.gid, hex::encode(group.gid()));
    let ctx = SessionContext::new(&group, &sess).expect("ctx");
    let res: frostbox::frostr::legacy::PsigPackage =
        serde_json::from_str(&sign_res.expect("sign res")).expect("psig pkg");
    let mine = ctx
        .sign(&group, &shares[(res.idx - 1) as usize])
        .expect("sign");
    assert_eq!(mine, res, "node 2's partial signature recomputed");
    let own = ctx.sign(&group, &shares[0]).expect("sign");
    let sigs = ctx
        .aggregate(&group, &sess, &[own, res])
        .expect("aggregate");
    let result = &v["results"]["sign(event id)"]["data"][0];
    assert_eq!(sigs[0].sighash, s(&result[0]));
    assert_eq!(sigs[0].signing_key, s(&result[1]));
    assert_eq!(sigs[0].signature, s(&result[2]));
    let req = EcdhPackage::from_json(&ecdh_req.expect("ecdh req")).expect("req");
    let res = EcdhPackage::from_json(&ecdh_res.expect("ecdh res")).expect("res");
    let mine =
        create_ecdh_pkg(&shares[(res.idx - 1) as usize], &req.members, &req.ecdh_pk).expect("pkg");
    assert_eq!(mine, res);
    let secret = combine_ecdh(&[req, res], Some(&group)).expect("combine");
    assert_eq!(
        hex::encode(secret),
        s(&v["results"]["ecdh(peer, node3)"]["data"])
    );
}

// ------------------------------------------------------------------ decoder errors

#[test]
fn decoders_return_typed_errors() {
    use frostbox::frostr::legacy::credential::{decode_group, decode_share};
    let E2e { v, group, shares } = e2e();
    let bfgroup = s(&v["keygen"]["bfgroup"]);
    let bfshare = s(&v["keygen"]["bfshares"][0]);
    // wrong HRP (a valid bech32m string of a share given as a group and vice versa)
    assert!(matches!(decode_group(bfshare), Err(Error::WrongHrp { .. })));
    assert!(matches!(decode_share(bfgroup), Err(Error::WrongHrp { .. })));
    // bad checksum
    let mut bad = bfshare.to_string();
    let last = bad.pop().expect("char");
    bad.push(if last == 'q' { 'p' } else { 'q' });
    assert!(matches!(decode_share(&bad), Err(Error::Bech32(_))));
    // wrong lengths
    let short = bech32m::encode("bfshare", &[0u8; 99]);
    assert!(matches!(
        decode_share(&short),
        Err(Error::WrongLength { got: 99, .. })
    ));
    let gbytes = group.to_bytes();
    let trunc = bech32m::encode("bfgroup", &gbytes[..gbytes.len() - 1]);
    assert!(matches!(
        decode_group(&trunc),
        Err(Error::WrongLength { .. })
    ));
    // point not on curve: x = p − 1 has no y on secp256k1? use an x ≥ p instead.
    let mut g = gbytes.clone();
    g[1..33].copy_from_slice(&[0xff; 32]);
    assert!(matches!(
        decode_group(&bech32m::encode("bfgroup", &g)),
        Err(Error::InvalidPoint(_))
    ));
    // zero scalar, scalar ≥ n
    let mut sb = shares[0].to_bytes().to_vec();
    sb[4..36].copy_from_slice(&[0u8; 32]);
    assert!(matches!(
        decode_share(&bech32m::encode("bfshare", &sb)),
        Err(Error::InvalidScalar(_))
    ));
    sb[4..36].copy_from_slice(&[0xff; 32]);
    assert!(matches!(
        decode_share(&bech32m::encode("bfshare", &sb)),
        Err(Error::InvalidScalar(_))
    ));
    // index 0 (share and group), duplicate index, threshold > members, threshold 0
    let mut sb = shares[0].to_bytes().to_vec();
    sb[..4].copy_from_slice(&[0; 4]);
    assert_eq!(
        decode_share(&bech32m::encode("bfshare", &sb)).unwrap_err(),
        Error::ZeroIndex
    );
    let mut g = gbytes.clone();
    g[37..41].copy_from_slice(&[0; 4]);
    assert_eq!(
        decode_group(&bech32m::encode("bfgroup", &g)).unwrap_err(),
        Error::ZeroIndex
    );
    let mut g = gbytes.clone();
    g[37 + 103..37 + 107].copy_from_slice(&1u32.to_be_bytes());
    assert_eq!(
        decode_group(&bech32m::encode("bfgroup", &g)).unwrap_err(),
        Error::DuplicateIndex(1)
    );
    for t in [0u32, 4] {
        let mut g = gbytes.clone();
        g[33..37].copy_from_slice(&t.to_be_bytes());
        assert_eq!(
            decode_group(&bech32m::encode("bfgroup", &g)).unwrap_err(),
            Error::BadThreshold {
                threshold: t,
                members: 3
            }
        );
    }
    // a share of another group
    let (other, other_shares) = frostbox::frostr::legacy::keygen(2, 3, None).expect("keygen");
    assert_eq!(
        group.check_share(&other_shares[0]).unwrap_err(),
        Error::ShareNotInGroup(1)
    );
    assert_eq!(
        recover_secret(&other_shares[..2], &group).unwrap_err(),
        Error::ShareNotInGroup(1)
    );
    assert!(recover_secret(&shares[..1], &group).is_err());
    assert!(recover_secret(&other_shares[..2], &other).is_ok());
    // Errors never carry secrets.
    let msg = format!("{:?}", decode_share(&bad));
    assert!(!msg.contains(&shares[0].seckey.expose_hex().as_str()[..16]));
}

#[test]
fn long_bfgroup_over_1023_chars() {
    for n in [6u32, 10, 20] {
        let (g, shares) = frostbox::frostr::legacy::keygen(n / 2, n, None).expect("keygen");
        let enc = g.encode();
        assert_eq!(enc.len() > 1023, n >= 6, "{n}: {}", enc.len());
        assert_eq!(GroupPackage::decode(&enc).expect("decode"), g);
        assert_eq!(
            GroupPackage::decode(&enc.to_ascii_uppercase()).expect("upper"),
            g
        );
        for sh in &shares {
            g.check_share(&SharePackage::decode(&sh.encode()).expect("share"))
                .expect("member");
        }
    }
}

// ------------------------------------------------------------------ property tests

mod props {
    use super::*;
    use frostbox::frostr::legacy::dealer::interpolate;
    use proptest::prelude::*;
    use proptest::sample::subsequence;

    fn fresh(t: u32, n: u32) -> (Secret32, GroupPackage, Vec<SharePackage>) {
        let nsec = Secret32::new(math::scalar_bytes(&math::random_scalar()));
        let (g, sh) = frostbox::frostr::legacy::keygen(t, n, Some(&nsec)).expect("keygen");
        (nsec, g, sh)
    }

    fn hashes_for(seed: &[u8], count: usize, tweaked: bool) -> Vec<Vec<String>> {
        (0..count)
            .map(|k| {
                let h = hex::encode(Sha256::digest([seed, &[k as u8]].concat()));
                if tweaked && k % 2 == 1 {
                    vec![
                        h,
                        hex::encode(Sha256::digest([seed, b"tweak", &[k as u8]].concat())),
                    ]
                } else {
                    vec![h]
                }
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

        #[test]
        fn split_recover(n in 1u32..=20, tf in 0.0f64..1.0, pick in any::<u64>()) {
            let t = ((f64::from(n) * tf).ceil() as u32).clamp(1, n.min(15));
            let (nsec, g, shares) = fresh(t, n);
            let mut order: Vec<usize> = (0..n as usize).collect();
            // deterministic shuffle from `pick`
            let mut x = pick | 1;
            for i in (1..order.len()).rev() {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                order.swap(i, (x % (i as u64 + 1)) as usize);
            }
            let k = t as usize + (pick as usize % (n as usize - t as usize + 1));
            let chosen: Vec<SharePackage> = order[..k].iter().map(|&i| shares[i].duplicate()).collect();
            let rec = recover_secret(&chosen, &g).expect("recover");
            prop_assert_eq!(rec.expose(), nsec.expose());
            if t > 1 {
                let fewer: Vec<SharePackage> = order[..t as usize - 1].iter().map(|&i| shares[i].duplicate()).collect();
                let is_not_enough = matches!(recover_secret(&fewer, &g), Err(Error::NotEnoughShares { .. }));
                prop_assert!(is_not_enough);
                let wrong = interpolate(&fewer).expect("interp");
                prop_assert_ne!(wrong.expose(), nsec.expose());
            }
        }

        #[test]
        fn sign_aggregate_verify(n in 2u32..=7, tf in 0.0f64..1.0, extra in 0usize..3,
                                 seed in any::<[u8; 8]>(), nmsg in 1usize..4, tweaked in any::<bool>()) {
            let t = ((f64::from(n) * tf).ceil() as u32).clamp(1, n);
            let (_, g, shares) = fresh(t, n);
            let size = (t as usize + extra).min(n as usize);
            let members: Vec<u32> = (1..=n).rev().take(size).collect();
            let hashes = hashes_for(&seed, nmsg, tweaked);
            let sess = SessionPackage::create(&g, members.clone(), hashes.clone(), None, "message", 1_750_000_000)
                .expect("session");
            let ctx = SessionContext::new(&g, &sess).expect("ctx");
            let pkgs: Vec<_> = members.iter().map(|m| ctx.sign(&g, &shares[(*m - 1) as usize]).expect("sign")).collect();
            let sigs = ctx.aggregate(&g, &sess, &pkgs).expect("aggregate");
            for (e, h) in sigs.iter().zip(&hashes) {
                let sig: [u8; 64] = hex::decode(&e.signature).expect("hex").try_into().expect("64");
                let key: [u8; 33] = hex::decode(&e.signing_key).expect("hex").try_into().expect("33");
                let mut x = [0u8; 32];
                x.copy_from_slice(&key[1..]);
                prop_assert!(math::verify_bip340(&x, &b32(&Value::String(h[0].clone())), &sig));
                if h.len() == 1 {
                    prop_assert_eq!(x, g.npub());
                }
            }
        }

        #[test]
        fn tampered_psig_names_the_signer(n in 2u32..=6, seed in any::<[u8; 8]>(), who in any::<prop::sample::Index>(),
                                          flip in 0usize..32, sub in subsequence((0u8..3).collect::<Vec<_>>(), 0..=2)) {
            let (_, g, shares) = fresh(2.max(n - 1), n);
            let members: Vec<u32> = (1..=n).collect();
            let sess = SessionPackage::create(&g, members.clone(), hashes_for(&seed, 2, true), None, "message", 1)
                .expect("session");
            let ctx = SessionContext::new(&g, &sess).expect("ctx");
            let mut pkgs: Vec<_> = members.iter().map(|m| ctx.sign(&g, &shares[(*m - 1) as usize]).expect("sign")).collect();
            let bad = who.index(pkgs.len());
            let bad_idx = pkgs[bad].idx;
            let mut z = hex::decode(&pkgs[bad].psigs[1].1).expect("hex");
            z[flip] ^= 1 + sub.len() as u8;
            pkgs[bad].psigs[1].1 = hex::encode(z);
            let err = ctx.verify(&g, &pkgs[bad]).unwrap_err();
            let names_bad = matches!(err, Error::BadPartialSig { idx, .. } if idx == bad_idx);
            prop_assert!(names_bad);
            let agg_err = ctx.aggregate(&g, &sess, &pkgs).unwrap_err();
            let names_bad = matches!(agg_err, Error::BadPartialSig { idx, .. } if idx == bad_idx);
            prop_assert!(names_bad);
            let named = agg_err.to_string().contains(&format!("member {bad_idx}"));
            prop_assert!(named);
            // the others still verify
            for (k, p) in pkgs.iter().enumerate() {
                if k != bad { prop_assert!(ctx.verify(&g, p).is_ok()); }
            }
        }

        #[test]
        fn migrate_keeps_npub(n in 2u32..=8, tf in 0.0f64..1.0, want_odd in any::<bool>()) {
            let t = ((f64::from(n) * tf).ceil() as u32).clamp(1, n);
            // draw until the group key has the wanted parity (both parities covered)
            let (nsec, g, shares) = loop {
                let x = fresh(t, n);
                if math::has_even_y(&x.1.group_pk) != want_odd { break x; }
            };
            let m = migrate::migrate(&shares[..t as usize], &g, t, n).expect("migrate");
            prop_assert_eq!(m.recovered.group_xonly, g.npub());
            prop_assert_eq!(m.recovered.negated, want_odd);
            let p = math::mul_gen(&scalar_strict(m.recovered.secret.expose(), "s").expect("s")).expect("p");
            prop_assert!(math::has_even_y(&p));
            prop_assert_eq!(math::xonly(&p), g.npub());
            let orig = scalar_reduce(nsec.expose());
            let want = if want_odd { -orig } else { orig };
            prop_assert_eq!(m.recovered.secret.expose(), &math::scalar_bytes(&want));
            // The current-generation keyset has the same x-only group key (npub).
            if t >= 2 {
                let ks = migrate::to_next(&m).expect("next keyset");
                prop_assert_eq!(ks.group.group_pk(), &g.npub());
                let back = frostbox::frost::recover(&ks.shares[..t as usize]).expect("recover next");
                prop_assert_eq!(back.expose(), m.recovered.secret.expose());
            }
        }

        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400), hrp_share in any::<bool>(),
                                garbage in "\\PC{0,200}") {
            let hrp = if hrp_share { "bfshare" } else { "bfgroup" };
            let enc = bech32m::encode(hrp, &bytes);
            let _ = SharePackage::decode(&enc);
            let _ = GroupPackage::decode(&enc);
            let _ = SharePackage::decode(&garbage);
            let _ = GroupPackage::decode(&garbage);
            let _ = decode_envelope(&garbage);
            let _ = SessionPackage::from_json(&garbage);
            let key = Secret32::new([7u8; 32]);
            let _ = decrypt_content(&key, &garbage);
        }
    }
}
