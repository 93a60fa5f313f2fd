#!/usr/bin/env bash
# Starts the builds of later steps in the background (ci/lib.sh prep_*), so they run on the CPU
# the foreground steps leave idle instead of adding to the run:
#   release-build  step 70's static musl binaries (ci/release-build.sh; nice 15: needed first)
#   armv7-build    step 85's armv7 binary (ci/armv7-build.sh, after release-build; nice 17:
#                  needed before the fuzz build; FROSTBOX_CI_ARMV7=0 skips it)
#   fuzz-build     step 90's libFuzzer targets (ci/fuzz-build.sh; nice 19): waits for step 00's
#                  test build, whose compiled dependencies it reuses, then builds frostbox
#                  instrumented and the targets in target/fuzz/
#   nspawn-rootfs  step 72's Debian root (ci/nspawn-rootfs.sh, mmdebstrap; root only)
#   os-stage1      step 78's Debian package stage of the Pi image (image/os/build.sh
#                  --stage1-only: mmdebstrap of arm64 under qemu-user; root only)
# Their tools are installed here first, in the foreground (the stage-1 job runs under the
# backports qemu-user-static, which must not be replaced underneath it). A job that fails leaves
# its output missing or stale, and the step that needs it builds it itself.
set -euo pipefail
source ci/lib.sh
t0=$(date +%s)
musl_tools
[ "$(id -u)" != 0 ] || [ "${FROSTBOX_CI_OS_IMAGE:-1}" = 0 ] || os_image_tools
echo "05-prepare: tools in $(( $(date +%s) - t0 )) s"
PREP_NICE=15 prep_start release-build bash ci/release-build.sh
[ "${FROSTBOX_CI_ARMV7:-1}" = 0 ] || PREP_NICE=17 prep_start armv7-build bash ci/armv7-build.sh
prep_start fuzz-build bash ci/fuzz-build.sh
if [ "$(id -u)" = 0 ]; then
  prep_start nspawn-rootfs bash ci/nspawn-rootfs.sh
  [ "${FROSTBOX_CI_OS_IMAGE:-1}" = 0 ] || prep_start os-stage1 bash image/os/build.sh --stage1-only
fi
echo "05-prepare: jobs run in the background (logs: $PREP_DIR/)"
