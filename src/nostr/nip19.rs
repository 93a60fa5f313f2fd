//! NIP-19 bech32 entities: `npub`, `nsec`, `note`, `nprofile` (TLV), `nevent` (TLV).

use super::{Error, Result};
use crate::vault::secret::{Secret32, SecretString};
use bech32::primitives::decode::CheckedHrpstring;
use bech32::{Bech32, Hrp};
use zeroize::Zeroizing;

/// A decoded NIP-19 entity.
#[derive(Debug, PartialEq, Eq)]
pub enum Nip19 {
    Pubkey([u8; 32]),
    Secret(Secret32),
    Note([u8; 32]),
    Profile {
        pubkey: [u8; 32],
        relays: Vec<String>,
    },
    Event {
        id: [u8; 32],
        relays: Vec<String>,
        author: Option<[u8; 32]>,
        kind: Option<u32>,
    },
}

fn hrp(s: &str) -> Hrp {
    // Only called with the constant prefixes below, which are valid HRPs.
    Hrp::parse(s).unwrap_or_else(|_| unreachable!())
}

fn encode_raw(prefix: &str, data: &[u8]) -> Result<String> {
    bech32::encode::<Bech32>(hrp(prefix), data).map_err(|e| Error::Bech32(e.to_string()))
}

pub fn encode_npub(pubkey: &[u8; 32]) -> String {
    encode_raw("npub", pubkey).unwrap_or_default()
}

pub fn encode_note(id: &[u8; 32]) -> String {
    encode_raw("note", id).unwrap_or_default()
}

pub fn encode_nsec(secret: &Secret32) -> SecretString {
    SecretString::new(encode_raw("nsec", secret.expose()).unwrap_or_default())
}

fn push_tlv(out: &mut Vec<u8>, t: u8, v: &[u8]) -> Result<()> {
    let len = u8::try_from(v.len())
        .map_err(|_| Error::Nip19("TLV value longer than 255 bytes".into()))?;
    out.push(t);
    out.push(len);
    out.extend_from_slice(v);
    Ok(())
}

pub fn encode_nprofile(pubkey: &[u8; 32], relays: &[String]) -> Result<String> {
    let mut data = Vec::new();
    push_tlv(&mut data, 0, pubkey)?;
    for r in relays {
        push_tlv(&mut data, 1, r.as_bytes())?;
    }
    encode_raw("nprofile", &data)
}

pub fn encode_nevent(
    id: &[u8; 32],
    relays: &[String],
    author: Option<&[u8; 32]>,
    kind: Option<u32>,
) -> Result<String> {
    let mut data = Vec::new();
    push_tlv(&mut data, 0, id)?;
    for r in relays {
        push_tlv(&mut data, 1, r.as_bytes())?;
    }
    if let Some(a) = author {
        push_tlv(&mut data, 2, a)?;
    }
    if let Some(k) = kind {
        push_tlv(&mut data, 3, &k.to_be_bytes())?;
    }
    encode_raw("nevent", &data)
}

fn arr32(v: &[u8], what: &str) -> Result<[u8; 32]> {
    v.try_into()
        .map_err(|_| Error::Nip19(format!("{what} must be 32 bytes")))
}

struct Tlv {
    special: Option<[u8; 32]>,
    relays: Vec<String>,
    author: Option<[u8; 32]>,
    kind: Option<u32>,
}

fn parse_tlv(mut data: &[u8]) -> Result<Tlv> {
    let mut t = Tlv {
        special: None,
        relays: Vec::new(),
        author: None,
        kind: None,
    };
    while !data.is_empty() {
        let (&ty, rest) = data
            .split_first()
            .ok_or_else(|| Error::Nip19("truncated TLV".into()))?;
        let (&len, rest) = rest
            .split_first()
            .ok_or_else(|| Error::Nip19("truncated TLV".into()))?;
        let len = usize::from(len);
        if rest.len() < len {
            return Err(Error::Nip19("truncated TLV".into()));
        }
        let (v, rest) = rest.split_at(len);
        match ty {
            0 if t.special.is_none() => t.special = Some(arr32(v, "TLV 0")?),
            1 => t.relays.push(
                String::from_utf8(v.to_vec())
                    .map_err(|_| Error::Nip19("relay is not UTF-8".into()))?,
            ),
            2 if t.author.is_none() => t.author = Some(arr32(v, "author")?),
            3 if t.kind.is_none() => {
                let b: [u8; 4] = v
                    .try_into()
                    .map_err(|_| Error::Nip19("kind must be 4 bytes".into()))?;
                t.kind = Some(u32::from_be_bytes(b));
            }
            _ => {} // unknown or repeated types are ignored (NIP-19)
        }
        data = rest;
    }
    Ok(t)
}

