//! The signing node: peers, rounds, policies, nonce pools.

pub mod activity;
pub mod engine;
pub mod peers;
pub mod policy;
pub mod pool;
pub mod replay;

pub use engine::{Engine, EngineConfig, NodeError, Op, Outcome, Reject};
pub use peers::{NodeStatus, PeerStatus};
pub mod adapters;
pub mod codec;
pub mod factory;
pub mod legacy;
#[allow(clippy::module_inception)]
pub mod node;
pub mod transport;

pub use activity::{Activity, ActivityKind};
pub use adapters::StoreLedger;
pub use legacy::{LegacyConfig, LegacyHandle, LegacyNode};
pub use node::{Clock, Node, NodeConfig, NodeHandle, Nodes, SupervisorConfig, Timeouts};
