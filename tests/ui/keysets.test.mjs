// Several keysets in one box, in the browser: a one-keyset box shows no switcher; a second
// keyset is added on the Keysets page (server validation messages shown inline); the header
// switcher changes the dashboard's npub and every call's X-Frostbox-Keyset; an event signed
// from the tools page under keyset b verifies under b's group key (co-signed by a second
// Frostbox holding b's other share); `?keyset=` deep links (also across the login) select a
// keyset, an unknown one is reported; a stale remembered keyset falls back with a notice; a
// locked keyset is unlocked from the list after a restart; the keyset in use deleted elsewhere
// falls back with a notice; deleting b (typed confirmation) hides the switcher again. Groups come from `frostbox keygen --profile --json`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, watchedPage, shot, createAdmin, adminApi as admin, keygen } from './harness.mjs';
import { verifySchnorr, eventId } from './schnorr.mjs';

const PASS = 'Correct-Horse-42-battery';
const PKG_PW = 'keyset-package-pw-5531';
const LOCK = 'keyset-c-unlock-pw-77';
let a; let b; let context; let page; let seen;
let g1; let g2; let g3; // groups: default, b, c
let added = false; let cosigner = false;

const switcher = () => page.getByLabel('Keyset', { exact: true });
const nav = () => page.getByRole('navigation', { name: 'Main' });
const stored = () => page.evaluate(() => localStorage.getItem('frostbox.keyset'));

before(async () => {
  a = await startServer();
  const relay = `ws://127.0.0.1:${a.port}`;
  const group = (name) => keygen({ name, relay, password: PKG_PW }); // 2-of-2
  g1 = group('personal'); g2 = group('work'); g3 = group('podcast');
  context = await launchBrowser();
  ({ page, seen } = await watchedPage(context, a.url));
  page.setDefaultTimeout(15000);
});
after(async () => {
  await context?.close();
  await b?.stop();
  await a?.stop();
});

test('a box with one keyset shows no switcher and stores nothing', async (t) => {
  if (a.external) { t.skip('needs servers this test starts'); return; }
  await createAdmin(page, a.url, PASS);
  await page.getByRole('button', { name: /Import a share/ }).waitFor();
  // The default keyset (group 1), imported as the API's users do.
  const r = await admin(a, 'POST', 'api/keyset', { share_cred: g1.shares[0], share_password: PKG_PW, mode: 'unattended' });
  assert.equal(r.status, 200, await r.text());
  await page.goto(`${a.url}/#/dashboard`);
  await page.getByTestId('npub').filter({ hasText: g1.npub }).waitFor();
  assert.equal(await switcher().count(), 0, 'no switcher with one keyset');
  assert.equal(await page.locator('#hdr-keyset').isHidden(), true);
  assert.equal(await nav().getByRole('link', { name: 'Keysets' }).count(), 0, 'no Keysets menu entry');
  assert.equal(await page.getByTestId('dashboard-keyset').count(), 0);
  assert.deepEqual(await page.evaluate(() => [localStorage.length, sessionStorage.length]), [0, 0]);
});

