// NIP-46 interop: nostr-tools' BunkerSigner against a Frostbox bunker.
// Driven by tests/nip46_interop_node.rs, which starts the Frostbox relay + bunker and passes:
//   BUNKER_URI  (pre-approved bunker:// for all methods), BAD_URI (bunker:// with a wrong secret),
//   RELAY_URL, GROUP_PK (the identity's x-only pubkey, hex).
// For the nostrconnect:// flow this script prints "NOSTRCONNECT <uri>" and the harness pairs it
// through the bunker (the operator's action). Prints "RESULT {...}" lines and "OK" at the end.
import WebSocket from 'ws'
import { useWebSocketImplementation, SimplePool } from 'nostr-tools/pool'
import { BunkerSigner, parseBunkerInput, createNostrConnectURI } from 'nostr-tools/nip46'
import { generateSecretKey, getPublicKey, verifyEvent } from 'nostr-tools/pure'
import * as nip44 from 'nostr-tools/nip44'
import * as nip04 from 'nostr-tools/nip04'
import { npubEncode } from 'nostr-tools/nip19'
import assert from 'node:assert/strict'

useWebSocketImplementation(WebSocket)

const { BUNKER_URI, BAD_URI, RELAY_URL, GROUP_PK } = process.env
assert.ok(BUNKER_URI && RELAY_URL && GROUP_PK, 'env BUNKER_URI, RELAY_URL, GROUP_PK required')
const timeout = (p, ms, what) =>
  Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error(`timeout: ${what}`)), ms))])

async function exerciseAll(signer, label) {
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
  const ct04 = await timeout(signer.nip04Encrypt(peerPk, 'nip04 secret'), 20000, 'nip04_encrypt')
  assert.equal(await nip04.decrypt(peerSk, GROUP_PK, ct04), 'nip04 secret', `${label}: nip04_encrypt decrypts locally`)
  const pt04 = await timeout(signer.nip04Decrypt(peerPk, await nip04.encrypt(peerSk, GROUP_PK, 'from peer 04')), 20000, 'nip04_decrypt')
  assert.equal(pt04, 'from peer 04')

  const relays = JSON.parse(await timeout(signer.sendRequest('get_relays', []), 10000, 'get_relays'))
  assert.ok(relays[RELAY_URL], `${label}: get_relays lists ${RELAY_URL}: ${JSON.stringify(relays)}`)
  const sw = JSON.parse(await timeout(signer.sendRequest('switch_relays', []), 10000, 'switch_relays'))
  assert.deepEqual(sw, [RELAY_URL])
  console.log('RESULT ' + JSON.stringify({ flow: label, event_id: signed.id, sig_ok: true }))
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

console.log('OK')
pool.destroy()
process.exit(0)
