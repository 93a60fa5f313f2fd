# Shared helpers for ci/steps/*.sh (sourced).
# System packages the steps need; a step that needs more appends to this list here.
APT_PACKAGES="pkg-config"
# appliance (steps 70-76): qemu-user for aarch64/armv7, nspawn + mmdebstrap, OCI tools
APT_PACKAGES="$APT_PACKAGES file qemu-user-static binfmt-support systemd-container mmdebstrap skopeo jq podman runc"
# nip46: QR decoding check (tests/nip46_qr.rs)
APT_PACKAGES="$APT_PACKAGES zbar-tools"
# os image (step 78): mmdebstrap + genimage, no loop devices; qemu-system-arm comes from backports in the step
APT_PACKAGES="$APT_PACKAGES genimage mtools dosfstools fdisk arch-test"
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
# Runs `npm ci` in a directory only when its node_modules is missing or older than the lockfile.
npm_ci() {
  local dir=$1
  if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules" ]; then
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}
