#!/usr/bin/env bash
# The minimal Debian root for step 72's systemd-nspawn boot: target/ci-nspawn/base.tar
# (mmdebstrap minbase + systemd-sysv + dbus, ~190 MB, ~35 s). Kept once built; written atomically,
# so step 05 can build it in the background. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
work=target/ci-nspawn
base=$work/base.tar
mkdir -p "$work"
[ -f "$base" ] && exit 0
t=$(date +%s)
tmp=$work/base.tmp.$$.tar
trap 'rm -f "$tmp"' EXIT
mmdebstrap --quiet --mode=root --variant=minbase --include=systemd-sysv,dbus \
  bookworm "$tmp" http://deb.debian.org/debian
mv "$tmp" "$base"
echo "rootfs built in $(( $(date +%s) - t )) s ($(du -h "$base" | cut -f1))"
