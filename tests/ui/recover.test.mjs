// Keys & recovery: recover the nsec from two shares of the shared vector keyset through the page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, launchBrowser, watchedPage, shot, sharedDir, ADMIN_SECRET } from './harness.mjs';
import { bech32Encode } from '../../web/assets/dom.js';

const PASS = 'Correct-Horse-42-battery';
const vec = JSON.parse(fs.readFileSync(path.join(sharedDir(), 'protocol', 'vectors', 'bifrost-rs-keyset.json'), 'utf8'));
let srv; let context;
before(async () => { srv = await startServer(); context = await launchBrowser(); });
after(async () => { await context?.close(); await srv?.stop(); });

test('recover the nsec from k shares; nothing stays in the page or browser storage', async (t) => {
  const first = await watchedPage(context, srv.url);
  let page = first.page;
  await page.goto(`${srv.url}/`);
  const post = (p, body, bearer) => page.evaluate(async ([p, body, bearer]) => (await fetch(p, { method: 'POST', headers: { 'content-type': 'application/json', ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) }, body: JSON.stringify(body) })).status, [p, body, bearer]);
  if ((await post('api/onboarding/setup', { username: 'admin', password: PASS }, ADMIN_SECRET)) >= 300) { t.skip('onboarding route missing'); return; }
  assert.equal(await post('api/auth/login', { username: 'admin', password: PASS }), 200);
  await page.close();
  const w = await watchedPage(context, srv.url);
  page = w.page;
  const seen = w.seen;
  page.setDefaultTimeout(10000);
  await page.goto(`${srv.url}/#/keys`);
  await page.getByRole('heading', { name: 'Keys & recovery' }).waitFor();
  await page.getByLabel('Share 1', { exact: true }).fill(vec.credentials.bfprofile.string);
  await page.getByLabel('Share 2', { exact: true }).fill(vec.credentials.bfonboard.string);
  await page.getByLabel('Share password').fill(vec.credentials.password);
  const resp = page.waitForResponse((r) => r.url().endsWith('/api/recover'));
  await page.getByRole('button', { name: 'Recover nsec' }).click();
  const r = await resp;
  if (r.status() === 501 || r.status() === 404) {
    await page.getByRole('alert').waitFor();
    t.skip(`POST /api/recover answers ${r.status()}: credential decoding not merged yet (core-next)`);
    return;
  }
  const secret = vec.keyset.group_secret_reconstructed;
  const bytes = secret.match(/../g).map((x) => parseInt(x, 16));
  const expected = bech32Encode('nsec', bytes);
  const shown = page.getByTestId('nsec');
  await shown.waitFor();
  assert.equal(await shown.innerText(), expected);
  // The share fields were cleared as soon as the server answered.
  for (const ta of await page.locator('textarea').all()) assert.equal(await ta.inputValue(), '');
  await shot(page, '17-recovered');
  await page.getByRole('button', { name: 'Hide now' }).click();
  assert.equal(await page.getByTestId('nsec').count(), 0);
  const html = await page.content();
  assert.ok(!html.includes(expected) && !html.includes(vec.credentials.password));
  assert.deepEqual(await page.evaluate(() => [localStorage.length, sessionStorage.length]), [0, 0]);
  assert.deepEqual(seen.foreign, []);
});
