//! Criterion benches for the current-generation core: partial sign, partial verify, aggregate
//! (2-of-3 and 7-of-10), ECDH share, package decode. `cargo bench --bench frost`.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use frostbox::frost::{self, Keyset, MemoryNonceLedger, ShareSigner, SignRound, SigningNonce};
use frostbox::frostr::next::credential::BfShare;
use frostbox::frostr::next::group::GroupPackage;
use frostbox::frostr::next::session::{DerivedPublicNonce, SignSessionPackage};

struct Setup {
    ks: Keyset,
    signers: Vec<u16>,
    msg: [u8; 32],
}

fn setup(k: u16, n: u16) -> Setup {
    let ks = frost::keygen(k, n).expect("keygen");
    Setup {
        ks,
        signers: (1..=k).collect(),
        msg: [7u8; 32],
    }
}

/// Fresh nonces for every signer and the round over their commitments.
fn fresh_round(s: &Setup) -> (SignRound, Vec<SigningNonce>) {
    let nonces: Vec<SigningNonce> = s
        .signers
        .iter()
        .map(|i| SigningNonce::generate(&s.ks.shares[*i as usize - 1].secret).expect("nonce"))
        .collect();
    let commits: Vec<(u16, frost::PublicNonce)> = s
        .signers
        .iter()
        .zip(&nonces)
        .map(|(i, n)| (*i, n.public()))
        .collect();
    (SignRound::new(&s.msg, &commits).expect("round"), nonces)
}

fn all_partials(s: &Setup, round: &SignRound, nonces: Vec<SigningNonce>) -> Vec<(u16, [u8; 32])> {
    let ledger = MemoryNonceLedger::new();
    s.signers
        .iter()
        .zip(nonces)
        .map(|(i, n)| {
            let signer =
                ShareSigner::new(&s.ks.shares[*i as usize - 1], &s.ks.group).expect("signer");
            (*i, signer.sign(round, n, &ledger).expect("sign"))
        })
        .collect()
}

fn bench_sign(c: &mut Criterion) {
    for (k, n) in [(2u16, 3u16), (7, 10)] {
        let s = setup(k, n);
        let signer = ShareSigner::new(&s.ks.shares[0], &s.ks.group).expect("signer");
        let ledger = MemoryNonceLedger::new();
        c.bench_function(&format!("partial_sign/{k}-of-{n}"), |b| {
            b.iter_batched(
                || {
                    let (round, mut nonces) = fresh_round(&s);
                    (round, nonces.swap_remove(0))
                },
                |(round, nonce)| black_box(signer.sign(&round, nonce, &ledger).expect("sign")),
                BatchSize::SmallInput,
            )
        });
        let (round, nonces) = fresh_round(&s);
        let parts = all_partials(&s, &round, nonces);
        c.bench_function(&format!("partial_verify/{k}-of-{n}"), |b| {
            b.iter(|| {
                frost::verify_partial(&s.ks.group, &round, parts[0].0, black_box(&parts[0].1))
                    .expect("ok")
            })
        });
        // A responder-side view: the round's binding factors, R and challenge derived here.
        let commits: Vec<(u16, frost::PublicNonce)> = round
            .members()
            .iter()
            .map(|i| (*i, *round.commitment(*i).expect("member")))
            .collect();
        c.bench_function(&format!("aggregate/{k}-of-{n}"), |b| {
            b.iter_batched(
                || SignRound::new(&s.msg, &commits).expect("round"),
                |r| black_box(frost::aggregate(&s.ks.group, &r, black_box(&parts)).expect("agg")),
                BatchSize::SmallInput,
            )
        });
        // The coordinator's case: its own partial signature already derived them on `round`.
        c.bench_function(&format!("aggregate_after_own_sign/{k}-of-{n}"), |b| {
            b.iter(|| {
                black_box(frost::aggregate(&s.ks.group, &round, black_box(&parts)).expect("agg"))
            })
        });
    }
}

/// One nonce pair with its public commitments: what a node spends per signature to refill the
/// pools its peers draw from.
fn bench_nonce(c: &mut Criterion) {
    let s = setup(2, 3);
    c.bench_function("nonce/generate", |b| {
        b.iter(|| black_box(SigningNonce::generate(&s.ks.shares[0].secret).expect("nonce")))
    });
    // How the node refills its stock (`NONCE_BATCH` = 32): divide by 32 for the cost per nonce.
    c.bench_function("nonce/generate_batch_32", |b| {
        b.iter(|| {
            black_box(SigningNonce::generate_batch(&s.ks.shares[0].secret, 32).expect("nonces"))
        })
    });
}

fn bench_ecdh(c: &mut Criterion) {
    let s = setup(2, 3);
    let target = frost::xonly(&s.ks.shares[2].secret).expect("x");
    c.bench_function("ecdh_share/2-of-3", |b| {
        b.iter(|| {
            black_box(
                frost::ecdh_share(1, &s.ks.shares[0].secret, &[1, 2], black_box(&target))
                    .expect("share"),
            )
        })
    });
    let shares: Vec<[u8; 33]> = [1u16, 2]
        .iter()
        .map(|i| {
            frost::ecdh_share(*i, &s.ks.shares[*i as usize - 1].secret, &[1, 2], &target)
                .expect("s")
        })
        .collect();
    c.bench_function("ecdh_combine/2-of-3", |b| {
        b.iter(|| black_box(frost::ecdh_combine(black_box(&shares)).expect("c")))
    });
}

fn bench_decode(c: &mut Criterion) {
    let s = setup(2, 3);
    let group = GroupPackage::from_keys("bench", &s.ks.group);
    let gjson = group.to_json();
    c.bench_function("decode/group_package_json", |b| {
        b.iter(|| black_box(GroupPackage::from_json(black_box(&gjson)).expect("group")))
    });
    let nonces: Vec<(u16, Vec<DerivedPublicNonce>)> = [1u16, 2]
        .iter()
        .map(|i| {
            let n = SigningNonce::generate(&s.ks.shares[*i as usize - 1].secret).expect("n");
            (*i, vec![DerivedPublicNonce::of(&n)])
        })
        .collect();
    let session = SignSessionPackage::build(
        &s.ks.group,
        vec![1, 2],
        vec![[9; 32]],
        None,
        "message",
        1_700_000_000,
        nonces,
    )
    .expect("session");
    let sjson = session.to_json();
    c.bench_function("decode/sign_session_json+validate", |b| {
        b.iter(|| {
            let p = SignSessionPackage::from_json(black_box(&sjson)).expect("parse");
            p.validate(&s.ks.group).expect("valid");
            black_box(p)
        })
    });
    let share = BfShare {
        share_secret: s.ks.shares[0].secret.duplicate(),
        relays: vec!["wss://relay.example".into()],
    };
    let enc = share.encode("bench-password").expect("encode");
    let mut g = c.benchmark_group("decode_slow");
    g.sample_size(10);
    g.bench_function("bfshare (PBKDF2 600k)", |b| {
        b.iter(|| black_box(BfShare::decode(black_box(&enc), "bench-password").expect("decode")))
    });
    g.finish();
}

criterion_group!(benches, bench_sign, bench_nonce, bench_ecdh, bench_decode);
criterion_main!(benches);
