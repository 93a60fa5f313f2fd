#![no_main]
//! Sign session, partial-signature and ECDH packages: parse, then run the checks a responder
//! and an initiator run against a fixed 2-of-3 group.
use std::sync::OnceLock;

use frostbox::frost::{self, GroupKeys};
use frostbox::frostr::next::ecdh::EcdhPackage;
use frostbox::frostr::next::session::{PartialSigPackage, SignSessionPackage};
use libfuzzer_sys::fuzz_target;

fn group() -> &'static GroupKeys {
    static G: OnceLock<GroupKeys> = OnceLock::new();
    G.get_or_init(|| match frost::keygen(2, 3) {
        Ok(k) => k.group,
        Err(e) => panic!("keygen: {e}"),
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(p) = SignSessionPackage::from_json(s) {
        let _ = p.validate(group());
        let _ = p.rounds();
        let _ = p.compute_sid();
    }
    if let Ok(p) = PartialSigPackage::from_json(s) {
        let _ = p.to_json();
    }
    if let Ok(p) = EcdhPackage::from_json(s) {
        let _ = p.validate(group(), 1, 2);
        let _ = frostbox::frostr::next::ecdh::combine(std::slice::from_ref(&p), &[2; 32]);
    }
});
