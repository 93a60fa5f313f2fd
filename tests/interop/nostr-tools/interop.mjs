// nostr-tools against the Frostbox relay and Frostbox's NIP-44 / NIP-04.
// Driven by tests/relay_nostr_tools.rs:  node interop.mjs <spec.json> <out.json>
// Exits non-zero (with a message) on the first failed check.
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import WebSocket from 'ws'
import { finalizeEvent, getPublicKey, verifyEvent } from 'nostr-tools/pure'
import { Relay, useWebSocketImplementation } from 'nostr-tools/relay'
import * as nip44 from 'nostr-tools/nip44'
import * as nip04 from 'nostr-tools/nip04'

useWebSocketImplementation(WebSocket)

const hexToBytes = (h) => Uint8Array.from(h.match(/../g).map((b) => parseInt(b, 16)))

const [specPath, outPath] = process.argv.slice(2)
const spec = JSON.parse(readFileSync(specPath, 'utf8'))
const sk = hexToBytes(spec.node_secret)
const pk = getPublicKey(sk)
const now = () => Math.floor(Date.now() / 1000)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
let checks = 0
const ok = (cond, msg) => {
  assert.ok(cond, msg)
  checks++
}

function collect(relay, filters) {
  return new Promise((resolve, reject) => {
    const got = []
    const timer = setTimeout(() => reject(new Error('no EOSE within 5 s')), 5000)
    const sub = relay.subscribe(filters, {
      onevent: (e) => got.push(e),
      oneose: () => {
        clearTimeout(timer)
        resolve(got)
        sub.close()
      },
      onclose: (reason) => {
        clearTimeout(timer)
        reject(new Error('closed: ' + reason))
      },
    })
  })
}

// ---- open relay: stored events, live events, OK semantics, COUNT ----
const relay = await Relay.connect(spec.relay_url)
const stored = await collect(relay, [{ kinds: [1], authors: [spec.rust_pubkey] }])
ok(stored.length === spec.rust_event_ids.length, `stored events: got ${stored.length}`)
ok(JSON.stringify(stored.map((e) => e.id)) === JSON.stringify(spec.rust_event_ids), 'newest first, exact ids')
ok(stored.every((e) => verifyEvent(e)), 'nostr-tools verifies events signed by Frostbox')
const limited = await collect(relay, [{ kinds: [1], authors: [spec.rust_pubkey], limit: 2 }])
ok(limited.length === 2 && limited[0].id === spec.rust_event_ids[0], 'limit 2')
const none = await collect(relay, [{ kinds: [1], limit: 0 }])
ok(none.length === 0, 'limit 0 → EOSE only')

const live = []
const liveSub = relay.subscribe([{ kinds: [1], authors: [pk] }], { onevent: (e) => live.push(e) })
const published = []
for (let i = 0; i < 3; i++) {
  const e = finalizeEvent({ kind: 1, created_at: now(), tags: [['t', 'interop']], content: `from nostr-tools ${i} "quoted" \\ é 🦄\n` }, sk)
  const reason = await relay.publish(e)
  ok(reason === '', `publish ${i} accepted: ${reason}`)
  published.push(e.id)
}
const dupReason = await relay.publish(finalizeEvent({ kind: 1, created_at: 1, tags: [], content: 'dup' }, sk))
  .then(() => relay.publish(finalizeEvent({ kind: 1, created_at: 1, tags: [], content: 'dup' }, sk)))
ok(dupReason.startsWith('duplicate:'), `duplicate reason: ${dupReason}`)
published.push(finalizeEvent({ kind: 1, created_at: 1, tags: [], content: 'dup' }, sk).id)
const bad = finalizeEvent({ kind: 1, created_at: now(), tags: [], content: 'signed' }, sk)
bad.content = 'tampered'
let rejected = ''
try {
  await relay.publish(bad)
} catch (e) {
  rejected = String(e.message || e)
}
ok(rejected.includes('invalid:'), `tampered event rejected: ${rejected}`)
for (let i = 0; i < 50 && live.length < 4; i++) await sleep(20)
ok(live.length === 4, `live events: ${live.length}`)
liveSub.close()
const n = await relay.count([{ kinds: [1], authors: [pk] }], {})
ok(n === 4, `COUNT ${n}`)

// ---- NIP-44 / NIP-04 both ways ----
const conv = nip44.v2.utils.getConversationKey(sk, spec.rust_pubkey)
for (const c of spec.nip44_from_rust) ok(nip44.v2.decrypt(c.payload, conv) === c.plaintext, 'NIP-44 padded from Frostbox')
let unpaddedAccepted = 0
for (const c of spec.nip44_unpadded_from_rust) {
  try {
    if (nip44.v2.decrypt(c.payload, conv) === c.plaintext) unpaddedAccepted++
  } catch {}
}
for (const c of spec.nip04_from_rust) ok(nip04.decrypt(sk, spec.rust_pubkey, c.payload) === c.plaintext, 'NIP-04 from Frostbox')
const nip44FromNode = spec.plaintexts_for_node.map((p) => ({ plaintext: p, payload: nip44.v2.encrypt(p, conv) }))
const nip04FromNode = spec.plaintexts_for_node.map((p) => ({ plaintext: p, payload: nip04.encrypt(sk, spec.rust_pubkey, p) }))

// an ephemeral FROSTR-shaped event for the Rust pool listening on the relay
const eph = finalizeEvent({ kind: 20000, created_at: now(), tags: [['p', spec.rust_pubkey]], content: nip44FromNode[0].payload }, sk)
ok((await relay.publish(eph)) === '', 'ephemeral accepted')
relay.close()

// ---- restricted relay: NIP-42 AUTH, then stored reads ----
const r2 = await Relay.connect(spec.restricted_url)
for (let i = 0; i < 50 && !r2.challenge && !r2['challenge']; i++) await sleep(20)
let closedReason = ''
try {
  await collect(r2, [{ kinds: [1] }])
} catch (e) {
  closedReason = String(e.message)
}
ok(closedReason.includes('auth-required:'), `unauthenticated REQ: ${closedReason}`)
const authReason = await r2.auth(async (t) => finalizeEvent(t, sk))
ok(authReason === '', `AUTH accepted: ${authReason}`)
const mine = finalizeEvent({ kind: 1, created_at: now(), tags: [], content: 'member note' }, sk)
ok((await r2.publish(mine)) === '', 'member publish')
const back = await collect(r2, [{ ids: [mine.id] }])
ok(back.length === 1 && back[0].id === mine.id, 'stored read after AUTH')
r2.close()

writeFileSync(
  outPath,
  JSON.stringify({
    node_pubkey: pk,
    published_ids: published,
    ephemeral_id: eph.id,
    nip44_from_node: nip44FromNode,
    nip04_from_node: nip04FromNode,
    unpadded_accepted: unpaddedAccepted,
    checks,
  }),
)
console.log(`nostr-tools interop: ${checks} checks passed`)
process.exit(0)
