#!/usr/bin/env bash
# Step 70's static musl release builds (scripts/build-release.sh into dist/): x86_64 and aarch64
# in one cargo invocation (their single-threaded fat-LTO links overlap on 2 cores). Step 05
# starts it in the background; step 70 runs it itself only when that job failed.
# armv7 is ci/armv7-build.sh (step 85). Tools: ci/lib.sh musl_tools.
set -euo pipefail
cd "$(dirname "$0")/.."
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}"
t0=$(date +%s)
# the release binary is not built under clippy-driver (ci/clippy-rustc.sh is for the test build)
env -u RUSTC_WORKSPACE_WRAPPER bash scripts/build-release.sh x86_64 aarch64
echo "TIMING release build x86_64 aarch64 $(( $(date +%s) - t0 )) s"
