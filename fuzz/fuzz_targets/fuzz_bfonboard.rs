#![no_main]
//! bfonboard: bech32m layer, envelope parser, plaintext parser with peer_pk.
use frostbox::frostr::next::credential::{self, BfOnboard};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = BfOnboard::parse_plaintext(data);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = BfOnboard::decode(s, "fuzz");
    }
    if let Ok(s) = credential::bech32m_encode("bfonboard", data) {
        let _ = BfOnboard::decode(&s, "fuzz");
    }
});
