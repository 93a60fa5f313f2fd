//! Legacy kind-20004 content: `ct?iv=iv` decryption, the `[tag,id,data]` envelope and the
//! JSON payloads carried in it (session, partial-signature and ECDH packages).
#![no_main]
use frostbox::frostr::legacy::transport::{decode_envelope, decrypt_content, encode_envelope};
use frostbox::frostr::legacy::{EcdhPackage, PsigPackage, SessionPackage};
use frostbox::vault::Secret32;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let key = Secret32::new([0x42; 32]);
    let _ = decrypt_content(&key, s);
    if let Ok(env) = decode_envelope(s) {
        let again = decode_envelope(&encode_envelope(&env));
        assert_eq!(again.ok(), Some(env));
    }
    let _ = SessionPackage::from_json(s);
    let _ = PsigPackage::from_json(s);
    let _ = EcdhPackage::from_json(s);
});
