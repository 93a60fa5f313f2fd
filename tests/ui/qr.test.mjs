// The QR encoder (web/assets/qr.js) produces codes a real decoder (zbarimg) reads back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { qrMatrix } from '../../web/assets/qr.js';

let zbar = true;
try { execFileSync('zbarimg', ['--version'], { stdio: 'ignore' }); } catch { zbar = false; }

function decode(text) {
  const m = qrMatrix(text);
  const s = 4; const q = 4; const n = (m.length + 2 * q) * s;
  const rows = [];
  for (let y = 0; y < n; y++) {
    const row = new Array(n);
    for (let x = 0; x < n; x++) {
      const my = Math.floor(y / s) - q; const mx = Math.floor(x / s) - q;
      row[x] = my >= 0 && mx >= 0 && my < m.length && mx < m.length && m[my][mx] ? 1 : 0;
    }
    rows.push(row.join(' '));
  }
  const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'qr-')), 'q.pbm');
  fs.writeFileSync(f, `P1\n${n} ${n}\n${rows.join('\n')}\n`);
  const out = execFileSync('zbarimg', ['-q', '--raw', f], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().replace(/\n$/, '');
  fs.rmSync(path.dirname(f), { recursive: true, force: true });
  return { out, version: (m.length - 17) / 4 };
}

const bech = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
const cases = [
  ['short text', 'hello frostbox', false],
  ['npub (alphanumeric mode)', 'npub180cvv07tjdrrgpa0j7j7tmnyl2yr6yr7l8j4s3evf6u64th6gkwsyjh6w6', true],
  ['bunker URI (byte mode)', `bunker://${'ab'.repeat(32)}?relay=ws%3A%2F%2F127.0.0.1%3A8002&secret=0123456789abcdef`, false],
  ['bfonboard-sized (815 chars, version ≥ 7 info)', `bfonboard1${bech.repeat(25)}${bech.slice(0, 5)}`, true],
  ['UTF-8 text', 'Frostbox ❄ grüße', false],
  ['long byte text (version > 26)', 'x'.repeat(1200), false],
];

for (const [name, text, upper] of cases) {
  test(`QR round trip: ${name}`, { skip: zbar ? false : 'zbarimg (zbar-tools) not installed' }, () => {
    const { out, version } = decode(text);
    assert.equal(out, upper ? text.toUpperCase() : text, `version ${version}`);
  });
}

test('QR versions grow with the payload and too much data is an error', () => {
  assert.equal(qrMatrix('a').length, 21);
  assert.ok(qrMatrix('x'.repeat(300)).length > qrMatrix('x'.repeat(30)).length);
  assert.throws(() => qrMatrix('x'.repeat(3000)), /too long/);
});
