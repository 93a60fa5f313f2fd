//! Zeroizing secret containers with redacted `Debug`.
//!
//! None of these implement `Display`, `Serialize` or `Clone`-by-accident: copying a secret is an
//! explicit `expose_*` call that the reviewer can grep for.

use std::fmt;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// A 32-byte secret (share scalar, nsec, symmetric key). Zeroized on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct Secret32([u8; 32]);

impl Secret32 {
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Takes the bytes out of a slice; `None` unless it is exactly 32 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        let arr: [u8; 32] = bytes.try_into().ok()?;
        Some(Self(arr))
    }

    /// Parses 64 hex characters (either case). The intermediate buffer is zeroized.
    pub fn from_hex(s: &str) -> Option<Self> {
        let mut buf = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(s.trim(), buf.as_mut()).ok()?;
        Some(Self(*buf))
    }

    /// Random secret from the OS generator.
    pub fn random() -> Self {
        use rand::RngCore;
        let mut b = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut b);
        let s = Self(b);
        b.zeroize();
        s
    }

    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex in a zeroizing string, for the few places that must serialise a secret
    /// (an encrypted credential's plaintext).
    pub fn expose_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.0))
    }

    /// An explicit copy; prefer borrowing.
    pub fn duplicate(&self) -> Self {
        Self(self.0)
    }
}

impl ConstantTimeEq for Secret32 {
    fn ct_eq(&self, other: &Self) -> subtle::Choice {
        self.0.ct_eq(&other.0)
    }
}

impl PartialEq for Secret32 {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}
impl Eq for Secret32 {}

impl fmt::Debug for Secret32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret32(<redacted>)")
    }
}

/// A secret byte string of any length. Zeroized on drop.
#[derive(Zeroize, ZeroizeOnDrop, Default)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes(<{} bytes redacted>)", self.0.len())
    }
}

/// A secret string (password, nsec in bech32, API token). Zeroized on drop.
#[derive(Zeroize, ZeroizeOnDrop, Default)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(s: String) -> Self {
        Self(s)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for SecretString {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl ConstantTimeEq for SecretString {
    fn ct_eq(&self, other: &Self) -> subtle::Choice {
        self.0.as_bytes().ct_eq(other.0.as_bytes())
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = Secret32::from_hex(&"ab".repeat(32)).expect("hex");
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("ab"), "{dbg}");
        let p = SecretString::new("hunter2".into());
        assert!(!format!("{p:?}").contains("hunter2"));
        let b = SecretBytes::new(b"topsecret".to_vec());
        assert!(!format!("{b:?}").contains("topsecret"));
    }

    #[test]
    fn hex_parsing_rejects_bad_lengths() {
        assert!(Secret32::from_hex("00").is_none());
        assert!(Secret32::from_hex(&"zz".repeat(32)).is_none());
        assert_eq!(
            Secret32::from_hex(&"0A".repeat(32)).map(|s| s.expose()[0]),
            Some(10)
        );
    }
}