test('add a second keyset on the Keysets page; server messages inline; fields cleared', async (t) => {
  if (a.external) { t.skip('needs servers this test starts'); return; }
  await nav().getByRole('link', { name: 'Keys & recovery', exact: true }).click();
  await page.getByRole('link', { name: 'Add another keyset' }).click();
  await page.getByRole('heading', { name: 'Keysets', level: 1 }).waitFor();
  // The list is fetched after the heading is drawn: wait for it before counting its rows.
  await page.getByTestId('keyset-row').first().waitFor();
  assert.equal(await page.getByTestId('keyset-row').count(), 1);
  const form = page.getByRole('form', { name: 'Add another keyset' });

  // Something that is no share package: the server's message is shown in the form, and the
  // secret fields are emptied whatever the answer.
  await form.getByLabel('Name').fill('Work');
  await form.getByLabel('Share package').fill('this is not a share');
  await form.getByLabel('Package password').fill(PKG_PW);
  await form.getByText('Advanced').click();
  await form.getByLabel('Keyset id (optional)').fill('b');
  await form.getByRole('button', { name: 'Add keyset' }).click();
  const err = form.getByRole('alert');
  await err.waitFor();
  const direct = await admin(a, 'POST', 'api/keysets', { id: 'zz', share_cred: 'this is not a share', mode: 'unattended' });
  assert.equal(direct.status, 400);
  const serverMsg = (await direct.json()).error;
  assert.ok(serverMsg.length > 10 && (await err.innerText()).includes(serverMsg), `inline: ${await err.innerText()} / server: ${serverMsg}`);
  assert.equal(await form.getByLabel('Share package').inputValue(), '', 'share cleared after submit');
  assert.equal(await form.getByLabel('Package password').inputValue(), '', 'password cleared after submit');
  assert.equal(await form.getByLabel('Name').inputValue(), 'Work', 'the name is kept for the retry');

  // Locked mode with two different unlock passwords is caught before anything is sent.
  await form.getByLabel('Share package').fill(g2.shares[0]);
  await form.getByLabel('Package password').fill(PKG_PW);
  await form.getByLabel(/^Locked/).check();
  await form.getByLabel('Unlock password', { exact: true }).fill(LOCK);
  await form.getByLabel('Repeat unlock password').fill(`${LOCK}x`);
  await form.getByRole('button', { name: 'Add keyset' }).click();
  await form.getByRole('alert').filter({ hasText: 'The two unlock passwords differ.' }).waitFor();
  await form.getByLabel(/^Unattended/).check();
  await form.getByRole('button', { name: 'Add keyset' }).click();
  await form.getByText('Added Work.').waitFor();
  assert.equal(await form.getByLabel('Share package').inputValue(), '');
  assert.equal(await form.getByLabel('Package password').inputValue(), '');
  await page.getByTestId('keyset-row').nth(1).waitFor();
  assert.equal(await page.getByTestId('keyset-row').count(), 2);
  const row = page.locator('[data-testid="keyset-row"][data-keyset-id="b"]');
  await row.getByRole('heading', { name: /Work/ }).waitFor();
  added = true;
  // Its NIP-46 bunker: the remote-signer pubkey from GET /api/keysets, shortened, the full
  // hex in the title (the list refreshes every 10 s; the bunker starts with b's node).
  let bunker = null;
  for (let i = 0; i < 200 && !bunker; i++) {
    const ks = await (await admin(a, 'GET', 'api/keysets')).json();
    bunker = ks.keysets.find((k) => k.id === 'b')?.bunker ?? null;
    if (!bunker) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(bunker && /^[0-9a-f]{64}$/.test(bunker.pubkey), JSON.stringify(bunker));
  const shown = row.getByTestId('keyset-bunker');
  await shown.waitFor({ timeout: 20000 });
  assert.equal(await shown.getAttribute('title'), bunker.pubkey);
  assert.equal(await shown.textContent(), `${bunker.pubkey.slice(0, 8)}…${bunker.pubkey.slice(-8)}`);

  // The switcher and the menu entry appear; the current keyset is still the default.
  await switcher().waitFor();
  assert.equal(await switcher().inputValue(), 'default');
  const options = await switcher().locator('option').allInnerTexts();
  assert.equal(options.length, 2, options.join(' | '));
  await nav().getByRole('link', { name: 'Keysets', exact: true }).waitFor();
  // The label, a short group npub and the state in each option.
  await page.waitForFunction((np) => [...document.querySelectorAll('#ks-select option')].some((o) => o.value === 'b' && o.textContent.startsWith('Work · ') && o.textContent.includes(np)), g2.npub.slice(0, 9));
  assert.match(options.find((o) => o.startsWith('default')), /^default · npub1[02-9ac-hj-np-z]{4}…[02-9ac-hj-np-z]{4} · (ready|running|starting)$/);

  // The same id again: the server's 409 message inline.
  await form.getByLabel('Share package').fill(g3.shares[0]);
  await form.getByLabel('Package password').fill(PKG_PW);
  await form.getByLabel('Keyset id (optional)').fill('b');
  await form.getByRole('button', { name: 'Add keyset' }).click();
  await form.getByRole('alert').filter({ hasText: 'keyset b already exists' }).waitFor();
  await shot(page, '40-keysets-page');
  assert.ok(!JSON.stringify(await page.evaluate(() => ({ ...localStorage }))).includes('bfprofile1'));
});

test('switching keysets changes the dashboard npub and the keyset every call names', async (t) => {
  if (!added) { t.skip('keyset b was not added'); return; }
  await nav().getByRole('link', { name: 'Dashboard', exact: true }).click();
  await page.getByTestId('npub').filter({ hasText: g1.npub }).waitFor();
  const sent = [];
  const onReq = (r) => { if (r.url().includes('/api/')) sent.push([r.url(), r.headers()['x-frostbox-keyset']]); };
  page.on('request', onReq);
  await switcher().focus();
  await switcher().selectOption('b');
  await page.getByTestId('npub').filter({ hasText: g2.npub }).waitFor();
  await page.getByTestId('dashboard-keyset').filter({ hasText: 'Work (b)' }).waitFor();
  assert.equal(await stored(), 'b', 'the choice is remembered');
  // Focus stays on the switcher (keyboard users can keep choosing).
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'ks-select');
  await shot(page, '41-keyset-switcher');
  page.off('request', onReq);
  const after = sent.filter(([u]) => /api\/(status|peers)/.test(u));
  assert.ok(after.length >= 2, JSON.stringify(sent));
  assert.ok(after.every(([, h]) => h === 'b'), `every call names b: ${JSON.stringify(sent)}`);
  // The server answered for b: its status names it.
  const st = await page.evaluate(async () => (await fetch('api/status', { headers: { 'X-Frostbox-Keyset': 'b' } })).json());
  assert.equal(st.keyset, 'b');
  // A reload keeps b.
  await page.reload();
  await page.getByTestId('npub').filter({ hasText: g2.npub }).waitFor();
  assert.equal(await switcher().inputValue(), 'b');
  // On a phone-sized screen the switcher fits (no sideways scrolling).
  await page.setViewportSize({ width: 390, height: 844 });
  try {
    await switcher().waitFor();
    await shot(page, '46-keyset-switcher-phone');
    const w = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
    assert.ok(w[0] <= w[1] + 1, `no horizontal scroll on a phone: ${w}`);
  } finally { await page.setViewportSize({ width: 1100, height: 900 }); }
  // And back.
  await switcher().selectOption('default');
  await page.getByTestId('npub').filter({ hasText: g1.npub }).waitFor();
});

