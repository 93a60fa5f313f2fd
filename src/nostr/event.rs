//! NIP-01 events: canonical id, BIP-340 signature, JSON.

use super::{Error, Result, hex_lower, keys};
use crate::vault::secret::Secret32;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use std::borrow::Cow;

/// A Nostr event (NIP-01). JSON fields are lowercase hex; `kind` is 0..=65535.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub id: [u8; 32],
    pub pubkey: [u8; 32],
    pub created_at: u64,
    pub kind: u16,
    pub tags: Vec<Vec<String>>,
    pub content: String,
    pub sig: [u8; 64],
}

/// Appends `s` as a JSON string literal, escaped exactly like `JSON.stringify` / `serde_json`
/// (the NIP-01 canonical form): `"` `\` and control characters are escaped (`\b \t \n \f \r`,
/// others as `\u00xx`); everything else, including non-ASCII and `/`, is emitted verbatim.
pub fn write_json_string(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    // Fast path: most content (NIP-44 base64, hex) needs no escape; one scan and one copy
    // instead of a per-byte match (this loop was 4–7 % of a signing node's CPU, BENCHMARKS.md).
    if !needs_escape(bytes) {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if esc.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(b >> 4) as usize]);
            out.push(HEX[(b & 0xf) as usize]);
        } else {
            out.extend_from_slice(esc);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Whether any byte needs a JSON escape. Chunks of 32 are tested with a branch-free fold the
/// compiler vectorises; a short-circuiting `any` ran byte by byte (3.3 % of a signing node's
/// CPU at 600 signs/s: the ~1.5 KB NIP-44 content is written for the id and for the JSON).
fn needs_escape(bytes: &[u8]) -> bool {
    let bad = |b: u8| (b < 0x20) | (b == b'"') | (b == b'\\');
    let mut chunks = bytes.chunks_exact(32);
    for c in &mut chunks {
        if c.iter().fold(false, |acc, &b| acc | bad(b)) {
            return true;
        }
    }
    chunks.remainder().iter().any(|&b| bad(b))
}

fn write_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for b in bytes {
        out.push(HEX[(b >> 4) as usize]);
        out.push(HEX[(b & 0xf) as usize]);
    }
    out.push(b'"');
}

fn write_tags(out: &mut Vec<u8>, tags: &[Vec<String>]) {
    out.push(b'[');
    for (i, tag) in tags.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'[');
        for (j, v) in tag.iter().enumerate() {
            if j > 0 {
                out.push(b',');
            }
            write_json_string(out, v);
        }
        out.push(b']');
    }
    out.push(b']');
}

fn write_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(v.to_string().as_bytes());
}

impl Event {
    /// The canonical serialisation `[0,<pubkey>,<created_at>,<kind>,<tags>,<content>]`.
    pub fn canonical_bytes(
        pubkey: &[u8; 32],
        created_at: u64,
        kind: u16,
        tags: &[Vec<String>],
        content: &str,
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(100 + content.len() + tags.len() * 72);
        out.extend_from_slice(b"[0,");
        write_hex(&mut out, pubkey);
        out.push(b',');
        write_u64(&mut out, created_at);
        out.push(b',');
        write_u64(&mut out, u64::from(kind));
        out.push(b',');
        write_tags(&mut out, tags);
        out.push(b',');
        write_json_string(&mut out, content);
        out.push(b']');
        out
    }

    /// NIP-01 event id: SHA-256 of the canonical serialisation.
    pub fn compute_id(
        pubkey: &[u8; 32],
        created_at: u64,
        kind: u16,
        tags: &[Vec<String>],
        content: &str,
    ) -> [u8; 32] {
        Sha256::digest(Self::canonical_bytes(
            pubkey, created_at, kind, tags, content,
        ))
        .into()
    }

    /// Builds and signs an event (BIP-340 with the given aux randomness; FROSTR-NEXT uses `[0;32]`).
    pub fn sign(
        secret: &Secret32,
        created_at: u64,
        kind: u16,
        tags: Vec<Vec<String>>,
        content: String,
        aux: [u8; 32],
    ) -> Result<Event> {
        let key = keys::SigningKey::new(secret)?;
        Ok(Self::sign_with(&key, created_at, kind, tags, content, aux))
    }

