#!/usr/bin/env bash
# Boots an image made by `image/os/build.sh --test` under qemu-system-aarch64 (TCG) and checks
# the CI-REPORT lines its frostbox-ci-report.service prints on the console, then that qemu exited
# by itself (the report powers the guest off). Fails loudly, printing the console tail.
#
#   image/os/boot-test.sh virt|raspi3b [--out DIR] [--timeout SECONDS] [--journal]
#
#   --journal  afterwards, copy the guest's persistent journal out of the overlay disk into
#              <out>/boot-<machine>/journal.txt (+ boot timing: systemd-analyze-like summary)
#
# The image is never modified: the guest writes to a qcow2 overlay, 2 GiB (the SD card size
# must be a power of two for raspi3b; it also makes first-boot root growth do real work).
# virt:    virtio disk + virtio-net on `-netdev user,restrict=on` (DHCP, no outside traffic)
# raspi3b: emulated Pi 3B: SD card (sdhost/sdhci), the Pi DTB from the image, no network
set -euo pipefail
cd "$(dirname "$0")/../.."
machine=${1:-}; shift || true
out=target/os-image timeout_s=420 journal=0
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --timeout) timeout_s=$2; shift 2 ;;
    --journal) journal=1; shift ;;
    *) echo "boot-test.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
# shellcheck source=/dev/null
. board/rpi-arm64/board.conf
img=$out/$BOARD_IMAGE_NAME
[ -f "$img" ] || { echo "boot-test.sh: no image $img (image/os/build.sh --test)" >&2; exit 1; }
grep -q '^test_build=1' "$out/BUILDINFO" || { echo "boot-test.sh: $img is not a --test build" >&2; exit 1; }
kernel=$(ls "$out"/boot/vmlinuz-* | head -1)
initrd=$(ls "$out"/boot/initrd.img-* | head -1)
run=$out/boot-$machine
rm -rf "$run"; mkdir -p "$run"
qemu-img create -q -f qcow2 -F raw -b "$(cd "$out" && pwd)/$BOARD_IMAGE_NAME" "$run/disk.qcow2" 2G

common=(-nographic -no-reboot -monitor none -kernel "$kernel" -initrd "$initrd")
case "$machine" in
  virt)
    cmd=(qemu-system-aarch64 -M virt -cpu cortex-a72 -smp 2 -m 1024 "${common[@]}"
      -append "root=LABEL=RASPIROOT rw console=ttyAMA0 net.ifnames=0 rootwait"
      -drive "file=$run/disk.qcow2,format=qcow2,if=none,id=hd0" -device virtio-blk-pci,drive=hd0
      -netdev user,id=n0,restrict=on -device virtio-net-pci,netdev=n0,romfile=)
    root_re='/dev/vda2' fw_re='/dev/vda1'
    ;;
  raspi3b)
    cmd=(qemu-system-aarch64 -M raspi3b "${common[@]}" -dtb "$out/boot/bcm2837-rpi-3-b.dtb"
      -append "root=LABEL=RASPIROOT rw console=ttyAMA0,115200 net.ifnames=0 rootwait systemd.watchdog_sec=off"
      -drive "file=$run/disk.qcow2,format=qcow2,if=sd")
    root_re='/dev/mmcblk0p2' fw_re='/dev/mmcblk0p1'
    # qemu's raspi models do not emulate the BCM2835 PM watchdog timer: arming it (a PM_RSTC
    # write) is taken as an immediate reset, so systemd's RuntimeWatchdogSec reset the guest
    # (~240 s in, before the report). The driver must stay: it is also the Pi's power-off path
    # (poweroff without it only halts and qemu never exits). So only PID 1's use of the hardware
    # watchdog is switched off here; real Pis count down.
    ;;
  *) echo "usage: boot-test.sh virt|raspi3b" >&2; exit 2 ;;
esac

log=$run/console.log
t0=$(date +%s)
rc=0
timeout "$timeout_s" "${cmd[@]}" </dev/null >"$log" 2>&1 || rc=$?
secs=$(( $(date +%s) - t0 ))
tr -d '\r' < "$log" > "$run/console.txt"
grep -a 'CI-REPORT' "$run/console.txt" | sed -E 's/^.*(CI-REPORT)/\1/' > "$run/report.txt" || true
echo "--- $machine: qemu rc=$rc after ${secs}s; report:"
cat "$run/report.txt"

