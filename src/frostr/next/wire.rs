//! FROSTR-NEXT wire envelope (§4.1) and payload variants (§5).
//!
//! Every struct serialises with `#[derive(Serialize)]` in the exact key order of the spec, so
//! re-serialising a decrypted bifrost-rs envelope reproduces it byte for byte.

use serde::{Deserialize, Serialize};

pub use super::ecdh::{EcdhEntry, EcdhPackage};
pub use super::group::{GroupPackage, Member};
pub use super::session::{
    DerivedPublicNonce, MemberNonces, NonceEntry, PartialSig, PartialSigPackage, SignSessionPackage,
};

/// Maximum `request_id` length in UTF-8 bytes (§4.1).
pub const MAX_REQUEST_ID_BYTES: usize = 256;
/// Maximum entries of each ping list (§5.1).
pub const MAX_PING_LIST: usize = 1000;
/// Maximum nonces in an onboard request or response (§5.5).
pub const MAX_ONBOARD_NONCES: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("envelope is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("request_id is empty")]
    EmptyRequestId,
    #[error("request_id is longer than 256 bytes")]
    RequestIdTooLong,
    #[error("unsupported {what} version {got}")]
    Version { what: &'static str, got: u64 },
    #[error("{what} has {got} entries (limit {limit})")]
    TooMany {
        what: &'static str,
        got: usize,
        limit: usize,
    },
    #[error("{0}")]
    Invalid(String),
}

/// `{request_id, sent_at, payload}` (§4.1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub request_id: String,
    pub sent_at: u64,
    pub payload: Payload,
}

impl Envelope {
    /// Compact JSON in the spec's key order.
    pub fn to_json(&self) -> String {
        // Serialising plain derived structs into a String cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses and checks the envelope-level rules (request_id length; payload limits).
    pub fn from_json(s: &str) -> Result<Self, Error> {
        let env: Envelope = serde_json::from_str(s)?;
        env.check()?;
        Ok(env)
    }

    pub fn check(&self) -> Result<(), Error> {
        if self.request_id.is_empty() {
            return Err(Error::EmptyRequestId);
        }
        if self.request_id.len() > MAX_REQUEST_ID_BYTES {
            return Err(Error::RequestIdTooLong);
        }
        Ok(())
    }

    /// A fresh random request id: 16 bytes as 32 lowercase hex characters.
    pub fn new_request_id() -> String {
        use rand::RngCore;
        let mut b = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut b);
        hex::encode(b)
    }
}

/// Adjacently tagged payload: `{"type": <variant>, "data": {...}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum Payload {
    PingRequest(Ping),
    PingResponse(Ping),
    OnboardRequest(OnboardRequest),
    OnboardResponse(OnboardResponse),
    SignRequest(SignSessionPackage),
    SignResponse(PartialSigPackage),
    EcdhRequest(EcdhPackage),
    EcdhResponse(EcdhPackage),
    Error(ErrorPayload),
}

impl Payload {
    pub fn type_name(&self) -> &'static str {
        match self {
            Payload::PingRequest(_) => "PingRequest",
            Payload::PingResponse(_) => "PingResponse",
            Payload::OnboardRequest(_) => "OnboardRequest",
            Payload::OnboardResponse(_) => "OnboardResponse",
            Payload::SignRequest(_) => "SignRequest",
            Payload::SignResponse(_) => "SignResponse",
            Payload::EcdhRequest(_) => "EcdhRequest",
            Payload::EcdhResponse(_) => "EcdhResponse",
            Payload::Error(_) => "Error",
        }
    }

    /// True for the variants that open a round (a responder answers them).
    pub fn is_request(&self) -> bool {
        matches!(
            self,
            Payload::PingRequest(_)
                | Payload::OnboardRequest(_)
                | Payload::SignRequest(_)
                | Payload::EcdhRequest(_)
        )
    }
}

/// Method flags of a policy profile, key order `echo, ping, onboard, sign, ecdh` (§5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MethodFlags {
    pub echo: bool,
    pub ping: bool,
    pub onboard: bool,
    pub sign: bool,
    pub ecdh: bool,
}

impl MethodFlags {
    pub const ALL: MethodFlags = MethodFlags {
        echo: true,
        ping: true,
        onboard: true,
        sign: true,
        ecdh: true,
    };
    pub fn any(&self) -> bool {
        self.echo || self.ping || self.onboard || self.sign || self.ecdh
    }
}

/// The sender's local policy towards the receiver (§5.1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyProfile {
    #[serde(with = "super::hexser::fixed")]
    pub for_peer: [u8; 32],
    pub revision: u64,
    pub updated: u64,
    pub block_all: bool,
    pub request: MethodFlags,
    pub respond: MethodFlags,
}

/// `PingRequest` / `PingResponse` data (§5.1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ping {
    pub version: u64,
    pub advertised_nonces: Vec<DerivedPublicNonce>,
    #[serde(with = "super::hexser::fixed_vec")]
    pub held_peer_nonce_codes: Vec<[u8; 32]>,
    pub policy_profile: Option<PolicyProfile>,
}

