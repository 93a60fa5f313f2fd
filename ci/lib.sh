# Shared helpers for ci/steps/*.sh (sourced).
# System packages the steps need; a step that needs more appends to this list here.
APT_PACKAGES="pkg-config zbar-tools"
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
# Runs `npm ci` in a directory only when its node_modules is missing or older than the lockfile.
npm_ci() {
  local dir=$1
  if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules" ]; then
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}
