//! Persistent storage (redb): users, keysets, sessions, API keys, settings, peer policies, the
//! nonce ledger, NIP-46 clients and requests, and a bounded audit log.
//!
//! One file, `<data>/frostbox.redb` (directory 0700, file 0600). Every write is one redb
//! transaction committed with `Durability::Immediate`: when a method returns `Ok`, the write is
//! on disk (fsync) and survives a crash or power loss. Values are JSON; secrets are stored only
//! as sealed blobs (`vault::at_rest::Sealed`) or hashes.
//!
//! [`Store`] is a cheap clone (an `Arc` inside) and is `Send + Sync`. All methods are blocking;
//! each is one short transaction (call them from `spawn_blocking` if you do many in a row).

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("storage I/O: {0}")]
    Io(String),
    #[error("database: {0}")]
    Db(String),
    #[error("corrupt record in {table}: {reason}")]
    Corrupt { table: &'static str, reason: String },
    #[error("database schema version {found} is newer than this build supports ({supported})")]
    TooNew { found: u64, supported: u64 },
    #[error("{0} already exists")]
    Exists(String),
    #[error("{0} not found")]
    NotFound(String),
}

fn db<E: std::fmt::Display>(e: E) -> Error {
    Error::Db(e.to_string())
}

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const USERS: TableDefinition<&str, &[u8]> = TableDefinition::new("users");
const SESSIONS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("sessions");
const API_KEYS: TableDefinition<u64, &[u8]> = TableDefinition::new("api_keys");
const KEYSETS: TableDefinition<&str, &[u8]> = TableDefinition::new("keysets");
const SETTINGS: TableDefinition<&str, &str> = TableDefinition::new("settings");
const PEER_POLICIES: TableDefinition<&str, &[u8]> = TableDefinition::new("peer_policies");
const NONCE_LEDGER: TableDefinition<&[u8], u64> = TableDefinition::new("nonce_ledger");
const NIP46_CLIENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("nip46_clients");
const NIP46_REQUESTS: TableDefinition<&str, &[u8]> = TableDefinition::new("nip46_requests");
const AUDIT: TableDefinition<u64, &[u8]> = TableDefinition::new("audit");
/// Public metadata of each stored keyset (label, group key, threshold): readable while the
/// keyset itself is sealed (locked mode). Added in schema 3.
const KEYSET_META: TableDefinition<&str, &[u8]> = TableDefinition::new("keyset_meta");

/// Current schema version. Bump it and append to [`migrate`] when tables change.
pub const SCHEMA_VERSION: u64 = 4;
/// The id of the first keyset (the one every single-keyset route and `GROUP_CRED` use).
pub const DEFAULT_KEYSET: &str = "default";
/// How long a consumed nonce code stays in the ledger (30 days): far beyond any nonce's life,
/// which ends with its process at the latest (see [`Store::prune_consumed_before`]).
pub const NONCE_LEDGER_RETENTION_SECS: u64 = 30 * 86_400;

/// The audit log keeps the newest this many records.
pub const AUDIT_CAP: u64 = 10_000;

/// Unix time in seconds.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: u64,
    pub username: String,
    /// JSON of `vault::at_rest::PasswordHash`.
    pub password_hash: String,
    /// `admin` or `user`.
    pub role: String,
    pub created_at: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub user_id: u64,
    pub created_at: u64,
    pub expires_at: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    pub id: u64,
    /// First 12 characters of the token (shown in lists, used for lookup).
    pub prefix: String,
    /// Hex SHA-256 of the token.
    pub key_hash: String,
    pub label: Option<String>,
    pub created_at: u64,
    pub created_by_user_id: Option<u64>,
    pub created_by_admin: bool,
    pub last_used_at: Option<u64>,
    pub last_used_ip: Option<String>,
    pub revoked_at: Option<u64>,
    pub revoked_reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerPolicy {
    /// The keyset this policy belongs to (records from before schema 4 belong to
    /// [`DEFAULT_KEYSET`]).
    #[serde(default = "default_keyset_id")]
    pub keyset: String,
    /// Lowercase hex x-only (64) or compressed (66) pubkey as given by the group.
    pub pubkey: String,
    pub allow_send: bool,
    pub allow_receive: bool,
    pub label: Option<String>,
    pub note: Option<String>,
    pub updated_at: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nip46Client {
    pub pubkey: String,
    /// `pending`, `active` or `revoked`.
    pub status: String,
    pub name: Option<String>,
    pub relays: Vec<String>,
    /// Allowed methods and kinds (allow-list).
    pub methods: Vec<String>,
    pub kinds: Vec<String>,
    pub created_at: u64,
    pub last_active_at: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nip46Request {
    pub id: String,
    pub client_pubkey: String,
    pub method: String,
    /// Request parameters as JSON (never secrets; encrypted payloads stay encrypted).
    pub params: String,
    /// `pending`, `approved`, `denied`, `completed`, `failed`, `expired`.
    pub status: String,
    pub created_at: u64,
    pub expires_at: u64,
}

/// One audit record: who asked for what, when, and how it ended. Never content or secrets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    #[serde(default)]
    pub seq: u64,
    pub at: u64,
    /// e.g. `user:1`, `api-key:abcd1234abcd`, `nip46:<pubkey>`, `peer:<pubkey>`.
    pub who: String,
    /// e.g. `sign`, `ecdh`, `login`, `api-key.create`.
    pub action: String,
    /// A non-secret subject (message id, peer pubkey) or empty.
    pub subject: String,
    /// `ok` or a short error code.
    pub result: String,
}

/// Public (non-secret) metadata of a stored keyset, shown by `GET /api/keysets` even while the
/// keyset is locked. Group fields are filled in when its node first starts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeysetMeta {
    pub label: String,
    /// Hex x-only group public key (empty until known).
    #[serde(default)]
    pub group_pk: String,
    #[serde(default)]
    pub threshold: u16,
    #[serde(default)]
    pub total: u16,
    /// `next` (current generation) or `legacy` (1.0.x); empty until known.
    #[serde(default)]
    pub generation: String,
    #[serde(default)]
    pub created_at: u64,
    /// The operator opted this keyset into the legacy 1.0.x generation (FROSTR.md §0.2: it leaks
    /// shares) when importing it. Records written before this field existed read `false`.
    #[serde(default)]
    pub legacy: bool,
}

