//! Current generation (FROSTR-NEXT.md, bifrost-rs): packages, credentials, wire payloads.

pub mod backup;
pub mod credential;
pub mod ecdh;
pub mod group;
pub mod hexser;
pub mod session;
pub mod wire;
