//! The symmetric half of `/api/nip44/*` and `/api/nip04/*` (after the threshold ECDH gave the
//! shared x coordinate), and the credential work of `/api/recover*`.
//!
//! The ciphers are `crate::nostr::nip44` / `crate::nostr::nip04` (one implementation, checked
//! against the NIP-44 vectors and nostr-tools); igloo-server derived the keys wrongly (W1).
//! NIP-44 v2: conversation key = `HKDF-extract(sha256, ikm = shared_x, salt = "nip44-v2")`,
//! standard padded base64 on emit; NIP-04: the shared x is the AES-256-CBC key.

use super::ApiError;
use crate::nostr::{nip04, nip44};
use crate::vault::{Secret32, SecretString};

/// One of the four `/api/nip44|nip04/{encrypt,decrypt}` operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CryptoOp {
    Nip44Encrypt,
    Nip44Decrypt,
    Nip04Encrypt,
    Nip04Decrypt,
}

impl CryptoOp {
    /// Audit/metrics label.
    pub fn name(self) -> &'static str {
        match self {
            CryptoOp::Nip44Encrypt => "nip44_encrypt",
            CryptoOp::Nip44Decrypt => "nip44_decrypt",
            CryptoOp::Nip04Encrypt => "nip04_encrypt",
            CryptoOp::Nip04Decrypt => "nip04_decrypt",
        }
    }
}

/// Runs `op` with the ECDH shared x. Bad input (wrong key, tampered or malformed payload) is a
/// 400 with the nostr module's message (never a secret).
pub fn apply(op: CryptoOp, shared_x: &Secret32, content: &str) -> Result<String, ApiError> {
    let r = match op {
        CryptoOp::Nip44Encrypt => nip44::encrypt(
            &nip44::conversation_key_from_shared_x(shared_x),
            content,
            nip44::B64::Padded,
        ),
        CryptoOp::Nip44Decrypt => {
            nip44::decrypt(&nip44::conversation_key_from_shared_x(shared_x), content)
        }
        CryptoOp::Nip04Encrypt => nip04::encrypt_shared(shared_x, content),
        CryptoOp::Nip04Decrypt => nip04::decrypt_shared(shared_x, content),
    };
    r.map_err(|e| {
        let what = if matches!(op, CryptoOp::Nip44Encrypt | CryptoOp::Nip44Decrypt) {
            "NIP-44"
        } else {
            "NIP-04"
        };
        ApiError::bad(format!("{what}: {e}"))
    })
}

/// The keyless structure checks of a decrypt's ciphertext (encrypt ops pass): a 400 before any
/// threshold ECDH round is spent on a payload no key could open.
pub fn check_ciphertext(op: CryptoOp, content: &str) -> Result<(), ApiError> {
    let r = match op {
        CryptoOp::Nip44Decrypt => nip44::parse_payload(content).map(drop),
        CryptoOp::Nip04Decrypt => nip04::parse_payload(content).map(drop),
        CryptoOp::Nip44Encrypt | CryptoOp::Nip04Encrypt => return Ok(()),
    };
    r.map_err(|e| {
        let what = if op == CryptoOp::Nip44Decrypt {
            "NIP-44"
        } else {
            "NIP-04"
        };
        ApiError::bad(format!("content: {what}: {e}"))
    })
}

fn bad(m: &str) -> ApiError {
    ApiError::bad(m.to_string())
}

/// Result of a recovery: nsec, shares used, threshold, invalid shares `[{index, error}]`.
pub type Recovered = (SecretString, usize, usize, Vec<serde_json::Value>);

use crate::frost::keys::KeyShare;
use crate::frostr::next::credential::{BfOnboard, BfProfile, BfShare, peek};
use crate::frostr::next::group::GroupPackage;

/// A group from `groupCredential`: a group package (JSON) or a `bfprofile` (needs the password).
fn decode_group(g: &str, pw: Option<&SecretString>) -> Result<GroupPackage, String> {
    let g = g.trim();
    if g.starts_with('{') {
        return GroupPackage::from_json(g).map_err(|e| e.to_string());
    }
    if g.to_ascii_lowercase().starts_with("bfprofile1") {
        let pw = pw.ok_or("a bfprofile needs the password")?;
        return BfProfile::decode(g, pw.expose())
            .map(|p| p.group_package)
            .map_err(|e| e.to_string());
    }
    Err("expected a group package (JSON) or a bfprofile string".into())
}

