// NIP-46 interop: nostr-tools' BunkerSigner against a Frostbox bunker.
// Driven by tests/nip46_interop_node.rs, which starts the Frostbox relay + bunker and passes:
//   BUNKER_URI  (pre-approved bunker:// for all methods), BAD_URI (bunker:// with a wrong secret),
//   RELAY_URL, GROUP_PK (the identity's x-only pubkey, hex); optional KEYSET_KIND names the
//   keyset in the RESULT lines (e.g. "legacy": a FROSTR 1.0.x keyset's bunker, same flows).
// For the nostrconnect:// flow this script prints "NOSTRCONNECT <uri>" and the harness pairs it
// through the bunker (the operator's action). Prints "RESULT {...}" lines and "OK" at the end.
// With LIMITED_URI and LIMITED_URI_2 (two bunker:// links granting kind-1 signing only; `frostbox serve`, which sends
// NIP-46 auth challenges), requests outside the grant wait for the operator:
//   * with an `onauth` callback: it receives the auth_url, the script prints "AUTH_URL <url>"
//     and the harness approves that request through the API;
//   * without one (clients that ignore auth challenges): the script prints
//     "APPROVE_KIND <kind>" and the harness approves the pending request of that kind;
// either way the sign_event promise must resolve with a valid signature.
import WebSocket from 'ws'
import { useWebSocketImplementation, SimplePool } from 'nostr-tools/pool'
import { BunkerSigner, parseBunkerInput, createNostrConnectURI } from 'nostr-tools/nip46'
import { generateSecretKey, getPublicKey, verifyEvent } from 'nostr-tools/pure'
import * as nip44 from 'nostr-tools/nip44'
import * as nip04 from 'nostr-tools/nip04'
import { npubEncode } from 'nostr-tools/nip19'
import assert from 'node:assert/strict'

useWebSocketImplementation(WebSocket)

const { BUNKER_URI, BAD_URI, RELAY_URL, GROUP_PK, LIMITED_URI, LIMITED_URI_2, KEYSET_KIND } = process.env
assert.ok(BUNKER_URI && RELAY_URL && GROUP_PK, 'env BUNKER_URI, RELAY_URL, GROUP_PK required')
const timeout = (p, ms, what) =>
  Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error(`timeout: ${what}`)), ms))])

async function exerciseAll(signer, flow) {
  const label = KEYSET_KIND ? `${flow} (${KEYSET_KIND} keyset)` : flow
  await timeout(signer.ping(), 10000, 'ping')
  const pk = await timeout(signer.getPublicKey(), 10000, 'get_public_key')
  assert.equal(pk, GROUP_PK, `${label}: get_public_key is the group key`)

  const tpl = { kind: 1, content: `hello from nostr-tools via ${label}`, tags: [['t', 'frostbox']], created_at: Math.floor(Date.now() / 1000) }
  const signed = await timeout(signer.signEvent(tpl), 20000, 'sign_event')
  assert.ok(verifyEvent(signed), `${label}: signature verifies`)
  assert.equal(signed.pubkey, GROUP_PK, `${label}: signed by the group npub ${npubEncode(GROUP_PK)}`)
  assert.equal(signed.content, tpl.content)

  // NIP-44 / NIP-04 against a third party computed locally with nostr-tools
  const peerSk = generateSecretKey()
  const peerPk = getPublicKey(peerSk)
  const conv = nip44.getConversationKey(peerSk, GROUP_PK)
  const ct44 = await timeout(signer.nip44Encrypt(peerPk, 'nip44 secret ✓'), 20000, 'nip44_encrypt')
  assert.equal(nip44.decrypt(ct44, conv), 'nip44 secret ✓', `${label}: nip44_encrypt decrypts locally`)
  const pt44 = await timeout(signer.nip44Decrypt(peerPk, nip44.encrypt('from peer 44', conv)), 20000, 'nip44_decrypt')
  assert.equal(pt44, 'from peer 44')
  // and the bunker's own ciphertext back through the bunker (a round trip on its ECDH alone)
  const rt44 = await timeout(signer.nip44Decrypt(peerPk, ct44), 20000, 'nip44_decrypt (round trip)')
  assert.equal(rt44, 'nip44 secret ✓', `${label}: nip44 round trip through the bunker`)
  const ct04 = await timeout(signer.nip04Encrypt(peerPk, 'nip04 secret'), 20000, 'nip04_encrypt')
  assert.equal(await nip04.decrypt(peerSk, GROUP_PK, ct04), 'nip04 secret', `${label}: nip04_encrypt decrypts locally`)
  const pt04 = await timeout(signer.nip04Decrypt(peerPk, await nip04.encrypt(peerSk, GROUP_PK, 'from peer 04')), 20000, 'nip04_decrypt')
  assert.equal(pt04, 'from peer 04')

  const relays = JSON.parse(await timeout(signer.sendRequest('get_relays', []), 10000, 'get_relays'))
  assert.ok(relays[RELAY_URL], `${label}: get_relays lists ${RELAY_URL}: ${JSON.stringify(relays)}`)
  const sw = JSON.parse(await timeout(signer.sendRequest('switch_relays', []), 10000, 'switch_relays'))
  assert.deepEqual(sw, [RELAY_URL])
  console.log('RESULT ' + JSON.stringify({ flow, keyset: KEYSET_KIND || 'current', event_id: signed.id, sig_ok: true }))
  await timeout(signer.logout(), 10000, 'logout')
}