fn default_keyset_id() -> String {
    DEFAULT_KEYSET.to_string()
}

/// Key of a peer policy in `PEER_POLICIES` (schema 4): `<keyset>/<pubkey>`.
fn policy_key(keyset: &str, pubkey: &str) -> String {
    format!("{keyset}/{pubkey}")
}

/// The keyset ids in a `KEYSETS` table, sorted (other sealed blobs stored there, the NIP-46
/// transport keys, are skipped: a keyset id is always a [`valid_keyset_id`]).
fn keyset_ids_in(
    t: &impl ReadableTable<&'static str, &'static [u8]>,
) -> Result<Vec<String>, Error> {
    let mut out = Vec::new();
    for item in t.iter().map_err(db)? {
        let (k, _) = item.map_err(db)?;
        if valid_keyset_id(k.value()) {
            out.push(k.value().to_string());
        }
    }
    Ok(out)
}

/// Whether `id` is a valid keyset id: 1-32 of `a-z 0-9 _ -`, starting with a letter or digit.
pub fn valid_keyset_id(id: &str) -> bool {
    (1..=32).contains(&id.len())
        && id
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-')
        && id.bytes().next().is_some_and(|c| c.is_ascii_alphanumeric())
}

/// The storage handle.
#[derive(Clone)]
pub struct Store {
    db: Arc<Database>,
    path: Arc<PathBuf>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({})", self.path.display())
    }
}

fn enc<T: Serialize>(v: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(v).map_err(db)
}

fn dec<T: DeserializeOwned>(table: &'static str, b: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(b).map_err(|e| Error::Corrupt {
        table,
        reason: e.to_string(),
    })
}

