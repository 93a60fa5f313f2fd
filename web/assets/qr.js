// QR code encoder (ISO/IEC 18004), written for Frostbox: byte or alphanumeric mode, error
// correction level M, versions 1–40, automatic mask choice. Output: a module matrix or an SVG.

// Error-correction codewords per block and number of blocks, level M, index = version.
const EC_PER_BLOCK = [0, 10, 16, 26, 18, 24, 16, 18, 22, 22, 26, 30, 22, 22, 24, 24, 28, 28, 26, 26, 26,
  26, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28];
const NUM_BLOCKS = [0, 1, 1, 1, 2, 2, 4, 4, 4, 5, 5, 5, 8, 9, 9, 10, 10, 11, 13, 14, 16,
  17, 17, 18, 20, 21, 23, 25, 26, 28, 29, 31, 33, 35, 37, 38, 40, 43, 45, 47, 49];
const ALNUM = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:';

// Total codewords of a version (modules not used by function patterns, divided by 8).
function rawCodewords(v) {
  let n = (16 * v + 128) * v + 64;
  if (v >= 2) {
    const a = Math.floor(v / 7) + 2;
    n -= (25 * a - 10) * a - 55;
    if (v >= 7) n -= 36;
  }
  return Math.floor(n / 8);
}
const dataCodewords = (v) => rawCodewords(v) - EC_PER_BLOCK[v] * NUM_BLOCKS[v];

// GF(256), polynomial x^8+x^4+x^3+x^2+1.
const EXP = new Uint8Array(512);
const LOG = new Uint8Array(256);
for (let i = 0, x = 1; i < 255; i++) {
  EXP[i] = x; LOG[x] = i;
  x <<= 1; if (x & 0x100) x ^= 0x11d;
}
for (let i = 255; i < 512; i++) EXP[i] = EXP[i - 255];
const mul = (a, b) => (a && b ? EXP[LOG[a] + LOG[b]] : 0);

function rsGenerator(degree) {
  let g = [1];
  for (let i = 0; i < degree; i++) {
    const next = new Array(g.length + 1).fill(0);
    for (let j = 0; j < g.length; j++) {
      next[j] ^= g[j];
      next[j + 1] ^= mul(g[j], EXP[i]);
    }
    g = next;
  }
  return g; // g[0] = 1 (leading coefficient)
}
function rsRemainder(data, gen) {
  const deg = gen.length - 1;
  const rem = new Array(deg).fill(0);
  for (const b of data) {
    const f = b ^ rem.shift();
    rem.push(0);
    for (let i = 0; i < deg; i++) rem[i] ^= mul(gen[i + 1], f);
  }
  return rem;
}

class Bits {
  constructor() { this.a = []; }
  put(val, len) { for (let i = len - 1; i >= 0; i--) this.a.push((val >>> i) & 1); }
}

function segment(text) {
  if (text.length && [...text].every((c) => ALNUM.includes(c))) {
    return { mode: 2, count: text.length, ccBits: [9, 11, 13], write(b) {
      for (let i = 0; i + 1 < text.length; i += 2) b.put(ALNUM.indexOf(text[i]) * 45 + ALNUM.indexOf(text[i + 1]), 11);
      if (text.length % 2) b.put(ALNUM.indexOf(text[text.length - 1]), 6);
    }, bits: Math.floor(text.length / 2) * 11 + (text.length % 2) * 6 };
  }
  const bytes = new TextEncoder().encode(text);
  return { mode: 4, count: bytes.length, ccBits: [8, 16, 16], write(b) { for (const x of bytes) b.put(x, 8); }, bits: bytes.length * 8 };
}

function encodeData(text) {
  const seg = segment(text);
  for (let v = 1; v <= 40; v++) {
    const cc = seg.ccBits[v < 10 ? 0 : v < 27 ? 1 : 2];
    const cap = dataCodewords(v) * 8;
    if (seg.count >= 1 << cc) continue;
    if (4 + cc + seg.bits > cap) continue;
    const b = new Bits();
    b.put(seg.mode, 4); b.put(seg.count, cc); seg.write(b);
    b.put(0, Math.min(4, cap - b.a.length));
    b.put(0, (8 - (b.a.length % 8)) % 8);
    const bytes = [];
    for (let i = 0; i < b.a.length; i += 8) {
      let x = 0; for (let j = 0; j < 8; j++) x = (x << 1) | b.a[i + j]; bytes.push(x);
    }
    for (let pad = 0xec; bytes.length < cap / 8; pad ^= 0xec ^ 0x11) bytes.push(pad);
    return { version: v, bytes };
  }
  throw new Error('Text too long for a QR code');
}

