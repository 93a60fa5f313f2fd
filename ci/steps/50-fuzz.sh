#!/usr/bin/env bash
# Builds the cargo-fuzz targets in fuzz/ with nightly and runs each one for a short while.
# Every file in fuzz/fuzz_targets/*.rs with a [[bin]] entry in fuzz/Cargo.toml is a target.
# FUZZ_SECONDS overrides the per-target time (default 30).
set -euo pipefail
source ci/lib.sh
secs=${FUZZ_SECONDS:-30}
if ! rustup toolchain list | grep -q '^nightly'; then
  rustup toolchain install nightly --profile minimal
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
targets=()
for f in fuzz/fuzz_targets/*.rs; do
  t=$(basename "$f" .rs)
  if grep -q "^name = \"$t\"" fuzz/Cargo.toml; then
    targets+=("$t")
  else
    echo "warning: fuzz/fuzz_targets/$t.rs has no [[bin]] entry in fuzz/Cargo.toml; skipped" >&2
  fi
done
cargo +nightly fuzz build
for t in "${targets[@]}"; do
  echo "== fuzz $t (${secs}s)"
  mkdir -p "fuzz/corpus/$t"
  cargo +nightly fuzz run "$t" "fuzz/corpus/$t" -- -max_total_time="$secs" -rss_limit_mb=2048
done