test('an event signed from the tools page under keyset b verifies under b\'s group key', async (t) => {
  if (!added) { t.skip('keyset b was not added'); return; }
  // b's other share runs in a second Frostbox talking through A's embedded relay.
  b = await startServer({ RELAYS: `ws://127.0.0.1:${a.port}` });
  const r = await admin(b, 'POST', 'api/keyset', { share_cred: g2.shares[1], share_password: PKG_PW, mode: 'unattended' });
  assert.equal(r.status, 200, await r.text());
  cosigner = true;
  await switcher().selectOption('b');
  await page.getByTestId('npub').filter({ hasText: g2.npub }).waitFor();
  await page.getByRole('region', { name: 'Signer' }).getByText('Ready to sign').waitFor({ timeout: 60000 });
  // The switcher shows b ready (from the same status answer).
  await page.waitForFunction(() => /· ready$/.test(document.querySelector('#ks-select option[value="b"]')?.textContent || ''));
  await nav().getByRole('link', { name: 'Sign & encrypt', exact: true }).click();
  await page.getByRole('heading', { name: 'Sign & encrypt', level: 1 }).waitFor();
  await page.getByTestId('page-keyset').filter({ hasText: 'Signs and encrypts as keyset Work (b).' }).waitFor();
  const tmpl = JSON.parse(await page.getByTestId('event-json').inputValue());
  assert.equal(tmpl.pubkey, g2.pk, 'the template names b\'s group key');
  tmpl.content = 'Signed as the work identity';
  await page.getByTestId('event-json').fill(JSON.stringify(tmpl, null, 2));
  const req = page.waitForRequest((q) => q.url().endsWith('/api/sign') && q.method() === 'POST');
  await page.getByRole('button', { name: 'Sign event' }).click();
  assert.equal((await req).headers()['x-frostbox-keyset'], 'b');
  const out = page.getByTestId('sign-result');
  await out.waitFor({ state: 'visible', timeout: 30000 });
  const ev = JSON.parse(await out.innerText());
  assert.equal(ev.content, 'Signed as the work identity');
  assert.equal(ev.pubkey, g2.pk);
  assert.equal(ev.id, eventId(ev), 'NIP-01 id');
  assert.ok(verifySchnorr(ev.sig, ev.id, g2.pk), 'BIP-340 signature by b\'s group key');
  assert.ok(!verifySchnorr(ev.sig, ev.id, g1.pk), 'not by the default keyset\'s key');
  await shot(page, '42-keyset-b-signed');
  // The dashboard's recent activity follows the selected keyset: b's signing round (a node
  // activity event naming keyset b) shows under b and not under the default keyset.
  await nav().getByRole('link', { name: 'Dashboard', exact: true }).click();
  await page.getByRole('list', { name: 'Recent activity' }).getByText(/^signed with /).first().waitFor();
  await switcher().selectOption('default');
  await page.getByTestId('npub').filter({ hasText: g1.npub }).waitFor();
  const recent = page.getByRole('list', { name: 'Recent activity' });
  await recent.waitFor();
  assert.equal(await recent.getByText(/^signed with /).count(), 0, 'keyset b\'s round is not in the default keyset\'s activity');
  await switcher().selectOption('b');
  await page.getByTestId('npub').filter({ hasText: g2.npub }).waitFor();
  await page.getByRole('list', { name: 'Recent activity' }).getByText(/^signed with /).first().waitFor();
  await nav().getByRole('link', { name: 'Sign & encrypt', exact: true }).click();
  await page.getByRole('heading', { name: 'Sign & encrypt', level: 1 }).waitFor();
});

