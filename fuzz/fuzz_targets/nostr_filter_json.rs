#![no_main]
//! Filter JSON: parsing never panics and round-trips; matching an arbitrary filter never panics.
use frostbox::nostr::{Event, Filter};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(f) = Filter::from_json(s) {
        let again = Filter::from_json(&f.to_json()).expect("our own JSON parses");
        assert_eq!(again, f);
        let ev = Event {
            id: [1; 32],
            pubkey: [2; 32],
            created_at: 1_700_000_000,
            kind: 1,
            tags: vec![vec!["p".into(), "ab".into()], vec!["e".into()]],
            content: String::new(),
            sig: [0; 64],
        };
        let _ = f.matches(&ev);
        let _ = f.is_unsatisfiable();
    }
});
