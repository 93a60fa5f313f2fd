#!/usr/bin/env bash
# Step 90's libFuzzer build (see that step for why it is built this way): every fuzz target, on
# the stable toolchain, with SanitizerCoverage on frostbox and the targets only
# (fuzz/rustc-sancov.sh), the dependencies plain at opt-level 1. Step 05 starts it in the
# background; step 90 runs it again, which is a no-op when that finished.
set -euo pipefail
cd "$(dirname "$0")/.."
triple=$(rustc -vV | awk '/^host:/{print $2}')
t0=$(date +%s)
# The fuzz targets are not linted (ci/clippy-rustc.sh is for the main workspace).
unset RUSTC_WORKSPACE_WRAPPER
RUSTC_WRAPPER="$PWD/fuzz/rustc-sancov.sh" \
  CARGO_PROFILE_RELEASE_OPT_LEVEL=1 \
  CARGO_PROFILE_RELEASE_DEBUG=line-tables-only \
  CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS=true \
  CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS=true \
  cargo build --locked --release --manifest-path fuzz/Cargo.toml --target "$triple" --bins
echo "TIMING fuzz build $(( $(date +%s) - t0 )) s"
