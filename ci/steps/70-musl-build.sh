#!/usr/bin/env bash
# Static musl release builds with cargo-zigbuild (never `cross`), then for x86_64 and aarch64
# (ci/musl-checks.sh): `file` says statically linked, size <= 10 MiB, `--version` natively and
# under qemu-user, a smoke test (serve, /ready via `frostbox healthcheck`, SIGTERM -> exit within
# 5 s) and a signature with a second, native node (tests/cross_sign.rs).
# armv7 builds its std (-Zbuild-std, no prebuilt std here): step 05 starts that build in the
# background (ci/armv7-build.sh, after this step's job) and step 85 checks it the same way.
set -euo pipefail
source ci/lib.sh
source ci/musl-checks.sh
t_step=$(date +%s)
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"

# --- tools (idempotent; step 05 installed them when it ran) ---
musl_tools
echo "tools ready in $(( $(date +%s) - t_step )) s"

# --- build (ci/release-build.sh): started in the background by step 05, so usually done. Not
# re-run after a good job: the armv7 job builds in the same target dir from then on.
t0=$(date +%s)
if ! prep_wait release-build; then
  bash ci/release-build.sh | grep -E '^built '
fi
echo "TIMING build (after the background job) $(( $(date +%s) - t0 )) s"

for triple in x86_64-unknown-linux-musl aarch64-unknown-linux-musl; do musl_check "$triple"; done
musl_smoke x86_64-unknown-linux-musl
musl_smoke aarch64-unknown-linux-musl
musl_cross_sign aarch64-unknown-linux-musl
echo "70-musl-build: passed in $(( $(date +%s) - t_step )) s"

# --- node_serve's stopped-peer test, started in the background by step 45 ---
if [ -f "$PREP_DIR/peer-offline.pid" ]; then
  if prep_wait peer-offline; then
    grep -E "offline on a's stream|test result" "$PREP_DIR/peer-offline.log" || true
  else
    echo "FAIL: node_serve::event_stream_shows_a_stopped_peer_going_offline (log: $PREP_DIR/peer-offline.log)"
    tail -60 "$PREP_DIR/peer-offline.log"
    exit 1
  fi
fi