function interleave(v, data) {
  const nb = NUM_BLOCKS[v]; const ec = EC_PER_BLOCK[v]; const raw = rawCodewords(v);
  const shortCount = nb - (raw % nb);
  const shortLen = Math.floor(raw / nb); // codewords (data + ec) in a short block
  const gen = rsGenerator(ec);
  const blocks = [];
  for (let i = 0, k = 0; i < nb; i++) {
    const dlen = shortLen - ec + (i < shortCount ? 0 : 1);
    const d = data.slice(k, k + dlen); k += dlen;
    blocks.push({ d, e: rsRemainder(d, gen) });
  }
  const out = [];
  for (let i = 0; i <= shortLen - ec; i++) for (const bl of blocks) if (i < bl.d.length) out.push(bl.d[i]);
  for (let i = 0; i < ec; i++) for (const bl of blocks) out.push(bl.e[i]);
  return out;
}

function alignmentPositions(v) {
  if (v === 1) return [];
  const n = Math.floor(v / 7) + 2;
  const step = v === 32 ? 26 : Math.ceil((v * 4 + 4) / (n * 2 - 2)) * 2;
  const res = [6];
  for (let pos = v * 4 + 10; res.length < n; pos -= step) res.splice(1, 0, pos);
  return res;
}

const MASKS = [
  (x, y) => (x + y) % 2 === 0,
  (x, y) => y % 2 === 0,
  (x) => x % 3 === 0,
  (x, y) => (x + y) % 3 === 0,
  (x, y) => (Math.floor(y / 2) + Math.floor(x / 3)) % 2 === 0,
  (x, y) => ((x * y) % 2) + ((x * y) % 3) === 0,
  (x, y) => (((x * y) % 2) + ((x * y) % 3)) % 2 === 0,
  (x, y) => (((x + y) % 2) + ((x * y) % 3)) % 2 === 0,
];

function build(v, codewords, mask) {
  const size = v * 4 + 17;
  const m = Array.from({ length: size }, () => new Array(size).fill(false));
  const fn = Array.from({ length: size }, () => new Array(size).fill(false));
  const set = (x, y, dark) => { m[y][x] = dark; fn[y][x] = true; };
  // timing
  for (let i = 0; i < size; i++) { set(6, i, i % 2 === 0); set(i, 6, i % 2 === 0); }
  // finders + separators
  for (const [cx, cy] of [[3, 3], [size - 4, 3], [3, size - 4]]) {
    for (let dy = -4; dy <= 4; dy++) for (let dx = -4; dx <= 4; dx++) {
      const x = cx + dx; const y = cy + dy;
      if (x < 0 || y < 0 || x >= size || y >= size) continue;
      const d = Math.max(Math.abs(dx), Math.abs(dy));
      set(x, y, d !== 2 && d !== 4);
    }
  }
  // alignment
  const al = alignmentPositions(v);
  for (let i = 0; i < al.length; i++) for (let j = 0; j < al.length; j++) {
    if ((i === 0 && j === 0) || (i === 0 && j === al.length - 1) || (i === al.length - 1 && j === 0)) continue;
    for (let dy = -2; dy <= 2; dy++) for (let dx = -2; dx <= 2; dx++) {
      set(al[i] + dx, al[j] + dy, Math.max(Math.abs(dx), Math.abs(dy)) !== 1);
    }
  }
  // format (ECC level M = 00)
  const fdata = (0 << 3) | mask;
  let rem = fdata;
  for (let i = 0; i < 10; i++) rem = (rem << 1) ^ ((rem >>> 9) * 0x537);
  const fbits = ((fdata << 10) | rem) ^ 0x5412;
  const fb = (i) => ((fbits >>> i) & 1) === 1;
  for (let i = 0; i <= 5; i++) set(8, i, fb(i));
  set(8, 7, fb(6)); set(8, 8, fb(7)); set(7, 8, fb(8));
  for (let i = 9; i < 15; i++) set(14 - i, 8, fb(i));
  for (let i = 0; i < 8; i++) set(size - 1 - i, 8, fb(i));
  for (let i = 8; i < 15; i++) set(8, size - 15 + i, fb(i));
  set(8, size - 8, true);
  // version
  if (v >= 7) {
    let r = v;
    for (let i = 0; i < 12; i++) r = (r << 1) ^ ((r >>> 11) * 0x1f25);
    const vbits = (v << 12) | r;
    for (let i = 0; i < 18; i++) {
      const bit = ((vbits >>> i) & 1) === 1;
      const a = size - 11 + (i % 3); const b = Math.floor(i / 3);
      set(a, b, bit); set(b, a, bit);
    }
  }
  // data, zigzag from the bottom-right corner
  let bit = 0; const total = codewords.length * 8;
  for (let right = size - 1; right >= 1; right -= 2) {
    if (right === 6) right = 5;
    for (let vert = 0; vert < size; vert++) {
      for (let j = 0; j < 2; j++) {
        const x = right - j;
        const upward = ((right + 1) & 2) === 0;
        const y = upward ? size - 1 - vert : vert;
        if (fn[y][x]) continue;
        let dark = false;
        if (bit < total) { dark = ((codewords[bit >>> 3] >>> (7 - (bit & 7))) & 1) === 1; bit++; }
        if (MASKS[mask](x, y)) dark = !dark;
        m[y][x] = dark;
      }
    }
  }
  return m;
}

