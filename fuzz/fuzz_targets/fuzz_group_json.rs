#![no_main]
//! Group and share package JSON, including validation and curve checks.
use frostbox::frostr::next::group::{GroupPackage, SharePackage};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(g) = GroupPackage::from_json(s) {
            let _ = g.group_id();
            // a valid package re-encodes and re-parses to itself
            assert_eq!(
                GroupPackage::from_json(&g.to_json()).ok().as_ref(),
                Some(&g)
            );
        }
        let _ = SharePackage::from_json(s);
    }
});
