#!/usr/bin/env bash
# Starts step 20's test build at once, in the background at normal priority (ci/lib.sh prep_*),
# so the dependency compile (≈ 6.5 min of both cores) overlaps the package installs of steps
# 00-setup and 05-prepare (apt, pip, rustup targets: ≈ 1 min on a fresh machine, network and
# dpkg rather than CPU). It needs only the toolchain: clippy-driver compiles frostbox's own
# crates (ci/clippy-rustc.sh), so clippy is added first. Step 20 waits for the job and then runs
# the same commands, which are no-op builds when it succeeded (and build in the foreground when
# it failed, with the error where the step's log shows it).
set -euo pipefail
source ci/lib.sh
rustup component add clippy rustfmt >/dev/null 2>&1 || true
PREP_NICE=0 prep_start test-build bash ci/steps/20-cargo-test.sh --build-only
