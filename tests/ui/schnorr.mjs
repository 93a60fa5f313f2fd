// BIP-340 verification and NIP-01 event ids in plain JavaScript (BigInt + node:crypto), so the
// UI tests check real signatures without another npm package.
import crypto from 'node:crypto';

const P = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2Fn;
const N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141n;
const G = [0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798n,
  0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8n];

const mod = (a, m = P) => ((a % m) + m) % m;
function pow(b, e, m = P) {
  let r = 1n; b = mod(b, m);
  while (e > 0n) { if (e & 1n) r = (r * b) % m; b = (b * b) % m; e >>= 1n; }
  return r;
}
function add(p1, p2) {
  if (!p1) return p2;
  if (!p2) return p1;
  const [x1, y1] = p1; const [x2, y2] = p2;
  if (x1 === x2 && mod(y1 + y2) === 0n) return null;
  const l = x1 === x2 ? mod(3n * x1 * x1 * pow(2n * y1, P - 2n)) : mod((y2 - y1) * pow(mod(x2 - x1), P - 2n));
  const x3 = mod(l * l - x1 - x2);
  return [x3, mod(l * (x1 - x3) - y1)];
}
function mul(p, k) {
  let r = null;
  while (k > 0n) { if (k & 1n) r = add(r, p); p = add(p, p); k >>= 1n; }
  return r;
}
function liftX(x) {
  if (x >= P) return null;
  const c = mod(x ** 3n + 7n);
  const y = pow(c, (P + 1n) / 4n);
  if ((y * y) % P !== c) return null;
  return [x, y % 2n === 0n ? y : P - y];
}
const big = (b) => BigInt(`0x${Buffer.from(b).toString('hex')}`);
function taggedHash(tag, ...parts) {
  const t = crypto.createHash('sha256').update(tag).digest();
  const h = crypto.createHash('sha256').update(t).update(t);
  for (const p of parts) h.update(p);
  return h.digest();
}

/** BIP-340 verify of a 64-byte signature over a 32-byte message by an x-only key (hex). */
export function verifySchnorr(sigHex, msgHex, pubHex) {
  if (!/^[0-9a-f]{128}$/.test(sigHex) || !/^[0-9a-f]{64}$/.test(msgHex) || !/^[0-9a-f]{64}$/.test(pubHex)) return false;
  const sig = Buffer.from(sigHex, 'hex'); const m = Buffer.from(msgHex, 'hex'); const pk = Buffer.from(pubHex, 'hex');
  const Pp = liftX(big(pk));
  if (!Pp) return false;
  const r = big(sig.subarray(0, 32)); const s = big(sig.subarray(32));
  if (r >= P || s >= N) return false;
  const e = big(taggedHash('BIP0340/challenge', sig.subarray(0, 32), pk, m)) % N;
  const R = add(mul(G, s), mul(Pp, N - e));
  return !!R && R[1] % 2n === 0n && R[0] === r;
}

/** NIP-01 event id (hex). */
export function eventId(ev) {
  const ser = JSON.stringify([0, ev.pubkey, ev.created_at, ev.kind, ev.tags, ev.content]);
  return crypto.createHash('sha256').update(ser).digest('hex');
}