    /// [`Event::sign`] with a prepared key (no key derivation per event).
    pub fn sign_with(
        key: &keys::SigningKey,
        created_at: u64,
        kind: u16,
        tags: Vec<Vec<String>>,
        content: String,
        aux: [u8; 32],
    ) -> Event {
        let pubkey = key.xonly();
        let id = Self::compute_id(&pubkey, created_at, kind, &tags, &content);
        let sig = key.sign(&id, &aux);
        Event {
            id,
            pubkey,
            created_at,
            kind,
            tags,
            content,
            sig,
        }
    }

    /// Like [`Event::sign`] with fresh random aux bytes.
    pub fn sign_random(
        secret: &Secret32,
        created_at: u64,
        kind: u16,
        tags: Vec<Vec<String>>,
        content: String,
    ) -> Result<Event> {
        use rand::RngCore;
        let mut aux = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut aux);
        Self::sign(secret, created_at, kind, tags, content, aux)
    }

    /// Whether `id` is the hash of the content (no signature check).
    pub fn verify_id(&self) -> Result<()> {
        let id = Self::compute_id(
            &self.pubkey,
            self.created_at,
            self.kind,
            &self.tags,
            &self.content,
        );
        if id == self.id {
            Ok(())
        } else {
            Err(Error::IdMismatch)
        }
    }

    /// Checks the id and the BIP-340 signature.
    pub fn verify(&self) -> Result<()> {
        self.verify_id()?;
        if keys::verify_bip340(&self.pubkey, &self.id, &self.sig) {
            Ok(())
        } else {
            Err(Error::BadSignature)
        }
    }

    /// Compact NIP-01 JSON (`id, pubkey, created_at, kind, tags, content, sig`).
    pub fn to_json(&self) -> String {
        let mut out = Vec::with_capacity(300 + self.content.len() + self.tags.len() * 72);
        self.write_json(&mut out);
        // Only ASCII and valid UTF-8 from `String`s is ever written.
        String::from_utf8(out).unwrap_or_default()
    }

    /// Appends the compact JSON to a byte buffer.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"id\":");
        write_hex(out, &self.id);
        out.extend_from_slice(b",\"pubkey\":");
        write_hex(out, &self.pubkey);
        out.extend_from_slice(b",\"created_at\":");
        write_u64(out, self.created_at);
        out.extend_from_slice(b",\"kind\":");
        write_u64(out, u64::from(self.kind));
        out.extend_from_slice(b",\"tags\":");
        write_tags(out, &self.tags);
        out.extend_from_slice(b",\"content\":");
        write_json_string(out, &self.content);
        out.extend_from_slice(b",\"sig\":");
        write_hex(out, &self.sig);
        out.push(b'}');
    }

    /// Parses NIP-01 JSON (structure and hex only; call [`Event::verify`] to check id and sig).
    pub fn from_json(s: &str) -> Result<Event> {
        serde_json::from_str(s).map_err(|e| Error::Json(e.to_string()))
    }

    /// First value of the first tag named `name`.
    pub fn tag_value(&self, name: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|t| t.first().map(String::as_str) == Some(name))
            .and_then(|t| t.get(1))
            .map(String::as_str)
    }

    /// NIP-40 `expiration` tag, if present and numeric.
    pub fn expiration(&self) -> Option<u64> {
        self.tag_value("expiration").and_then(|v| v.parse().ok())
    }

    /// Value of the `d` tag (addressable events), `""` if absent.
    pub fn d_tag(&self) -> &str {
        self.tag_value("d").unwrap_or("")
    }

    /// Ephemeral kinds (20000..30000): relayed, never stored.
    pub fn is_ephemeral(&self) -> bool {
        (20000..30000).contains(&self.kind)
    }

    /// Replaceable kinds (0, 3, 10000..20000): latest per (pubkey, kind).
    pub fn is_replaceable(&self) -> bool {
        self.kind == 0 || self.kind == 3 || (10000..20000).contains(&self.kind)
    }

    /// Addressable kinds (30000..40000): latest per (pubkey, kind, d).
    pub fn is_addressable(&self) -> bool {
        (30000..40000).contains(&self.kind)
    }

    pub fn id_hex(&self) -> String {
        hex::encode(self.id)
    }

    pub fn pubkey_hex(&self) -> String {
        hex::encode(self.pubkey)
    }
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Event", 7)?;
        st.serialize_field("id", &hex::encode(self.id))?;
        st.serialize_field("pubkey", &hex::encode(self.pubkey))?;
        st.serialize_field("created_at", &self.created_at)?;
        st.serialize_field("kind", &self.kind)?;
        st.serialize_field("tags", &self.tags)?;
        st.serialize_field("content", &self.content)?;
        st.serialize_field("sig", &hex::encode(self.sig))?;
        st.end()
    }
}

