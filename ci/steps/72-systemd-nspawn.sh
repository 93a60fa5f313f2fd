#!/usr/bin/env bash
# systemd as PID 1 in a container: install systemd/frostbox.service + the binary into a minimal
# Debian root (mmdebstrap, cached under target/), boot it with systemd-nspawn and assert from the
# container's journal that
#   * frostbox.service became active only after READY=1 (Type=notify) and answers /ready
#     (`frostbox healthcheck`, run inside the container);
#   * frostbox-hang.service (the same unit + tests/systemd/frostbox-hang.conf, debug binary with
#     the hang fault switch) was killed by the watchdog and restarted.
# Needs root (mmdebstrap --mode=root, nspawn). ~2 min cold (rootfs), ~30 s warm.
# Env: NSPAWN_BIN   binary for frostbox.service (default: the musl release build from step 70
#                   if present, else target/debug/frostbox)
#      NSPAWN_HANG_BIN  debug binary for the hang unit (default target/debug/frostbox)
#      NSPAWN_ARGS  replaces "serve" (e.g. pre-merge mechanics check with examples/notify_probe)
set -euo pipefail
source ci/lib.sh
t0=$(date +%s)
for p in systemd-container mmdebstrap; do
  dpkg -s "$p" >/dev/null 2>&1 || { as_root apt-get update -qq; DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends systemd-container mmdebstrap; break; }
done
if [ "$(id -u)" != 0 ]; then echo "72-systemd-nspawn: needs root; skipped"; exit 0; fi

work=target/ci-nspawn
prep_wait nspawn-rootfs || true   # built in the background since step 05
bash ci/nspawn-rootfs.sh
base=$work/base.tar
test_bin=$(test_profile_bin)  # step 20's binary (the hang fault switch is a debug-build feature)
bin=${NSPAWN_BIN:-}
if [ -z "$bin" ]; then
  bin=$(ls dist/frostbox-*-x86_64-unknown-linux-musl 2>/dev/null | head -1 || true)
  [ -n "$bin" ] || bin=$test_bin
fi
hang_bin=${NSPAWN_HANG_BIN:-$test_bin}
echo "frostbox.service runs $bin; frostbox-hang.service runs $hang_bin"

root=$work/rootfs
rm -rf "$root"; mkdir -p "$root"
tar -C "$root" --numeric-owner -xf "$base"
install -m 0755 "$bin" "$root/usr/local/bin/frostbox"
install -m 0755 "$hang_bin" "$root/usr/local/bin/frostbox-debug"
install -m 0644 systemd/frostbox.service "$root/etc/systemd/system/frostbox.service"
sed -e 's#^ExecStart=/usr/local/bin/frostbox #ExecStart=/usr/local/bin/frostbox-debug #' \
    -e 's#^Description=.*#Description=Frostbox watchdog test (hangs after 3 s)#' \
  systemd/frostbox.service > "$root/etc/systemd/system/frostbox-hang.service"
mkdir -p "$root/etc/systemd/system/frostbox-hang.service.d"
install -m 0644 tests/systemd/frostbox-hang.conf "$root/etc/systemd/system/frostbox-hang.service.d/test.conf"
mkdir -p "$root/etc/systemd/system/frostbox.service.d"
install -m 0644 tests/systemd/frostbox-ci.conf "$root/etc/systemd/system/frostbox.service.d/ci.conf"
if [ -n "${NSPAWN_ARGS:-}" ]; then
  for u in frostbox frostbox-hang; do
    mkdir -p "$root/etc/systemd/system/$u.service.d"
    b=/usr/local/bin/frostbox; [ $u = frostbox-hang ] && b=/usr/local/bin/frostbox-debug
    printf '[Service]\nExecStart=\nExecStart=%s %s\n' "$b" "$NSPAWN_ARGS" > "$root/etc/systemd/system/$u.service.d/args.conf"
  done
  mkdir -p "$root/etc/systemd/system/ci-report.service.d"
  printf '[Service]\nEnvironment=CI_SKIP_HTTP=1\n' > "$root/etc/systemd/system/ci-report.service.d/skip.conf"