test('?keyset= deep links select a keyset, across the login too; an unknown id is reported', async (t) => {
  if (!added) { t.skip('keyset b was not added'); return; }
  await switcher().selectOption('default');
  await page.getByRole('heading', { name: 'Sign & encrypt', level: 1 }).waitFor();
  await page.goto(`${a.url}/#/dashboard?keyset=b`);
  await page.getByTestId('npub').filter({ hasText: g2.npub }).waitFor();
  assert.equal(await switcher().inputValue(), 'b');
  assert.equal(await page.evaluate(() => location.hash), '#/dashboard', 'the query is consumed');

  // Logged out: the link survives the login (as a NIP-46 auth_url does).
  await switcher().selectOption('default');
  await page.getByTestId('npub').filter({ hasText: g1.npub }).waitFor();
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.getByRole('heading', { name: 'Log in to Frostbox' }).waitFor();
  await page.goto(`${a.url}/#/tools?keyset=b`);
  await page.getByRole('heading', { name: 'Log in to Frostbox' }).waitFor();
  await page.getByLabel('Username').fill('admin');
  await page.getByLabel('Password').fill(PASS);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: 'Sign & encrypt', level: 1 }).waitFor();
  assert.equal(await switcher().inputValue(), 'b');
  assert.equal(JSON.parse(await page.getByTestId('event-json').inputValue()).pubkey, g2.pk);

  // A NIP-46 auth_url of keyset b: the Apps page opens on b.
  await switcher().selectOption('default');
  await page.getByRole('heading', { name: 'Sign & encrypt', level: 1 }).waitFor();
  await page.goto(`${a.url}/#/apps/${'ab'.repeat(32)}/${'cd'.repeat(16)}?keyset=b`);
  await page.getByRole('heading', { name: 'Apps', level: 1 }).waitFor();
  assert.equal(await switcher().inputValue(), 'b');
  assert.equal(await page.evaluate(() => location.hash), `#/apps/${'ab'.repeat(32)}/${'cd'.repeat(16)}`);

  // An id the box does not have: a clear message, the keyset stays as it was.
  await page.goto(`${a.url}/#/dashboard?keyset=nope`);
  const note = page.getByTestId('keyset-notice');
  await note.filter({ hasText: 'This link is for the keyset "nope", which this box does not have. Showing Work (b) instead.' }).waitFor();
  assert.equal(await note.getAttribute('role'), 'alert');
  await page.getByTestId('npub').filter({ hasText: g2.npub }).waitFor();
  assert.equal(await switcher().inputValue(), 'b');
  await note.getByRole('button', { name: 'Dismiss' }).click();
  assert.equal(await note.count(), 0);
});

