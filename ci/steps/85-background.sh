#!/usr/bin/env bash
# Collects the two long checks that run in the background beside steps 70-80:
#   armv7    the static armv7 (32-bit Pi OS) release binary, built with -Zbuild-std by
#            ci/armv7-build.sh since step 05: the same checks as step 70's targets
#            (ci/musl-checks.sh: static, <= 10 MiB, --version, serve + /ready + SIGTERM, and a
#            signature with a native node), all under qemu-arm.
#   raspi3b  the Pi image's -M raspi3b boot started by step 78 (image/os/boot-test.sh checks the
#            guest's report: root by label on the SD card, growth, service, /ready, setup code,
#            watchdog kill + restart).
# Each job is waited for at normal priority; a missing or failed armv7 job is built here.
# FROSTBOX_CI_ARMV7=0 skips armv7; the raspi3b part runs when step 78 started it.
set -euo pipefail
source ci/lib.sh
source ci/musl-checks.sh
t_step=$(date +%s)
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"

if [ "${FROSTBOX_CI_ARMV7:-1}" != 0 ]; then
  musl_tools
  t0=$(date +%s)
  if prep_wait armv7-build; then
    grep -E '^(built|TIMING)' "$PREP_DIR/armv7-build.log" || true
  else
    bash ci/armv7-build.sh | grep -E '^(built|TIMING)'
  fi
  echo "TIMING armv7 build (after the background job) $(( $(date +%s) - t0 )) s"
  musl_check armv7-unknown-linux-musleabihf
  musl_smoke armv7-unknown-linux-musleabihf
  musl_cross_sign armv7-unknown-linux-musleabihf
fi

if [ -f "$PREP_DIR/os-boot-raspi3b.pid" ]; then
  t0=$(date +%s)
  ok=1; prep_wait os-boot-raspi3b || ok=0
  echo "(waited $(( $(date +%s) - t0 )) s for the raspi3b boot)"
  grep -E '^(--- |ok: |FAIL|TIMING)' "$PREP_DIR/os-boot-raspi3b.log" || true
  if [ $ok = 0 ]; then
    echo "--- raspi3b boot log (tail)"; tail -100 "$PREP_DIR/os-boot-raspi3b.log"
    echo "FAIL: the -M raspi3b boot of the Pi image (log: $PREP_DIR/os-boot-raspi3b.log)"; exit 1
  fi
  [ "${KEEP_OS_IMAGE:-0}" = 1 ] || rm -f target/os-image/*.img
fi
echo "85-background: passed in $(( $(date +%s) - t_step )) s"
