#!/bin/sh
# RUSTC_WRAPPER for ci/steps/90-fuzz.sh: libFuzzer's SanitizerCoverage flags (the ones cargo-fuzz
# passes) only for the crates under test, frostbox and the fuzz targets (cargo sets
# CARGO_PKG_NAME for every rustc it runs); dependencies and build scripts build plain.
rustc=$1
shift
case " $* " in
  *" --crate-name build_script_"*) exec "$rustc" "$@" ;;
esac
case "${CARGO_PKG_NAME:-}" in
  frostbox | frostbox-fuzz)
    exec "$rustc" "$@" -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
      -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
      -Cllvm-args=-sanitizer-coverage-trace-compares -Cllvm-args=-sanitizer-coverage-stack-depth \
      --cfg fuzzing ;;
esac
exec "$rustc" "$@"
