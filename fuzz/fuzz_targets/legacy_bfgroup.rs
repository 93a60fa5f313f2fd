//! Legacy `bfgroup1…` decoder (any length, including > 1023 characters).
#![no_main]
use frostbox::frostr::legacy::{GroupPackage, bech32m};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = GroupPackage::decode(s);
    }
    let enc = bech32m::encode("bfgroup", data);
    if let Ok(g) = GroupPackage::decode(&enc) {
        assert_eq!(g.encode(), enc);
        let _ = g.gid();
    }
});
