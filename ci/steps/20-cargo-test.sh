#!/usr/bin/env bash
# Every unit, integration, property and vector test (test profile). Doc tests are not run: the
# crate's doc examples are `text` blocks (a separate `cargo test --doc` rebuilt the library in
# the dev profile, ~2.5 min of CI, for no executable example).
set -euo pipefail
# tests/notify.rs drives the notify_probe example program (`--all-targets` builds examples only
# as test harnesses); built here in the same profile so the test never runs a nested cargo.
cargo build --locked --profile test --example notify_probe
cargo test --locked --all-targets
