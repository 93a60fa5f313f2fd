//! Legacy `bfshare1…` decoder: arbitrary strings and arbitrary 100-byte-ish payloads.
#![no_main]
use frostbox::frostr::legacy::{SharePackage, bech32m};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = SharePackage::decode(s);
    }
    // Valid bech32m around arbitrary bytes reaches the binary layer.
    let enc = bech32m::encode("bfshare", data);
    if let Ok(sh) = SharePackage::decode(&enc) {
        // A decoded share re-encodes to the same string.
        assert_eq!(sh.encode().as_str(), enc);
    }
});
