//! Current generation (FROSTR-NEXT.md, bifrost-rs): packages, credentials, wire payloads.

pub mod wire;
mod wire_pkg;
