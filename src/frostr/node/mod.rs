//! The signing node: peers, rounds, policies, nonce pools.

pub mod peers;
pub mod policy;
pub mod pool;
pub mod replay;
