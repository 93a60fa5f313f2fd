# Shared helpers for ci/steps/*.sh (sourced).
# System packages the steps need; a step that needs more appends to this list here.
APT_PACKAGES="pkg-config"
# appliance (steps 70-76): qemu-user for aarch64/armv7, nspawn + mmdebstrap, OCI tools
APT_PACKAGES="$APT_PACKAGES file qemu-user-static binfmt-support systemd-container mmdebstrap skopeo jq podman runc"
# nip46: QR decoding check (tests/nip46_qr.rs)
APT_PACKAGES="$APT_PACKAGES zbar-tools"
# os image (step 78): mmdebstrap + genimage, no loop devices; qemu-system-arm comes from backports in the step
APT_PACKAGES="$APT_PACKAGES genimage mtools dosfstools fdisk arch-test"
# Whether ci/test-all runs the step named $1 (STEPS="78 85": the steps whose names start so).
step_selected() {
  local s
  [ -n "${STEPS:-}" ] || return 0
  for s in $STEPS; do case "$1" in "$s"*) return 0;; esac; done
  return 1
}
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
# Runs `npm ci` in a directory only when its node_modules is missing or older than the lockfile.
npm_ci() {
  local dir=$1
  if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules" ]; then
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

# The frostbox binary of the test profile, exactly as step 20's `cargo test` built it. A plain
# `cargo build --bin` resolves features without the dev-dependencies (resolver 2) and rebuilt ~20
# crates plus the binary in every step that asked for it (~2.5 min each on a fresh clone); this
# names one integration test so cargo picks the same features as step 20: a no-op after it.
test_profile_bin() {
  cargo test --locked --no-run --test suite >&2
  echo "$PWD/target/debug/frostbox"
}

# Step 78's tools: mmdebstrap, genimage, qemu from bookworm-backports (qemu-system-arm together
# with qemu-utils/qemu-user-static: mixing bookworm's 7.2 with a backports qemu-utils makes apt
# REMOVE qemu-utils; 10.x also has the raspi machines' SD size checks we rely on). Needs root.
os_image_tools() {
  local need=() p src
  for p in mmdebstrap genimage mtools dosfstools fdisk e2fsprogs arch-test binfmt-support file; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
  done
  if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
  fi
  if ! command -v qemu-system-aarch64 >/dev/null 2>&1 || ! qemu-system-aarch64 -machine help | grep -q raspi3b; then
    src=/etc/apt/sources.list.d/frostbox-backports.sources
    if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
      printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' > "$src"
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -t bookworm-backports \
      qemu-system-arm qemu-system-common qemu-system-data qemu-user-static qemu-utils
  fi
  [ -e /proc/sys/fs/binfmt_misc/status ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
}

# Background preparation: step 05 starts the builds of later steps (release binaries, fuzz
# targets, Debian root filesystems) at low priority, so they use the CPU the foreground steps leave
# idle (single-crate compile phases, links, tests waiting on sockets, steps 40-60); the step that
# needs a job's output calls prep_wait, which raises the job to normal priority and waits.
# A job that failed or never ran just leaves its output missing, and the step builds it itself.
# ci/test-all kills unfinished jobs when it exits.
PREP_DIR=target/ci-prep
prep_start() { # name command... (PREP_NICE=n: niceness, default 19)
  local name=$1; shift
  mkdir -p "$PREP_DIR"
  rm -f "$PREP_DIR/$name.rc"
  # setsid: the job is its own process group, so renice -g and kill -- -pgid reach all of it
  # The log's last line is the job's CPU time (user, system; `times`), summed up by ci/test-all.
  PREP_NICE=${PREP_NICE:-19} setsid bash -c 'nice -n "$PREP_NICE" "$@" >"$0.log" 2>&1; rc=$?
    times >"$0.times"; echo "CPU $(tail -1 "$0.times")" >>"$0.log"; echo $rc >"$0.rc"' \
    "$PREP_DIR/$name" "$@" </dev/null >/dev/null 2>&1 &
  echo $! >"$PREP_DIR/$name.pid"
  echo "prep $name started (pid $!): $*"
}
prep_await() { # name; blocks until the job has ended (or was never started), at its own priority
  local f=$PREP_DIR/$1 pid
  [ -f "$f.pid" ] || return 0
  pid=$(cat "$f.pid")
  while [ ! -f "$f.rc" ] && kill -0 "$pid" 2>/dev/null; do sleep 1; done
}
prep_wait() { # name; 0 when the job finished ok, 1 when it failed or was never started
  local f=$PREP_DIR/$1 t0
  [ -f "$f.pid" ] || return 1
  t0=$(date +%s)
  # a step now needs it: it stops being a background job
  [ -f "$f.rc" ] || renice -n 0 -g "$(cat "$f.pid")" >/dev/null 2>&1 || true
  prep_await "$1"
  if [ "$(cat "$f.rc" 2>/dev/null)" = 0 ]; then
    echo "prep $1: ready (waited $(( $(date +%s) - t0 )) s)"; return 0
  fi
  echo "prep $1: FAILED (rc $(cat "$f.rc" 2>/dev/null || echo none)); building in the foreground. Log tail:"
  tail -20 "$f.log" 2>/dev/null || true
  return 1
}
prep_kill_all() {
  local f
  for f in "$PREP_DIR"/*.pid; do
    [ -f "$f" ] || continue
    [ -f "${f%.pid}.rc" ] || kill -- -"$(cat "$f")" 2>/dev/null || true
  done
}

# Steps 70/85's tools: cargo-zigbuild + zig (PyPI), the musl targets, qemu-user for the
# aarch64/armv7 smoke tests, rust-src (armv7 builds std with -Zbuild-std).
musl_tools() {
  local need=() p
  for p in qemu-user-static binfmt-support file; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
  if [ ${#need[@]} -gt 0 ]; then
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${need[@]}"
  fi
  if ! command -v cargo-zigbuild >/dev/null 2>&1 || ! python3 -m ziglang version >/dev/null 2>&1; then
    python3 -m pip install --quiet --disable-pip-version-check ziglang==0.17.0 cargo-zigbuild==0.24.0
    command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
  fi
  rustup target add x86_64-unknown-linux-musl aarch64-unknown-linux-musl >/dev/null 2>&1
  [ "${FROSTBOX_CI_ARMV7:-1}" = 0 ] || rustup component add rust-src >/dev/null 2>&1
  # transparent exec of foreign binaries (podman --arch arm64 in step 74); needs root
  if [ "$(id -u)" = 0 ]; then
    [ -e /proc/sys/fs/binfmt_misc/status ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || true
    update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
    update-binfmts --enable qemu-arm >/dev/null 2>&1 || true
  fi
}
