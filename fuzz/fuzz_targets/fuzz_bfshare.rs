#![no_main]
//! bfshare: bech32m layer, envelope parser, and the form-urlencoded plaintext parser.
use frostbox::frostr::next::credential::{self, BfShare};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = BfShare::parse_plaintext(data);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = credential::bech32m_decode(s);
        let _ = credential::peek(s);
        let _ = BfShare::decode(s, "fuzz");
    }
    // arbitrary payload behind a valid checksum reaches the envelope JSON parser
    if let Ok(s) = credential::bech32m_encode("bfshare", data) {
        let _ = BfShare::decode(&s, "fuzz");
    }
});
