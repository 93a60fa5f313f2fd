//! Interop with the real npm `@frostr/bifrost@1.0.7` (legacy 1.0.x), driven through
//! `tests/interop/legacy/interop.mjs` (lockfile-pinned; `npm ci` first).
//!
//! Run by `ci/steps/40-interop-legacy.sh` as `cargo test --test suite interop_legacy:: -- --ignored`.
//! Any rejection on the JS side makes `interop.mjs` exit non-zero, which fails the test.

use frostbox::frostr::legacy::credential::{GroupJson, GroupPackage, SharePackage};
use frostbox::frostr::legacy::dealer::{keygen, recover_secret};
use frostbox::frostr::legacy::ecdh::{EcdhPackage, combine_ecdh, create_ecdh_pkg};
use frostbox::frostr::legacy::math;
use frostbox::frostr::legacy::session::{PsigPackage, SessionContext, SessionPackage};
use serde_json::{Value, json};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn interop_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/legacy"))
}

/// Runs one request through the JS driver; panics (test failure) when JS rejects.
fn js(req: Value) -> Value {
    let dir = interop_dir();
    assert!(
        dir.join("node_modules/@frostr/bifrost").is_dir(),
        "run `npm ci` in {} first",
        dir.display()
    );
    let mut child = Command::new("node")
        .arg("interop.mjs")
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn node");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(req.to_string().as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("node output");
    assert!(
        out.status.success(),
        "JS side rejected ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON from node")
}

fn random_hash() -> String {
    hex::encode(math::scalar_bytes(&math::random_scalar()))
}

fn s(v: &Value) -> &str {
    v.as_str().expect("string")
}

/// (a) Frostbox deals a 2-of-3 legacy keyset; the npm package decodes the credentials and
/// completes a 2-of-3 signature with them that verifies against the group key.
#[test]
#[ignore = "needs node + npm ci in tests/interop/legacy (ci/steps/40-interop-legacy.sh)"]
fn frostbox_credentials_sign_in_js() {
    for _ in 0..3 {
        let (group, shares) = keygen(2, 3, None).expect("keygen");
        let bfgroup = group.encode();
        let bfshares: Vec<String> = shares.iter().map(|s| s.encode().to_string()).collect();
        // Decoding: JS sees exactly our packages and re-encodes them byte for byte.
        let d = js(json!({"mode": "decode", "group": bfgroup, "shares": bfshares}));
        assert_eq!(s(&d["reencoded_group"]), bfgroup);
        assert_eq!(d["reencoded_shares"], json!(bfshares));
        assert_eq!(
            d["group_json"],
            serde_json::to_value(group.to_json()).expect("json")
        );
        assert_eq!(s(&d["gid"]), hex::encode(group.gid()));
        let rec = recover_secret(&shares[..2], &group).expect("recover");
        assert_eq!(s(&d["recovered"]), rec.expose_hex().as_str());

        // JS signs a two-message batch with shares 1 and 3 (one vector tweaked).
        let hashes = vec![vec![random_hash()], vec![random_hash(), random_hash()]];
        let stamp = 1_750_000_000u64;
        let r = js(json!({"mode": "sign", "group": bfgroup,
            "shares": [bfshares[0], bfshares[2]], "members": [1, 3], "hashes": hashes, "stamp": stamp}));
        let sigs = r["sigs"].as_array().expect("JS combined signatures");
        assert_eq!(sigs.len(), 2);
        // The untweaked one verifies against the group npub.
        let sig: [u8; 64] = hex::decode(s(&sigs[0][2]))
            .expect("hex")
            .try_into()
            .expect("64");
        assert!(math::verify_bip340(
            &group.npub(),
            &hex::decode(&hashes[0][0]).expect("hex"),
            &sig
        ));
        // Frostbox derives the same session and the same partial signatures, byte for byte.
        let sess: SessionPackage = serde_json::from_value(r["session"].clone()).expect("session");
        let mine =
            SessionPackage::create(&group, vec![3, 1], hashes.clone(), None, "message", stamp)
                .expect("create");
        assert_eq!(mine, sess);
        let ctx = SessionContext::new(&group, &sess).expect("ctx");
        for p in r["pkgs"].as_array().expect("pkgs") {
            let pkg: PsigPackage = serde_json::from_value(p.clone()).expect("pkg");
            let share = shares.iter().find(|s| s.idx == pkg.idx).expect("share");
            assert_eq!(ctx.sign(&group, share).expect("sign"), pkg);
        }
    }
}

