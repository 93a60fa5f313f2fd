#!/usr/bin/env bash
# OCI image without a Docker daemon (image/oci/mkoci.py): unit tests, a multi-arch layout
# (amd64 + arm64) from step 70's static binaries, reproducibility (two builds -> same index
# digest), `skopeo inspect`, and -- if podman is available and we are root -- run the amd64
# image (and arm64 through binfmt when registered): --version, then serve + `frostbox
# healthcheck` inside the container.
set -euo pipefail
source ci/lib.sh
t_step=$(date +%s)
need=()
for p in skopeo jq; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
if [ ${#need[@]} -gt 0 ]; then
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

python3 image/oci/test_mkoci.py 2>&1 | tail -1

version=$(awk -F'"' '/^version *=/{print $2; exit}' Cargo.toml)
amd64=dist/frostbox-$version-x86_64-unknown-linux-musl
arm64=dist/frostbox-$version-aarch64-unknown-linux-musl
if [ ! -f "$amd64" ] || [ ! -f "$arm64" ]; then bash scripts/build-release.sh x86_64 aarch64; fi
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}"
work=target/ci-oci
mkdir -p "$work"
t0=$(date +%s%N)
d1=$(python3 image/oci/mkoci.py --out "$work/layout" --tag "$version" amd64="$amd64" arm64="$arm64")
echo "TIMING mkoci $(( ($(date +%s%N) - t0) / 1000000 )) ms; layout $(du -sh "$work/layout" | cut -f1)"
d2=$(python3 image/oci/mkoci.py --out "$work/layout2" --tag "$version" amd64="$amd64" arm64="$arm64")
[ "$d1" = "$d2" ] || { echo "FAIL: not reproducible: $d1 != $d2"; exit 1; }
echo "reproducible index digest: $d1"
echo "$d1" > "$work/digest"

raw=$(skopeo inspect --raw "oci:$work/layout:$version")
echo "$raw" | jq -c '.manifests[] | {platform, digest}'
[ "$(echo "$raw" | jq -r '[.manifests[].platform.architecture] | sort | join(",")')" = "amd64,arm64" ] \
  || { echo "FAIL: index platforms"; exit 1; }
for arch in amd64 arm64; do
  cfg=$(skopeo --override-arch "$arch" inspect --config "oci:$work/layout:$version")
  [ "$(echo "$cfg" | jq -r .architecture)" = "$arch" ] || { echo "FAIL: $arch config arch"; exit 1; }
  [ "$(echo "$cfg" | jq -r .config.User)" = "1000:1000" ] || { echo "FAIL: $arch user"; exit 1; }
  [ "$(echo "$cfg" | jq -r '.config.Entrypoint[0]')" = "/usr/local/bin/frostbox" ] || { echo "FAIL: entrypoint"; exit 1; }
  echo "$cfg" | jq -e '.config.ExposedPorts["8002/tcp"] and .config.Volumes["/data"]' >/dev/null \
    || { echo "FAIL: $arch port/volume"; exit 1; }
  echo "ok: $arch config (user 1000:1000, entrypoint, 8002/tcp, /data)"
done

if command -v podman >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  # Private podman config + storage under target/ (no changes to /etc): runc, because crun
  # refuses this VM's hybrid cgroup layout, and rlimits below the current ones (no
  # CAP_SYS_RESOURCE here).
  dpkg -s runc >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends runc
  printf '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1000:1000"]\n[engine]\nruntime = "runc"\n' > "$work/containers.conf"
  export CONTAINERS_CONF=$PWD/$work/containers.conf
  pm=(podman --root "$PWD/$work/storage" --runroot "$PWD/$work/run" --storage-driver vfs)
  img=localhost/frostbox-ci:$version
  "${pm[@]}" rmi -f "$img" >/dev/null 2>&1 || true
  "${pm[@]}" pull -q "oci:$work/layout:$version" >/dev/null
  "${pm[@]}" tag "$(${pm[@]} images -q | head -1)" "$img"
  out=$("${pm[@]}" run --rm --network none "$img" --version)
  echo "podman amd64: $out"; [ "$out" = "frostbox $version" ] || { echo "FAIL: podman run"; exit 1; }
  if [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
    "${pm[@]}" pull -q --arch arm64 "oci:$work/layout:$version" >/dev/null
    echo "podman arm64: $("${pm[@]}" run --rm --network none --arch arm64 "oci:$work/layout:$version" --version 2>&1 | tail -1)"
  else
    echo "podman arm64: skipped (binfmt_misc not registered)"
  fi
  # serve inside the container, then the image's health check command
  name=frostbox-ci-$$
  "${pm[@]}" run -d --name "$name" --network none "$img" >/dev/null
  ok=0
  for _ in $(seq 1 50); do
    if "${pm[@]}" exec "$name" /usr/local/bin/frostbox healthcheck --timeout 1 2>/dev/null; then ok=1; break; fi
    [ "$("${pm[@]}" inspect -f '{{.State.Running}}' "$name")" = true ] || break
    sleep 0.2
  done
  logs=$("${pm[@]}" logs "$name" 2>&1 | tail -5)
  "${pm[@]}" stop -t 10 "$name" >/dev/null 2>&1 || true
  "${pm[@]}" rm -f "$name" >/dev/null 2>&1 || true
  if [ $ok = 1 ]; then echo "ok: container serve + frostbox healthcheck"
  elif echo "$logs" | grep -q "not implemented yet"; then echo "SKIP container serve: serve not implemented in this tree yet"
  else echo "$logs"; echo "FAIL: container never healthy"; exit 1; fi
else
  echo "podman run: skipped (no podman or not root)"
fi
echo "74-oci: passed in $(( $(date +%s) - t_step )) s"
