// Locked mode: after a restart the dashboard says "Waiting for unlock" and the password unlocks it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, launchBrowser, watchedPage, shot, hasRoute, sharedDir, createAdmin } from './harness.mjs';

const PASS = 'Correct-Horse-42-battery';
const LOCK = 'unlock-me-please-42';
let srv; let context;
const keyset = JSON.parse(fs.readFileSync(path.join(sharedDir(), 'protocol', 'vectors', 'bifrost-rs-keyset.json'), 'utf8'));
before(async () => { srv = await startServer(); context = await launchBrowser(); });
after(async () => { await context?.close(); await srv?.stop(); });

test('locked keyset: waiting for unlock after a restart, unlock from the dashboard', async (t) => {
  if (srv.external) { t.skip('needs a server this test can restart'); return; }
  if (!(await hasRoute(srv.url, 'POST', 'api/keyset/unlock', {}))) { t.skip('POST /api/keyset/unlock is not served yet (api)'); return; }
  const { page, seen } = await watchedPage(context, srv.url);
  page.setDefaultTimeout(10000);
  await createAdmin(page, srv.url, PASS);
  await page.getByRole('button', { name: /Import a share/ }).click();
  await page.getByLabel('Share package').fill(keyset.credentials.bfprofile.string);
  // The import opens the package before storing it, so it needs the package's own password.
  await page.getByLabel('Package password').fill(keyset.credentials.password);
  await page.getByRole('button', { name: 'Next' }).click();
  await page.getByLabel('Locked').check();
  await page.getByRole('button', { name: 'Save and finish' }).click();
  await page.getByRole('alert').filter({ hasText: 'at least 8 characters' }).waitFor();
  await page.getByLabel('Unlock password', { exact: true }).fill(LOCK);
  await page.getByLabel('Repeat unlock password').fill(LOCK);
  await page.getByRole('button', { name: 'Save and finish' }).click();
  await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
  const before = await page.evaluate(async () => (await fetch('api/status')).json());
  assert.equal(before.vault.mode, 'locked');
  assert.equal(before.vault.locked, false);

  await srv.restart();
  await page.reload();
  await page.getByRole('heading', { name: 'Log in to Frostbox' }).or(page.getByRole('heading', { name: 'Dashboard' })).waitFor();
  if (await page.getByRole('heading', { name: 'Log in to Frostbox' }).isVisible()) {
    await page.getByLabel('Username').fill('admin');
    await page.getByLabel('Password').fill(PASS);
    await page.getByRole('button', { name: 'Log in' }).click();
  }
  const signer = page.getByRole('region', { name: 'Signer' });
  await signer.getByText('Waiting for unlock').waitFor();
  await shot(page, '16-dashboard-locked');
  // The stored keyset is password-sealed: after the restart status says locked mode, locked.
  const mid = await page.evaluate(async () => (await fetch('api/status')).json());
  assert.equal(mid.vault.mode, 'locked');
  assert.equal(mid.vault.locked, true);
  await signer.getByLabel('Password').fill('wrong-password-1');
  await signer.getByRole('button', { name: 'Unlock' }).click();
  await signer.getByRole('alert').filter({ hasText: 'Wrong password' }).waitFor();
  await signer.getByLabel('Password').fill(LOCK);
  await signer.getByRole('button', { name: 'Unlock' }).click();
  await page.getByText('Signer unlocked.').waitFor();
  await signer.getByText('Waiting for unlock').waitFor({ state: 'detached' });
  const st = await page.evaluate(async () => (await fetch('api/status')).json());
  assert.equal(st.vault.locked, false);
  assert.equal(st.vault.mode, 'locked');
  assert.deepEqual(seen.foreign, []);
  assert.ok(![LOCK, PASS, keyset.credentials.password].some((p) => srv.log().includes(p)), 'a password reached the log');
});
