// A real @frostr/bifrost 1.0.7 BifrostNode driven over stdin/stdout, one JSON object per line.
//   node node.mjs <bfgroup> <bfshare> <relay-url>
// Prints {"event":"ready","pubkey":…} once connected (proven by an echo through the relay: nostr-tools
// reports EOSE even when the socket never opened), or {"event":"failed","err":…} and exits 1; then answers each command line with one
// JSON line {"id":…, "ok":bool, …}. Commands:
//   {"id":1,"op":"sign","msg":hex32,"peers":[xonly…]}   → {"sigs":[[sighash,pubkey33,sig64]]}
//   {"id":2,"op":"ecdh","pk":hex,"peers":[xonly…]}      → {"secret":hex33}
//   {"id":3,"op":"ping","pubkey":xonly}                  → {"policy":{send,recv}}
//   {"id":4,"op":"served"}                               → {"served":{sign:n,ecdh:n,ping:n}}
//   {"id":5,"op":"quit"}
// Every signature returned by the library is also checked here with BIP-340 against the group key
// (the 1.0.7 library never verifies its own aggregates).
import { BifrostNode, PackageEncoder } from '@frostr/bifrost'
import { schnorr } from '@noble/curves/secp256k1'
import WebSocket from 'ws'
import readline from 'node:readline'

// nostr-tools (bundled into nostr-p2p's import) falls back to the global WebSocket, which Node < 22
// does not have: without one the pool never connects, yet BifrostNode still emits `ready` because
// nostr-tools counts a failed connection as EOSE. `ws` is what a Node user of bifrost installs.
if (typeof globalThis.WebSocket === 'undefined') globalThis.WebSocket = WebSocket

const [groupStr, shareStr, relay] = process.argv.slice(2)
if (!groupStr || !shareStr || !relay) {
  process.stderr.write('usage: node node.mjs <bfgroup> <bfshare> <relay>\n')
  process.exit(2)
}
const group = PackageEncoder.group.decode(groupStr)
const share = PackageEncoder.share.decode(shareStr)
const groupX = group.group_pk.slice(2)
const node = new BifrostNode(group, share, [relay], { debug: false })
const served = { sign: 0, ecdh: 0, ping: 0 }
node.on('/sign/handler/res', () => { served.sign++ })
node.on('/ecdh/handler/res', () => { served.ecdh++ })
node.on('/ping/handler/res', () => { served.ping++ })
node.on('/sign/handler/rej', (e) => { process.stderr.write('sign handler rejected: ' + JSON.stringify(e[0]) + '\n') })
node.on('/ecdh/handler/rej', (e) => { process.stderr.write('ecdh handler rejected: ' + JSON.stringify(e[0]) + '\n') })
node.on('bounced', (e) => { process.stderr.write('bounced: ' + JSON.stringify(e[0]) + '\n') })

const out = (o) => process.stdout.write(JSON.stringify(o) + '\n')

const connected = new Promise((resolve) => node.on('ready', resolve))
await node.connect()
await Promise.race([connected, new Promise((resolve) => setTimeout(resolve, 10000))])
// The relay must really carry our events: an echo to ourselves comes back through it.
const echo = await node.req.echo('00112233')
if (!echo.ok) {
  out({ event: 'failed', err: 'echo through the relay failed: ' + String(echo.err) })
  process.exit(1)
}
out({ event: 'ready', pubkey: node.pubkey })

async function run (cmd) {
  switch (cmd.op) {
    case 'sign': {
      const res = await node.req.sign(cmd.msg, cmd.peers ? { peers: cmd.peers } : {})
      if (!res.ok) return { ok: false, err: String(res.err) }
      for (const [sighash, pubkey, sig] of res.data) {
        if (!schnorr.verify(sig, sighash, pubkey.slice(2))) return { ok: false, err: 'aggregate signature does not verify' }
        if (pubkey.slice(2) !== groupX) return { ok: false, err: 'signature not under the group key' }
      }
      return { ok: true, sigs: res.data }
    }
    case 'ecdh': {
      const res = await node.req.ecdh(cmd.pk, cmd.peers)
      return res.ok ? { ok: true, secret: res.data } : { ok: false, err: String(res.err) }
    }
    case 'ping': {
      const res = await node.req.ping(cmd.pubkey)
      return res.ok ? { ok: true, policy: res.data } : { ok: false, err: String(res.err) }
    }
    case 'served':
      return { ok: true, served }
    case 'quit':
      out({ id: cmd.id, ok: true })
      await node.close()
      process.exit(0)
      break
    default:
      return { ok: false, err: 'unknown op ' + cmd.op }
  }
}

const rl = readline.createInterface({ input: process.stdin })
rl.on('line', async (line) => {
  if (!line.trim()) return
  let cmd
  try { cmd = JSON.parse(line) } catch (e) { out({ ok: false, err: 'bad json' }); return }
  try {
    out({ id: cmd.id, ...(await run(cmd)) })
  } catch (e) {
    out({ id: cmd.id, ok: false, err: String(e && e.message ? e.message : e) })
  }
})
rl.on('close', async () => { await node.close(); process.exit(0) })
