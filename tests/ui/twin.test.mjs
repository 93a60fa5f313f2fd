// The same share loaded in two signers (FROSTR's most common support problem), seen from the
// dashboard: a 2-of-3 group from `frostbox keygen`, share 1 in a "twin" Frostbox and then also
// in the box under test, share 2 in a peer Frostbox. The peer first holds the twin's nonces for
// share 1's key, so its sign requests name nonces the box never made: the box's dashboard must
// raise its duplicate-share alert, and stays free of it before that happens.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, watchedPage, shot, createAdmin, adminApi as admin, keygen } from './harness.mjs';
import { verifySchnorr } from './schnorr.mjs';

const PASS = 'Correct-Horse-42-battery';
const PKG_PW = 'twin-package-pw-3307';
const ALERT = /Another signer seems to be running with this same share/;
let box; let twin; let peer; let context; let page; let seen; let g;

const importShare = async (srv, share) => {
  const r = await admin(srv, 'POST', 'api/keyset', { share_cred: share, share_password: PKG_PW, mode: 'unattended' });
  const body = await r.text();
  assert.equal(r.status, 200, body);
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

before(async () => {
  // The box's relay carries everyone's traffic, also before the box serves this keyset.
  box = await startServer({ RELAY_OPEN: 'true' });
  if (box.external) return;
  const relay = `ws://127.0.0.1:${box.port}`;
  g = keygen({ name: 'twin', relay, password: PKG_PW, threshold: 2, count: 3 });
  twin = await startServer({ RELAYS: relay });
  peer = await startServer({ RELAYS: relay });
  context = await launchBrowser();
  ({ page, seen } = await watchedPage(context, box.url));
  page.setDefaultTimeout(15000);
});
after(async () => {
  await context?.close();
  await peer?.stop();
  await twin?.stop();
  await box?.stop();
});

test('a second signer with the same share raises the dashboard alert', async (t) => {
  if (box.external) { t.skip('needs servers this test starts'); return; }
  await importShare(twin, g.shares[0]);
  await importShare(peer, g.shares[1]);
  // The peer signs with the twin (share 3 never comes online): from now on it holds the twin's
  // nonces for share 1's key.
  let first = null;
  for (let i = 0; i < 100 && first?.status !== 200; i++) {
    if (i) await sleep(200);
    const r = await admin(peer, 'POST', 'api/sign', { message: 'a1'.repeat(32) });
    first = { status: r.status, body: await r.text() };
  }
  assert.equal(first.status, 200, `peer + twin never signed: ${first.body}`);
  const sig = JSON.parse(first.body).signature;
  assert.ok(verifySchnorr(sig, 'a1'.repeat(32), g.pk), 'the twin round verifies under BIP-340');

  await createAdmin(page, box.url, PASS);
  await page.getByRole('button', { name: /Import a share/ }).waitFor();
  await importShare(box, g.shares[0]);
  await page.goto(`${box.url}/#/dashboard`);
  await page.getByRole('region', { name: 'Signer' }).waitFor();
  assert.equal(await page.getByRole('alert').filter({ hasText: ALERT }).count(), 0, 'no alert before any foreign nonce');

  // Each request from the peer goes to share 1's key, so both the twin and the box get it; the
  // box refuses the twin's nonces and says why.
  let alerted = false;
  for (let k = 0; k < 15 && !alerted; k++) {
    await admin(peer, 'POST', 'api/sign', { message: (k + 16).toString(16).padStart(2, '0').repeat(32) });
    const st = await (await admin(box, 'GET', 'api/status')).json();
    if (st.node?.duplicateShare) alerted = true;
    else await sleep(300);
  }
  assert.ok(alerted, 'the box never reported the twin');
  await page.reload();
  const alert = page.getByRole('alert').filter({ hasText: ALERT });
  await alert.waitFor();
  assert.match(await alert.innerText(), /[1-9]\d* nonce\(s\) it never made/);
  assert.match(await alert.innerText(), /Run each share in exactly one signer/);
  await shot(page, '40-dashboard-duplicate-share');
  assert.deepEqual(seen.foreign, []);
  assert.deepEqual(seen.errors, []);
});