/// A share secret from a `bfshare` / `bfonboard` / `bfprofile` (the latter also yields its group).
fn decode_share(c: &str, pw: &SecretString) -> Result<(Secret32, Option<GroupPackage>), String> {
    let c = c.trim();
    let l = c.to_ascii_lowercase();
    if l.starts_with("bfshare1") {
        BfShare::decode(c, pw.expose())
            .map(|s| (s.share_secret, None))
            .map_err(|e| e.to_string())
    } else if l.starts_with("bfonboard1") {
        BfOnboard::decode(c, pw.expose())
            .map(|s| (s.share_secret, None))
            .map_err(|e| e.to_string())
    } else if l.starts_with("bfprofile1") {
        BfProfile::decode(c, pw.expose())
            .map(|p| {
                (
                    p.device.share_secret.duplicate(),
                    Some(p.group_package.clone()),
                )
            })
            .map_err(|e| e.to_string())
    } else {
        Err("not a bfshare / bfonboard / bfprofile string".into())
    }
}

/// Combines shares into the nsec (blocking: credential envelopes run a KDF; call it from
/// `spawn_blocking`). Errors are 400s with a message that never contains a secret.
pub fn recover(
    group: Option<&str>,
    shares: &[SecretString],
    password: Option<&SecretString>,
) -> Result<Recovered, ApiError> {
    let mut g = match group {
        Some(g) => Some(
            decode_group(g, password)
                .map_err(|e| bad(&format!("invalid group credential: {e}")))?,
        ),
        None => None,
    };
    let pw = password.ok_or_else(|| bad("password is required to open the share credentials"))?;
    let mut invalid = Vec::new();
    let mut secrets = Vec::new();
    for (i, c) in shares.iter().enumerate() {
        match decode_share(c.expose(), pw) {
            Ok((sec, pg)) => {
                if g.is_none() {
                    g = pg;
                }
                secrets.push((i, sec));
            }
            Err(e) => invalid.push(serde_json::json!({ "index": i, "error": e })),
        }
    }
    let Some(g) = g else {
        let first = invalid
            .first()
            .and_then(|v| v["error"].as_str())
            .map(|e| format!(" (share error: {e})"))
            .unwrap_or_default();
        return Err(ApiError::bad(format!(
            "bfshare strings carry no index: give groupCredential (group package or bfprofile){first}"
        )));
    };
    let mut ks: Vec<KeyShare> = Vec::new();
    for (i, sec) in secrets {
        match g.find_share(&sec) {
            Ok(idx) if !ks.iter().any(|k| k.idx == idx) => ks.push(KeyShare::new(idx, sec)),
            Ok(_) => invalid.push(serde_json::json!({ "index": i, "error": "duplicate share" })),
            Err(_) => invalid
                .push(serde_json::json!({ "index": i, "error": "not a member of the group" })),
        }
    }
    let threshold = g.threshold as usize;
    if ks.len() < threshold.max(2) {
        return Err(ApiError::bad(format!(
            "insufficient shares: need {threshold}, got {} valid",
            ks.len()
        )));
    }
    let d = crate::frost::keys::recover_checked(&ks, &g.group_pk)
        .map_err(|e| ApiError::bad(format!("recovery failed: {e}")))?;
    let nsec = crate::nostr::nip19::encode_nsec(&d);
    Ok((nsec, ks.len(), threshold, invalid))
}

