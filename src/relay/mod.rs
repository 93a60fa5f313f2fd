//! The embedded ephemeral relay (server) and the relay client pool.

pub mod proto;
pub mod server;
pub mod store;

pub use server::{Relay, RelayConfig, RelayStats};
