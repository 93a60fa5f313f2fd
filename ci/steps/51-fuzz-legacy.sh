#!/usr/bin/env bash
# Builds the legacy decoder fuzz targets (fuzz/fuzz_targets/legacy_*.rs) with cargo-fuzz on the
# nightly toolchain and runs each for FUZZ_SECONDS (default 30).
set -euo pipefail
source ci/lib.sh
secs="${FUZZ_SECONDS:-30}"
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
cd fuzz
targets=$(cargo +nightly fuzz list | grep '^legacy_' || true)
[ -n "$targets" ] || { echo "no legacy fuzz targets found"; exit 1; }
for t in $targets; do
  echo "--- fuzz $t (${secs}s)"
  mkdir -p "corpus/$t"
  cargo +nightly fuzz run "$t" "corpus/$t" -- -max_total_time="$secs" -max_len=4096
done
