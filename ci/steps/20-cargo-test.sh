#!/usr/bin/env bash
# Every unit, integration, property and vector test (test profile). Doc tests are not run: the
# crate's doc examples are `text` blocks (a separate `cargo test --doc` rebuilt the library in
# the dev profile, ~2.5 min of CI, for no executable example).
set -euo pipefail
cargo test --locked --all-targets
