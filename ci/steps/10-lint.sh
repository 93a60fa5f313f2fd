#!/usr/bin/env bash
# Formatting. Clippy (`--all-targets -D warnings`) runs in step 20: ci/test-all makes clippy-driver
# the compiler of frostbox's own crates (ci/clippy-rustc.sh), so the test build is the lint.
# Outside ci/test-all (a single step), run it here as before.
set -euo pipefail
cargo fmt --all --check
if [ -z "${RUSTC_WORKSPACE_WRAPPER:-}" ]; then
  cargo clippy --all-targets --locked -- -D warnings
fi
