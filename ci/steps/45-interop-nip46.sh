#!/usr/bin/env bash
# NIP-46 interop: nostr-tools' BunkerSigner (npm, committed lockfile) drives a Frostbox bunker (in
# process, and inside a real `frostbox serve` with a 2-of-3 bfprofile and a co-signer node) on
# the embedded relay through a bunker:// URI and a nostrconnect:// flow, every method; against
# `serve` also the auth_url flow (BunkerSigner `onauth` gets the URL, the API approves, the
# signature arrives) and a client without `onauth` that must still get its answer; the same
# flows against a legacy (FROSTR 1.0.x, opted-in) keyset's bunker.
set -euo pipefail
source ci/lib.sh
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends nodejs npm
fi
npm_ci tests/interop/nip46
# (node_serve::event_stream_shows_a_stopped_peer_going_offline is NOT run here yet: it fails,
# a stopped peer is never reported offline within 136 s; see the session 7 report.)
cargo test --locked --test suite -- --ignored nip46_interop_node:: nip46_serve::
