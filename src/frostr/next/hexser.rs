//! Serde helpers for fixed-length hex fields: emit lowercase, accept either case, require the
//! exact byte length (FROSTR-NEXT §1).

use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

/// Serialises `v` as lowercase hex through a stack buffer: `hex::encode` builds its `String`
/// one `char` at a time (≈ 2 % of a signing node's CPU for the envelope's nonce, signature and
/// id fields).
fn serialize_hex<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
    let mut buf = [0u8; 256];
    let Some(out) = buf.get_mut(..2 * v.len()) else {
        return s.serialize_str(&hex::encode(v));
    };
    if hex::encode_to_slice(v, out).is_err() {
        return s.serialize_str(&hex::encode(v));
    }
    match std::str::from_utf8(out) {
        Ok(h) => s.serialize_str(h),
        Err(_) => s.serialize_str(&hex::encode(v)),
    }
}

pub fn decode_fixed<const N: usize>(s: &str) -> Result<[u8; N], String> {
    let mut out = [0u8; N];
    if s.len() != 2 * N {
        return Err(format!(
            "expected {} hex characters, got {}",
            2 * N,
            s.len()
        ));
    }
    hex::decode_to_slice(s, &mut out).map_err(|e| format!("invalid hex: {e}"))?;
    Ok(out)
}

/// Bytes that serialise as a hex string (elements of a hex list).
struct Hex<'a>(&'a [u8]);

impl serde::Serialize for Hex<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_hex(self.0, s)
    }
}

/// `#[serde(with = "hexser::fixed")]` for `[u8; N]`.
pub mod fixed {
    use super::*;
    pub fn serialize<S: Serializer, const N: usize>(v: &[u8; N], s: S) -> Result<S::Ok, S::Error> {
        serialize_hex(v, s)
    }
    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<[u8; N], D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        decode_fixed::<N>(&s).map_err(D::Error::custom)
    }
}

/// `Vec<[u8; N]>` as a list of hex strings.
pub mod fixed_vec {
    use super::*;
    use serde::ser::SerializeSeq;
    pub fn serialize<S: Serializer, const N: usize>(
        v: &[[u8; N]],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for x in v {
            seq.serialize_element(&Hex(x))?;
        }
        seq.end()
    }
    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<Vec<[u8; N]>, D::Error> {
        let v = Vec::<std::borrow::Cow<'de, str>>::deserialize(d)?;
        v.iter()
            .map(|s| decode_fixed::<N>(s).map_err(D::Error::custom))
            .collect()
    }
}

/// `Option<[u8; N]>` (null when absent; may be omitted on input with `#[serde(default)]`).
pub mod opt_fixed {
    use super::*;
    pub fn serialize<S: Serializer, const N: usize>(
        v: &Option<[u8; N]>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(x) => serialize_hex(x, s),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<Option<[u8; N]>, D::Error> {
        let v = Option::<std::borrow::Cow<'de, str>>::deserialize(d)?;
        v.map(|s| decode_fixed::<N>(&s).map_err(D::Error::custom))
            .transpose()
    }
}

/// `Option<Vec<u8>>` as hex of any even length (or null).
pub mod opt_bytes {
    use super::*;
    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(x) => serialize_hex(x, s),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        let v = Option::<std::borrow::Cow<'de, str>>::deserialize(d)?;
        v.map(|s| {
            hex::decode(s.as_ref()).map_err(|e| D::Error::custom(format!("invalid hex: {e}")))
        })
        .transpose()
    }
}

/// A `Secret32` as 64 hex characters. The intermediate string is zeroized.
pub mod secret32 {
    use super::*;
    use crate::vault::secret::Secret32;
    pub fn serialize<S: Serializer>(v: &Secret32, s: S) -> Result<S::Ok, S::Error> {
        let h = v.expose_hex();
        s.serialize_str(&h)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Secret32, D::Error> {
        let s = zeroize::Zeroizing::new(String::deserialize(d)?);
        if s.len() != 64 {
            return Err(D::Error::custom("secret must be 64 hex characters"));
        }
        Secret32::from_hex(&s).ok_or_else(|| D::Error::custom("secret is not valid hex"))
    }
}
