// nostr-tools against Frostbox's threshold /api/nip44/* and /api/nip04/* (a running
// `frostbox serve` with a 2-of-3 node; the shared secret comes from a threshold ECDH).
// Driven by tests/api_nostr_tools.rs:  node api.mjs <spec.json> <out.json>
// spec: { peer_secret, group_pk, nip44_from_api: [{plaintext, payload}], nip04_from_api: [...],
//         plaintexts_for_api: [..] }
// Decrypts what the API produced with the peer's key and the group pubkey (standard NIP-44 v2 /
// NIP-04 derivations), and encrypts fresh plaintexts for the API to decrypt. Exits non-zero on
// the first failed check.
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { getPublicKey } from 'nostr-tools/pure'
import * as nip44 from 'nostr-tools/nip44'
import * as nip04 from 'nostr-tools/nip04'

const hexToBytes = (h) => Uint8Array.from(h.match(/../g).map((b) => parseInt(b, 16)))

const [specPath, outPath] = process.argv.slice(2)
const spec = JSON.parse(readFileSync(specPath, 'utf8'))
const sk = hexToBytes(spec.peer_secret)
let checks = 0
const ok = (cond, msg) => {
  assert.ok(cond, msg)
  checks++
}

ok(spec.nip44_from_api.length > 0 && spec.nip04_from_api.length > 0, 'spec has ciphertexts')
const conv = nip44.v2.utils.getConversationKey(sk, spec.group_pk)
for (const c of spec.nip44_from_api) {
  ok(nip44.v2.decrypt(c.payload, conv) === c.plaintext, `NIP-44 from the API: ${JSON.stringify(c.plaintext).slice(0, 40)}`)
}
for (const c of spec.nip04_from_api) {
  ok(nip04.decrypt(sk, spec.group_pk, c.payload) === c.plaintext, `NIP-04 from the API: ${JSON.stringify(c.plaintext).slice(0, 40)}`)
}
const nip44ForApi = spec.plaintexts_for_api.map((p) => ({ plaintext: p, payload: nip44.v2.encrypt(p, conv) }))
const nip04ForApi = spec.plaintexts_for_api.map((p) => ({ plaintext: p, payload: nip04.encrypt(sk, spec.group_pk, p) }))

writeFileSync(
  outPath,
  JSON.stringify({ peer_pubkey: getPublicKey(sk), nip44_for_api: nip44ForApi, nip04_for_api: nip04ForApi, checks }),
)
console.log(`nostr-tools ⇄ /api/nip44, /api/nip04: ${checks} checks passed`)
process.exit(0)
