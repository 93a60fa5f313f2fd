#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/ (ci/fuzz-build.sh, started in the background by step 05)
# and runs each one for FUZZ_SECONDS (default 30) of wall time, two at a time (CI has 2 cores);
# any crash, hang or OOM fails the step.
# Every fuzz/fuzz_targets/*.rs with a [[bin]] entry in fuzz/Cargo.toml is a target.
#
# Built on the stable toolchain without cargo-fuzz: fuzz/rustc-sancov.sh (a RUSTC_WRAPPER) adds
# the SanitizerCoverage flags cargo-fuzz passes, but only to frostbox and the fuzz targets, so the
# dependencies are the test build's (ci/fuzz-build.sh): no nightly download, no cargo-fuzz
# install, no second dependency build. No sanitizer: the crate is #![forbid(unsafe_code)]; the
# targets hunt panics, hangs and OOMs (libFuzzer enforces -rss_limit_mb and -timeout).
# fuzz/ stays a cargo-fuzz project for deeper local runs: cargo +nightly fuzz run -s address <t>
set -euo pipefail
source ci/lib.sh
# 30 s per target is issue 2's requirement; deeper runs are local
# (FUZZ_SECONDS=600 bash ci/steps/90-fuzz.sh).
secs=${FUZZ_SECONDS:-30}
targets=()
for f in fuzz/fuzz_targets/*.rs; do
  t=$(basename "$f" .rs)
  if grep -q "^name = \"$t\"" fuzz/Cargo.toml; then
    targets+=("$t")
  else
    echo "warning: fuzz/fuzz_targets/$t.rs has no [[bin]] entry in fuzz/Cargo.toml; skipped" >&2
  fi
done
# the build (ci/fuzz-build.sh) was started in the background by step 05, so usually done
t0=$(date +%s)
prep_wait fuzz-build || true
bash ci/fuzz-build.sh
echo "fuzz build (after the background job): $(( $(date +%s) - t0 )) s"
bindir=target/fuzz/debug
run_one() {
  local t=$1
  mkdir -p "fuzz/corpus/$t" fuzz/artifacts
  if "$bindir/$t" "fuzz/corpus/$t" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
      -artifact_prefix="fuzz/artifacts/$t-" >"target/fuzz-$t.log" 2>&1; then
    echo "== fuzz $t: ok ($(grep -Eo '^Done [0-9]+ runs' "target/fuzz-$t.log" | grep -Eo '[0-9]+') runs in ${secs}s)"
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
