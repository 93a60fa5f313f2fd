#!/usr/bin/env bash
# Step 85's armv7 release binary (scripts/build-release.sh armv7 into dist/). No prebuilt armv7
# musl std is obtainable here, so it builds std too (-Zbuild-std): ~1.5x the CPU of a prebuilt-std
# target, which is why it is a background job of its own rather than part of step 70's.
# Step 05 starts it; it first waits for the x86_64/aarch64 job (ci/release-build.sh): those are
# needed earlier (steps 70-78), and the two builds would otherwise queue on cargo's lock of
# target/release (host build scripts and proc macros) anyway. Tools: ci/lib.sh musl_tools.
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/lib.sh
prep_await release-build
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}"
t0=$(date +%s)
env -u RUSTC_WORKSPACE_WRAPPER bash scripts/build-release.sh armv7
echo "TIMING release build armv7 $(( $(date +%s) - t0 )) s"
