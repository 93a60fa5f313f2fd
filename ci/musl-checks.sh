# Checks of a static release binary in dist/ (sourced by steps 70 and 85), one target at a time:
#   musl_check TRIPLE            `file` says static, size <= 10 MiB, `--version` (qemu-user abroad)
#   musl_smoke TRIPLE            serve, /ready via `frostbox healthcheck`, SIGTERM -> exit within 5 s
#   musl_cross_sign TRIPLE       tests/cross_sign.rs: node B = this binary, node A = the test build
# Steps 70 (x86_64, aarch64) and 85 (armv7, whose -Zbuild-std build runs in the background) call
# them, so every shipped target gets the same checks.
version=$(awk -F'"' '/^version *=/{print $2; exit}' Cargo.toml)
declare -A musl_runner=([x86_64-unknown-linux-musl]="" [aarch64-unknown-linux-musl]=qemu-aarch64-static [armv7-unknown-linux-musleabihf]=qemu-arm-static)

musl_bin() { echo "dist/frostbox-$version-$1"; }

musl_check() {
  local triple=$1 bin desc size out max=$((10 * 1024 * 1024))
  bin=$(musl_bin "$triple")
  [ -f "$bin" ] || { echo "FAIL: no $bin"; return 1; }
  desc=$(file -b "$bin")
  size=$(stat -c %s "$bin")
  echo "SIZE $triple $size bytes ($(awk "BEGIN{printf \"%.2f\", $size/1048576}") MiB): $desc"
  case "$desc" in *"statically linked"*|*"static-pie linked"*) ;; *) echo "FAIL: $bin is not static"; return 1;; esac
  [ "$size" -le "$max" ] || { echo "FAIL: $bin is $size bytes > 10 MiB"; return 1; }
  out=$(${musl_runner[$triple]} "$bin" --version)
  echo "$triple --version: $out"
  [ "$out" = "frostbox $version" ] || { echo "FAIL: unexpected --version output"; return 1; }
}

musl_free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# /ready is probed with the native x86_64 binary's healthcheck (step 70 builds it first).
musl_smoke() {
  local triple=$1 dir port pid t0 t1 ready_ms="" rss rc=0 stop_ms probe
  probe=$(musl_bin x86_64-unknown-linux-musl)
  dir=$(mktemp -d); port=$(musl_free_port)
  t0=$(date +%s%N)
  HOST_NAME=127.0.0.1 HOST_PORT=$port FROSTBOX_DATA=$dir LOG_LEVEL=warn \
    ${musl_runner[$triple]} "$(musl_bin "$triple")" serve >"$dir/log" 2>&1 &
  pid=$!
  for _ in $(seq 1 300); do
    if "$probe" healthcheck --timeout 1 --url "http://127.0.0.1:$port/ready" 2>/dev/null; then
      ready_ms=$(( ($(date +%s%N) - t0) / 1000000 )); break
    fi
    kill -0 $pid 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$ready_ms" ]; then
    kill $pid 2>/dev/null || true; cat "$dir/log"; echo "FAIL: $triple never became ready"; return 1
  fi
  rss=$(awk '/VmRSS/{print $2}' /proc/$pid/status 2>/dev/null || echo "?")
  kill -TERM $pid
  t1=$(date +%s%N)
  timeout 6 tail --pid=$pid -f /dev/null || rc=$?
  wait $pid 2>/dev/null || true
  stop_ms=$(( ($(date +%s%N) - t1) / 1000000 ))
  echo "SMOKE $triple: ready in ${ready_ms} ms, RSS ${rss} kB (qemu-user RSS is not meaningful), stopped in ${stop_ms} ms"
  rm -rf "$dir"
  [ $rc = 0 ] || { echo "FAIL: $triple did not stop within 5 s of SIGTERM"; return 1; }
}

# Two processes, 2-of-2, over node A's embedded relay; each coordinates one signature the other
# co-signs; both verify (BIP-340). Step 20 built the test binaries, so this only runs them.
musl_cross_sign() {
  local triple=$1 t0 log rc=0
  t0=$(date +%s); log=$(mktemp)
  FROSTBOX_CROSS_BIN="$(musl_bin "$triple")" FROSTBOX_CROSS_RUNNER="${musl_runner[$triple]}" \
    cargo test --locked --profile test --test suite cross_sign:: -- --nocapture >"$log" 2>&1 || rc=$?
  grep -E 'node [AB]|test result' "$log" || true
  if [ $rc != 0 ]; then tail -60 "$log"; echo "FAIL: cross_sign with the $triple binary"; return 1; fi
  rm -f "$log"
  echo "TIMING cross_sign $triple $(( $(date +%s) - t0 )) s"
}
