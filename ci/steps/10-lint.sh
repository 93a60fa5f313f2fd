#!/usr/bin/env bash
set -euo pipefail
cargo fmt --all --check
cargo clippy --all-targets --locked -- -D warnings
