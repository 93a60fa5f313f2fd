#!/usr/bin/env bash
# App packages: Umbrel community store (our own rule checker + its tests, and a pinned copy
# checked in --release mode), StartOS 0.4 package (npm ci, tsc, ncc build, manifest evaluation).
set -euo pipefail
source ci/lib.sh
t_step=$(date +%s)
python3 -c 'import yaml' 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check pyyaml

# --- Umbrel ---
python3 image/umbrel/test_check.py 2>&1 | tail -1
python3 image/umbrel/check.py image/umbrel
if [ -s target/ci-oci/digest ]; then
  tmp=$(mktemp -d)
  cp -r image/umbrel "$tmp/store"
  rm -f "$tmp/store"/*.py
  version=$(awk -F'"' '/^version *=/{print $2; exit}' Cargo.toml)
  python3 image/umbrel/pin.py --compose "$tmp/store/frostr-frostbox/docker-compose.yml" "$version" "$(cat target/ci-oci/digest)"
  python3 image/umbrel/check.py --release "$tmp/store"
  rm -rf "$tmp"
fi
echo "TIMING umbrel $(( $(date +%s) - t_step )) s"

# --- StartOS ---
t0=$(date +%s)
npm_ci image/startos
echo "TIMING startos npm ci $(( $(date +%s) - t0 )) s"
t0=$(date +%s); (cd image/startos && npx --no-install tsc --noEmit); echo "TIMING startos tsc $(( $(date +%s) - t0 )) s"
t0=$(date +%s); (cd image/startos && rm -rf javascript && npx --no-install ncc build startos/index.ts -o javascript --minify >/dev/null); echo "TIMING startos ncc $(( $(date +%s) - t0 )) s"
(cd image/startos && node scripts/print-manifest.cjs >/dev/null)
echo "76-packages: passed in $(( $(date +%s) - t_step )) s"
