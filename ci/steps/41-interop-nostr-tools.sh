#!/usr/bin/env bash
# Relay + NIP-44/NIP-04 interop with the real nostr-tools npm package (lockfile-pinned).
set -euo pipefail
source ci/lib.sh
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends nodejs npm
fi
npm_ci tests/interop/nostr-tools
cargo test --locked --test suite relay_nostr_tools:: -- --ignored
# /api/nip44/* and /api/nip04/* of a running frostbox with a 2-of-3 signer (threshold ECDH).
cargo test --locked --test suite api_nostr_tools:: -- --ignored
