#!/usr/bin/env bash
# Step 90's libFuzzer build (see that step for why it is built this way): every fuzz target, on
# the stable toolchain, with SanitizerCoverage on frostbox and the targets only
# (fuzz/rustc-sancov.sh), the dependencies plain.
#
# fuzz/ is a member of the main workspace, so its dependencies resolve and build exactly as for
# the test build (same lock file, same dev profile: opt-level 2, debug assertions, line tables).
# This job waits for that build (step 00's test-build job), seeds target/fuzz/ with a copy of its
# artifacts and builds there: only frostbox (feature `fuzzing`, instrumented) and the targets are
# compiled, plus the few crates whose features libfuzzer-sys's build changes (cc "parallel":
# ring, secp256k1-sys and what links them). ≈ 236 CPU-s instead of 396 for its own opt-level-1
# dependency tree. Its own target dir because steps 20-80 keep using target/debug (cargo's lock).
# Step 05 starts it in the background; step 90 runs it again, which is a no-op when that finished.
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/lib.sh
t0=$(date +%s)
prep_await test-build
echo "waited $(( $(date +%s) - t0 )) s for the test build"
t0=$(date +%s)
dir=target/fuzz
if [ ! -d "$dir/debug" ] && [ -d target/debug/deps ]; then
  mkdir -p "$dir/debug"
  # Copies, not hard links: cargo may rewrite a unit in place, and the test build's must stay.
  cp -a target/debug/build target/debug/.fingerprint target/debug/deps "$dir/debug/"
  echo "seeded $dir from the test build in $(( $(date +%s) - t0 )) s"
fi
# The fuzz targets are not linted (ci/clippy-rustc.sh is for Frostbox's own targets).
unset RUSTC_WORKSPACE_WRAPPER
CARGO_TARGET_DIR=$dir RUSTC_WRAPPER="$PWD/fuzz/rustc-sancov.sh" CARGO_PROFILE_DEV_OPT_LEVEL=2 \
  cargo build --locked -p frostbox-fuzz --bins
echo "TIMING fuzz build $(( $(date +%s) - t0 )) s"
