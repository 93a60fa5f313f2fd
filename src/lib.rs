//! Frostbox: an always-on FROSTR threshold signer, an ephemeral Nostr relay and a NIP-46 bunker
//! in one static binary. See `ARCHITECTURE.md` for the module map and the path of a signature.
#![forbid(unsafe_code)]

pub mod api;
pub mod cli;
pub mod config;
pub mod frost;
pub mod frostr;
pub mod health;
pub mod nip46;
pub mod nostr;
pub mod relay;
pub mod store;
pub mod vault;