test('a remembered keyset that is gone falls back to the default, with a notice', async (t) => {
  if (!added) { t.skip('keyset b was not added'); return; }
  await page.evaluate(() => localStorage.setItem('frostbox.keyset', 'gone'));
  await page.goto(`${a.url}/#/dashboard`);
  await page.reload();
  await page.getByTestId('keyset-notice').filter({ hasText: 'The keyset "gone" you used last is no longer on this box. Now showing default.' }).waitFor();
  await page.getByTestId('npub').filter({ hasText: g1.npub }).waitFor();
  assert.equal(await switcher().inputValue(), 'default');
  assert.equal(await stored(), null, 'the stale choice is forgotten');
  await shot(page, '43-keyset-fallback');
});

test('a locked keyset is unlocked from the Keysets page after a restart', async (t) => {
  if (!added || a.external) { t.skip('keyset b was not added'); return; }
  await nav().getByRole('link', { name: 'Keysets', exact: true }).click();
  const form = page.getByRole('form', { name: 'Add another keyset' });
  await form.getByLabel('Name').fill('Podcast');
  await form.getByLabel('Share package').fill(g3.shares[0]);
  await form.getByLabel('Package password').fill(PKG_PW);
  await form.getByLabel(/^Locked/).check();
  await form.getByLabel('Unlock password', { exact: true }).fill(LOCK);
  await form.getByLabel('Repeat unlock password').fill(LOCK);
  await form.getByRole('button', { name: 'Add keyset' }).click();
  await form.getByText('Added Podcast.').waitFor();
  assert.equal(await form.getByLabel('Unlock password', { exact: true }).inputValue(), '');
  // Restart the box with no page open (a page would log the event stream's reconnects).
  await page.goto('about:blank');
  await a.restart();
  await page.goto(`${a.url}/#/keysets`);
  await page.getByRole('heading', { name: /^(Keysets|Log in to Frostbox)$/, level: 1 }).waitFor();
  if (await page.getByRole('heading', { name: 'Log in to Frostbox' }).isVisible()) {
    await page.getByLabel('Username').fill('admin');
    await page.getByLabel('Password').fill(PASS);
    await page.getByRole('button', { name: 'Log in' }).click();
  }
  await page.getByRole('heading', { name: 'Keysets', level: 1 }).waitFor();
  const row = page.locator('[data-testid="keyset-row"][data-keyset-id="podcast"]');
  await row.getByText('Locked', { exact: true }).waitFor();
  await page.waitForFunction(() => /· locked$/.test(document.querySelector('#ks-select option[value="podcast"]')?.textContent || ''));
  await row.getByRole('button', { name: 'Unlock…' }).click();
  await row.getByLabel('Unlock password').fill('wrong-password-123');
  await row.getByRole('button', { name: 'Unlock Podcast' }).click();
  await row.getByRole('alert').filter({ hasText: 'Wrong password.' }).waitFor();
  assert.equal(await row.getByLabel('Unlock password').inputValue(), '', 'password cleared after submit');
  await shot(page, '44-keyset-unlock');
  await row.getByLabel('Unlock password').fill(LOCK);
  await row.getByRole('button', { name: 'Unlock Podcast' }).click();
  await row.getByText(/^(Starting|Waiting for other devices|Ready to sign)$/).waitFor({ timeout: 60000 });
  await row.getByText(/^(Waiting for other devices|Ready to sign)$/).waitFor({ timeout: 30000 });
  assert.equal(await row.getByRole('button', { name: 'Unlock…' }).count(), 0);
  // Only the podcast keyset was unlocked (the selected one stayed the default).
  assert.equal(await switcher().inputValue(), 'default');
});

