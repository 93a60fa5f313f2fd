// A real NIP-46 app for the UI tests: nostr-tools' BunkerSigner (npm, the committed lockfile of
// tests/interop/nip46 that CI step 45 uses; step 80 installs it too) with the `ws` WebSocket.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

const modules = path.join(repo, 'tests', 'interop', 'nip46', 'node_modules');

/** Imports `pkg/sub` through the package's `exports` map (ESM entry), from that node_modules. */
async function load(pkg, sub) {
  const dir = path.join(modules, pkg);
  const manifest = path.join(dir, 'package.json');
  if (!fs.existsSync(manifest)) {
    throw new Error(`${pkg} is not installed: run \`npm ci\` in tests/interop/nip46 (ci/steps/80-ui.sh does)`);
  }
  const exp = JSON.parse(fs.readFileSync(manifest, 'utf8')).exports?.[sub];
  const file = typeof exp === 'string' ? exp : exp?.import ?? exp?.default;
  if (!file) throw new Error(`${pkg} has no ESM export ${sub}`);
  return import(pathToFileURL(path.join(dir, file)).href);
}

/** { BunkerSigner, parseBunkerInput, SimplePool, generateSecretKey, verifyEvent } with WebSockets set up. */
export async function nostrTools() {
  const [nip46, pool, pure, ws] = await Promise.all([
    load('nostr-tools', './nip46'), load('nostr-tools', './pool'), load('nostr-tools', './pure'), load('ws', '.'),
  ]);
  pool.useWebSocketImplementation(ws.default ?? ws.WebSocket);
  return {
    BunkerSigner: nip46.BunkerSigner,
    parseBunkerInput: nip46.parseBunkerInput,
    SimplePool: pool.SimplePool,
    generateSecretKey: pure.generateSecretKey,
    getPublicKey: pure.getPublicKey,
    verifyEvent: pure.verifyEvent,
  };
}

/** Rejects after `ms` with `what` in the message. */
export function within(p, ms, what) {
  let t;
  return Promise.race([p, new Promise((_, rej) => { t = setTimeout(() => rej(new Error(`timeout after ${ms} ms: ${what}`)), ms); })])
    .finally(() => clearTimeout(t));
}
