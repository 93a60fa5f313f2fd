#!/usr/bin/env bash
# Toolchain and system packages every later step may need. Idempotent.
set -euo pipefail
source ci/lib.sh
rustup component add clippy rustfmt >/dev/null 2>&1 || true
need_apt=()
for pkg in $APT_PACKAGES; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi
