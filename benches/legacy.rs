//! Legacy 1.0.x core: partial sign / verify / aggregate (2-of-3 and 7-of-10, one sighash),
//! ECDH key share, credential decode. `cargo bench --bench legacy`.

use criterion::{Criterion, criterion_group, criterion_main};
use frostbox::frostr::legacy::session::{SessionContext, SessionPackage};
use frostbox::frostr::legacy::{GroupPackage, SharePackage, create_ecdh_pkg, keygen};
use std::hint::black_box;

fn setup(t: u32, n: u32) -> (GroupPackage, Vec<SharePackage>, SessionPackage) {
    let (g, shares) = keygen(t, n, None).expect("keygen");
    let members: Vec<u32> = (1..=t).collect();
    let hashes = vec![vec![
        "3bf5a8c725d39d0303855fabaab3886bebb775e0a0223be5bb309ecedecc23a0".to_string(),
    ]];
    let sess = SessionPackage::create(&g, members, hashes, None, "message", 1_750_000_000)
        .expect("session");
    (g, shares, sess)
}

fn bench_sessions(c: &mut Criterion) {
    for (t, n) in [(2u32, 3u32), (7, 10)] {
        let (g, shares, sess) = setup(t, n);
        let ctx = SessionContext::new(&g, &sess).expect("ctx");
        let pkgs: Vec<_> = (0..t as usize)
            .map(|i| ctx.sign(&g, &shares[i]).expect("sign"))
            .collect();
        // What a responder does per request: derive the context, then sign.
        c.bench_function(
            &format!("legacy/partial_sign {t}-of-{n} (ctx + sign)"),
            |b| {
                b.iter(|| {
                    let ctx = SessionContext::new(&g, black_box(&sess)).expect("ctx");
                    ctx.sign(&g, &shares[0]).expect("sign")
                })
            },
        );
        c.bench_function(
            &format!("legacy/partial_sign {t}-of-{n} (sign only)"),
            |b| b.iter(|| ctx.sign(&g, black_box(&shares[0])).expect("sign")),
        );
        c.bench_function(&format!("legacy/partial_verify {t}-of-{n}"), |b| {
            b.iter(|| ctx.verify(&g, black_box(&pkgs[1])).expect("verify"))
        });
        c.bench_function(
            &format!("legacy/aggregate {t}-of-{n} (verify all + combine + BIP-340 check)"),
            |b| {
                b.iter(|| {
                    ctx.aggregate(&g, &sess, black_box(&pkgs))
                        .expect("aggregate")
                })
            },
        );
    }
}

fn bench_ecdh_and_decode(c: &mut Criterion) {
    let (g, shares) = keygen(2, 3, None).expect("keygen");
    let peer = "95c6b8d87909a3845f1e40f34c3ab6adb07836e000ac6161df79d0132e14f96b";
    c.bench_function("legacy/ecdh_share 2-of-3", |b| {
        b.iter(|| create_ecdh_pkg(&shares[0], &[1, 3], black_box(peer)).expect("ecdh"))
    });
    let enc = g.encode();
    c.bench_function("legacy/bfgroup decode (3 members)", |b| {
        b.iter(|| GroupPackage::decode(black_box(&enc)).expect("decode"))
    });
    let (g10, _) = keygen(7, 10, None).expect("keygen");
    let enc10 = g10.encode();
    c.bench_function("legacy/bfgroup decode (10 members, 1722 chars)", |b| {
        b.iter(|| GroupPackage::decode(black_box(&enc10)).expect("decode"))
    });
    let share = shares[0].encode();
    c.bench_function("legacy/bfshare decode", |b| {
        b.iter(|| SharePackage::decode(black_box(&share)).expect("decode"))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(2)).warm_up_time(std::time::Duration::from_millis(500));
    targets = bench_sessions, bench_ecdh_and_decode
}
criterion_main!(benches);