/// (b) The npm package deals; Frostbox decodes the credentials and signs a 2-of-3 session with
/// one partial signature from JS and one from Frostbox; both sides verify and aggregate.
#[test]
#[ignore = "needs node + npm ci in tests/interop/legacy (ci/steps/40-interop-legacy.sh)"]
fn js_credentials_sign_in_frostbox() {
    for _ in 0..3 {
        let k = js(json!({"mode": "keygen", "threshold": 2, "count": 3}));
        let group = GroupPackage::decode(s(&k["group"])).expect("decode JS bfgroup");
        let gj: GroupJson = serde_json::from_value(k["group_json"].clone()).expect("group json");
        assert_eq!(GroupPackage::from_json(&gj).expect("json"), group);
        assert_eq!(hex::encode(group.gid()), s(&k["gid"]));
        let bfshares: Vec<&str> = k["shares"]
            .as_array()
            .expect("shares")
            .iter()
            .map(s)
            .collect();
        let shares: Vec<SharePackage> = bfshares
            .iter()
            .map(|x| SharePackage::decode(x).expect("decode JS bfshare"))
            .collect();
        for sh in &shares {
            group.check_share(sh).expect("share belongs to the group");
            assert_eq!(sh.encode().as_str(), bfshares[(sh.idx - 1) as usize]);
        }

        // JS requester (share 2) builds the session and its own partial signature.
        let hashes = vec![vec![random_hash()], vec![random_hash()]];
        let r = js(
            json!({"mode": "sign", "group": k["group"], "shares": [bfshares[1]],
            "members": [2, 3], "hashes": hashes, "stamp": 1_760_000_000u64, "content": "deadbeef"}),
        );
        let sess: SessionPackage = serde_json::from_value(r["session"].clone()).expect("session");
        assert_eq!(hex::encode(sess.recompute_sid().expect("sid")), sess.sid);
        let js_pkg: PsigPackage = serde_json::from_value(r["pkgs"][0].clone()).expect("js pkg");

        // Frostbox (share 3) signs, verifies the JS partial signature, aggregates.
        let ctx = SessionContext::new(&group, &sess).expect("ctx");
        ctx.verify(&group, &js_pkg)
            .expect("JS partial signature verifies in Rust");
        let rs_pkg = ctx.sign(&group, &shares[2]).expect("sign");
        let sigs = ctx
            .aggregate(&group, &sess, &[js_pkg.clone(), rs_pkg.clone()])
            .expect("aggregate");
        for (e, h) in sigs.iter().zip(&hashes) {
            let sig: [u8; 64] = hex::decode(&e.signature)
                .expect("hex")
                .try_into()
                .expect("64");
            assert!(math::verify_bip340(
                &group.npub(),
                &hex::decode(&h[0]).expect("hex"),
                &sig
            ));
        }
        // JS accepts the Frostbox partial signature and gets the same signatures.
        let c = js(
            json!({"mode": "combine", "group": k["group"], "session": sess,
            "pkgs": [js_pkg, rs_pkg]}),
        );
        for (e, j) in sigs.iter().zip(c["sigs"].as_array().expect("sigs")) {
            assert_eq!(json!([e.sighash, e.signing_key, e.signature]), *j);
        }

        // A tampered Frostbox partial signature is rejected by JS (the driver exits non-zero).
        let mut bad = ctx.sign(&group, &shares[2]).expect("sign");
        let mut z = hex::decode(&bad.psigs[0].1).expect("hex");
        z[31] ^= 1;
        bad.psigs[0].1 = hex::encode(z);
        let out = std::process::Command::new("node")
            .arg("interop.mjs")
            .current_dir(interop_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .and_then(|mut ch| {
                let req = json!({"mode": "combine", "group": k["group"], "session": sess,
                    "pkgs": [r["pkgs"][0], bad]});
                ch.stdin
                    .take()
                    .expect("stdin")
                    .write_all(req.to_string().as_bytes())?;
                ch.wait_with_output()
            })
            .expect("node");
        assert!(
            !out.status.success(),
            "JS must reject a tampered partial signature"
        );
        assert!(String::from_utf8_lossy(&out.stderr).contains("member 3"));

        // Threshold ECDH across both: JS key share (idx 2) + Frostbox key share (idx 3).
        let peer = random_hash();
        let peer_pk = hex::encode(math::xonly(
            &math::mul_gen(&math::scalar_reduce(
                &hex::decode(&peer).expect("hex").try_into().expect("32"),
            ))
            .expect("pk"),
        ));
        let e = js(
            json!({"mode": "ecdh", "group": k["group"], "shares": [bfshares[1]],
            "members": [2, 3], "ecdh_pk": peer_pk}),
        );
        let js_e: EcdhPackage = serde_json::from_value(e["pkgs"][0].clone()).expect("ecdh pkg");
        assert_eq!(
            create_ecdh_pkg(&shares[1], &[2, 3], &peer_pk).expect("pkg"),
            js_e
        );
        let rs_e = create_ecdh_pkg(&shares[2], &[2, 3], &peer_pk).expect("pkg");
        let secret = combine_ecdh(&[js_e.clone(), rs_e.clone()], Some(&group)).expect("combine");
        let c = js(json!({"mode": "ecdh_combine", "pkgs": [js_e, rs_e]}));
        assert_eq!(s(&c["secret"]), hex::encode(secret));
        let peer_side = math::mul(
            &group.group_pk,
            &math::scalar_reduce(&hex::decode(&peer).expect("hex").try_into().expect("32")),
        )
        .expect("mul");
        assert_eq!(math::xonly(&peer_side), secret[1..]);
    }
}
