//! Storage contract for the bunker, and an in-memory implementation.
//!
//! The redb store (`crate::store`) implements [`Nip46Store`] for persistence; everything here is
//! plain serde data so it can be stored as JSON values keyed as documented on each method.

use super::policy::Policy;
use super::uri::Profile;
use crate::vault::secret::Secret32;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

#[derive(Debug, thiserror::Error)]
#[error("nip46 store: {0}")]
pub struct StoreError(pub String);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionStatus {
    /// Waiting for the operator to approve the connection.
    Pending,
    Active,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    #[default]
    Nip44,
    Nip04,
}

/// One connected client app (keyed by its client pubkey).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClientSession {
    #[serde(with = "hex32")]
    pub pubkey: [u8; 32],
    pub status: SessionStatus,
    #[serde(default)]
    pub profile: Profile,
    #[serde(default)]
    pub relays: Vec<String>,
    #[serde(default)]
    pub policy: Policy,
    /// What the client asked for (`perms`), shown to the operator at approval.
    #[serde(default)]
    pub requested_perms: String,
    #[serde(default)]
    pub transport: TransportKind,
    /// The bunker token this client connected with, if any.
    #[serde(default)]
    pub token_id: Option<String>,
    /// The box's web UI as the operator reached it when this client was paired
    /// (`http(s)://host[:port]`, from [`super::RequestOrigin::web_base`]): the base of the
    /// `auth_url` this client gets for requests that wait for the operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_base: Option<String>,
    pub created_at: u64,
    pub updated_at: u64,
    pub last_active_at: u64,
    #[serde(default)]
    pub recent_kinds: Vec<u16>,
    #[serde(default)]
    pub recent_methods: Vec<String>,
}

/// A `bunker://` connection token. Only the SHA-256 of the secret is stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BunkerToken {
    pub id: String,
    #[serde(with = "hex32")]
    pub secret_hash: [u8; 32],
    pub label: String,
    pub relays: Vec<String>,
    /// Pre-approved grant: clients connecting with this token are active at once with this
    /// policy. `None` → the connection waits for operator approval.
    pub policy: Option<Policy>,
    pub created_at: u64,
    pub expires_at: u64,
    pub used_at: Option<u64>,
    #[serde(default, with = "opt_hex")]
    pub used_by: Option<[u8; 32]>,
    /// The box's web UI as the operator reached it when creating the token; copied into the
    /// client's session at `connect` (see [`ClientSession::web_base`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_base: Option<String>,
}

pub(crate) mod hex32 {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = String::deserialize(d)?;
        let mut b = [0u8; 32];
        hex::decode_to_slice(&s, &mut b).map_err(serde::de::Error::custom)?;
        Ok(b)
    }
}

mod opt_hex {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &Option<[u8; 32]>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.serialize_some(&hex::encode(b)),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<[u8; 32]>, D::Error> {
        let o = Option::<String>::deserialize(d)?;
        match o {
            None => Ok(None),
            Some(s) => {
                let mut b = [0u8; 32];
                hex::decode_to_slice(&s, &mut b).map_err(serde::de::Error::custom)?;
                Ok(Some(b))
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestStatus {
    Pending,
    Approved,
    Denied,
    Completed,
    Failed,
    Expired,
}

impl RequestStatus {
    pub fn parse(s: &str) -> Option<RequestStatus> {
        Some(match s {
            "pending" => Self::Pending,
            "approved" => Self::Approved,
            "denied" => Self::Denied,
            "completed" => Self::Completed,
            "failed" => Self::Failed,
            "expired" => Self::Expired,
            _ => return None,
        })
    }
}

/// A request that needed (or needs) the operator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// Server-generated id (32 hex).
    pub id: String,
    /// The client's NIP-46 request id.
    pub client_request_id: String,
    pub session_pubkey: String,
    pub method: String,
    /// Parameters shown to the operator: the event template for `sign_event`, the peer pubkey
    /// for encrypt/decrypt (plaintexts and ciphertexts are not stored).
    pub params: String,
    pub kind: Option<u16>,
    pub status: RequestStatus,
    pub result: Option<String>,
    pub error: Option<String>,
    pub created_at: u64,
    pub updated_at: u64,
    pub expires_at: u64,
}

/// One line of the audit log: every request, whatever happened to it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub ts: u64,
    pub client: String,
    pub request_id: String,
    pub method: String,
    pub kind: Option<u16>,
    /// `ok`, `error`, `denied`, `pending`, `ignored`.
    pub outcome: String,
    pub detail: String,
    /// The keyset whose bunker handled the request (`None`: a bunker outside `serve`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyset: Option<String>,
}

/// Storage the bunker needs. One store instance per identity (bunker).
pub trait Nip46Store: Send + Sync {
    fn transport_key(&self) -> Result<Option<Secret32>, StoreError>;
    fn set_transport_key(&self, sk: &Secret32) -> Result<(), StoreError>;
    /// Relays the bunker listens on (`None` → not configured yet).
    fn relays(&self) -> Result<Option<Vec<String>>, StoreError>;
    fn set_relays(&self, relays: &[String]) -> Result<(), StoreError>;

    fn get_client(&self, pubkey: &[u8; 32]) -> Result<Option<ClientSession>, StoreError>;
    fn put_client(&self, c: &ClientSession) -> Result<(), StoreError>;
    fn delete_client(&self, pubkey: &[u8; 32]) -> Result<bool, StoreError>;
    fn list_clients(&self) -> Result<Vec<ClientSession>, StoreError>;

    fn put_token(&self, t: &BunkerToken) -> Result<(), StoreError>;
    fn get_token_by_hash(&self, secret_hash: &[u8; 32]) -> Result<Option<BunkerToken>, StoreError>;
    fn list_tokens(&self) -> Result<Vec<BunkerToken>, StoreError>;
    fn delete_token(&self, id: &str) -> Result<bool, StoreError>;

