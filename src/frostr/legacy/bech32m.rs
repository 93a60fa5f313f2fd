//! Bech32m (BIP-350) without the 90/1023-character limits: a `bfgroup` for 6+ members is longer
//! than 1023 characters, which the `bech32` crate's checked API refuses.

use super::{Error, Result};

const CHARSET: &[u8; 32] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";
const BECH32M_CONST: u32 = 0x2bc8_30a3;
/// Upper bound on input size, far above any legal `bfgroup` (protects against absurd input).
pub const MAX_LEN: usize = 1 << 20;

fn polymod(values: impl Iterator<Item = u8>) -> u32 {
    const GEN: [u32; 5] = [
        0x3b6a_57b2,
        0x2650_8e6d,
        0x1ea1_19fa,
        0x3d42_33dd,
        0x2a14_62b3,
    ];
    let mut chk: u32 = 1;
    for v in values {
        let b = chk >> 25;
        chk = ((chk & 0x01ff_ffff) << 5) ^ u32::from(v);
        for (i, g) in GEN.iter().enumerate() {
            if (b >> i) & 1 == 1 {
                chk ^= g;
            }
        }
    }
    chk
}

fn hrp_expand(hrp: &[u8]) -> impl Iterator<Item = u8> + '_ {
    hrp.iter()
        .map(|c| c >> 5)
        .chain(std::iter::once(0))
        .chain(hrp.iter().map(|c| c & 31))
}

fn to_5bit(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() * 8 / 5 + 1);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for &b in data {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(((acc >> bits) & 31) as u8);
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(((acc << (5 - bits)) & 31) as u8);
    }
    out
}

fn from_5bit(data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(data.len() * 5 / 8);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for &v in data {
        acc = (acc << 5) | u32::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
        acc &= (1 << bits) - 1;
    }
    if bits >= 5 || acc != 0 {
        return Err(Error::Bech32("non-zero or excess padding bits".into()));
    }
    Ok(out)
}

/// Encodes bytes under a lowercase HRP.
pub fn encode(hrp: &str, data: &[u8]) -> String {
    let hrp_b = hrp.as_bytes();
    let d5 = to_5bit(data);
    let pm = polymod(hrp_expand(hrp_b).chain(d5.iter().copied()).chain([0u8; 6])) ^ BECH32M_CONST;
    let mut s = String::with_capacity(hrp.len() + 1 + d5.len() + 6);
    s.push_str(hrp);
    s.push('1');
    for v in &d5 {
        s.push(CHARSET[*v as usize] as char);
    }
    for i in 0..6 {
        s.push(CHARSET[((pm >> (5 * (5 - i))) & 31) as usize] as char);
    }
    s
}

/// Decodes a bech32m string of any length; returns (lowercase HRP, bytes).
pub fn decode(s: &str) -> Result<(String, Vec<u8>)> {
    let s = s.trim();
    if s.len() > MAX_LEN {
        return Err(Error::Bech32("string too long".into()));
    }
    if !s.is_ascii() {
        return Err(Error::Bech32("non-ASCII character".into()));
    }
    let has_lower = s.bytes().any(|c| c.is_ascii_lowercase());
    let has_upper = s.bytes().any(|c| c.is_ascii_uppercase());
    if has_lower && has_upper {
        return Err(Error::Bech32("mixed case".into()));
    }
    let s = s.to_ascii_lowercase();
    let pos = s
        .rfind('1')
        .ok_or_else(|| Error::Bech32("missing separator '1'".into()))?;
    let (hrp, rest) = (&s[..pos], &s[pos + 1..]);
    if hrp.is_empty() || hrp.bytes().any(|c| !(33..=126).contains(&c)) {
        return Err(Error::Bech32("invalid prefix".into()));
    }
    if rest.len() < 6 {
        return Err(Error::Bech32("too short for a checksum".into()));
    }
    let mut d5 = Vec::with_capacity(rest.len());
    for c in rest.bytes() {
        let v = CHARSET
            .iter()
            .position(|&x| x == c)
            .ok_or_else(|| Error::Bech32(format!("invalid character {:?}", c as char)))?;
        d5.push(v as u8);
    }
    if polymod(hrp_expand(hrp.as_bytes()).chain(d5.iter().copied())) != BECH32M_CONST {
        return Err(Error::Bech32("bad checksum".into()));
    }
    d5.truncate(d5.len() - 6);
    Ok((hrp.to_string(), from_5bit(&d5)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bip350_valid_vectors() {
        for v in [
            "A1LQFN3A",
            "a1lqfn3a",
            "abcdef1l7aum6echk45nj3s0wdvt2fg8x9yrzpqzd3ryx",
            "split1checkupstagehandshakeupstreamerranterredcaperredlc445v",
            "?1v759aa",
        ] {
            assert!(decode(v).is_ok(), "{v}");
        }
        for bad in ["A1LQFN3B", "a1lqfn3A", "1qqqqqq", "abc1qq"] {
            assert!(decode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn long_round_trip() {
        let data: Vec<u8> = (0..3000u32).map(|i| (i * 7) as u8).collect();
        let s = encode("bfgroup", &data);
        assert!(s.len() > 1023);
        assert_eq!(decode(&s).unwrap(), ("bfgroup".to_string(), data));
    }
}
