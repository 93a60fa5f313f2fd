// End-to-end: first-run setup, import a share, every screen, API key create/revoke, log out.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, launchBrowser, watchedPage, shot, hasRoute, sharedDir, ADMIN_SECRET } from './harness.mjs';

const USER = 'admin';
const PASS = 'Correct-Horse-42-battery';
let srv; let context; let page; let seen;
const keyset = JSON.parse(fs.readFileSync(path.join(sharedDir(), 'protocol', 'vectors', 'bifrost-rs-keyset.json'), 'utf8'));

before(async () => {
  srv = await startServer();
  context = await launchBrowser();
  ({ page, seen } = await watchedPage(context, srv.url));
  page.setDefaultTimeout(10000);
});
after(async () => {
  await context?.close();
  await srv?.stop();
});

test('first run: setup code, admin account', async () => {
  await page.goto(`${srv.url}/`);
  await page.getByRole('heading', { name: 'Set up Frostbox' }).waitFor();
  await shot(page, '01-setup-code');
  const code = page.getByLabel('Setup code or admin secret');
  await code.fill('wrong-code');
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByRole('alert').filter({ hasText: 'not right' }).waitFor();
  await code.fill(ADMIN_SECRET);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByLabel('Username').waitFor();
  await shot(page, '02-setup-account');
  await page.getByLabel('Username').fill(USER);
  await page.getByLabel('Password', { exact: true }).fill(PASS);
  await page.getByLabel('Repeat password').fill(PASS);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('button', { name: /Import a share/ }).waitFor();
  await shot(page, '03-setup-key');
  // The session is an HttpOnly cookie; nothing lands in web storage.
  const storage = await page.evaluate(() => [localStorage.length, sessionStorage.length]);
  assert.deepEqual(storage, [0, 0]);
  const cookies = await context.cookies();
  assert.ok(cookies.length >= 1 && cookies.every((c) => c.httpOnly), `cookies: ${JSON.stringify(cookies.map((c) => [c.name, c.httpOnly]))}`);
});

test('import a share (bfprofile) and choose unattended', async (t) => {
  await page.getByRole('button', { name: /Import a share/ }).click();
  await page.getByLabel('Share package').fill(keyset.credentials.bfprofile.string);
  // The package password goes to the API only if it documents a field for it.
  const spec = await (await fetch(`${srv.url}/api/docs/openapi.json`)).json().catch(() => ({}));
  const props = spec?.paths?.['/api/keyset']?.post?.requestBody?.content?.['application/json']?.schema?.properties || {};
  if (props.share_password) await page.getByLabel('Package password').fill(keyset.credentials.password);
  await shot(page, '04-import-share');
  await page.getByRole('button', { name: 'Next' }).click();
  await page.getByRole('heading', { name: 'What should happen after a restart?' }).waitFor();
  // The share fields are gone from the page once they were read.
  assert.equal(await page.locator('textarea').count(), 0);
  await page.getByLabel('Locked').check();
  await page.getByLabel('Unlock password', { exact: true }).waitFor();
  await page.getByLabel('Unattended (recommended for an always-on box)').check();
  await shot(page, '05-setup-mode');
  if (!(await hasRoute(srv.url, 'POST', 'api/keyset', {}))) {
    t.skip('POST /api/keyset is not served yet (api)');
    await page.goto(`${srv.url}/#/dashboard`);
    return;
  }
  await page.getByRole('button', { name: 'Save and finish' }).click();
  await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
  const st = await page.evaluate(async () => (await fetch('api/status')).json());
  assert.equal(st.vault?.has_keyset, true, JSON.stringify(st));
  assert.equal(st.vault?.mode, 'unattended');
});

