// The page's security headers, caching and compression, and that it never talks to another host.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startServer, launchBrowser, watchedPage, shot } from './harness.mjs';

let srv; let context;
before(async () => { srv = await startServer(); context = await launchBrowser(); });
after(async () => { await context?.close(); await srv?.stop(); });

test('GET / serves the UI with a strict CSP and hardening headers', async () => {
  const r = await fetch(`${srv.url}/`, { headers: { 'accept-encoding': 'gzip' } });
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^text\/html/);
  const csp = r.headers.get('content-security-policy') || '';
  for (const d of ["default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:",
    "connect-src 'self' ws: wss:", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'"]) {
    assert.ok(csp.includes(d), `CSP lacks ${d}: ${csp}`);
  }
  assert.ok(!csp.includes('unsafe-inline') && !csp.includes('unsafe-eval'), csp);
  assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(r.headers.get('x-frame-options'), 'DENY');
  assert.equal(r.headers.get('cache-control'), 'no-cache');
  const html = await r.text();
  const assets = [...html.matchAll(/"(assets\/[0-9a-f]{12}\/[^"]+)"/g)].map((m) => m[1]);
  assert.ok(assets.length >= 2, html);
  for (const a of assets) {
    const ar = await fetch(`${srv.url}/${a}`, { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(ar.status, 200, a);
    assert.equal(ar.headers.get('cache-control'), 'public, max-age=31536000, immutable', a);
    await ar.arrayBuffer();
  }
});

test('the relay keeps GET / for NIP-11 and WebSocket; the UI gets plain GET /', async () => {
  const info = await fetch(`${srv.url}/`, { headers: { accept: 'application/nostr+json' } });
  assert.match(info.headers.get('content-type') || '', /json/);
  assert.ok(!(await info.text()).includes('<title>Frostbox</title>'));
  const u = new URL(srv.url);
  const reply = await new Promise((resolve, reject) => {
    const sock = net.connect(Number(u.port), u.hostname, () => sock.write('GET / HTTP/1.1\r\nHost: ' + u.host + '\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n'));
    let buf = '';
    sock.on('data', (d) => { buf += d; if (buf.includes('\r\n\r\n')) { sock.destroy(); resolve(buf); } });
    sock.on('error', reject);
    setTimeout(() => { sock.destroy(); resolve(buf); }, 3000);
  });
  assert.match(reply, /^HTTP\/1\.1 101/, reply);
  const head = await fetch(`${srv.url}/nonexistent-page`);
  assert.equal(head.status, 404);
});

test('the page loads only from its own origin, with no script errors', async () => {
  const { page, seen } = await watchedPage(context, srv.url);
  await page.goto(`${srv.url}/`);
  await page.locator('h1').first().waitFor();
  await page.waitForLoadState('networkidle');
  const cspViolations = await page.evaluate(() => new Promise((resolve) => {
    const v = []; document.addEventListener('securitypolicyviolation', (e) => v.push(e.violatedDirective));
    setTimeout(() => resolve(v), 300);
  }));
  assert.deepEqual(cspViolations, []);
  assert.ok(seen.requests.length >= 3, `requests: ${seen.requests}`);
  assert.deepEqual(seen.foreign, []);
  assert.deepEqual(seen.errors, []);
  await page.close();
});

test('usable on a phone-sized screen', async () => {
  const { page, seen } = await watchedPage(context, srv.url);
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${srv.url}/`);
  await page.locator('h1').first().waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `page is ${overflow}px wider than the phone screen`);
  await shot(page, '00-phone-first-screen');
  // The page moves focus to its heading; the skip link is the first focusable element, and Tab
  // from the heading reaches a control with a visible focus outline.
  assert.equal(await page.evaluate(() => document.activeElement.tagName), 'H1');
  const first = await page.evaluate(() => document.querySelector('a[href], button, input, select, textarea').textContent);
  assert.equal(first, 'Skip to content');
  await page.keyboard.press('Tab');
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  assert.notEqual(outline, 'none');
  assert.deepEqual(seen.errors, []);
  await page.close();
});
