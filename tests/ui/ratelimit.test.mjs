// Two tabs left open on the live screens never trip the rate limiter. The UI's own traffic is
// measured over a shortened window and must stay far below the server's read limits; no 429 may
// ever be seen.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, watchedPage, ADMIN_SECRET } from './harness.mjs';

const WINDOW_MS = Number(process.env.UI_RATE_WINDOW_MS || 45000);
let srv; let context;
before(async () => { srv = await startServer(); context = await launchBrowser(); });
after(async () => { await context?.close(); await srv?.stop(); });

async function ensureLoggedIn(page) {
  const st = await page.evaluate(async () => (await fetch('api/onboarding/status')).json());
  if (!st.initialized) {
    const r = await page.evaluate(async (secret) => (await fetch('api/onboarding/setup', { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${secret}` }, body: JSON.stringify({ username: 'admin', password: 'Correct-Horse-42-battery' }) })).status, ADMIN_SECRET);
    assert.ok(r < 300, `setup ${r}`);
  }
  const l = await page.evaluate(async () => (await fetch('api/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'Correct-Horse-42-battery' }) })).status);
  assert.equal(l, 200);
}

test(`two tabs for ${WINDOW_MS / 1000} s of polling and streaming: no 429`, async () => {
  const setupPage = await watchedPage(context, srv.url);
  await setupPage.page.goto(`${srv.url}/`);
  await ensureLoggedIn(setupPage.page);
  await setupPage.page.close();
  const a = await watchedPage(context, srv.url);
  const b = await watchedPage(context, srv.url);
  await a.page.goto(`${srv.url}/#/dashboard`);
  await b.page.goto(`${srv.url}/#/log`);
  await a.page.getByRole('heading', { name: 'Dashboard' }).waitFor();
  await b.page.getByRole('heading', { name: 'Event log' }).waitFor();
  const t0 = Date.now();
  const start = a.seen.requests.length + b.seen.requests.length;
  // Tab B walks through the screens a user would leave open; tab A stays on the dashboard.
  const walk = ['peers', 'apps', 'log', 'dashboard', 'settings', 'log'];
  let i = 0;
  while (Date.now() - t0 < WINDOW_MS) {
    await b.page.goto(`${srv.url}/#/${walk[i++ % walk.length]}`);
    await new Promise((r) => setTimeout(r, Math.min(7000, WINDOW_MS / 6)));
  }
  const secs = (Date.now() - t0) / 1000;
  const made = a.seen.requests.length + b.seen.requests.length - start;
  const all = [...a.seen.statuses, ...b.seen.statuses];
  assert.deepEqual(all.filter(([s]) => s === 429), [], 'the UI tripped the rate limiter');
  const perSec = made / secs;
  console.log(`# two tabs made ${made} requests in ${secs.toFixed(0)} s (${perSec.toFixed(2)}/s; 30 min ≈ ${Math.round(perSec * 1800)})`);
  // Even with constant navigation both tabs together stay under 1 request/s, a tenth of the
  // server's per-IP refill for reads (10/s, burst 300).
  assert.ok(perSec < 1, `${perSec.toFixed(2)} requests/s`);
  assert.deepEqual([...a.seen.errors, ...b.seen.errors], []);
});
