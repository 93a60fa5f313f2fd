#!/usr/bin/env bash
# Property-based API check: schemathesis (PyPI) fuzzes every operation of
# /api/docs/openapi.json against a running frostbox and fails on any 5xx or any response
# that does not match the documented schema. The server runs a real signer: a 2-of-3 keyset
# (`frostbox keygen --profile`), share 1 imported through POST /api/keyset, share 2 in a second
# frostbox on the first one's embedded relay, so /api/sign, /api/nip44/*, /api/nip04/* and
# /api/peers/* are exercised against the live node. Idempotent; installs into target/.
set -euo pipefail
source ci/lib.sh
VENV=target/schemathesis-venv
SCHEMATHESIS_VERSION="${SCHEMATHESIS_VERSION:-4.32.5}"
if [ ! -x "$VENV/bin/schemathesis" ] || ! "$VENV/bin/schemathesis" --version | grep -q "$SCHEMATHESIS_VERSION"; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION"
fi
BIN="${FROSTBOX_BIN:-}"
if [ -z "$BIN" ]; then
  if [ -x target/release/frostbox ] && [ target/release/frostbox -nt Cargo.toml ]; then
    BIN=target/release/frostbox
  else
    BIN=$(test_profile_bin)  # step 20's binary: a no-op build in CI
  fi
fi
WORK=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
PORT_B=$(free_port)
SECRET="schemathesis-admin-$(date +%s)"
PW="schemathesis-profile-pw-$RANDOM"
RELAY="ws://127.0.0.1:$PORT"
# A threshold round that loses its peer answers 504 after this; schemathesis waits 20 s, so a
# 504 is always seen as the documented status and never as a client-side read timeout.
SIGN_TIMEOUT_MS=5000
PID=""
PID_B=""
cleanup() {
  for p in $PID $PID_B; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
wait_ready() {
  for _ in $(seq 1 400); do
    curl -fsS "http://127.0.0.1:$1/ready" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "frostbox on port $1 never became ready" >&2
  return 1
}
mkdir -p "$WORK/a" "$WORK/b"
ADMIN_SECRET="$SECRET" RATE_LIMIT_ENABLED=false FROSTR_SIGN_TIMEOUT="$SIGN_TIMEOUT_MS" "$BIN" serve --port "$PORT" --data "$WORK/a" 2>"$WORK/a.log" &
PID=$!
wait_ready "$PORT"

run_schemathesis() {
  "$VENV/bin/schemathesis" run "http://127.0.0.1:$PORT/api/docs/openapi.json" \
    --checks "${CHECKS:-not_a_server_error,response_schema_conformance}" \
    -H "Authorization: Bearer $SECRET" \
    --generation-database none \
    --request-timeout 20 \
    "$@"
}

# 1. Keyset routes (import, unlock, delete) before a signer exists: fuzzing them later would
#    replace or delete the keyset under the running node.
run_schemathesis --include-path-regex '^/api/keyset' --max-examples "${SCHEMATHESIS_EXAMPLES:-30}"

# 2. A signer: 2-of-3 keyset, share 1 here, share 2 in a second frostbox on this relay.
FROSTBOX_PASSWORD="$PW" "$BIN" keygen -t 2 -n 3 --profile --relay "$RELAY" --json >"$WORK/keys.json"
profile() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["shares"][int(sys.argv[2])]["bfprofile"])' "$WORK/keys.json" "$1"; }
python3 -c 'import json,sys; print(json.dumps({"share_cred": sys.argv[1], "share_password": sys.argv[2], "mode": "unattended"}))' \
  "$(profile 0)" "$PW" >"$WORK/import.json"
curl -fsS -X POST "http://127.0.0.1:$PORT/api/keyset" -H "Authorization: Bearer $SECRET" \
  -H 'Content-Type: application/json' --data-binary "@$WORK/import.json" >/dev/null
rm -f "$WORK/import.json"
SHARE_CRED="$(profile 1)" SHARE_PASSWORD="$PW" RELAYS="$RELAY" ADMIN_SECRET="$SECRET" RATE_LIMIT_ENABLED=false \
  FROSTR_SIGN_TIMEOUT="$SIGN_TIMEOUT_MS" \
  "$BIN" serve --port "$PORT_B" --data "$WORK/b" 2>"$WORK/b.log" &
PID_B=$!
wait_ready "$PORT_B"
reachable=""
for _ in $(seq 1 600); do
  if curl -fsS "http://127.0.0.1:$PORT/api/status" -H "Authorization: Bearer $SECRET" | grep -q '"thresholdReachable":true'; then
    reachable=1
    break
  fi
  sleep 0.1
done
if [ -z "$reachable" ]; then
  echo "the signer never reached its threshold" >&2
  tail -n 50 "$WORK/a.log" "$WORK/b.log" >&2
  exit 1
fi

# 3. Every other operation against the live signer, in two runs. Left out: the WebSocket upgrade
#    (/api/events) and the keyset routes (step 1).
# 3a. Routes that never wait for peers: no 5xx at all.
run_schemathesis --exclude-path-regex '^/(ready|api/(events|keyset.*|sign|peers.*|nip44/.*|nip04/.*))$' \
  --max-examples "${SCHEMATHESIS_EXAMPLES:-30}"
# 3b. Routes that run a threshold round: 502/503/504 (peer rejected / threshold not reachable right
#     now / peer timeout) are their documented answers while fuzzing drains nonce pools and sets
#     peer policies, so these are held to the documented status codes and schemas instead: an
#     undocumented status (a 500 included) still fails. /ready belongs here too: its documented
#     503 is the honest answer while fuzzed peer policies make the threshold unreachable.
CHECKS=status_code_conformance,response_schema_conformance \
  run_schemathesis --include-path-regex '^/(ready|api/(sign|peers.*|nip44/.*|nip04/.*))$' \
  --max-examples "${SCHEMATHESIS_EXAMPLES:-30}"
# The signer is still up after the fuzzing. Schemathesis' stateful phase follows the API's links
# (GET /api/peers -> a real pubkey -> PUT /api/peers/{pubkey}/policy), so it can store a policy
# that denies the co-signer: "threshold not reachable" is then the right answer. Such policies
# are removed first (DELETE, as a user would), then the threshold must come back (nonce pools may
# need a moment to refill).
auth=(-H "Authorization: Bearer $SECRET")
for pk in $(curl -fsS "http://127.0.0.1:$PORT/api/peers/policies" "${auth[@]}" |
    python3 -c 'import json,sys; [print(p["pubkey"]) for p in json.load(sys.stdin).get("policies", []) if p.get("hasExplicitPolicy")]'); do
  echo "removing the fuzzed policy of peer $pk"
  curl -fsS -X DELETE "http://127.0.0.1:$PORT/api/peers/$pk/policy" "${auth[@]}" >/dev/null || true
done
for _ in $(seq 1 600); do
  curl -fsS "http://127.0.0.1:$PORT/api/status" "${auth[@]}" | grep -q '"thresholdReachable":true' && exit 0
  sleep 0.1
done
echo "the signer lost its threshold during the fuzzing" >&2
curl -sS "http://127.0.0.1:$PORT/api/peers" "${auth[@]}" >&2 || true
tail -n 40 "$WORK/a.log" "$WORK/b.log" >&2
exit 1