function penalty(m) {
  const n = m.length; let p = 0;
  const line = (get) => {
    let run = 1;
    for (let i = 1; i < n; i++) {
      if (get(i) === get(i - 1)) { run++; if (run === 5) p += 3; else if (run > 5) p += 1; } else run = 1;
    }
    for (let i = 0; i + 10 < n; i++) {
      let a = true; let b = true;
      const pat = [1, 0, 1, 1, 1, 0, 1, 0, 0, 0, 0];
      for (let k = 0; k < 11; k++) {
        const d = get(i + k) ? 1 : 0;
        if (d !== pat[k]) a = false;
        if (d !== pat[10 - k]) b = false;
      }
      if (a) p += 40; if (b) p += 40;
    }
  };
  for (let y = 0; y < n; y++) line((i) => m[y][i]);
  for (let x = 0; x < n; x++) line((i) => m[i][x]);
  let dark = 0;
  for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) {
    if (m[y][x]) dark++;
    if (y + 1 < n && x + 1 < n) {
      const c = m[y][x];
      if (c === m[y][x + 1] && c === m[y + 1][x] && c === m[y + 1][x + 1]) p += 3;
    }
  }
  p += Math.floor(Math.abs(dark * 20 - n * n * 10) / (n * n)) * 10;
  return p;
}

/** Module matrix (rows of booleans, true = dark) for `text`. Bech32 strings are upper-cased
 * (case-insensitive by definition) so they fit the denser alphanumeric mode. */
export function qrMatrix(text) {
  const t = /^[a-z0-9]+1[a-z0-9]+$/.test(text) ? text.toUpperCase() : text;
  const { version, bytes } = encodeData(t);
  const cw = interleave(version, bytes);
  let best = null; let bestP = Infinity;
  for (let mask = 0; mask < 8; mask++) {
    const m = build(version, cw, mask);
    const p = penalty(m);
    if (p < bestP) { bestP = p; best = m; }
  }
  return best;
}

/** SVG path data (one unit per module, 4-module quiet zone) and the full size. */
export function qrPath(text) {
  const m = qrMatrix(text);
  const parts = [];
  for (let y = 0; y < m.length; y++) for (let x = 0; x < m.length; x++) if (m[y][x]) parts.push(`M${x + 4} ${y + 4}h1v1h-1z`);
  return { d: parts.join(''), size: m.length + 8 };
}

/** An <svg> element showing `text` as a QR code, labelled for screen readers. */
export function qrSvg(text, label) {
  const NS = 'http://www.w3.org/2000/svg';
  const { d, size } = qrPath(text);
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('viewBox', `0 0 ${size} ${size}`);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', label || 'QR code');
  svg.setAttribute('class', 'qr');
  svg.setAttribute('shape-rendering', 'crispEdges');
  const bg = document.createElementNS(NS, 'rect');
  bg.setAttribute('width', String(size)); bg.setAttribute('height', String(size)); bg.setAttribute('fill', '#fff');
  const path = document.createElementNS(NS, 'path');
  path.setAttribute('d', d); path.setAttribute('fill', '#000');
  svg.append(bg, path);
  return svg;
}
