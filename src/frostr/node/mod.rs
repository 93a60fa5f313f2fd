//! The signing node: peers, rounds, policies, nonce pools.

pub mod engine;
pub mod peers;
pub mod policy;
pub mod pool;
pub mod replay;

pub use engine::{Engine, EngineConfig, NodeError, Op, Outcome, Reject};
pub use peers::{NodeStatus, PeerStatus};