test('the keyset in use deleted elsewhere (another tab, the API): the page falls back and says so', async (t) => {
  if (!added) { t.skip('keyset b was not added'); return; }
  await switcher().selectOption('podcast');
  await page.locator('[data-testid="keyset-row"][data-keyset-id="podcast"]').getByText('· in use').waitFor();
  const r = await admin(a, 'DELETE', 'api/keysets/podcast');
  assert.equal(r.status, 200, await r.text());
  await nav().getByRole('link', { name: 'Dashboard', exact: true }).click();
  await page.getByTestId('keyset-notice').filter({ hasText: 'The keyset "podcast" is no longer on this box. Now showing default.' }).waitFor();
  await page.getByTestId('npub').filter({ hasText: g1.npub }).waitFor();
  assert.equal(await switcher().inputValue(), 'default');
  assert.equal(await switcher().locator('option').count(), 2);
  assert.equal(await stored(), null);
});

test('deleting a keyset needs its typed id; with one left the switcher is gone', async (t) => {
  if (!added) { t.skip('keyset b was not added'); return; }
  await nav().getByRole('link', { name: 'Keysets', exact: true }).click();
  await page.getByRole('heading', { name: 'Keysets', level: 1 }).waitFor();
  await switcher().selectOption('b');
  // The page is drawn again for b (its card says it is in use).
  await page.locator('[data-testid="keyset-row"][data-keyset-id="b"]').getByText('· in use').waitFor();
  const row = page.locator('[data-testid="keyset-row"][data-keyset-id="b"]');
  await row.getByRole('button', { name: 'Delete…' }).click();
  const confirm = row.getByLabel('Type the keyset id "b" to confirm');
  const go = row.getByRole('button', { name: 'Delete Work' });
  assert.equal(await go.isDisabled(), true);
  await confirm.fill('Work');
  assert.equal(await go.isDisabled(), true, 'a wrong id keeps the button disabled');
  await confirm.fill('b');
  assert.equal(await go.isDisabled(), false);
  await shot(page, '45-keyset-delete');
  await go.click();
  await row.waitFor({ state: 'detached' });
  assert.equal(await page.getByTestId('keyset-row').count(), 1);
  // b was in use: the box falls back to the default; one keyset → no switcher, no menu entry.
  await page.locator('#hdr-keyset').waitFor({ state: 'hidden' });
  assert.equal(await switcher().count(), 0);
  assert.equal(await nav().getByRole('link', { name: 'Keysets' }).count(), 0);
  assert.equal(await stored(), null);
  const list = await (await admin(a, 'GET', 'api/keysets')).json();
  assert.deepEqual(list.keysets.map((k) => k.id), ['default']);
  await nav().getByRole('link', { name: 'Dashboard', exact: true }).click();
  await page.getByTestId('npub').filter({ hasText: g1.npub }).waitFor();
});

test('no request left the box, no script error, no secret in storage or logs', () => {
  assert.deepEqual(seen.foreign, []);
  assert.deepEqual(seen.errors, []);
  assert.ok(!seen.statuses.some(([s]) => s === 429), 'rate limited');
  for (const log of [a.log(), b ? b.log() : '']) {
    for (const secret of [PASS, PKG_PW, LOCK]) assert.ok(!log.includes(secret), 'a password reached a log');
    assert.ok(!log.includes('bfprofile1'), 'a share package reached a log');
  }
  assert.ok(cosigner || !added, 'the co-signer ran');
});
