//! [`Nip46Store`] on the box's redb [`crate::store::Store`]:
//! * transport key: sealed with the device key in the `keysets` table (`nip46-transport/<ns>`);
//! * relays, client sessions, bunker tokens: JSON in `settings` under `nip46/<ns>/…`
//!   (not in `ENV_WRITABLE`, so never shown by `/api/env`);
//! * pending/decided requests: memory (a waiting client cannot survive a restart anyway);
//! * audit: memory for the NIP-46 view, plus a durable copy in the store's audit log
//!   (`who = nip46:<client>`, `action = nip46.<method>`, `subject = keyset=<id> …`);
//! * which namespace each keyset's bunker uses: `nip46-ns/<keyset>` in `settings`
//!   ([`record_namespace`], written at every bunker start), so deleting a keyset deletes its
//!   bunker's data ([`forget_keyset`]) even while the keyset is locked.

use super::store::{
    AuditEntry, BunkerToken, ClientSession, MemStore, Nip46Store, RequestRecord, RequestStatus,
    StoreError,
};
use crate::store::Store;
use crate::vault::at_rest::{Sealed, open_with_device_key, seal_with_device_key};
use crate::vault::secret::Secret32;

pub struct RedbNip46Store {
    store: Store,
    device_key: Secret32,
    ns: String,
    mem: MemStore,
}

