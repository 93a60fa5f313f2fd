// Create a new 2-of-2 key in the browser, hand share 2 to a second local Frostbox (its own
// process and data directory, importing the bfprofile it was given), watch the dashboard turn
// "Ready to sign", then sign an event from the tools page and check the BIP-340 signature, and
// connect a real NIP-46 app (nostr-tools BunkerSigner) whose out-of-policy request is approved
// in the browser on the page the app's NIP-46 auth_url opens.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, watchedPage, shot, createAdmin, adminApi } from './harness.mjs';
import { verifySchnorr, eventId } from './schnorr.mjs';
import { nostrTools, within } from './nip46-client.mjs';

const PASS = 'Correct-Horse-42-battery';
const PKG_PW = 'share-package-pw-8812';
let a; let b; let context; let page; let seen;
let share2 = null;
let linked = null; // the tab the NIP-46 app's auth_url opened
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
  await createAdmin(page, a.url, PASS);
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
  const r = await adminApi(b, 'POST', 'api/keyset', { share_cred: share2, share_password: PKG_PW, mode: 'unattended' });
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
  const st = await (await adminApi(b, 'GET', 'api/status')).json();
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

test('connect a NIP-46 app and approve a pending request', async (t) => {
  if (!secondNode) { t.skip('the second node is not running'); return; }
  const nt = await nostrTools();
  const groupPk = (await page.evaluate(async () => (await fetch('api/status')).json())).node.groupPubkey;
  assert.match(groupPk, /^[0-9a-f]{64}$/);

  // The operator creates a one-time link that pre-approves kind-1 signing only.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Apps', exact: true }).click();
  await page.getByRole('heading', { name: 'Apps', level: 1 }).waitFor();
  const form = page.getByRole('form', { name: 'Connect an app with a link from this box' });
  await form.getByLabel('Name for the app (optional)').fill('nostr-tools app');
  assert.equal(await form.getByLabel('Sign events').isChecked(), true);
  assert.equal(await form.getByLabel('Encrypt (NIP-44)').isChecked(), false);
  assert.equal(await form.getByLabel('Event kinds it may sign').inputValue(), '1');
  await form.getByRole('button', { name: 'Create connection link' }).click();
  const uri = (await page.getByTestId('bunker-uri').innerText()).trim();
  assert.match(uri, /^bunker:\/\/[0-9a-f]{64}\?/);
  const tokens = await page.evaluate(async () => (await fetch('api/nip46/bunker')).json());
  const tok = tokens.tokens.find((x) => x.label === 'nostr-tools app');
  assert.deepEqual(tok?.policy, { methods: { sign_event: true }, kinds: { 1: true } }, JSON.stringify(tokens));

  // The app connects with the link copied from the page.
  const pool = new nt.SimplePool();
  const bp = await nt.parseBunkerInput(uri);
  assert.ok(bp && bp.relays.length > 0, `nostr-tools parses ${uri}`);
  const authUrls = [];
  let urlArrived;
  const gotUrl = new Promise((resolve) => { urlArrived = resolve; });
  const appSk = nt.generateSecretKey();
  const signer = nt.BunkerSigner.fromBunker(appSk, bp, { pool, onauth: (url) => { authUrls.push(url); urlArrived(url); } });
  try {
    await within(signer.connect(), 20000, 'connect');
    assert.equal(await within(signer.getPublicKey(), 15000, 'get_public_key'), groupPk);
    // Inside the grant: signed without asking.
    const note = await within(signer.signEvent({ kind: 1, content: 'pre-approved', tags: [], created_at: Math.floor(Date.now() / 1000) }), 30000, 'sign kind 1');
    assert.ok(nt.verifyEvent(note) && note.pubkey === groupPk, 'kind 1 signed by the group key');

    assert.equal(authUrls.length, 0, 'no auth_url inside the grant');

    // Outside the grant: the request waits for the operator. The app gets a NIP-46 auth_url
    // (once) naming this box's page of that request, which the operator opens to approve it.
    const tpl = { kind: 30023, content: 'a long-form note, approved in the UI', tags: [['d', 'frostbox-ui']], created_at: Math.floor(Date.now() / 1000) };
    let settled = false;
    const asked = signer.signEvent(tpl).finally(() => { settled = true; });
    asked.catch(() => {});
    const url = await within(gotUrl, 30000, 'auth_url');
    assert.ok(url.startsWith(`${a.url}/#/apps/${nt.getPublicKey(appSk)}/`), url);
    // The operator opens the link in a new tab (same browser, so already logged in).
    linked = await watchedPage(context, a.url);
    const lp = linked.page;
    lp.setDefaultTimeout(15000);
    await lp.goto(url);
    const req = lp.locator('[data-testid="pending-request"][data-target="true"]');
    await req.waitFor({ timeout: 30000 });
    assert.equal(await req.getAttribute('data-request-id'), url.split('/').pop(), 'the linked request is marked');
    assert.equal(await lp.getByTestId('pending-request').first().getAttribute('data-target'), 'true', 'and comes first');
    assert.match(await req.innerText(), /nostr-tools app asks to sign_event \(kind 30023\)/);
    await lp.waitForFunction(() => document.activeElement?.dataset?.target === 'true');
    await shot(lp, '24-apps-pending');
    assert.equal(settled, false, 'nothing was signed before the operator answered');
    await req.getByRole('button', { name: 'Approve once' }).click();
    const ev = await within(asked, 30000, 'sign kind 30023 after approval');
    assert.equal(ev.kind, 30023);
    assert.equal(ev.content, tpl.content);
    assert.deepEqual(ev.tags, tpl.tags);
    assert.equal(ev.pubkey, groupPk, 'signed as the group key');
    assert.equal(ev.id, eventId(ev), 'NIP-01 id');
    assert.ok(verifySchnorr(ev.sig, ev.id, groupPk), 'BIP-340 signature verifies under the group key');
    assert.ok(nt.verifyEvent(ev), 'nostr-tools verifies it too');

    assert.equal(authUrls.length, 1, 'exactly one auth_url');

    // The page reflects it: nothing waits, the linked request was answered, the app is
    // listed, the request was audited.
    await lp.getByRole('region', { name: /Waiting for your answer \(0\)/ }).getByText('No requests are waiting.').waitFor();
    await lp.getByTestId('link-target-gone').filter({ hasText: /was approved/ }).waitFor();
    await lp.getByTestId('app-session').filter({ hasText: 'nostr-tools app' }).waitFor();
    await shot(lp, '25-apps-approved');
    const audit = await lp.evaluate(async () => (await fetch('api/nip46/audit?limit=200')).json());
    assert.ok(audit.entries.some((e) => e.method === 'sign_event' && e.kind === 30023 && e.outcome === 'ok'), JSON.stringify(audit));
  } finally {
    await signer.close().catch(() => {});
    pool.destroy?.();
    await linked?.page.close();
  }
});

test('no request left the box, no script error, no secret in the logs', () => {
  assert.deepEqual(seen.foreign, []);
  assert.deepEqual(seen.errors, []);
  assert.deepEqual(linked?.seen.foreign ?? [], []);
  assert.deepEqual(linked?.seen.errors ?? [], []);
  assert.ok(!seen.statuses.some(([s]) => s === 429), 'rate limited');
  for (const log of [a.log(), b ? b.log() : '']) {
    for (const secret of [PASS, PKG_PW]) assert.ok(!log.includes(secret), 'a password reached a log');
    assert.ok(!log.includes('bfprofile1'), 'a share package reached a log');
  }
});