#[derive(Deserialize)]
struct RawEvent<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow)]
    pubkey: Cow<'a, str>,
    created_at: u64,
    kind: u64,
    tags: Vec<Vec<String>>,
    content: String,
    #[serde(borrow)]
    sig: Cow<'a, str>,
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        let raw = RawEvent::deserialize(d)?;
        let kind = u16::try_from(raw.kind)
            .map_err(|_| D::Error::custom(Error::InvalidKind(raw.kind.to_string())))?;
        Ok(Event {
            id: hex_lower::<32>(&raw.id, "id").map_err(D::Error::custom)?,
            pubkey: hex_lower::<32>(&raw.pubkey, "pubkey").map_err(D::Error::custom)?,
            created_at: raw.created_at,
            kind,
            tags: raw.tags,
            content: raw.content,
            sig: hex_lower::<64>(&raw.sig, "sig").map_err(D::Error::custom)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_matches_serde_json() {
        for s in [
            "plain",
            "q\"b\\s",
            "\n\r\t\u{8}\u{c}",
            "\u{1}\u{1f}\u{7f}",
            "é/ü🦄",
            "</script>",
            // escapes inside and after the 32-byte chunks of the fast scan
            &"A".repeat(70),
            &format!("{}\"{}", "b".repeat(40), "c".repeat(40)),
            &format!("{}\u{1}", "d".repeat(64)),
            &format!("{}\\", "e".repeat(95)),
        ] {
            let mut out = Vec::new();
            write_json_string(&mut out, s);
            assert_eq!(
                String::from_utf8(out).expect("utf8"),
                serde_json::to_string(s).expect("json")
            );
        }
    }

    #[test]
    fn sign_verify_roundtrip_json() {
        let sk = Secret32::new([3u8; 32]);
        let ev = Event::sign(
            &sk,
            1_700_000_000,
            1,
            vec![vec!["p".into(), "x\"y".into()]],
            "hi\n".into(),
            [0; 32],
        )
        .expect("sign");
        ev.verify().expect("verify");
        let j = ev.to_json();
        assert_eq!(j, serde_json::to_string(&ev).expect("serde"));
        let back = Event::from_json(&j).expect("parse");
        assert_eq!(back, ev);
        let mut bad = ev.clone();
        bad.content.push('!');
        assert_eq!(bad.verify(), Err(Error::IdMismatch));
        let mut bad = ev.clone();
        bad.sig[0] ^= 1;
        assert_eq!(bad.verify(), Err(Error::BadSignature));
        let key = keys::SigningKey::new(&sk).expect("key");
        let same = Event::sign_with(
            &key,
            ev.created_at,
            ev.kind,
            ev.tags.clone(),
            ev.content.clone(),
            [0; 32],
        );
        assert_eq!(same, ev);
    }

    #[test]
    fn rejects_bad_fields() {
        let sk = Secret32::new([3u8; 32]);
        let ev = Event::sign(&sk, 1, 1, vec![], String::new(), [0; 32]).expect("sign");
        let j = ev.to_json();
        assert!(Event::from_json(&j.replace("\"kind\":1", "\"kind\":70000")).is_err());
        assert!(Event::from_json(&j.replace("\"kind\":1", "\"kind\":-1")).is_err());
        let upper = j.replace(&ev.id_hex(), &ev.id_hex().to_uppercase());
        assert!(ev.id_hex() == ev.id_hex().to_uppercase() || Event::from_json(&upper).is_err());
        assert!(Event::from_json("{}").is_err());
        assert!(Event::from_json("[").is_err());
    }
}