/// Creates `dir` (and parents) and restricts it to 0700.
pub fn prepare_data_dir(dir: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(|e| Error::Io(format!("{}: {e}", dir.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // Best effort: a read-only or foreign-owned mount (Umbrel) may refuse; the file mode
        // below still protects the database.
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    Ok(())
}

/// Migration steps: `MIGRATIONS[i]` brings a database from version `i + 1` to `i + 2`.
/// Version 1 had users/sessions/api keys/keysets/settings/peer policies/nonce ledger; version 2
/// added NIP-46 clients and requests and the audit log (with its sequence counter); version 3
/// added `keyset_meta` (public metadata per keyset id) and a metadata record for every keyset
/// already stored (an existing `default` keyset keeps its id and sealed blob unchanged);
/// version 4 keys peer policies by (keyset, peer): every policy stored before belongs to the
/// `default` keyset (key `<pubkey>` → `default/<pubkey>`, record gains `keyset`).
fn migrate(txn: &redb::WriteTransaction, from: u64) -> Result<(), Error> {
    if from == 3 {
        let mut t = txn.open_table(PEER_POLICIES).map_err(db)?;
        let mut old = Vec::new();
        for item in t.iter().map_err(db)? {
            let (k, v) = item.map_err(db)?;
            if !k.value().contains('/') {
                let p: PeerPolicy = dec("peer_policies", v.value())?;
                old.push((k.value().to_string(), p));
            }
        }
        for (k, mut p) in old {
            t.remove(k.as_str()).map_err(db)?;
            p.keyset = DEFAULT_KEYSET.to_string();
            t.insert(
                policy_key(&p.keyset, &p.pubkey).as_str(),
                enc(&p)?.as_slice(),
            )
            .map_err(db)?;
        }
    }
    if from == 2 {
        let ids = keyset_ids_in(&txn.open_table(KEYSETS).map_err(db)?)?;
        let mut meta = txn.open_table(KEYSET_META).map_err(db)?;
        for id in ids {
            if meta.get(id.as_str()).map_err(db)?.is_none() {
                let m = KeysetMeta {
                    label: id.clone(),
                    ..KeysetMeta::default()
                };
                meta.insert(id.as_str(), enc(&m)?.as_slice()).map_err(db)?;
            }
        }
    }
    if from < 2 {
        txn.open_table(NIP46_CLIENTS).map_err(db)?;
        txn.open_table(NIP46_REQUESTS).map_err(db)?;
        txn.open_table(AUDIT).map_err(db)?;
        let mut meta = txn.open_table(META).map_err(db)?;
        if meta.get("audit_seq").map_err(db)?.is_none() {
            meta.insert("audit_seq", 0).map_err(db)?;
        }
    }
    Ok(())
}

fn create_v1(txn: &redb::WriteTransaction) -> Result<(), Error> {
    txn.open_table(USERS).map_err(db)?;
    txn.open_table(SESSIONS).map_err(db)?;
    txn.open_table(API_KEYS).map_err(db)?;
    txn.open_table(KEYSETS).map_err(db)?;
    txn.open_table(SETTINGS).map_err(db)?;
    txn.open_table(PEER_POLICIES).map_err(db)?;
    txn.open_table(NONCE_LEDGER).map_err(db)?;
    let mut meta = txn.open_table(META).map_err(db)?;
    meta.insert("schema_version", 1).map_err(db)?;
    meta.insert("next_user_id", 1).map_err(db)?;
    meta.insert("next_api_key_id", 1).map_err(db)?;
    Ok(())
}

impl Store {
    /// Opens (or creates) `<data_dir>/frostbox.redb`, creating the directory 0700 and the file
    /// 0600, and migrates it to [`SCHEMA_VERSION`].
    pub fn open_dir(data_dir: &Path) -> Result<Store, Error> {
        prepare_data_dir(data_dir)?;
        Store::open(&data_dir.join("frostbox.redb"))
    }

    /// Opens (or creates) the database file at `path`.
    pub fn open(path: &Path) -> Result<Store, Error> {
        Self::open_at(path, SCHEMA_VERSION)
    }

    /// Opens, creating a fresh database at schema `target` (tests of migrations use `target < SCHEMA_VERSION`).
    #[doc(hidden)]
    pub fn open_at(path: &Path, target: u64) -> Result<Store, Error> {
        let fresh = !path.exists();
        if fresh {
            // Create the file with 0600 before redb opens it.
            let mut o = std::fs::OpenOptions::new();
            o.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                o.mode(0o600);
            }
            o.open(path)
                .map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
        }
        let database = Database::builder()
            .set_cache_size(4 * 1024 * 1024)
            .create(path)
            .map_err(db)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
        }
        let store = Store {
            db: Arc::new(database),
            path: Arc::new(path.to_path_buf()),
        };
        store.init_schema(target)?;
        Ok(store)
    }

    fn init_schema(&self, target: u64) -> Result<(), Error> {
        let txn = self.db.begin_write().map_err(db)?;
        let version = {
            let meta = txn.open_table(META).map_err(db)?;

            meta.get("schema_version").map_err(db)?.map(|g| g.value())
        };
        let mut v = match version {
            Some(v) => v,
            None => {
                create_v1(&txn)?;
                1
            }
        };
        if v > SCHEMA_VERSION {
            return Err(Error::TooNew {
                found: v,
                supported: SCHEMA_VERSION,
            });
        }
        while v < target {
            migrate(&txn, v)?;
            v += 1;
        }
        txn.open_table(META)
            .map_err(db)?
            .insert("schema_version", v)
            .map_err(db)?;
        txn.commit().map_err(db)?;
        Ok(())
    }

    /// The schema version recorded in the file.
    pub fn schema_version(&self) -> Result<u64, Error> {
        self.meta("schema_version").map(|v| v.unwrap_or(0))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn meta(&self, k: &str) -> Result<Option<u64>, Error> {
        let r = self.db.begin_read().map_err(db)?;
        let t = r.open_table(META).map_err(db)?;
        Ok(t.get(k).map_err(db)?.map(|g| g.value()))
    }

    fn next_id(txn: &redb::WriteTransaction, counter: &str) -> Result<u64, Error> {
        let mut meta = txn.open_table(META).map_err(db)?;
        let id = meta
            .get(counter)
            .map_err(db)?
            .map(|g| g.value())
            .unwrap_or(1);
        meta.insert(counter, id + 1).map_err(db)?;
        Ok(id)
    }

    // ---- users ----

    /// Number of users (0 → first-run onboarding).
    pub fn user_count(&self) -> Result<u64, Error> {
        let r = self.db.begin_read().map_err(db)?;
        r.open_table(USERS).map_err(db)?.len().map_err(db)
    }

    /// Creates a user; fails with `Exists` if the name is taken.
    pub fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        role: &str,
    ) -> Result<User, Error> {
        let txn = self.db.begin_write().map_err(db)?;
        let user = {
            let mut t = txn.open_table(USERS).map_err(db)?;
            if t.get(username).map_err(db)?.is_some() {
                return Err(Error::Exists(format!("user {username}")));
            }
            let id = Self::next_id(&txn, "next_user_id")?;
            let u = User {
                id,
                username: username.into(),
                password_hash: password_hash.into(),
                role: role.into(),
                created_at: now(),
            };
            t.insert(username, enc(&u)?.as_slice()).map_err(db)?;
            u
        };
        txn.commit().map_err(db)?;
        Ok(user)
    }

    pub fn user_by_name(&self, username: &str) -> Result<Option<User>, Error> {
        let r = self.db.begin_read().map_err(db)?;
        let t = r.open_table(USERS).map_err(db)?;
        let v = t.get(username).map_err(db)?;
        v.map(|g| dec("users", g.value())).transpose()
    }

    /// Replaces a user's password hash (JSON of `PasswordHash`); `false` if no such user.
    pub fn set_user_password(&self, username: &str, password_hash: &str) -> Result<bool, Error> {
        let txn = self.db.begin_write().map_err(db)?;
        let found = {
            let mut t = txn.open_table(USERS).map_err(db)?;
            let cur: Option<User> = t
                .get(username)
                .map_err(db)?
                .map(|g| dec("users", g.value()))
                .transpose()?;
            match cur {
                Some(mut u) => {
                    u.password_hash = password_hash.into();
                    t.insert(username, enc(&u)?.as_slice()).map_err(db)?;
                    true
                }
                None => false,
            }
        };
        txn.commit().map_err(db)?;
        Ok(found)
    }

    pub fn user_by_id(&self, id: u64) -> Result<Option<User>, Error> {
        Ok(self.users()?.into_iter().find(|u| u.id == id))
    }

    pub fn users(&self) -> Result<Vec<User>, Error> {
        let r = self.db.begin_read().map_err(db)?;
        let t = r.open_table(USERS).map_err(db)?;
        let mut out = Vec::new();
        for item in t.iter().map_err(db)? {
            let (_, v) = item.map_err(db)?;
            out.push(dec("users", v.value())?);
        }
        Ok(out)
    }

    // ---- sessions (keyed by SHA-256 of the token; the token itself is never stored) ----

    pub fn put_session(&self, token_hash: &[u8; 32], s: &Session) -> Result<(), Error> {
        self.put_bytes(SESSIONS, token_hash, &enc(s)?)
    }

    pub fn session(&self, token_hash: &[u8; 32]) -> Result<Option<Session>, Error> {
        let r = self.db.begin_read().map_err(db)?;
        let t = r.open_table(SESSIONS).map_err(db)?;
        let v = t.get(token_hash.as_slice()).map_err(db)?;
        v.map(|g| dec("sessions", g.value())).transpose()
    }

    pub fn delete_session(&self, token_hash: &[u8; 32]) -> Result<bool, Error> {
        let txn = self.db.begin_write().map_err(db)?;
        let existed = txn
            .open_table(SESSIONS)
            .map_err(db)?
            .remove(token_hash.as_slice())
            .map_err(db)?
            .is_some();
        txn.commit().map_err(db)?;
        Ok(existed)
    }

    /// Deletes expired sessions; returns how many.
    pub fn purge_sessions(&self, now: u64) -> Result<usize, Error> {
        let txn = self.db.begin_write().map_err(db)?;
        let n = {
            let mut t = txn.open_table(SESSIONS).map_err(db)?;
            let gone = t
                .extract_if(|_, v| {
                    serde_json::from_slice::<Session>(v)
                        .map(|s| s.expires_at <= now)
                        .unwrap_or(true)
                })
                .map_err(db)?;
            gone.count()
        };
        txn.commit().map_err(db)?;
        Ok(n)
    }

    // ---- API keys ----

    /// Stores a new API key record (id assigned here).
    pub fn create_api_key(&self, mut k: ApiKey) -> Result<ApiKey, Error> {
        let txn = self.db.begin_write().map_err(db)?;
        {
            let id = Self::next_id(&txn, "next_api_key_id")?;
            k.id = id;
            let mut t = txn.open_table(API_KEYS).map_err(db)?;
            for item in t.iter().map_err(db)? {
                let (_, v) = item.map_err(db)?;
                let other: ApiKey = dec("api_keys", v.value())?;
                if other.prefix == k.prefix {
                    return Err(Error::Exists("API key prefix".into()));
                }
            }
            t.insert(id, enc(&k)?.as_slice()).map_err(db)?;
        }
        txn.commit().map_err(db)?;
        Ok(k)
    }

    pub fn api_keys(&self) -> Result<Vec<ApiKey>, Error> {
        let r = self.db.begin_read().map_err(db)?;
        let t = r.open_table(API_KEYS).map_err(db)?;
        let mut out = Vec::new();
        for item in t.iter().map_err(db)? {
            let (_, v) = item.map_err(db)?;
            out.push(dec("api_keys", v.value())?);
        }
        Ok(out)
    }

    pub fn api_key(&self, id: u64) -> Result<Option<ApiKey>, Error> {
        let r = self.db.begin_read().map_err(db)?;
        let t = r.open_table(API_KEYS).map_err(db)?;
        let v = t.get(id).map_err(db)?;
        v.map(|g| dec("api_keys", g.value())).transpose()
    }

    /// Replaces an API key record (revocation, last-used updates).
    pub fn update_api_key(&self, k: &ApiKey) -> Result<(), Error> {
        let txn = self.db.begin_write().map_err(db)?;
        {
            let mut t = txn.open_table(API_KEYS).map_err(db)?;
            if t.get(k.id).map_err(db)?.is_none() {
                return Err(Error::NotFound("API key".into()));
            }
            t.insert(k.id, enc(k)?.as_slice()).map_err(db)?;
        }
        txn.commit().map_err(db)?;
        Ok(())
    }

    // ---- keysets (sealed blobs only) ----

    pub fn put_keyset(&self, name: &str, sealed_json: &[u8]) -> Result<(), Error> {
        self.put_str_bytes(KEYSETS, name, sealed_json)
    }

    pub fn keyset(&self, name: &str) -> Result<Option<Vec<u8>>, Error> {
        let r = self.db.begin_read().map_err(db)?;
        let t = r.open_table(KEYSETS).map_err(db)?;
        Ok(t.get(name).map_err(db)?.map(|g| g.value().to_vec()))
    }

    /// Deletes a keyset, its metadata and its peer policies in one transaction; `false` if
    /// neither keyset nor metadata existed.
    pub fn delete_keyset(&self, name: &str) -> Result<bool, Error> {
        let txn = self.db.begin_write().map_err(db)?;
        {
            let prefix = policy_key(name, "");
            let mut t = txn.open_table(PEER_POLICIES).map_err(db)?;
            t.retain_in(prefix.as_str().., |k, _| !k.starts_with(&prefix))
                .map_err(db)?;
        }
        let existed = {
            let a = txn
                .open_table(KEYSETS)
                .map_err(db)?
                .remove(name)
                .map_err(db)?
                .is_some();
            let b = txn
                .open_table(KEYSET_META)
                .map_err(db)?
                .remove(name)
                .map_err(db)?
                .is_some();
            a || b
        };
        txn.commit().map_err(db)?;
        Ok(existed)
    }

    /// Ids of every stored keyset, sorted. Other sealed blobs in the table (the NIP-46
    /// transport keys, `nip46-transport/<ns>`) are not keysets and are skipped: a keyset id is
    /// always a [`valid_keyset_id`].
    pub fn keyset_ids(&self) -> Result<Vec<String>, Error> {
        let r = self.db.begin_read().map_err(db)?;
        keyset_ids_in(&r.open_table(KEYSETS).map_err(db)?)
    }

    pub fn put_keyset_meta(&self, id: &str, m: &KeysetMeta) -> Result<(), Error> {
        self.put_str_bytes(KEYSET_META, id, &enc(m)?)
    }

    pub fn keyset_meta(&self, id: &str) -> Result<Option<KeysetMeta>, Error> {
        let r = self.db.begin_read().map_err(db)?;
        let t = r.open_table(KEYSET_META).map_err(db)?;
        let v = t.get(id).map_err(db)?;
        v.map(|g| dec("keyset_meta", g.value())).transpose()
    }

    // ---- settings (what igloo-server kept in ./.env) ----

    pub fn settings(&self) -> Result<Vec<(String, String)>, Error> {
        let r = self.db.begin_read().map_err(db)?;
        let t = r.open_table(SETTINGS).map_err(db)?;
        let mut out = Vec::new();
        for item in t.iter().map_err(db)? {
            let (k, v) = item.map_err(db)?;
            out.push((k.value().to_string(), v.value().to_string()));
        }
        Ok(out)
    }

    pub fn setting(&self, k: &str) -> Result<Option<String>, Error> {
        let r = self.db.begin_read().map_err(db)?;
        let t = r.open_table(SETTINGS).map_err(db)?;
        Ok(t.get(k).map_err(db)?.map(|g| g.value().to_string()))
    }

    /// Sets several settings in one transaction.
    pub fn set_settings(&self, kv: &[(String, String)]) -> Result<(), Error> {
        let txn = self.db.begin_write().map_err(db)?;
        {
            let mut t = txn.open_table(SETTINGS).map_err(db)?;
            for (k, v) in kv {
                t.insert(k.as_str(), v.as_str()).map_err(db)?;
            }
        }
        txn.commit().map_err(db)
    }

    /// Deletes settings; returns the keys that existed.
    pub fn delete_settings(&self, keys: &[String]) -> Result<Vec<String>, Error> {
        let txn = self.db.begin_write().map_err(db)?;
        let mut gone = Vec::new();
        {
            let mut t = txn.open_table(SETTINGS).map_err(db)?;
            for k in keys {
                if t.remove(k.as_str()).map_err(db)?.is_some() {
                    gone.push(k.clone());
                }
            }
        }
        txn.commit().map_err(db)?;
        Ok(gone)
    }

    // ---- peer policies ----

    /// Stores `p` for its keyset (`p.keyset`) and peer, replacing that pair's policy.
    pub fn put_peer_policy(&self, p: &PeerPolicy) -> Result<(), Error> {
        self.put_str_bytes(PEER_POLICIES, &policy_key(&p.keyset, &p.pubkey), &enc(p)?)
    }

    /// Every stored policy of every keyset.
    pub fn peer_policies(&self) -> Result<Vec<PeerPolicy>, Error> {
        self.all_str(PEER_POLICIES, "peer_policies")
    }

    /// The stored policies of one keyset.
    pub fn peer_policies_of(&self, keyset: &str) -> Result<Vec<PeerPolicy>, Error> {
        let r = self.db.begin_read().map_err(db)?;
        let t = r.open_table(PEER_POLICIES).map_err(db)?;
        let prefix = policy_key(keyset, "");
        let mut out = Vec::new();
        for item in t.range(prefix.as_str()..).map_err(db)? {
            let (k, v) = item.map_err(db)?;
            if !k.value().starts_with(&prefix) {
                break;
            }
            out.push(dec("peer_policies", v.value())?);
        }
        Ok(out)
    }

    /// Deletes keyset `keyset`'s policy of `pubkey` (as stored); `false` if there was none.
    pub fn delete_peer_policy(&self, keyset: &str, pubkey: &str) -> Result<bool, Error> {
        self.remove_str(PEER_POLICIES, &policy_key(keyset, pubkey))
    }

    // ---- nonce ledger ----

    /// Records that the nonce with this code was used. Durable (fsync) before returning: call it
    /// before a partial signature leaves the process.
    pub fn record_consumed(&self, code: &[u8; 32]) -> Result<(), Error> {
        let txn = self.db.begin_write().map_err(db)?;
        txn.open_table(NONCE_LEDGER)
            .map_err(db)?
            .insert(code.as_slice(), now())
            .map_err(db)?;
        txn.commit().map_err(db)
    }

    /// Records a batch of codes as used in one durable transaction (one fsync for all of them).
    /// Returns `Ok(false)` and writes nothing if any code was recorded before.
    pub fn record_consumed_batch(&self, codes: &[[u8; 32]]) -> Result<bool, Error> {
        let txn = self.db.begin_write().map_err(db)?;
        {
            let mut t = txn.open_table(NONCE_LEDGER).map_err(db)?;
            let at = now();
            for code in codes {
                if t.insert(code.as_slice(), at).map_err(db)?.is_some() {
                    drop(t);
                    txn.abort().map_err(db)?;
                    return Ok(false);
                }
            }
        }
        txn.commit().map_err(db)?;
        Ok(true)
    }

    /// Forgets the codes recorded before `before` (unix seconds); returns how many. The codes
    /// guard a running process (its reserved set, its non-reserved path) and catch a repeating
    /// random generator at `reserve`; a nonce never outlives its process, so a code older than
    /// [`NONCE_LEDGER_RETENTION_SECS`] guards nothing a fresh 256-bit code could collide with.
    /// Without pruning the table grows by one entry per nonce ever issued.
    pub fn prune_consumed_before(&self, before: u64) -> Result<u64, Error> {
        let txn = self.db.begin_write().map_err(db)?;
        let pruned = {
            let mut t = txn.open_table(NONCE_LEDGER).map_err(db)?;
            let was = t.len().map_err(db)?;
            t.retain(|_, at| at >= before).map_err(db)?;
            was - t.len().map_err(db)?
        };
        txn.commit().map_err(db)?;
        Ok(pruned)
    }

    /// Whether the nonce with this code was ever recorded as used.
    pub fn is_consumed(&self, code: &[u8; 32]) -> Result<bool, Error> {
        let r = self.db.begin_read().map_err(db)?;
        let t = r.open_table(NONCE_LEDGER).map_err(db)?;
        Ok(t.get(code.as_slice()).map_err(db)?.is_some())
    }

    pub fn consumed_count(&self) -> Result<u64, Error> {
        let r = self.db.begin_read().map_err(db)?;
        r.open_table(NONCE_LEDGER).map_err(db)?.len().map_err(db)
    }

    // ---- NIP-46 ----

    pub fn put_nip46_client(&self, c: &Nip46Client) -> Result<(), Error> {
        self.put_str_bytes(NIP46_CLIENTS, &c.pubkey, &enc(c)?)
    }
    pub fn nip46_clients(&self) -> Result<Vec<Nip46Client>, Error> {
        self.all_str(NIP46_CLIENTS, "nip46_clients")
    }
    pub fn delete_nip46_client(&self, pubkey: &str) -> Result<bool, Error> {
        self.remove_str(NIP46_CLIENTS, pubkey)
    }
    pub fn put_nip46_request(&self, q: &Nip46Request) -> Result<(), Error> {
        self.put_str_bytes(NIP46_REQUESTS, &q.id, &enc(q)?)
    }
    pub fn nip46_requests(&self) -> Result<Vec<Nip46Request>, Error> {
        self.all_str(NIP46_REQUESTS, "nip46_requests")
    }
    pub fn delete_nip46_request(&self, id: &str) -> Result<bool, Error> {
        self.remove_str(NIP46_REQUESTS, id)
    }
    /// Marks pending requests past `expires_at` as expired and deletes finished ones older than
    /// `keep_secs`. Returns (expired, deleted).
    pub fn sweep_nip46_requests(&self, now: u64, keep_secs: u64) -> Result<(usize, usize), Error> {
        let all = self.nip46_requests()?;
        let txn = self.db.begin_write().map_err(db)?;
        let (mut exp, mut del) = (0, 0);
        {
            let mut t = txn.open_table(NIP46_REQUESTS).map_err(db)?;
            for mut q in all {
                if q.status == "pending" && q.expires_at <= now {
                    q.status = "expired".into();
                    t.insert(q.id.as_str(), enc(&q)?.as_slice()).map_err(db)?;
                    exp += 1;
                } else if q.status != "pending" && q.created_at + keep_secs <= now {
                    t.remove(q.id.as_str()).map_err(db)?;
                    del += 1;
                }
            }
        }
        txn.commit().map_err(db)?;
        Ok((exp, del))
    }

    // ---- audit ----

    /// Appends an audit record (seq assigned here) and drops the oldest beyond [`AUDIT_CAP`].
    pub fn audit(&self, mut e: AuditEntry) -> Result<u64, Error> {
        self.audit_capped(&mut e, AUDIT_CAP)
    }

    #[doc(hidden)]
    pub fn audit_capped(&self, e: &mut AuditEntry, cap: u64) -> Result<u64, Error> {
        let mut txn = self.db.begin_write().map_err(db)?;
        // Audit records ride along with the next durable commit (the nonce ledger writes one
        // per signature): no fsync of its own, so auditing does not halve signing throughput.
        txn.set_durability(redb::Durability::None).map_err(db)?;
        let seq = {
            let mut meta = txn.open_table(META).map_err(db)?;
            let seq = meta
                .get("audit_seq")
                .map_err(db)?
                .map(|g| g.value())
                .unwrap_or(0)
                + 1;
            meta.insert("audit_seq", seq).map_err(db)?;
            seq
        };
        e.seq = seq;
        {
            let mut t = txn.open_table(AUDIT).map_err(db)?;
            t.insert(seq, enc(e)?.as_slice()).map_err(db)?;
            if seq > cap {
                let cutoff = seq - cap;
                let old = t.extract_from_if(..=cutoff, |_, _| true).map_err(db)?;
                old.count();
            }
        }
        txn.commit().map_err(db)?;
        Ok(seq)
    }

    /// The newest `limit` audit records, newest first.
    pub fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>, Error> {
        let r = self.db.begin_read().map_err(db)?;
        let t = r.open_table(AUDIT).map_err(db)?;
        let mut out = Vec::new();
        for item in t.iter().map_err(db)?.rev().take(limit) {
            let (_, v) = item.map_err(db)?;
            out.push(dec("audit", v.value())?);
        }
        Ok(out)
    }

    // ---- helpers ----

    fn put_bytes(
        &self,
        def: TableDefinition<&[u8], &[u8]>,
        k: &[u8],
        v: &[u8],
    ) -> Result<(), Error> {
        let txn = self.db.begin_write().map_err(db)?;
        txn.open_table(def).map_err(db)?.insert(k, v).map_err(db)?;
        txn.commit().map_err(db)
    }

    fn put_str_bytes(
        &self,
        def: TableDefinition<&str, &[u8]>,
        k: &str,
        v: &[u8],
    ) -> Result<(), Error> {
        let txn = self.db.begin_write().map_err(db)?;
        txn.open_table(def).map_err(db)?.insert(k, v).map_err(db)?;
        txn.commit().map_err(db)
    }

    fn remove_str(&self, def: TableDefinition<&str, &[u8]>, k: &str) -> Result<bool, Error> {
        let txn = self.db.begin_write().map_err(db)?;
        let existed = txn
            .open_table(def)
            .map_err(db)?
            .remove(k)
            .map_err(db)?
            .is_some();
        txn.commit().map_err(db)?;
        Ok(existed)
    }

    fn all_str<T: DeserializeOwned>(
        &self,
        def: TableDefinition<&str, &[u8]>,
        name: &'static str,
    ) -> Result<Vec<T>, Error> {
        let r = self.db.begin_read().map_err(db)?;
        let t = r.open_table(def).map_err(db)?;
        let mut out = Vec::new();
        for item in t.iter().map_err(db)? {
            let (_, v) = item.map_err(db)?;
            out.push(dec(name, v.value())?);
        }
        Ok(out)
    }
}

/// The nonce ledger the signing node uses (see `frost::NonceLedger`): `record_consumed` is
/// durable before it returns.
pub trait NonceLedgerStore: Send + Sync {
    fn record_consumed(&self, code: &[u8; 32]) -> Result<(), Error>;
    /// `Ok(false)` (nothing written) when any code was recorded before.
    fn record_consumed_batch(&self, codes: &[[u8; 32]]) -> Result<bool, Error>;
    fn is_consumed(&self, code: &[u8; 32]) -> Result<bool, Error>;
}

impl NonceLedgerStore for Store {
    fn record_consumed(&self, code: &[u8; 32]) -> Result<(), Error> {
        Store::record_consumed(self, code)
    }
    fn record_consumed_batch(&self, codes: &[[u8; 32]]) -> Result<bool, Error> {
        Store::record_consumed_batch(self, codes)
    }
    fn is_consumed(&self, code: &[u8; 32]) -> Result<bool, Error> {
        Store::is_consumed(self, code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp() -> (tempfile::TempDir, Store) {
        let d = tempfile::tempdir().expect("tmp");
        let s = Store::open_dir(&d.path().join("data")).expect("open");
        (d, s)
    }

    #[test]
    fn users_unique_and_counted() {
        let (_d, s) = tmp();
        assert_eq!(s.user_count().expect("count"), 0);
        let u = s.create_user("alice", "{}", "admin").expect("create");
        assert_eq!(u.id, 1);
        assert!(matches!(
            s.create_user("alice", "{}", "user"),
            Err(Error::Exists(_))
        ));
        let b = s.create_user("bob", "{}", "user").expect("create");
        assert_eq!(b.id, 2);
        assert_eq!(s.user_count().expect("count"), 2);
        assert_eq!(
            s.user_by_id(2).expect("get").map(|u| u.username),
            Some("bob".into())
        );
    }

    #[test]
    fn sessions_expire_and_purge() {
        let (_d, s) = tmp();
        let a = [1u8; 32];
        let b = [2u8; 32];
        s.put_session(
            &a,
            &Session {
                user_id: 1,
                created_at: 0,
                expires_at: 10,
            },
        )
        .expect("put");
        s.put_session(
            &b,
            &Session {
                user_id: 1,
                created_at: 0,
                expires_at: 100,
            },
        )
        .expect("put");
        assert_eq!(s.purge_sessions(50).expect("purge"), 1);
        assert!(s.session(&a).expect("get").is_none());
        assert!(s.session(&b).expect("get").is_some());
        assert!(s.delete_session(&b).expect("del"));
        assert!(!s.delete_session(&b).expect("del"));
    }

    #[test]
    fn nonce_ledger_is_persistent() {
        let d = tempfile::tempdir().expect("tmp");
        let code = [9u8; 32];
        {
            let s = Store::open_dir(d.path()).expect("open");
            assert!(!s.is_consumed(&code).expect("q"));
            s.record_consumed(&code).expect("rec");
        }
        let s = Store::open_dir(d.path()).expect("reopen");
        assert!(s.is_consumed(&code).expect("q"));
        assert!(!s.is_consumed(&[8u8; 32]).expect("q"));
    }

    #[test]
    fn nonce_ledger_prunes_only_codes_past_retention() {
        let (_d, s) = tmp();
        // Recorded 40, 31 and 29 days ago (written with explicit timestamps), and one now.
        let now = now();
        let aged = [(1u8, 40u64), (2, 31), (3, 29)];
        {
            let txn = s.db.begin_write().expect("w");
            {
                let mut t = txn.open_table(NONCE_LEDGER).expect("t");
                for (b, days) in aged {
                    t.insert([b; 32].as_slice(), now - days * 86_400)
                        .expect("ins");
                }
            }
            txn.commit().expect("commit");
        }
        s.record_consumed(&[4u8; 32]).expect("rec");
        let before = now - NONCE_LEDGER_RETENTION_SECS;
        assert_eq!(s.prune_consumed_before(before).expect("prune"), 2);
        assert!(!s.is_consumed(&[1u8; 32]).expect("q"));
        assert!(!s.is_consumed(&[2u8; 32]).expect("q"));
        assert!(s.is_consumed(&[3u8; 32]).expect("q"));
        assert!(s.is_consumed(&[4u8; 32]).expect("q"));
        assert_eq!(s.consumed_count().expect("n"), 2);
        // Idempotent; a batch colliding with a kept code is still refused.
        assert_eq!(s.prune_consumed_before(before).expect("prune"), 0);
        assert!(
            !s.record_consumed_batch(&[[5u8; 32], [3u8; 32]])
                .expect("batch")
        );
        assert!(s.record_consumed_batch(&[[1u8; 32]]).expect("batch"));
    }

    #[test]
    fn audit_is_bounded() {
        let (_d, s) = tmp();
        for i in 0..25 {
            let mut e = AuditEntry {
                seq: 0,
                at: i,
                who: "user:1".into(),
                action: "sign".into(),
                subject: format!("{i}"),
                result: "ok".into(),
            };
            s.audit_capped(&mut e, 10).expect("audit");
        }
        let log = s.audit_log(100).expect("log");
        assert_eq!(log.len(), 10);
        assert_eq!(log[0].seq, 25);
        assert_eq!(log[9].seq, 16);
    }

    #[test]
    fn migrates_v1_to_current() {
        let d = tempfile::tempdir().expect("tmp");
        let p = d.path().join("x.redb");
        {
            let s = Store::open_at(&p, 1).expect("v1");
            assert_eq!(s.schema_version().expect("v"), 1);
            s.create_user("carol", "{}", "admin").expect("user");
        }
        let s = Store::open(&p).expect("migrate");
        assert_eq!(s.schema_version().expect("v"), SCHEMA_VERSION);
        assert_eq!(s.user_count().expect("n"), 1, "data kept across migration");
        let seq = s
            .audit(AuditEntry {
                seq: 0,
                at: 1,
                who: "x".into(),
                action: "y".into(),
                subject: String::new(),
                result: "ok".into(),
            })
            .expect("audit works after migration");
        assert_eq!(seq, 1);
        drop(s);
        // Re-opening a current file is a no-op.
        let s = Store::open(&p).expect("reopen");
        assert_eq!(s.schema_version().expect("v"), SCHEMA_VERSION);
    }

    #[test]
    fn migrates_v2_keyset_to_keyed_layout() {
        let d = tempfile::tempdir().expect("tmp");
        let p = d.path().join("x.redb");
        {
            let s = Store::open_at(&p, 2).expect("v2");
            assert_eq!(s.schema_version().expect("v"), 2);
            s.put_keyset(DEFAULT_KEYSET, b"{\"sealed\":1}")
                .expect("put");
            s.put_keyset("nip46-transport/default", b"{}").expect("put");
        }
        let s = Store::open(&p).expect("migrate");
        assert_eq!(s.schema_version().expect("v"), SCHEMA_VERSION);
        assert_eq!(s.keyset_ids().expect("ids"), vec![DEFAULT_KEYSET]);
        assert_eq!(
            s.keyset(DEFAULT_KEYSET).expect("get").as_deref(),
            Some(&b"{\"sealed\":1}"[..]),
            "the sealed blob is kept byte for byte"
        );
        assert!(
            s.keyset_meta("nip46-transport/default")
                .expect("meta")
                .is_none(),
            "a NIP-46 transport key is not a keyset"
        );
        let m = s.keyset_meta(DEFAULT_KEYSET).expect("meta").expect("some");
        assert_eq!(m.label, DEFAULT_KEYSET);
        s.put_keyset("b", b"{}").expect("second");
        s.put_keyset_meta(
            "b",
            &KeysetMeta {
                label: "B".into(),
                ..Default::default()
            },
        )
        .expect("meta b");
        assert_eq!(s.keyset_ids().expect("ids"), vec!["b", DEFAULT_KEYSET]);
        assert!(s.delete_keyset("b").expect("del"));
        assert!(s.keyset_meta("b").expect("meta").is_none());
        assert!(!s.delete_keyset("b").expect("del again"));
    }

    fn policy(keyset: &str, pubkey: &str, send: bool) -> PeerPolicy {
        PeerPolicy {
            keyset: keyset.into(),
            pubkey: pubkey.into(),
            allow_send: send,
            allow_receive: true,
            label: None,
            note: None,
            updated_at: 7,
        }
    }

    #[test]
    fn migrates_v3_policies_to_the_default_keyset() {
        let d = tempfile::tempdir().expect("tmp");
        let p = d.path().join("x.redb");
        let (pk1, pk2) = ("aa".repeat(32), format!("02{}", "bb".repeat(32)));
        let meta_v3 = br#"{"label":"Default","group_pk":"","threshold":2,"total":3,"generation":"next","created_at":5}"#;
        {
            let s = Store::open_at(&p, 3).expect("v3");
            assert_eq!(s.schema_version().expect("v"), 3);
            // Records exactly as schema 3 wrote them: keyed by pubkey, no `keyset` field.
            let txn = s.db.begin_write().expect("w");
            {
                let mut t = txn.open_table(PEER_POLICIES).expect("t");
                for (pk, send) in [(&pk1, false), (&pk2, true)] {
                    let rec = format!(
                        r#"{{"pubkey":"{pk}","allow_send":{send},"allow_receive":false,"label":"L","note":null,"updated_at":9}}"#
                    );
                    t.insert(pk.as_str(), rec.as_bytes()).expect("i");
                }
                txn.open_table(KEYSET_META)
                    .expect("m")
                    .insert(DEFAULT_KEYSET, &meta_v3[..])
                    .expect("i");
            }
            txn.commit().expect("c");
        }
        let s = Store::open(&p).expect("migrate");
        assert_eq!(s.schema_version().expect("v"), SCHEMA_VERSION);
        let mut def = s.peer_policies_of(DEFAULT_KEYSET).expect("default");
        def.sort_by(|a, b| a.pubkey.cmp(&b.pubkey));
        assert_eq!(def.len(), 2, "{def:?}");
        assert_eq!(def[0].pubkey, pk2);
        assert_eq!(def[1].pubkey, pk1);
        assert!(def.iter().all(|p| p.keyset == DEFAULT_KEYSET));
        assert!(!def[1].allow_send && def[0].allow_send && !def[0].allow_receive);
        assert_eq!(def[0].label.as_deref(), Some("L"));
        assert!(s.peer_policies_of("other").expect("other").is_empty());
        assert_eq!(
            s.peer_policies().expect("all").len(),
            2,
            "nothing duplicated"
        );
        // A schema-3 keyset record opens unchanged; it was not opted into legacy.
        let m = s.keyset_meta(DEFAULT_KEYSET).expect("meta").expect("some");
        assert_eq!(
            (m.label.as_str(), m.threshold, m.created_at),
            ("Default", 2, 5)
        );
        assert!(!m.legacy);
        assert!(s.delete_peer_policy(DEFAULT_KEYSET, &pk1).expect("del"));
        assert!(
            !s.delete_peer_policy(DEFAULT_KEYSET, &pk1)
                .expect("del again")
        );
    }

    #[test]
    fn policies_are_per_keyset_and_go_with_it() {
        let (_d, s) = tmp();
        let pk = "cc".repeat(32);
        s.put_peer_policy(&policy("a", &pk, false)).expect("a");
        s.put_peer_policy(&policy("b", &pk, true)).expect("b");
        // A keyset id that is a prefix of another does not see its policies.
        s.put_peer_policy(&policy("ab", &pk, true)).expect("ab");
        let a = s.peer_policies_of("a").expect("a");
        assert_eq!(a.len(), 1);
        assert!(!a[0].allow_send);
        assert!(s.peer_policies_of("b").expect("b")[0].allow_send);
        s.put_keyset("a", b"{}").expect("put");
        assert!(s.delete_keyset("a").expect("del"));
        assert!(s.peer_policies_of("a").expect("a").is_empty());
        assert_eq!(s.peer_policies_of("b").expect("b").len(), 1);
        assert_eq!(s.peer_policies_of("ab").expect("ab").len(), 1);
    }

    #[test]
    fn keyset_ids_are_validated() {
        for ok in ["default", "a", "work-2", "x_y", "0abc"] {
            assert!(valid_keyset_id(ok), "{ok}");
        }
        for bad in ["", "-a", "A", "a b", "a/b", "é", &"a".repeat(33)] {
            assert!(!valid_keyset_id(bad), "{bad}");
        }
    }

    #[test]
    fn refuses_newer_schema() {
        let d = tempfile::tempdir().expect("tmp");
        let p = d.path().join("x.redb");
        {
            let s = Store::open(&p).expect("open");
            let txn = s.db.begin_write().expect("w");
            txn.open_table(META)
                .expect("t")
                .insert("schema_version", SCHEMA_VERSION + 1)
                .expect("i");
            txn.commit().expect("c");
        }
        assert!(matches!(Store::open(&p), Err(Error::TooNew { .. })));
    }

    #[test]
    fn file_and_dir_modes() {
        let (d, _s) = tmp();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let dm = std::fs::metadata(d.path().join("data"))
                .expect("m")
                .permissions()
                .mode();
            assert_eq!(dm & 0o777, 0o700);
            let fm = std::fs::metadata(d.path().join("data/frostbox.redb"))
                .expect("m")
                .permissions()
                .mode();
            assert_eq!(fm & 0o777, 0o600);
        }
    }
}