fn se(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

impl RedbNip46Store {
    /// `ns` names the identity (e.g. the keyset/profile id), so each identity has its own bunker.
    pub fn new(store: Store, device_key: Secret32, ns: &str) -> RedbNip46Store {
        RedbNip46Store {
            store,
            device_key,
            ns: ns.to_string(),
            mem: MemStore::new(),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    fn key(&self, rest: &str) -> String {
        format!("nip46/{}/{rest}", self.ns)
    }

    fn list_prefix<T: serde::de::DeserializeOwned>(
        &self,
        prefix: &str,
    ) -> Result<Vec<T>, StoreError> {
        let p = self.key(prefix);
        let mut out = Vec::new();
        for (k, v) in self.store.settings().map_err(se)? {
            if k.starts_with(&p) {
                match serde_json::from_str(&v) {
                    Ok(x) => out.push(x),
                    Err(e) => {
                        tracing::warn!(key = %k, error = %e, "nip46: unreadable stored record skipped")
                    }
                }
            }
        }
        Ok(out)
    }

    fn put_json<T: serde::Serialize>(&self, key: String, v: &T) -> Result<(), StoreError> {
        let s = serde_json::to_string(v).map_err(se)?;
        self.store.set_settings(&[(key, s)]).map_err(se)
    }
}

impl Nip46Store for RedbNip46Store {
    fn transport_key(&self) -> Result<Option<Secret32>, StoreError> {
        let Some(raw) = self
            .store
            .keyset(&format!("nip46-transport/{}", self.ns))
            .map_err(se)?
        else {
            return Ok(None);
        };
        let sealed: Sealed = serde_json::from_slice(&raw).map_err(se)?;
        let plain = open_with_device_key(&sealed, &self.device_key).map_err(se)?;
        Secret32::from_slice(plain.expose())
            .map(Some)
            .ok_or_else(|| StoreError("stored transport key is not 32 bytes".into()))
    }

    fn set_transport_key(&self, sk: &Secret32) -> Result<(), StoreError> {
        let sealed = seal_with_device_key(sk.expose(), &self.device_key).map_err(se)?;
        let json = serde_json::to_vec(&sealed).map_err(se)?;
        self.store
            .put_keyset(&format!("nip46-transport/{}", self.ns), &json)
            .map_err(se)
    }

    fn relays(&self) -> Result<Option<Vec<String>>, StoreError> {
        match self.store.setting(&self.key("relays")).map_err(se)? {
            Some(s) => Ok(Some(serde_json::from_str(&s).map_err(se)?)),
            None => Ok(None),
        }
    }

    fn set_relays(&self, relays: &[String]) -> Result<(), StoreError> {
        self.put_json(self.key("relays"), &relays)
    }

    fn get_client(&self, pubkey: &[u8; 32]) -> Result<Option<ClientSession>, StoreError> {
        match self
            .store
            .setting(&self.key(&format!("client/{}", hex::encode(pubkey))))
            .map_err(se)?
        {
            Some(s) => Ok(Some(serde_json::from_str(&s).map_err(se)?)),
            None => Ok(None),
        }
    }

    fn put_client(&self, c: &ClientSession) -> Result<(), StoreError> {
        self.put_json(self.key(&format!("client/{}", hex::encode(c.pubkey))), c)
    }

    fn delete_client(&self, pubkey: &[u8; 32]) -> Result<bool, StoreError> {
        let k = self.key(&format!("client/{}", hex::encode(pubkey)));
        Ok(!self.store.delete_settings(&[k]).map_err(se)?.is_empty())
    }

    fn list_clients(&self) -> Result<Vec<ClientSession>, StoreError> {
        self.list_prefix("client/")
    }

    fn put_token(&self, t: &BunkerToken) -> Result<(), StoreError> {
        self.put_json(self.key(&format!("token/{}", t.id)), t)
    }

    fn get_token_by_hash(&self, h: &[u8; 32]) -> Result<Option<BunkerToken>, StoreError> {
        use subtle::ConstantTimeEq;
        Ok(self
            .list_tokens()?
            .into_iter()
            .find(|t| bool::from(t.secret_hash.ct_eq(h))))
    }

    fn list_tokens(&self) -> Result<Vec<BunkerToken>, StoreError> {
        self.list_prefix("token/")
    }

    fn delete_token(&self, id: &str) -> Result<bool, StoreError> {
        let k = self.key(&format!("token/{id}"));
        Ok(!self.store.delete_settings(&[k]).map_err(se)?.is_empty())
    }

    fn put_request(&self, r: &RequestRecord) -> Result<(), StoreError> {
        self.mem.put_request(r)
    }

    fn get_request(&self, id: &str) -> Result<Option<RequestRecord>, StoreError> {
        self.mem.get_request(id)
    }

    fn list_requests(
        &self,
        statuses: &[RequestStatus],
        limit: usize,
    ) -> Result<Vec<RequestRecord>, StoreError> {
        self.mem.list_requests(statuses, limit)
    }

    fn delete_request(&self, id: &str) -> Result<bool, StoreError> {
        self.mem.delete_request(id)
    }

    fn append_audit(&self, e: &AuditEntry) -> Result<(), StoreError> {
        self.mem.append_audit(e)?;
        let mut subject = match e.kind {
            Some(k) => format!("{} kind {k}", e.request_id),
            None => e.request_id.clone(),
        };
        // Like the node routes' audit records: the keyset first (`keyset=<id> …`).
        if let Some(ks) = &e.keyset {
            subject = format!("keyset={ks} {subject}");
        }
        let result = if e.outcome == "ok" {
            "ok".to_string()
        } else {
            format!(
                "{}: {}",
                e.outcome,
                e.detail.chars().take(120).collect::<String>()
            )
        };
        self.store
            .audit(crate::store::AuditEntry {
                seq: 0,
                at: e.ts,
                who: format!("nip46:{}", e.client),
                action: format!(
                    "nip46.{}",
                    if e.method.is_empty() { "?" } else { &e.method }
                ),
                subject,
                result,
            })
            .map(|_| ())
            .map_err(se)
    }

    fn list_audit(
        &self,
        client: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.mem.list_audit(client, limit)
    }
}

/// Settings key naming the NIP-46 namespace of keyset `keyset`'s bunker.
fn ns_key(keyset: &str) -> String {
    format!("nip46-ns/{keyset}")
}

/// Records that keyset `keyset`'s bunker keeps its data under namespace `ns` (the profile id:
/// the default keyset keeps the namespace it always had). No write if already recorded.
pub fn record_namespace(store: &Store, keyset: &str, ns: &str) -> Result<(), StoreError> {
    let key = ns_key(keyset);
    if store.setting(&key).map_err(se)?.as_deref() == Some(ns) {
        return Ok(());
    }
    store.set_settings(&[(key, ns.to_string())]).map_err(se)
}

/// The NIP-46 namespace recorded for keyset `keyset` ([`record_namespace`]).
pub fn namespace_of(store: &Store, keyset: &str) -> Result<Option<String>, StoreError> {
    store.setting(&ns_key(keyset)).map_err(se)
}

/// Deletes the NIP-46 data of keyset `keyset`'s bunker: its transport key (so a later import
/// gets a new remote-signer pubkey), client sessions, bunker tokens, relays, and the namespace
/// record. Pending requests live in the running bunker's memory and end with it. Stop the
/// bunker first. Returns how many records were deleted (0: the keyset never ran a bunker).
pub fn forget_keyset(store: &Store, keyset: &str) -> Result<usize, StoreError> {
    let Some(ns) = namespace_of(store, keyset)? else {
        return Ok(0);
    };
    let all = store.settings().map_err(se)?;
    let own = ns_key(keyset);
    // Another keyset recorded with the same namespace (the same identity) keeps the data.
    let shared = all
        .iter()
        .any(|(k, v)| k.starts_with("nip46-ns/") && *k != own && *v == ns);
    let prefix = format!("nip46/{ns}/");
    let mut keys: Vec<String> = if shared {
        Vec::new()
    } else {
        all.into_iter()
            .map(|(k, _)| k)
            .filter(|k| k.starts_with(&prefix))
            .collect()
    };
    keys.push(own);
    let mut n = store.delete_settings(&keys).map_err(se)?.len();
    if !shared
        && store
            .delete_keyset(&format!("nip46-transport/{ns}"))
            .map_err(se)?
    {
        n += 1;
    }
    Ok(n)
}
