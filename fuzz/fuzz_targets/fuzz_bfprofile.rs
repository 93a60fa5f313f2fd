#![no_main]
//! bfprofile: outer profile id, envelope, and the JSON plaintext with its checks.
use frostbox::frostr::next::credential::{self, BfProfile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = BfProfile::parse_plaintext(data);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = BfProfile::decode(s, "fuzz");
    }
    if let Ok(s) = credential::bech32m_encode("bfprofile", data) {
        let _ = BfProfile::decode(&s, "fuzz");
        let _ = credential::peek(&s);
    }
});