/// Checks one credential: `(is_valid, message, decoded)`. Without a password only the outer
/// encoding (bech32m, envelope) is checked.
pub fn validate(
    kind: &str,
    cred: &SecretString,
    password: Option<&SecretString>,
) -> (bool, Option<String>, serde_json::Value) {
    let c = cred.expose().trim();
    if kind == "group" {
        if c.starts_with('{') || password.is_some() {
            return match decode_group(c, password) {
                Ok(g) => (
                    true,
                    None,
                    serde_json::json!({ "threshold": g.threshold, "totalShares": g.members.len(), "idx": null }),
                ),
                Err(e) => (false, Some(e), serde_json::Value::Null),
            };
        }
    } else if let Some(pw) = password {
        return match decode_share(c, pw) {
            Ok((sec, g)) => {
                let decoded = match g {
                    Some(g) => serde_json::json!({
                        "threshold": g.threshold, "totalShares": g.members.len(),
                        "idx": g.find_share(&sec).ok(),
                    }),
                    None => serde_json::Value::Null,
                };
                (true, None, decoded)
            }
            Err(e) => (false, Some(e), serde_json::Value::Null),
        };
    }
    match peek(c) {
        Ok(info) => {
            let ok = if kind == "group" {
                info.hrp == "bfprofile"
            } else {
                ["bfshare", "bfonboard", "bfprofile"].contains(&info.hrp.as_str())
            };
            if ok {
                (
                    true,
                    Some("well-formed; give the password to check it fully".into()),
                    serde_json::Value::Null,
                )
            } else {
                (
                    false,
                    Some(format!("a {} string is not a {kind} credential", info.hrp)),
                    serde_json::Value::Null,
                )
            }
        }
        Err(e) => (false, Some(e.to_string()), serde_json::Value::Null),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nostr::keys;

    /// What the API produces with the shared x of (group, peer) is what the peer opens with
    /// its own key through the standard derivation, and the other way round.
    #[test]
    fn api_ops_agree_with_the_peer_side() {
        let group_sk = Secret32::new([0x21; 32]);
        let peer_sk = Secret32::new([0x42; 32]);
        let group_x = keys::xonly_pubkey(&group_sk).expect("pk");
        let peer_x = keys::xonly_pubkey(&peer_sk).expect("pk");
        let shared = keys::ecdh_x(&group_sk, &peer_x).expect("ecdh");
        let conv = nip44::conversation_key(&peer_sk, &group_x).expect("conv");

        let ct = apply(CryptoOp::Nip44Encrypt, &shared, "interop ✓").expect("enc");
        {
            use base64::Engine;
            let strict = base64::engine::general_purpose::STANDARD.decode(&ct);
            assert!(strict.is_ok(), "padded standard base64 (NIP-44 form)");
        }
        assert_eq!(nip44::decrypt(&conv, &ct).expect("dec"), "interop ✓");
        let back = nip44::encrypt(&conv, "back", nip44::B64::Unpadded).expect("enc");
        assert_eq!(
            apply(CryptoOp::Nip44Decrypt, &shared, &back).expect("dec"),
            "back"
        );

        let ct = apply(CryptoOp::Nip04Encrypt, &shared, "old school").expect("enc");
        assert_eq!(
            nip04::decrypt(&peer_sk, &group_x, &ct).expect("dec"),
            "old school"
        );
        let back = nip04::encrypt(&peer_sk, &group_x, "reply").expect("enc");
        assert_eq!(
            apply(CryptoOp::Nip04Decrypt, &shared, &back).expect("dec"),
            "reply"
        );
    }

    #[test]
    fn bad_payloads_are_400_with_the_reason() {
        let k = Secret32::random();
        for (op, c) in [
            (CryptoOp::Nip44Decrypt, "garbage"),
            (CryptoOp::Nip44Encrypt, ""),
            (CryptoOp::Nip04Decrypt, "nope"),
            (CryptoOp::Nip04Decrypt, "AAAA?iv=AAAA"),
        ] {
            let e = apply(op, &k, c).expect_err("rejected");
            assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST, "{op:?} {c}");
            assert!(
                e.error.starts_with("NIP-0") || e.error.starts_with("NIP-4"),
                "{}",
                e.error
            );
        }
        let c = apply(CryptoOp::Nip04Encrypt, &k, "x").expect("enc");
        assert!(
            apply(CryptoOp::Nip04Decrypt, &Secret32::random(), &c).is_err_and(|e| e.status == 400)
        );
    }
}
