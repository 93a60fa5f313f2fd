#!/usr/bin/env bash
# Web UI: end-to-end tests in Debian's Chromium (playwright-core) against the real
# `frostbox serve` (a NIP-46 app included: nostr-tools from tests/interop/nip46), plus the QR
# encoder checked with zbarimg. Screenshots: target/ui-shots/.
set -euo pipefail
source ci/lib.sh
need=()
for pkg in chromium zbar-tools; do dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg"); done
if [ ${#need[@]} -gt 0 ]; then
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
npm_ci tests/ui
# The NIP-46 app in cosign.test.mjs: nostr-tools' BunkerSigner from step 45's lockfile.
npm_ci tests/interop/nip46
mkdir -p target/ui-shots
FROSTBOX_BIN=$(test_profile_bin)  # step 20's binary: a no-op build in CI
export FROSTBOX_BIN
(cd tests/ui && node --test --test-concurrency=1 ./*.test.mjs)
echo "screenshots: $(ls target/ui-shots | wc -l) in target/ui-shots/"
