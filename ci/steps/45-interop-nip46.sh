#!/usr/bin/env bash
# NIP-46 interop: nostr-tools' BunkerSigner (npm, committed lockfile) drives a Frostbox bunker (in
# process, and inside a real `frostbox serve` with a 2-of-3 bfprofile and a co-signer node) on
# the embedded relay through a bunker:// URI and a nostrconnect:// flow, every method; against
# `serve` also the auth_url flow (BunkerSigner `onauth` gets the URL, the API approves, the
# signature arrives) and a client without `onauth` that must still get its answer; the same
# flows against a legacy (FROSTR 1.0.x, opted-in) keyset's bunker. Also starts the /api/events
# stopped-peer test (node_serve) in the background.
set -euo pipefail
source ci/lib.sh
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends nodejs npm
fi
npm_ci tests/interop/nip46
cargo test --locked --test suite -- --ignored nip46_interop_node:: nip46_serve::
# node_serve's stopped-peer test sleeps through the node's fixed 120 s online grace: it runs in
# the background (at normal priority: its two `serve` processes must keep their 5 s supervisor
# tick while steps 60-70 load both cores) and step 70 collects its result.
suite=$(cargo test --locked --no-run --test suite 2>&1 | grep -o 'target/debug/deps/suite-[0-9a-f]*' | head -1)
PREP_NICE=0 prep_start peer-offline "$suite" --ignored --exact --nocapture \
  node_serve::event_stream_shows_a_stopped_peer_going_offline