impl Ping {
    /// §5.1: version 2 and list limits.
    pub fn validate(&self) -> Result<(), Error> {
        if self.version != 2 {
            return Err(Error::Version {
                what: "ping",
                got: self.version,
            });
        }
        limit(
            "advertised_nonces",
            self.advertised_nonces.len(),
            MAX_PING_LIST,
        )?;
        limit(
            "held_peer_nonce_codes",
            self.held_peer_nonce_codes.len(),
            MAX_PING_LIST,
        )
    }
}

/// `OnboardRequest` data (§5.5).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnboardRequest {
    pub version: u64,
    pub nonces: Vec<DerivedPublicNonce>,
}

impl OnboardRequest {
    pub fn validate(&self) -> Result<(), Error> {
        if self.version != 1 {
            return Err(Error::Version {
                what: "onboard",
                got: self.version,
            });
        }
        if self.nonces.is_empty() {
            return Err(Error::Invalid("onboard request carries no nonces".into()));
        }
        limit("onboard nonces", self.nonces.len(), MAX_ONBOARD_NONCES)
    }
}

/// `OnboardResponse` data (§5.5).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnboardResponse {
    pub group: GroupPackage,
    pub nonces: Vec<DerivedPublicNonce>,
}

impl OnboardResponse {
    pub fn validate(&self) -> Result<(), Error> {
        limit("onboard nonces", self.nonces.len(), MAX_ONBOARD_NONCES)
    }
}

/// `Error` data (§5.6).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorPayload {
    pub code: String,
    pub message: String,
}

/// The only error code bifrost-rs produces (§5.6).
pub const PEER_DENIED: &str = "peer_denied";

fn limit(what: &'static str, got: usize, limit: usize) -> Result<(), Error> {
    if got > limit {
        Err(Error::TooMany { what, got, limit })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_payload_exact_bytes() {
        let env = Envelope {
            request_id: "ed87d02058dc5a5cf0d437e524ad9c76".into(),
            sent_at: 1795316319,
            payload: Payload::Error(ErrorPayload {
                code: PEER_DENIED.into(),
                message: "inbound sign denied by local policy".into(),
            }),
        };
        assert_eq!(
            env.to_json(),
            r#"{"request_id":"ed87d02058dc5a5cf0d437e524ad9c76","sent_at":1795316319,"payload":{"type":"Error","data":{"code":"peer_denied","message":"inbound sign denied by local policy"}}}"#
        );
    }

    #[test]
    fn request_id_rules() {
        let mk = |id: &str| {
            format!(
                r#"{{"request_id":"{id}","sent_at":1,"payload":{{"type":"Error","data":{{"code":"x","message":"y"}}}}}}"#
            )
        };
        assert!(matches!(
            Envelope::from_json(&mk("")),
            Err(Error::EmptyRequestId)
        ));
        assert!(Envelope::from_json(&mk(&"a".repeat(256))).is_ok());
        assert!(matches!(
            Envelope::from_json(&mk(&"a".repeat(257))),
            Err(Error::RequestIdTooLong)
        ));
        // 86 three-byte chars = 258 bytes although only 86 chars.
        assert!(matches!(
            Envelope::from_json(&mk(&"€".repeat(86))),
            Err(Error::RequestIdTooLong)
        ));
    }

    #[test]
    fn malformed_inputs_are_errors_not_panics() {
        for bad in [
            "",
            "{}",
            "[]",
            r#"{"request_id":"a","sent_at":-1,"payload":{"type":"Error","data":{"code":"x","message":"y"}}}"#,
            r#"{"request_id":"a","sent_at":1,"payload":{"type":"Nope","data":{}}}"#,
            r#"{"request_id":"a","sent_at":1,"payload":{"type":"PingRequest","data":{"version":2,"advertised_nonces":[],"held_peer_nonce_codes":["zz"]}}}"#,
            r#"{"request_id":"a","sent_at":1,"payload":{"type":"PingRequest","data":{"version":2,"advertised_nonces":[],"held_peer_nonce_codes":["00"]}}}"#,
        ] {
            assert!(Envelope::from_json(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ping_optional_profile_and_unknown_fields() {
        let s = r#"{"request_id":"a","sent_at":1,"extra":5,"payload":{"type":"PingRequest","data":{"version":2,"advertised_nonces":[],"held_peer_nonce_codes":["AB00000000000000000000000000000000000000000000000000000000000000"]}}}"#;
        let env = Envelope::from_json(s).expect("parses");
        let Payload::PingRequest(p) = env.payload else {
            panic!("variant")
        };
        assert!(p.policy_profile.is_none());
        assert_eq!(p.held_peer_nonce_codes[0][0], 0xab);
        assert!(p.validate().is_ok());
        let mut p3 = p.clone();
        p3.version = 3;
        assert!(p3.validate().is_err());
    }
}
