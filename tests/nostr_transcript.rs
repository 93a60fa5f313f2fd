//! The event layer against the bifrost-rs transcript: re-signing every event with zero aux
//! reproduces `id` and `sig`; NIP-44 (FROSTR-NEXT §3, unpadded base64) decrypts every content to
//! its recorded plaintext and re-encrypts it byte for byte; JS 2.x base64url contents are rejected.

use frostbox::nostr::{Event, keys, nip44};
use frostbox::vault::secret::Secret32;
use serde_json::Value;

use crate::api_support::shared::vector_json as load;

fn share_secrets(v: &Value) -> Vec<Secret32> {
    v["shares"]
        .as_array()
        .expect("shares")
        .iter()
        .map(|s| Secret32::from_hex(s["seckey"].as_str().expect("seckey")).expect("hex"))
        .collect()
}

fn secret_for(secrets: &[Secret32], xonly: &[u8; 32]) -> Secret32 {
    secrets
        .iter()
        .find(|s| keys::xonly_pubkey(s).expect("pk") == *xonly)
        .map(Secret32::duplicate)
        .expect("share for recipient")
}

#[test]
fn transcript_events_resign_and_decrypt() {
    let v = load("bifrost-rs-transcript.json");
    let secrets = share_secrets(&v);
    let events = v["transcript"]["events"].as_array().expect("events");
    assert_eq!(events.len(), 10);
    let (mut padded_tail, mut aligned) = (0, 0);
    for rec in events {
        let raw = serde_json::to_string(&rec["event"]).expect("event json");
        let ev = Event::from_json(&raw).expect("parse event");
        ev.verify().expect("id + sig verify");
        assert_eq!(ev.to_json().len(), raw.len());
        // re-sign with zero aux
        let sk = secret_for(&secrets, &ev.pubkey);
        let again = Event::sign(
            &sk,
            ev.created_at,
            ev.kind,
            ev.tags.clone(),
            ev.content.clone(),
            [0u8; 32],
        )
        .expect("sign");
        assert_eq!(again.id, ev.id, "{}", rec["step"]);
        assert_eq!(again.sig, ev.sig, "{}", rec["step"]);
        assert_eq!(again, ev);
        // decrypt as recipient (the single p tag)
        let p = ev.tag_value("p").expect("p tag");
        let mut recipient = [0u8; 32];
        hex::decode_to_slice(p, &mut recipient).expect("p hex");
        let rsk = secret_for(&secrets, &recipient);
        let conv = nip44::conversation_key(&rsk, &ev.pubkey).expect("conv");
        let conv_sender = nip44::conversation_key(&sk, &recipient).expect("conv sender");
        assert_eq!(conv.expose(), conv_sender.expose());
        let pt = nip44::decrypt(&conv, &ev.content).expect("decrypt");
        assert_eq!(
            pt,
            rec["plaintext"].as_str().expect("plaintext"),
            "{}",
            rec["step"]
        );
        // re-encrypt with the payload's own nonce → identical content (unpadded emit)
        let raw_payload = nip44::b64_decode_lenient(&ev.content).expect("b64");
        let nonce: [u8; 32] = raw_payload[1..33].try_into().expect("nonce");
        let re = nip44::encrypt_with_nonce(&conv, &pt, &nonce, nip44::B64::Unpadded).expect("enc");
        assert_eq!(re, ev.content, "{}", rec["step"]);
        // the padded form of the same payload also decrypts
        let padded =
            nip44::encrypt_with_nonce(&conv, &pt, &nonce, nip44::B64::Padded).expect("enc");
        assert_eq!(nip44::decrypt(&conv, &padded).expect("padded"), pt);
        if rec["content_is_multiple_of_4"].as_bool() == Some(true) {
            aligned += 1;
        } else {
            padded_tail += 1;
            assert_ne!(padded, ev.content);
        }
    }
    assert!(aligned > 0 && padded_tail > 0, "both base64 tails covered");
}

#[test]
fn js2_base64url_contents_are_rejected() {
    let v = load("bifrost-rs-js2-live.json");
    let evs = v["events"].as_array().expect("events");
    let mut checked = 0;
    for rec in evs {
        let ev = Event::from_json(&rec["event"].to_string()).expect("parse");
        ev.verify()
            .expect("every captured event has a valid id and sig");
        let content = ev.content.as_str();
        if content.contains('-') || content.contains('_') {
            // Any key: the base64 layer fails before the MAC is looked at.
            let conv = Secret32::new([1u8; 32]);
            assert_eq!(
                nip44::decrypt(&conv, content),
                Err(frostbox::nostr::Error::Base64)
            );
            checked += 1;
        }
    }
    assert!(checked > 0);
}