/// Decodes any supported entity (lower- or upper-case bech32, Bech32 checksum).
pub fn decode(s: &str) -> Result<Nip19> {
    let s = s.trim();
    let s = s.strip_prefix("nostr:").unwrap_or(s);
    let checked = CheckedHrpstring::new::<Bech32>(s).map_err(|e| Error::Bech32(e.to_string()))?;
    let prefix = checked.hrp().to_lowercase();
    let data = Zeroizing::new(checked.byte_iter().collect::<Vec<u8>>());
    match prefix.as_str() {
        "npub" => Ok(Nip19::Pubkey(arr32(&data, "npub")?)),
        "note" => Ok(Nip19::Note(arr32(&data, "note")?)),
        "nsec" => Secret32::from_slice(&data)
            .map(Nip19::Secret)
            .ok_or_else(|| Error::Nip19("nsec must be 32 bytes".into())),
        "nprofile" => {
            let t = parse_tlv(&data)?;
            let pubkey = t
                .special
                .ok_or_else(|| Error::Nip19("nprofile without pubkey".into()))?;
            Ok(Nip19::Profile {
                pubkey,
                relays: t.relays,
            })
        }
        "nevent" => {
            let t = parse_tlv(&data)?;
            let id = t
                .special
                .ok_or_else(|| Error::Nip19("nevent without id".into()))?;
            Ok(Nip19::Event {
                id,
                relays: t.relays,
                author: t.author,
                kind: t.kind,
            })
        }
        other => Err(Error::Nip19(format!("unsupported prefix {other:?}"))),
    }
}

/// A public key from `npub…`, `nprofile…` or 64 lowercase hex.
pub fn decode_pubkey(s: &str) -> Result<[u8; 32]> {
    if s.len() == 64 {
        return super::hex_lower::<32>(s, "pubkey");
    }
    match decode(s)? {
        Nip19::Pubkey(p) | Nip19::Profile { pubkey: p, .. } => Ok(p),
        _ => Err(Error::Nip19("expected npub or nprofile".into())),
    }
}

/// A secret key from `nsec…` or 64 hex.
pub fn decode_secret(s: &str) -> Result<Secret32> {
    if s.len() == 64 {
        return Secret32::from_hex(s).ok_or(Error::Hex("nsec", 64));
    }
    match decode(s)? {
        Nip19::Secret(k) => Ok(k),
        _ => Err(Error::Nip19("expected nsec".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // NIP-19 examples.
    const NPUB: &str = "npub10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjptg";
    const NPUB_HEX: &str = "7e7e9c42a91bfef19fa929e5fda1b72e0ebc1a4c1141673e2794234d86addf4e";
    const NSEC: &str = "nsec1vl029mgpspedva04g90vltkh6fvh240zqtv9k0t9af8935ke9laqsnlfe5";
    const NSEC_HEX: &str = "67dea2ed018072d675f5415ecfaed7d2597555e202d85b3d65ea4e58d2d92ffa";
    const NPROFILE: &str = "nprofile1qqsrhuxx8l9ex335q7he0f09aej04zpazpl0ne2cgukyawd24mayt8gpp4mhxue69uhhytnc9e3k7mgpz4mhxue69uhkg6nzv9ejuumpv34kytnrdaksjlyr9p";

    #[test]
    fn spec_examples() {
        assert_eq!(
            decode(NPUB).expect("npub"),
            Nip19::Pubkey(super::super::hex_lower(NPUB_HEX, "x").expect("hex"))
        );
        assert_eq!(encode_npub(&decode_pubkey(NPUB).expect("npub")), NPUB);
        let sk = decode_secret(NSEC).expect("nsec");
        assert_eq!(sk.expose_hex().as_str(), NSEC_HEX);
        assert_eq!(encode_nsec(&sk).expose(), NSEC);
        match decode(NPROFILE).expect("nprofile") {
            Nip19::Profile { pubkey, relays } => {
                assert_eq!(
                    hex::encode(pubkey),
                    "3bf0c63fcb93463407af97a5e5ee64fa883d107ef9e558472c4eb9aaaefa459d"
                );
                assert_eq!(
                    relays,
                    vec![
                        "wss://r.x.com".to_string(),
                        "wss://djbas.sadkb.com".to_string()
                    ]
                );
                assert_eq!(encode_nprofile(&pubkey, &relays).expect("enc"), NPROFILE);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn rejects_garbage() {
        assert!(decode("npub1xyz").is_err());
        assert!(decode(&NPUB.replace('q', "p")).is_err());
        assert!(decode_pubkey(NSEC).is_err());
        let short = encode_raw("npub", &[1, 2, 3]).expect("enc");
        assert!(decode(&short).is_err());
        let bad_tlv = encode_raw("nprofile", &[0, 40, 1]).expect("enc");
        assert!(decode(&bad_tlv).is_err());
    }
}
