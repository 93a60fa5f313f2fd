//! Every integration test of the crate, compiled as ONE test binary (`cargo test --test suite`).
//!
//! Each `tests/<area>.rs` file is a module of this crate (`cargo test --test suite node_serve::`
//! runs one area). One binary instead of one per file: the dependencies' generic code (tokio,
//! axum, serde, frost) is monomorphised and linked once instead of ~40 times, which was most of
//! CI's test build; libtest also schedules every area's tests on the same threads, so a slow
//! file no longer holds back the others. New test files must be added below (`autotests =
//! false` in Cargo.toml: a file not listed here is not compiled).
//!
//! Tests share one process: nothing here may change process-global state (environment
//! variables, the current directory, a global tracing subscriber, signal dispositions); servers
//! bind 127.0.0.1:0; child processes are spawned with their own environment.

mod api_support;

mod api_cluster;
mod api_http;
mod api_keyset_admin;
mod api_nostr_tools;
mod api_process;
mod cross_sign;
mod interop_legacy;
mod interop_legacy_node;
mod keysets;
mod keysets_nip46;
mod nip46_api;
mod nip46_core;
mod nip46_interop_node;
mod nip46_lan;
mod nip46_node;
mod nip46_qr;
mod nip46_relay;
mod nip46_serve;
mod nip46_store;
mod node_bus;
mod node_embedded;
mod node_engine;
mod node_ledger;
mod node_legacy;
mod node_relay;
mod node_serve;
mod nostr_nip44_vectors;
mod nostr_transcript;
mod notify;
mod props_next;
mod relay_conformance;
mod relay_nostr_tools;
mod relay_pool;
mod store_crash;
mod transcript_next;
mod vectors_legacy;
mod vectors_next;
