#!/usr/bin/env bash
# Interop with the real npm @frostr/bifrost 1.0.7 (legacy 1.0.x): Frostbox credentials signed
# by JS, JS credentials signed by Frostbox (mixed partial signatures), ECDH across both; then the
# Frostbox legacy node (kind 20004) with two real BifrostNode processes on the embedded relay.
set -euo pipefail
source ci/lib.sh
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends nodejs npm
fi
npm_ci tests/interop/legacy
cargo test --locked --test suite interop_legacy:: -- --ignored
# Frostbox legacy node + two BifrostNode processes (node.mjs, `ws` for Node < 22) on the embedded
# relay: ping both ways, sign and ECDH in both directions (bounded: 90 s deadline in the test).
cargo test --locked --test suite interop_legacy_node:: -- --ignored
