#!/usr/bin/env bash
# Every unit, integration, property and vector test (test profile). Doc tests are not run: the
# crate's doc examples are `text` blocks (a separate `cargo test --doc` rebuilt the library in
# the dev profile, ~2.5 min of CI, for no executable example).
# `--build-only` builds without running anything: step 00-build starts that in the background.
set -euo pipefail
source ci/lib.sh
if [ "${1:-}" != --build-only ] && [ -f "$PREP_DIR/test-build.pid" ]; then
  prep_wait test-build || true
fi
# tests/notify.rs drives the notify_probe example program (`--all-targets` builds examples only
# as test harnesses); built here in the same profile so the test never runs a nested cargo.
cargo build --locked --profile test --example notify_probe
if [ "${1:-}" = --build-only ]; then
  cargo test --locked --all-targets --no-run
else
  # 8 test threads on 2 cores: most integration tests wait (relay round trips, child `serve`
  # processes, timeouts), so the one suite binary's 62 s at libtest's default of 2 threads
  # drops to ≈ 25 s (CPU ≈ 37 s either way; stable over 10 runs, also beside two busy loops).
  # The environment variable, not `--test-threads`: the criterion benches refuse that flag.
  RUST_TEST_THREADS=8 cargo test --locked --all-targets
fi
