#![no_main]
//! NIP-44 v2 decrypt on arbitrary content (string and raw forms) never panics; a fixed key's
//! encryption of the fuzz input (when it is a valid plaintext) decrypts back.
use frostbox::nostr::nip44;
use frostbox::vault::secret::Secret32;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let conv = Secret32::new([7u8; 32]);
    let _ = nip44::decrypt_raw(&conv, data);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = nip44::decrypt(&conv, s);
        if !s.is_empty() && s.len() <= 65535 {
            let ct = nip44::encrypt_with_nonce(&conv, s, &[3u8; 32], nip44::B64::Unpadded)
                .expect("valid plaintext encrypts");
            assert_eq!(nip44::decrypt(&conv, &ct).expect("roundtrip"), s);
        }
    }
});