const pool = new SimplePool()

// 1. bunker:// (signer-initiated)
{
  const bp = await parseBunkerInput(BUNKER_URI)
  assert.ok(bp, 'nostr-tools parses the Frostbox bunker:// URI')
  const signer = BunkerSigner.fromBunker(generateSecretKey(), bp, { pool })
  await timeout(signer.connect(), 15000, 'connect')
  await exerciseAll(signer, 'bunker')
  // the secret was single-use: a second client with the same URI is refused
  const again = BunkerSigner.fromBunker(generateSecretKey(), bp, { pool })
  await assert.rejects(timeout(again.connect(), 15000, 'connect reuse'), /already used/)
  await again.close()
}

// 2. wrong secret → NIP-46 error
if (BAD_URI) {
  const bp = await parseBunkerInput(BAD_URI)
  const signer = BunkerSigner.fromBunker(generateSecretKey(), bp, { pool })
  await assert.rejects(timeout(signer.connect(), 15000, 'connect bad'), /invalid connection secret/)
  await assert.rejects(timeout(signer.getPublicKey(), 15000, 'gpk unauthorized'), /unauthorized/)
  await signer.close()
}

// 3. nostrconnect:// (client-initiated)
{
  const sk = generateSecretKey()
  const uri = createNostrConnectURI({
    clientPubkey: getPublicKey(sk),
    relays: [RELAY_URL],
    secret: Math.random().toString(36).slice(2),
    perms: ['sign_event', 'nip44_encrypt', 'nip44_decrypt', 'nip04_encrypt', 'nip04_decrypt'],
    name: 'nostr-tools interop',
    url: 'https://example.invalid',
  })
  console.log('NOSTRCONNECT ' + uri)
  const signer = await BunkerSigner.fromURI(sk, uri, { pool }, 20000)
  await exerciseAll(signer, 'nostrconnect')
}

// 4. auth challenges (issue 7): a request outside the grant waits for the operator.
if (LIMITED_URI) {
  assert.ok(LIMITED_URI_2, 'LIMITED_URI_2 (a second one-time link) goes with LIMITED_URI')
  const bp = await parseBunkerInput(LIMITED_URI)
  const seen = []
  let gotUrl
  const urlArrived = new Promise((resolve) => { gotUrl = resolve })
  const appSk = generateSecretKey()
  const signer = BunkerSigner.fromBunker(appSk, bp, {
    pool,
    onauth: (url) => { seen.push(url); gotUrl(url) },
  })
  await timeout(signer.connect(), 15000, 'connect (limited)')
  const inGrant = await timeout(signer.signEvent({ kind: 1, content: 'in the grant', tags: [], created_at: Math.floor(Date.now() / 1000) }), 20000, 'sign kind 1')
  assert.ok(verifyEvent(inGrant) && inGrant.pubkey === GROUP_PK)
  assert.equal(seen.length, 0, 'no auth challenge for a request inside the grant')

  const tpl = { kind: 30023, content: 'approved after an auth_url', tags: [['d', 'x']], created_at: Math.floor(Date.now() / 1000) }
  const asked = signer.signEvent(tpl)
  asked.catch(() => {})
  const url = await timeout(urlArrived, 15000, 'onauth')
  assert.match(url, /^https?:\/\/[^/]+\/#\/apps\/[0-9a-f]{64}\/[0-9a-f]{32}(\?keyset=[A-Za-z0-9_-]+)?$/, url)
  assert.ok(url.includes(`/#/apps/${getPublicKey(appSk)}/`), `the URL names this app: ${url}`)
  console.log('AUTH_URL ' + url)
  const signed = await timeout(asked, 30000, 'sign_event after approval')
  assert.ok(verifyEvent(signed), 'signature verifies')
  assert.equal(signed.pubkey, GROUP_PK)
  assert.equal(signed.kind, 30023)
  assert.equal(seen.length, 1, 'exactly one auth_url for the request')
  await timeout(signer.logout(), 10000, 'logout (limited)')

  // A client without onauth (nostr-tools warns and keeps waiting) still gets its answer.
  const plain = BunkerSigner.fromBunker(generateSecretKey(), await parseBunkerInput(LIMITED_URI_2), { pool })
  await timeout(plain.connect(), 15000, 'connect (no onauth)')
  const warn = console.warn
  const warned = []
  console.warn = (...a) => { warned.push(a.join(' ')) }
  try {
    const p2 = plain.signEvent({ kind: 30024, content: 'no onauth', tags: [], created_at: Math.floor(Date.now() / 1000) })
    p2.catch(() => {})
    console.log('APPROVE_KIND 30024')
    const ev2 = await timeout(p2, 30000, 'sign_event without onauth')
    assert.ok(verifyEvent(ev2) && ev2.pubkey === GROUP_PK && ev2.kind === 30024)
  } finally { console.warn = warn }
  assert.ok(warned.some((w) => w.includes('auth_url')), `nostr-tools saw the challenge: ${warned}`)
  console.log('RESULT ' + JSON.stringify({ flow: 'auth_url', url, sig_ok: true }))
  await plain.close()
  await signer.close()
}

console.log('OK')
pool.destroy()
process.exit(0)
