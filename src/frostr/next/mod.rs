//! Current generation (FROSTR-NEXT.md, bifrost-rs): packages, credentials, wire payloads.
