// Create a new 2-of-2 key in the browser, hand share 2 to a second local Frostbox (its own
// process and data directory, importing the bfprofile it was given), watch the dashboard turn
// "Ready to sign", then sign an event from the tools page and check the BIP-340 signature.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, watchedPage, shot, ADMIN_SECRET } from './harness.mjs';
import { verifySchnorr, eventId } from './schnorr.mjs';

const PASS = 'Correct-Horse-42-battery';
const PKG_PW = 'share-package-pw-8812';
let a; let b; let context; let page; let seen;
let share2 = null;
let secondNode = false;

before(async () => {
  a = await startServer();
  context = await launchBrowser();
  ({ page, seen } = await watchedPage(context, a.url));
  page.setDefaultTimeout(15000);
});
after(async () => {
  await context?.close();
  await b?.stop();
  await a?.stop();
});

test('first run: create a new 2-of-2 key; the other share is shown once', async (t) => {
  if (a.external) { t.skip('needs servers this test starts'); return; }
  await page.goto(`${a.url}/`);
  await page.getByLabel('Setup code or admin secret').fill(ADMIN_SECRET);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByLabel('Username').fill('admin');
  await page.getByLabel('Password', { exact: true }).fill(PASS);
  await page.getByLabel('Repeat password').fill(PASS);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('button', { name: /Create a new key/ }).click();
  await page.getByLabel('Threshold (shares needed to sign)').fill('2');
  await page.getByLabel('Total shares').fill('2');
  await page.getByLabel('Password for the share packages').fill(PKG_PW);
  await shot(page, '20-create-key');
  await page.getByRole('button', { name: 'Next' }).click();
  await page.getByRole('heading', { name: 'What should happen after a restart?' }).waitFor();
  await page.getByRole('button', { name: 'Save and finish' }).click();
  await page.getByRole('heading', { name: 'Hand out the other shares' }).waitFor({ timeout: 30000 });
  const shares = await page.locator('p.secret').allInnerTexts();
  assert.equal(shares.length, 1, 'one share for the one other device');
  assert.match(shares[0], /^bfprofile1[02-9ac-hj-np-z]+$/);
  share2 = shares[0];
  await page.getByText('Share 2', { exact: true }).waitFor();
  await shot(page, '21-create-key-shares');
  const cont = page.getByRole('button', { name: 'Continue to the dashboard' });
  assert.equal(await cont.isDisabled(), true, 'continue needs the acknowledgement');
  await page.getByLabel('I have saved every share somewhere safe').check();
  await cont.click();
  await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
  // The share is gone from the page and was never put in browser storage.
  assert.equal(await page.locator('p.secret').count(), 0);
  const storage = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
  assert.ok(!storage.includes('bfprofile1'), storage);
});

test('dashboard shows the group npub and a QR code; the signer waits for the other device', async (t) => {
  if (!share2) { t.skip('no keyset was created'); return; }
  await page.goto(`${a.url}/#/dashboard`);
  const npub = page.getByTestId('npub');
  await npub.waitFor();
  assert.match(await npub.innerText(), /^npub1[02-9ac-hj-np-z]{58}$/);
  const signer = page.getByRole('region', { name: 'Signer' });
  await signer.getByText('Waiting for other devices').waitFor();
  await page.getByRole('button', { name: 'Show QR' }).click();
  await page.getByRole('img', { name: 'QR code of the group npub' }).waitFor();
  await shot(page, '13-dashboard-qr');
});

test('node becomes ready with a second local node', async (t) => {
  if (!share2) { t.skip('no keyset was created'); return; }
  // A second Frostbox process with its own data directory, talking through A's embedded relay.
  b = await startServer({ RELAYS: `ws://127.0.0.1:${a.port}` });
  const r = await fetch(`${b.url}/api/keyset`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_SECRET}` },
    body: JSON.stringify({ share_cred: share2, share_password: PKG_PW, mode: 'unattended' }),
  });
  assert.equal(r.status, 200, await r.text());
  secondNode = true;
  await page.goto(`${a.url}/#/dashboard`);
  const signer = page.getByRole('region', { name: 'Signer' });
  // The dashboard polls every 10 s; allow a few rounds for the peers to find each other.
  await signer.getByText('Ready to sign').waitFor({ timeout: 60000 });
  const devices = page.getByRole('region', { name: 'Other devices' });
  await devices.getByText('Threshold reachable').waitFor();
  const relays = page.getByRole('region', { name: 'Relays' });
  await relays.getByText('connected', { exact: true }).first().waitFor();
  await shot(page, '22-dashboard-ready');
  // The second node sees the same group and is ready too.
  const st = await (await fetch(`${b.url}/api/status`, { headers: { authorization: `Bearer ${ADMIN_SECRET}` } })).json();
  assert.equal(st.nodeActive, true, JSON.stringify(st));
  const stA = await page.evaluate(async () => (await fetch('api/status')).json());
  assert.equal(st.node.groupPubkey, stA.node.groupPubkey);
  assert.ok(stA.relays.every((x) => typeof x.url === 'string' && 'connected' in x), JSON.stringify(stA.relays));
});

test('sign an event from the tools page', async (t) => {
  if (!secondNode) { t.skip('the second node is not running'); return; }
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Sign & encrypt', exact: true }).click();
  await page.getByRole('heading', { name: 'Sign & encrypt', level: 1 }).waitFor();
  const tmpl = JSON.parse(await page.getByTestId('event-json').inputValue());
  tmpl.content = 'Signed by two Frostboxes';
  tmpl.tags = [['t', 'frostbox']];
  await page.getByTestId('event-json').fill(JSON.stringify(tmpl, null, 2));
  await page.getByRole('button', { name: 'Sign event' }).click();
  const out = page.getByTestId('sign-result');
  await out.waitFor({ state: 'visible', timeout: 30000 });
  const ev = JSON.parse(await out.innerText());
  await shot(page, '23-tools-signed');
  assert.equal(ev.content, 'Signed by two Frostboxes');
  assert.deepEqual(ev.tags, [['t', 'frostbox']]);
  assert.equal(ev.pubkey, tmpl.pubkey);
  assert.equal(ev.id, eventId(ev), 'NIP-01 id');
  assert.ok(verifySchnorr(ev.sig, ev.id, ev.pubkey), 'BIP-340 signature by the group key');
  const other = ev.sig.slice(0, 127) + (ev.sig[127] === '0' ? '1' : '0');
  assert.ok(!verifySchnorr(other, ev.id, ev.pubkey), 'a changed signature fails');
});

test('no request left the box, no script error, no secret in the logs', () => {
  assert.deepEqual(seen.foreign, []);
  assert.deepEqual(seen.errors, []);
  assert.ok(!seen.statuses.some(([s]) => s === 429), 'rate limited');
  for (const log of [a.log(), b ? b.log() : '']) {
    for (const secret of [PASS, PKG_PW]) assert.ok(!log.includes(secret), 'a password reached a log');
    assert.ok(!log.includes('bfprofile1'), 'a share package reached a log');
  }
});
