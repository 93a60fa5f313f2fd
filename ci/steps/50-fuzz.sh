#!/usr/bin/env bash
# Builds the cargo-fuzz targets in fuzz/ with nightly and runs each one for a short while.
# Every file in fuzz/fuzz_targets/*.rs with a [[bin]] entry in fuzz/Cargo.toml is a target.
# FUZZ_SECONDS overrides the per-target time (default 20).
# No sanitizer (`-s none`): the crate is #![forbid(unsafe_code)], so ASan would only instrument
# dependencies while doubling the build; the targets hunt panics, hangs and OOMs (libFuzzer still
# enforces -rss_limit_mb and timeouts). FUZZ_SANITIZER=address restores it for a deeper local run.
set -euo pipefail
source ci/lib.sh
secs=${FUZZ_SECONDS:-20}
san=${FUZZ_SANITIZER:-none}
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
cargo +nightly fuzz build -s "$san"
# Two targets at a time (CI has 2 cores); any crash fails the step.
run_one() {
  local t=$1
  mkdir -p "fuzz/corpus/$t"
  if cargo +nightly fuzz run -s "$san" "$t" "fuzz/corpus/$t" -- -max_total_time="$secs" -rss_limit_mb=2048 \
      >"target/fuzz-$t.log" 2>&1; then
    echo "== fuzz $t: ok ($(grep -Eo '#[0-9]+' "target/fuzz-$t.log" | tail -1 | tr -d '#') runs in ${secs}s)"
  else
    echo "== fuzz $t: FAILED"; tail -40 "target/fuzz-$t.log"; return 1
  fi
}
mkdir -p target
fail=0
i=0
while [ $i -lt ${#targets[@]} ]; do
  pids=()
  for t in "${targets[@]:$i:2}"; do run_one "$t" & pids+=($!); done
  for p in "${pids[@]}"; do wait "$p" || fail=1; done
  i=$((i + 2))
done
exit $fail