if [ "$journal" = 1 ]; then
  # the root partition out of the qcow2 overlay, then the journal files out of ext4 (no mounts)
  off=$(sfdisk -J "$img" | python3 -c 'import json,sys; p=json.load(sys.stdin)["partitiontable"]["partitions"][1]; print(p["start"])')
  qemu-img convert -O raw "$run/disk.qcow2" "$run/disk.raw"
  dd if="$run/disk.raw" of="$run/root.ext4" bs=1M skip=$(( off / 2048 )) status=none
  rm -f "$run/disk.raw"
  mkdir -p "$run/journal"
  debugfs -R "rdump /var/log/journal $run/journal" "$run/root.ext4" >/dev/null 2>&1 || true
  rm -f "$run/root.ext4"
  journalctl --directory="$run/journal/journal" -o short-monotonic --no-pager > "$run/journal.txt" 2>&1 || true
  echo "guest journal: $run/journal.txt ($(wc -l < "$run/journal.txt") lines)"
fi

fail=0
check() { if grep -qE "$2" "$run/report.txt"; then echo "ok: $machine: $1"; else echo "FAIL: $machine: $1 (no /$2/)"; fail=1; fi; }
[ "$rc" = 0 ] || { echo "FAIL: $machine: qemu rc=$rc (124 = timeout after ${timeout_s}s: the guest never powered off)"; fail=1; }
if grep -q 'CI-REPORT FAIL' "$run/report.txt"; then echo "FAIL: $machine: the guest reported failures (above)"; fail=1; fi
check "root filesystem by label on $root_re" "^CI-REPORT root $root_re .*label=RASPIROOT firmware=$fw_re"
# first-boot growth: the 2 GiB overlay leaves ~550 MiB beyond the image's root partition
grow=$(sed -nE 's/^CI-REPORT growroot success growroot: .* grown from ([0-9]+) MiB to ([0-9]+) MiB.*/\1 \2/p' "$run/report.txt" | head -1)
if [ -n "$grow" ] && [ "${grow#* }" -ge $(( ${grow% *} + 400 )) ]; then echo "ok: $machine: first-boot root growth ($grow MiB)"
else echo "FAIL: $machine: first-boot root growth (got '${grow}')"; fail=1; fi
check "frostbox.service active and ready" '^CI-REPORT frostbox active .*ActiveState=active .*NRestarts=0'
check "frostbox pings the watchdog while healthy" '^CI-REPORT frostbox after 17 s active \(since uptime [0-9]+s, now [0-9.]+s\) ActiveState=active .*NRestarts=0'
span=$(sed -nE 's/^CI-REPORT frostbox after 17 s active \(since uptime ([0-9]+)s, now ([0-9]+)[.0-9]*s\).*/\2 - \1/p' "$run/report.txt" | head -1)
if [ -n "$span" ] && [ $(( span )) -ge 17 ]; then echo "ok: $machine: active without a restart for $(( span )) s (>= 2 watchdog periods)"
else echo "FAIL: $machine: the healthy span was not >= 17 s (got '${span}')"; fail=1; fi
check "/ready answers" '^CI-REPORT ready ok'
check "first-run setup code logged" '^CI-REPORT setup-code logged'
check "networkd, resolved (mDNS), timesyncd, ssh running" '^CI-REPORT unit systemd-resolved active'
check "hung instance: watchdog timeout" '^CI-REPORT watchdog-log .*Watchdog timeout'
check "hung instance: killed" '^CI-REPORT watchdog-log .*Killing process'
check "hung instance: failed with result watchdog" "^CI-REPORT watchdog-log .*Failed with result 'watchdog'"
check "hung instance: restarted and ready again" '^CI-REPORT restarted after hang .*ActiveState=active .*NRestarts=[1-9]'
check "report completed" '^CI-REPORT done'
if [ "$machine" = virt ]; then
  check "networkd running" '^CI-REPORT unit systemd-networkd active'
fi
up_ready=$(sed -nE 's/^CI-REPORT frostbox active at uptime ([0-9.]+)s.*/\1/p' "$run/report.txt" | head -1)
if [ $fail != 0 ]; then
  echo "--- $machine console (tail)"; tail -80 "$run/console.txt"
  exit 1
fi
echo "TIMING boot-$machine qemu_total=${secs}s frostbox_ready_uptime=${up_ready:-?}s"
rm -f "$run/disk.qcow2"
