#!/usr/bin/env bash
# Flashable Raspberry Pi image (issue 9): build the CI test variant of the OS image
# (image/os/build.sh --test: the shipped image plus a boot-report unit and a short watchdog
# drop-in) from the aarch64 binary step 70 built, then boot it under qemu-system-aarch64 (TCG):
# -M virt (virtio disk, -netdev user,restrict=on) here, and -M raspi3b (SD card, Pi DTB) as a
# background job that step 85 collects: it overlaps step 80's browser tests, which leave a core
# mostly idle (the two boots one after the other made this step 10-11.5 min cold).
# Each boot must report: root found by label, first-boot growth, frostbox.service active,
# /ready answers, the first-run setup code logged, a frozen (SIGSTOP) frostbox killed by the
# systemd watchdog and restarted; then the guest powers off and qemu exits 0.
# Needs root (mmdebstrap --mode=root). Runs by default; FROSTBOX_CI_OS_IMAGE=0 skips it.
# Env: KEEP_OS_IMAGE=1 keeps target/os-image/*.img after a pass; FROSTBOX_CI_OS_BOOTS (default
# "virt raspi3b") picks the machines.
# Budget (BENCHMARKS.md "## OS image"): cold build 52-398 s (Debian package stage in the
# background since step 05, cached for a week in target/os-cache/), boot -M virt 61-202 s,
# -M raspi3b 243-389 s at load 3-8 (the lower figures on a quiet machine).
set -euo pipefail
source ci/lib.sh
t_step=$(date +%s)
if [ "$(id -u)" != 0 ]; then echo "78-os-image: needs root (mmdebstrap --mode=root); skipped"; exit 0; fi
if [ "${FROSTBOX_CI_OS_IMAGE:-1}" = 0 ]; then
  echo "78-os-image: SKIPPED (FROSTBOX_CI_OS_IMAGE=0)"; exit 0
fi

# --- tools (idempotent; step 05 installed them when it ran) ---
os_image_tools
echo "tools ready in $(( $(date +%s) - t_step )) s ($(qemu-system-aarch64 --version | head -1))"

# --- the aarch64 binary from step 70 (built here only when the step runs alone) ---
version=$(awk -F'"' '/^version *=/{print $2; exit}' Cargo.toml)
bin=dist/frostbox-$version-aarch64-unknown-linux-musl
if [ ! -f "$bin" ]; then
  echo "no $bin from step 70; building it"
  nice -n 19 bash scripts/build-release.sh aarch64 | tail -1
fi

out=target/os-image
# the Debian package stage, built in the background since step 05 (cached in target/os-cache/)
prep_wait os-stage1 || true
t=$(date +%s)
bash image/os/build.sh --test --bin "$bin" --out "$out"
t_build=$(( $(date +%s) - t ))

boots=${FROSTBOX_CI_OS_BOOTS:-virt raspi3b}
t_virt=skipped bg=""
for m in $boots; do
  case "$m" in
    virt) t=$(date +%s); bash image/os/boot-test.sh virt --out "$out" --timeout 600; t_virt=$(( $(date +%s) - t ))s ;;
    raspi3b) ;;
    *) echo "78-os-image: unknown machine $m in FROSTBOX_CI_OS_BOOTS" >&2; exit 2 ;;
  esac
done
case " $boots " in
  *" raspi3b "*)
    if ! step_selected 85-background; then
      # a partial run (STEPS=78) has no step 85 to collect a background job
      t=$(date +%s); bash image/os/boot-test.sh raspi3b --out "$out" --timeout 900
      echo "TIMING boot-raspi3b foreground $(( $(date +%s) - t ))s"
    else
      # nice 5: the browser tests of step 80 come first, but a starved guest would miss its
      # 8 s service watchdog (test drop-in); step 85 waits for it at normal priority
      PREP_NICE=5 prep_start os-boot-raspi3b bash image/os/boot-test.sh raspi3b --out "$out" --timeout 900
      bg=" (raspi3b boot in the background, collected by step 85)"
    fi ;;
esac

# the image stays while the background boot's overlay needs it; step 85 removes it
[ "${KEEP_OS_IMAGE:-0}" = 1 ] || [ -n "$bg" ] || rm -f "$out"/*.img
total=$(( $(date +%s) - t_step ))
echo "TIMING 78-os-image build=${t_build}s boot-virt=${t_virt} total=${total}s"
echo "78-os-image: passed in ${total} s$bg"