test('every screen renders without errors', async () => {
  const screens = [['dashboard', 'Dashboard'], ['peers', 'Devices'], ['tools', 'Sign & encrypt'], ['apps', 'Apps'],
    ['log', 'Event log'], ['keys', 'Keys & recovery'], ['settings', 'Settings']];
  let i = 6;
  for (const [route, title] of screens) {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: title, exact: true }).click();
    await page.getByRole('heading', { name: title, level: 1 }).waitFor();
    assert.equal(await page.getByRole('link', { name: title, exact: true }).getAttribute('aria-current'), 'page');
    await page.waitForLoadState('networkidle');
    await shot(page, `${String(i++).padStart(2, '0')}-${route}`);
  }
  const npub = await page.evaluate(() => document.body.innerText);
  assert.ok(!npub.includes(keyset.credentials.password), 'a password is on the page');
});

test('dashboard shows the group npub and a QR code when a keyset is loaded', async () => {
  await page.goto(`${srv.url}/#/dashboard`);
  await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
  // The imported bfprofile starts the signing node; its group key is the npub shown.
  const npub = page.getByTestId('npub');
  await npub.waitFor({ timeout: 20000 });
  assert.match(await npub.innerText(), /^npub1[02-9ac-hj-np-z]{58}$/);
  const gpk = keyset.keyset.group_package_json.group_pk;
  const st = await page.evaluate(async () => (await fetch('api/status')).json());
  assert.equal(st.node?.groupPubkey, gpk, JSON.stringify(st.node));
  await page.getByRole('button', { name: 'Show QR' }).click();
  await page.getByRole('img', { name: 'QR code of the group npub' }).waitFor();
  await shot(page, '13-dashboard-qr');
});

test('event log: live events, filter, search, pause, export', async () => {
  await page.goto(`${srv.url}/#/log`);
  await page.getByRole('heading', { name: 'Event log', level: 1 }).waitFor();
  await page.getByText('Live: receiving events.').waitFor();
  const list = page.getByRole('list', { name: 'Events, newest first' });
  await list.getByText('Connected to event stream').first().waitFor();
  await page.getByLabel('Search').fill('no-such-event-xyz');
  await list.getByText('No events yet.').waitFor();
  await page.getByLabel('Search').fill('');
  await page.getByLabel('Type').selectOption('system');
  assert.ok((await list.locator('li').count()) >= 1);
  await page.getByRole('button', { name: 'Pause' }).click();
  assert.equal(await page.getByRole('button', { name: 'Resume' }).getAttribute('aria-pressed'), 'true');
  await page.getByRole('button', { name: 'Resume' }).click();
  const dl = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Export' }).click();
  const file = await (await dl).path();
  const lines = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(lines.length >= 1 && lines.every((e) => e.type === 'system'), JSON.stringify(lines));
});

test('tools page: signing without enough devices explains why', async () => {
  await page.goto(`${srv.url}/#/tools`);
  await page.getByRole('heading', { name: 'Sign & encrypt', level: 1 }).waitFor();
  const ev = JSON.parse(await page.getByTestId('event-json').inputValue());
  assert.equal(ev.kind, 1);
  assert.ok(Math.abs(ev.created_at - Date.now() / 1000) < 120);
  await page.getByRole('button', { name: 'Sign event' }).click();
  // Only this box's share is online (2 of 3 needed): the signer says so instead of hanging.
  await page.getByRole('alert').filter({ hasText: /cannot sign yet|signer is not running/ }).waitFor();
  await page.getByTestId('event-json').fill('{ not json');
  await page.getByRole('button', { name: 'Sign event' }).click();
  await page.getByRole('alert').filter({ hasText: 'Not valid JSON' }).waitFor();
});

