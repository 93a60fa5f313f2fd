//! Persistent storage (redb): users, keysets, sessions, API keys, nonce ledger, audit log.
