//! The embedded ephemeral relay (server) and the relay client pool.

pub mod client;
pub mod proto;
pub mod server;
pub mod store;

pub use client::{Pool, PoolConfig, PublishOutcome, PublishResult, RelayStatus};
pub use server::{Relay, RelayConfig, RelayStats};