fi
install -m 0644 tests/systemd/ci-report.service "$root/etc/systemd/system/ci-report.service"
install -m 0755 tests/systemd/ci-report.sh "$root/usr/local/bin/ci-report.sh"
systemctl --root="$root" enable frostbox.service frostbox-hang.service ci-report.service >/dev/null 2>&1
mkdir -p "$root/var/log/journal"

t=$(date +%s)
rc=0
timeout 180 systemd-nspawn --quiet --register=no --keep-unit --private-network \
  -D "$root" -b --console=passive >"$work/console.log" 2>&1 || rc=$?
echo "container ran $(( $(date +%s) - t )) s (rc=$rc)"
journal=$work/journal.txt
journalctl --root="$root" -b --no-pager -o short-monotonic >"$journal" 2>/dev/null || true
grep -E 'frostbox|CI-REPORT|Watchdog' "$journal" | grep -v 'kernel:' | tail -60 || true

fail=0
check() { if grep -qE "$2" "$journal"; then echo "ok: $1"; else echo "FAIL: $1 (no /$2/)"; fail=1; fi; }
check "frostbox.service started" 'systemd\[1\]: Started frostbox\.service'
unit_journal=$work/journal-frostbox.txt
journalctl --root="$root" -b --no-pager -o short-monotonic -u frostbox.service >"$unit_journal" 2>/dev/null || true
# ordering within frostbox.service: the app's "ready" line (sent with READY=1) comes before
# systemd's "Started frostbox.service" (Type=notify waits for READY=1)
ready_line=$(grep -nE '\]: .*ready' "$unit_journal" | grep -v 'systemd\[1\]' | head -1 | cut -d: -f1)
started_line=$(grep -nE 'systemd\[1\]: Started frostbox\.service' "$unit_journal" | head -1 | cut -d: -f1)
if [ -n "$ready_line" ] && [ -n "$started_line" ] && [ "$ready_line" -lt "$started_line" ]; then
  echo "ok: READY (line $ready_line) precedes Started (line $started_line)"
else echo "FAIL: READY/Started order (ready=$ready_line started=$started_line)"; fail=1; fi
check "watchdog timeout on the hung instance" 'frostbox-hang\.service: Watchdog timeout'
check "hung instance killed" 'frostbox-hang\.service: Killing process .* signal SIGABRT'
check "hung instance restarted" 'frostbox-hang\.service: Scheduled restart job'
check "the hung instance withheld its pings (liveness, not a missing pinger)" 'withholding watchdog pings'
# it pinged while healthy: the first kill comes well after WatchdogSec (4 s) from its start
t_start=$(grep -m1 -E 'systemd\[1\]: Started frostbox-hang\.service' "$journal" | sed -E 's/^\[ *([0-9.]+)\].*/\1/')
t_kill=$(grep -m1 -E 'frostbox-hang\.service: Watchdog timeout' "$journal" | sed -E 's/^\[ *([0-9.]+)\].*/\1/')
if [ -n "$t_start" ] && [ -n "$t_kill" ] && awk "BEGIN{exit !($t_kill - $t_start >= 6)}"; then
  echo "ok: hung instance pinged while healthy (killed $(awk "BEGIN{print $t_kill - $t_start}") s after start)"
else echo "FAIL: hung instance killed too early (start=$t_start kill=$t_kill): it never pinged"; fail=1; fi
check "frostbox.service active at report time" 'CI-REPORT frostbox\.service .*ActiveState=active '
check "frostbox.service never restarted" 'CI-REPORT frostbox\.service .*NRestarts=0'
if [ -z "${NSPAWN_ARGS:-}" ]; then check "/ready answered inside the container" 'CI-REPORT healthcheck ok'; fi
if [ $fail != 0 ]; then
  echo "--- console (tail)"; tail -40 "$work/console.log"
  echo "--- journal: frostbox units"; grep -E 'frostbox' "$journal" | tail -80
  exit 1
fi
echo "72-systemd-nspawn: passed in $(( $(date +%s) - t0 )) s"