    fn put_request(&self, r: &RequestRecord) -> Result<(), StoreError>;
    fn get_request(&self, id: &str) -> Result<Option<RequestRecord>, StoreError>;
    /// Newest first; empty `statuses` means all.
    fn list_requests(
        &self,
        statuses: &[RequestStatus],
        limit: usize,
    ) -> Result<Vec<RequestRecord>, StoreError>;
    fn delete_request(&self, id: &str) -> Result<bool, StoreError>;

    fn append_audit(&self, e: &AuditEntry) -> Result<(), StoreError>;
    /// Newest first, optionally for one client (hex pubkey).
    fn list_audit(&self, client: Option<&str>, limit: usize)
    -> Result<Vec<AuditEntry>, StoreError>;
}

/// Bounded sizes for the in-memory store (and suggested for persistent ones).
pub const MAX_REQUESTS: usize = 5_000;
pub const MAX_AUDIT: usize = 20_000;

#[derive(Default)]
struct Mem {
    transport: Option<Secret32>,
    relays: Option<Vec<String>>,
    clients: BTreeMap<[u8; 32], ClientSession>,
    tokens: BTreeMap<String, BunkerToken>,
    requests: VecDeque<RequestRecord>,
    audit: VecDeque<AuditEntry>,
}

/// In-memory store (tests, and `--ephemeral` boxes).
#[derive(Default)]
pub struct MemStore(Mutex<Mem>);

impl MemStore {
    pub fn new() -> MemStore {
        MemStore::default()
    }
    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Mem>, StoreError> {
        self.0
            .lock()
            .map_err(|_| StoreError("poisoned lock".into()))
    }
}

impl Nip46Store for MemStore {
    fn transport_key(&self) -> Result<Option<Secret32>, StoreError> {
        Ok(self.lock()?.transport.as_ref().map(Secret32::duplicate))
    }
    fn set_transport_key(&self, sk: &Secret32) -> Result<(), StoreError> {
        self.lock()?.transport = Some(sk.duplicate());
        Ok(())
    }
    fn relays(&self) -> Result<Option<Vec<String>>, StoreError> {
        Ok(self.lock()?.relays.clone())
    }
    fn set_relays(&self, relays: &[String]) -> Result<(), StoreError> {
        self.lock()?.relays = Some(relays.to_vec());
        Ok(())
    }
    fn get_client(&self, pubkey: &[u8; 32]) -> Result<Option<ClientSession>, StoreError> {
        Ok(self.lock()?.clients.get(pubkey).cloned())
    }
    fn put_client(&self, c: &ClientSession) -> Result<(), StoreError> {
        self.lock()?.clients.insert(c.pubkey, c.clone());
        Ok(())
    }
    fn delete_client(&self, pubkey: &[u8; 32]) -> Result<bool, StoreError> {
        Ok(self.lock()?.clients.remove(pubkey).is_some())
    }
    fn list_clients(&self) -> Result<Vec<ClientSession>, StoreError> {
        Ok(self.lock()?.clients.values().cloned().collect())
    }
    fn put_token(&self, t: &BunkerToken) -> Result<(), StoreError> {
        self.lock()?.tokens.insert(t.id.clone(), t.clone());
        Ok(())
    }
    fn get_token_by_hash(&self, h: &[u8; 32]) -> Result<Option<BunkerToken>, StoreError> {
        use subtle::ConstantTimeEq;
        Ok(self
            .lock()?
            .tokens
            .values()
            .find(|t| bool::from(t.secret_hash.ct_eq(h)))
            .cloned())
    }
    fn list_tokens(&self) -> Result<Vec<BunkerToken>, StoreError> {
        Ok(self.lock()?.tokens.values().cloned().collect())
    }
    fn delete_token(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self.lock()?.tokens.remove(id).is_some())
    }
    fn put_request(&self, r: &RequestRecord) -> Result<(), StoreError> {
        let mut m = self.lock()?;
        if let Some(slot) = m.requests.iter_mut().find(|x| x.id == r.id) {
            *slot = r.clone();
        } else {
            m.requests.push_back(r.clone());
            while m.requests.len() > MAX_REQUESTS {
                m.requests.pop_front();
            }
        }
        Ok(())
    }
    fn get_request(&self, id: &str) -> Result<Option<RequestRecord>, StoreError> {
        Ok(self.lock()?.requests.iter().find(|x| x.id == id).cloned())
    }
    fn list_requests(
        &self,
        statuses: &[RequestStatus],
        limit: usize,
    ) -> Result<Vec<RequestRecord>, StoreError> {
        Ok(self
            .lock()?
            .requests
            .iter()
            .rev()
            .filter(|r| statuses.is_empty() || statuses.contains(&r.status))
            .take(limit)
            .cloned()
            .collect())
    }
    fn delete_request(&self, id: &str) -> Result<bool, StoreError> {
        let mut m = self.lock()?;
        let before = m.requests.len();
        m.requests.retain(|r| r.id != id);
        Ok(m.requests.len() != before)
    }
    fn append_audit(&self, e: &AuditEntry) -> Result<(), StoreError> {
        let mut m = self.lock()?;
        m.audit.push_back(e.clone());
        while m.audit.len() > MAX_AUDIT {
            m.audit.pop_front();
        }
        Ok(())
    }
    fn list_audit(
        &self,
        client: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        Ok(self
            .lock()?
            .audit
            .iter()
            .rev()
            .filter(|e| client.is_none_or(|c| e.client == c))
            .take(limit)
            .cloned()
            .collect())
    }
}