test('API key: create (shown once) and revoke', async (t) => {
  if (!(await hasRoute(srv.url, 'GET', 'api/admin/api-keys'))) { t.skip('GET /api/admin/api-keys is not served yet (api)'); return; }
  await page.goto(`${srv.url}/#/settings`);
  await page.getByRole('heading', { name: 'Settings', level: 1 }).waitFor();
  await page.getByLabel('Label').fill('ui-test');
  await page.getByRole('button', { name: 'Create key' }).click();
  const token = await page.getByTestId('new-api-key').innerText();
  assert.ok(token.length >= 32, `token ${token.length} chars`);
  const row = page.getByTestId('api-key-row').filter({ hasText: 'ui-test' });
  await row.waitFor();
  assert.ok(!(await row.innerText()).includes(token), 'the full token is listed');
  // The key works against the API before revocation…
  const ok = await fetch(`${srv.url}/api/status`, { headers: { 'X-API-Key': token } });
  assert.equal(ok.status, 200);
  await shot(page, '14-api-key-created');
  page.once('dialog', (d) => d.accept());
  await row.getByRole('button', { name: 'Revoke' }).click();
  await row.getByText('revoked', { exact: true }).waitFor();
  // …and no longer authenticates afterwards.
  const peers = await fetch(`${srv.url}/api/peers`, { headers: { 'X-API-Key': token } });
  assert.equal(peers.status, 401);
  await page.getByRole('button', { name: 'Done, hide it' }).click();
  assert.equal(await page.getByTestId('new-api-key').count(), 0);
});

test('log out ends the session', async () => {
  await page.getByRole('button', { name: 'Log out' }).first().click();
  await page.getByRole('heading', { name: 'Log in to Frostbox' }).waitFor();
  await shot(page, '15-login');
  const r = await page.evaluate(async () => (await fetch('api/admin/whoami')).status);
  assert.equal(r, 401);
  await page.getByLabel('Username').fill(USER);
  await page.getByLabel('Password').fill('not-the-password');
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('alert').filter({ hasText: 'Wrong username or password' }).waitFor();
  await page.getByLabel('Password').fill(PASS);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
});

test('a link into the UI opened while logged out (a NIP-46 auth_url) opens after the login', async () => {
  await page.getByRole('button', { name: 'Log out' }).first().click();
  await page.getByRole('heading', { name: 'Log in to Frostbox' }).waitFor();
  const link = `#/apps/${'ab'.repeat(32)}/${'cd'.repeat(16)}`;
  await page.goto(`${srv.url}/${link}`);
  await page.getByRole('heading', { name: 'Log in to Frostbox' }).waitFor();
  await page.getByLabel('Username').fill(USER);
  await page.getByLabel('Password').fill(PASS);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: 'Apps', level: 1 }).waitFor();
  assert.equal(await page.evaluate(() => location.hash), link);
  const st = await page.evaluate(async () => (await fetch('api/nip46/status')).status);
  assert.equal(st, 200, 'the bunker runs with the imported keyset');
  // a request this box does not know: the page says so instead of showing nothing
  await page.getByTestId('link-target-gone').filter({ hasText: 'not known to this box' }).waitFor();
  // the next login goes to the dashboard again (the link is used once)
  await page.getByRole('button', { name: 'Log out' }).first().click();
  await page.getByLabel('Username').fill(USER);
  await page.getByLabel('Password').fill(PASS);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
});

test('no request left the box and no script error happened', () => {
  assert.deepEqual(seen.foreign, []);
  assert.deepEqual(seen.errors, []);
  assert.ok(!seen.statuses.some(([s]) => s === 429), 'rate limited');
});

// Ready with a second local node and signing from the tools page: cosign.test.mjs.
test('Apps: create a one-time bunker:// link with a QR code', async (t) => {
  if (!(await hasRoute(srv.url, 'GET', 'api/nip46/sessions'))) { t.skip('the NIP-46 routes (/api/nip46/*) are not mounted yet (nip46)'); return; }
  await page.goto(`${srv.url}/#/apps`);
  await page.getByRole('heading', { name: 'Apps', level: 1 }).waitFor();
  await page.getByLabel('Name for the app (optional)').fill('ui-test client');
  await page.getByRole('button', { name: 'Create connection link' }).click();
  const uri = await page.getByTestId('bunker-uri').innerText();
  assert.match(uri, /^bunker:\/\/[0-9a-f]{64}\?/);
  assert.match(uri, /secret=/);
  await page.getByRole('img', { name: 'QR code of the connection link' }).waitFor();
  await shot(page, '18-apps-bunker');
});
// Connecting a NIP-46 app and approving its pending request needs a ready signer: cosign.test.mjs.
