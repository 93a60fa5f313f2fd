#!/bin/sh
# RUSTC_WORKSPACE_WRAPPER for the whole CI run (exported by ci/test-all): frostbox's own crates
# (lib, bin, tests, benches, examples) are compiled by clippy-driver, which is rustc plus
# clippy's lints, so step 20's test build is also `cargo clippy --all-targets -- -D warnings`.
# Dependencies are not workspace members and build with plain rustc. This replaces a separate
# `cargo clippy` check build that compiled every dependency a second time (≈ 9 min of CI).
# Cargo fingerprints the wrapper, so every step runs with it to reuse step 20's artifacts.
exec clippy-driver "$@" -D warnings
