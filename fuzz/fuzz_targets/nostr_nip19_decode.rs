#![no_main]
//! NIP-19 decoding of arbitrary strings never panics; decoded npub/note/nprofile re-encode to
//! entities that decode to the same value.
use frostbox::nostr::nip19::{self, Nip19};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = nip19::decode_pubkey(s);
    let _ = nip19::decode_secret(s);
    match nip19::decode(s) {
        Ok(Nip19::Pubkey(p)) => assert_eq!(
            nip19::decode(&nip19::encode_npub(&p)).ok(),
            Some(Nip19::Pubkey(p))
        ),
        Ok(Nip19::Note(id)) => assert_eq!(
            nip19::decode(&nip19::encode_note(&id)).ok(),
            Some(Nip19::Note(id))
        ),
        Ok(Nip19::Profile { pubkey, relays }) => {
            if let Ok(enc) = nip19::encode_nprofile(&pubkey, &relays) {
                assert_eq!(
                    nip19::decode(&enc).ok(),
                    Some(Nip19::Profile { pubkey, relays })
                );
            }
        }
        _ => {}
    }
});
