#!/usr/bin/env bash
# Static release binaries with cargo-zigbuild (no Docker, no cross):
#   scripts/build-release.sh                     # x86_64 aarch64 armv7
#   scripts/build-release.sh x86_64 aarch64      # a subset (short names or full triples)
# Needs: pip install ziglang==0.17.0 cargo-zigbuild==0.24.0
#        rustup target add x86_64-unknown-linux-musl aarch64-unknown-linux-musl
#        rustup component add rust-src            # armv7 builds its std (-Zbuild-std)
# Env:   SOURCE_DATE_EPOCH (default: time of the last commit) -- recorded in dist/BUILDINFO and
#        used for the OCI image; paths are remapped so builds do not embed the build machine's
#        directories. DIST (default dist/). PROFILE (default release).
# Output: $DIST/frostbox-<version>-<triple> and $DIST/SHA256SUMS.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}"
DIST="${DIST:-dist}"
PROFILE="${PROFILE:-release}"
version=$(awk -F'"' '/^version *=/{print $2; exit}' Cargo.toml)
mkdir -p "$DIST"

triple_of() {
  case "$1" in
    x86_64|amd64) echo x86_64-unknown-linux-musl ;;
    aarch64|arm64) echo aarch64-unknown-linux-musl ;;
    armv7|arm) echo armv7-unknown-linux-musleabihf ;;
    *-*) echo "$1" ;;
    *) echo "unknown target $1" >&2; return 2 ;;
  esac
}

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(x86_64 aarch64 armv7)
remap="--remap-path-prefix=$PWD=/build/frostbox --remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=/cargo --remap-path-prefix=${RUSTUP_HOME:-$HOME/.rustup}=/rustup"

# Targets with a prebuilt std build in ONE cargo invocation: with fat LTO and one codegen unit
# the final link of each binary is single-threaded, so two targets' links overlap on 2 cores.
# armv7 (built std) runs on its own afterwards.
plain=(); built_std=()
for t in "${targets[@]}"; do
  triple=$(triple_of "$t")
  if [ "$triple" = armv7-unknown-linux-musleabihf ] && ! rustup target list --installed | grep -qx "$triple"; then
    built_std+=("$triple")
  else
    plain+=("$triple")
  fi
done

copy_out() { # $1 triple, $2 seconds
  local out="$DIST/frostbox-$version-$1"
  cp "target/$1/$PROFILE/frostbox" "$out"
  touch -d "@$SOURCE_DATE_EPOCH" "$out"
  echo "built $out: $(stat -c %s "$out") bytes in ${2}s"
}

if [ ${#plain[@]} -gt 0 ]; then
  envs=(); args=()
  for triple in "${plain[@]}"; do
    envs+=("CARGO_TARGET_$(echo "$triple" | tr 'a-z-' 'A-Z_')_RUSTFLAGS=$remap")
    args+=(--target "$triple")
  done
  t0=$(date +%s)
  env "${envs[@]}" cargo zigbuild --locked --profile "$PROFILE" "${args[@]}" --bin frostbox
  secs=$(( $(date +%s) - t0 ))
  for triple in "${plain[@]}"; do copy_out "$triple" "$secs"; done
fi

for triple in "${built_std[@]}"; do
  # No prebuilt std for this target from the allowed dist mirror: build std ourselves.
  # The env var replaces .cargo/config.toml's rustflags, so repeat link-self-contained=no.
  var="CARGO_TARGET_$(echo "$triple" | tr 'a-z-' 'A-Z_')_RUSTFLAGS"
  t0=$(date +%s)
  env "$var=$remap -C link-self-contained=no" RUSTC_BOOTSTRAP=1 \
    cargo zigbuild --locked --profile "$PROFILE" --target "$triple" -Zbuild-std=std,panic_abort --bin frostbox
  copy_out "$triple" "$(( $(date +%s) - t0 ))"
done

( cd "$DIST" && sha256sum frostbox-"$version"-* > SHA256SUMS )
printf 'version=%s\nsource_date_epoch=%s\ncommit=%s\nrustc=%s\n' "$version" "$SOURCE_DATE_EPOCH" \
  "$(git rev-parse HEAD 2>/dev/null || echo unknown)" "$(rustc --version)" > "$DIST/BUILDINFO"
cat "$DIST/SHA256SUMS"
