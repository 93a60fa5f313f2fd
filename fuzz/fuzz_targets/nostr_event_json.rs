#![no_main]
//! Event JSON: parsing never panics; whatever parses re-serialises to JSON that parses back to
//! the same event, and verify() returns (never panics).
use frostbox::nostr::Event;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(ev) = Event::from_json(s) {
        let _ = ev.verify();
        let again = Event::from_json(&ev.to_json()).expect("our own JSON parses");
        assert_eq!(again, ev);
    }
});
