//! NIP-44 v2: every vector of the official `nip44.vectors.json` (valid and invalid).

use frostbox::nostr::{keys, nip44};
use frostbox::vault::secret::Secret32;
use serde_json::Value;
use sha2::{Digest, Sha256};

fn vectors() -> Value {
    crate::api_support::shared::vector_json("nip44.vectors.json")
}

fn h32(v: &Value) -> [u8; 32] {
    let mut out = [0u8; 32];
    hex::decode_to_slice(v.as_str().expect("hex string"), &mut out).expect("hex");
    out
}

fn sk(v: &Value) -> Secret32 {
    Secret32::new(h32(v))
}

fn list<'a>(v: &'a Value, path: &[&str]) -> &'a Vec<Value> {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_array()
        .unwrap_or_else(|| panic!("{path:?} is not an array"))
}

#[test]
fn valid_get_conversation_key() {
    let v = vectors();
    let cases = list(&v, &["v2", "valid", "get_conversation_key"]);
    assert!(cases.len() >= 30);
    for c in cases {
        let conv =
            nip44::conversation_key(&sk(&c["sec1"]), &h32(&c["pub2"])).expect("conversation key");
        assert_eq!(
            hex::encode(conv.expose()),
            c["conversation_key"].as_str().expect("ck"),
            "{c}"
        );
    }
}

#[test]
fn valid_get_message_keys() {
    let v = vectors();
    let conv = sk(&v["v2"]["valid"]["get_message_keys"]["conversation_key"]);
    let cases = list(&v, &["v2", "valid", "get_message_keys", "keys"]);
    assert!(!cases.is_empty());
    for c in cases {
        let k = nip44::MessageKeys::derive(&conv, &h32(&c["nonce"])).expect("keys");
        assert_eq!(
            hex::encode(k.chacha_key()),
            c["chacha_key"].as_str().expect("k")
        );
        assert_eq!(
            hex::encode(k.chacha_nonce()),
            c["chacha_nonce"].as_str().expect("n")
        );
        assert_eq!(
            hex::encode(k.hmac_key()),
            c["hmac_key"].as_str().expect("h")
        );
    }
}

#[test]
fn valid_calc_padded_len() {
    let v = vectors();
    let cases = list(&v, &["v2", "valid", "calc_padded_len"]);
    assert!(!cases.is_empty());
    for c in cases {
        let len = c[0].as_u64().expect("len") as usize;
        let want = c[1].as_u64().expect("padded") as usize;
        assert_eq!(nip44::calc_padded_len(len), want, "len {len}");
    }
}

#[test]
fn valid_encrypt_decrypt() {
    let v = vectors();
    let cases = list(&v, &["v2", "valid", "encrypt_decrypt"]);
    assert!(!cases.is_empty());
    for c in cases {
        let sec1 = sk(&c["sec1"]);
        let sec2 = sk(&c["sec2"]);
        let pub2 = keys::xonly_pubkey(&sec2).expect("pub2");
        let pub1 = keys::xonly_pubkey(&sec1).expect("pub1");
        let conv = nip44::conversation_key(&sec1, &pub2).expect("ck");
        assert_eq!(
            hex::encode(conv.expose()),
            c["conversation_key"].as_str().expect("ck")
        );
        let conv_rev = nip44::conversation_key(&sec2, &pub1).expect("ck rev");
        assert_eq!(conv.expose(), conv_rev.expose());
        let pt = c["plaintext"].as_str().expect("pt");
        let payload = c["payload"].as_str().expect("payload");
        let enc = nip44::encrypt_with_nonce(&conv, pt, &h32(&c["nonce"]), nip44::B64::Padded)
            .expect("enc");
        assert_eq!(enc, payload);
        assert_eq!(nip44::decrypt(&conv, payload).expect("dec"), pt);
        // The FROSTR-NEXT unpadded form decodes to the same plaintext.
        let unpadded =
            nip44::encrypt_with_nonce(&conv, pt, &h32(&c["nonce"]), nip44::B64::Unpadded)
                .expect("enc");
        assert_eq!(unpadded, payload.trim_end_matches('='));
        assert_eq!(nip44::decrypt(&conv_rev, &unpadded).expect("dec"), pt);
    }
}

#[test]
fn valid_encrypt_decrypt_long_msg() {
    let v = vectors();
    let cases = list(&v, &["v2", "valid", "encrypt_decrypt_long_msg"]);
    assert!(!cases.is_empty());
    for c in cases {
        let conv = sk(&c["conversation_key"]);
        let pt = c["pattern"]
            .as_str()
            .expect("pattern")
            .repeat(c["repeat"].as_u64().expect("repeat") as usize);
        assert_eq!(
            hex::encode(Sha256::digest(pt.as_bytes())),
            c["plaintext_sha256"].as_str().expect("sha")
        );
        let payload = nip44::encrypt_with_nonce(&conv, &pt, &h32(&c["nonce"]), nip44::B64::Padded)
            .expect("enc");
        assert_eq!(
            hex::encode(Sha256::digest(payload.as_bytes())),
            c["payload_sha256"].as_str().expect("sha")
        );
        assert_eq!(nip44::decrypt(&conv, &payload).expect("dec"), pt);
    }
}

#[test]
fn invalid_encrypt_msg_lengths() {
    let v = vectors();
    let cases = list(&v, &["v2", "invalid", "encrypt_msg_lengths"]);
    assert!(!cases.is_empty());
    let conv = Secret32::new([1u8; 32]);
    for c in cases {
        let len = c.as_u64().expect("len") as usize;
        let pt = vec![b'a'; len];
        assert!(
            nip44::encrypt_raw(&conv, &pt, &[2u8; 32]).is_err(),
            "len {len} must be rejected"
        );
    }
}

#[test]
fn invalid_get_conversation_key() {
    let v = vectors();
    let cases = list(&v, &["v2", "invalid", "get_conversation_key"]);
    assert!(!cases.is_empty());
    for c in cases {
        let r = nip44::conversation_key(&sk(&c["sec1"]), &h32(&c["pub2"]));
        assert!(r.is_err(), "{} must be rejected", c["note"]);
    }
}

#[test]
fn invalid_decrypt() {
    let v = vectors();
    let cases = list(&v, &["v2", "invalid", "decrypt"]);
    assert!(!cases.is_empty());
    for c in cases {
        let conv = sk(&c["conversation_key"]);
        let r = nip44::decrypt(&conv, c["payload"].as_str().expect("payload"));
        assert!(r.is_err(), "{} must be rejected, got {r:?}", c["note"]);
    }
}
