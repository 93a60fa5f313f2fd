// Test harness: starts the real `frostbox serve` on a free loopback port with a temporary data
// directory, and launches Debian's Chromium through playwright-core with a fresh profile.
// FROSTBOX_UI_URL=http://127.0.0.1:PORT runs the tests against an instance that is already up.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repo = path.resolve(here, '..', '..');
export const shotsDir = path.join(repo, 'target', 'ui-shots');
export const ADMIN_SECRET = 'ui-test-admin-secret-7f3a9c';

// FROSTBOX_UI_WEB=<dir> (development only): the page, scripts and styles come from that web/
// directory instead of the ones embedded in the binary, so a UI change can be tried without
// rebuilding it. The server's own headers (CSP and the rest) are kept. CI never sets it.
const webDir = process.env.FROSTBOX_UI_WEB ? path.resolve(process.env.FROSTBOX_UI_WEB) : null;

export function sharedDir() {
  return process.env.FROSTBOX_SHARED || path.resolve(repo, '..', 'shared');
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

async function waitHttp(url, ms, proc) {
  const end = Date.now() + ms;
  let last = null;
  while (Date.now() < end) {
    if (proc && proc.exitCode !== null) throw new Error(`frostbox exited with ${proc.exitCode}`);
    try { const r = await fetch(url); if (r.status < 500) return r; last = r.status; } catch (e) { last = e.message; }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer in ${ms} ms (last: ${last})`);
}

/** The frostbox binary under test (CI: step 20's, see ci/lib.sh test_profile_bin). */
export const frostboxBin = process.env.FROSTBOX_BIN || path.join(repo, 'target', 'debug', 'frostbox');

/** A fresh `threshold`-of-`count` group from `frostbox keygen`; its shares (bfprofile, sealed
 * with `password`) name `relay`. Returns { npub, pk (x-only hex), shares }. */
export function keygen({ name, relay, password, threshold = 2, count = 2 }) {
  const out = execFileSync(frostboxBin, ['keygen', '-t', String(threshold), '-n', String(count), '--profile', '--json', '--name', name, '--relay', relay], {
    env: { PATH: process.env.PATH, FROSTBOX_PASSWORD: password }, encoding: 'utf8',
  });
  const j = JSON.parse(out);
  if (j.shares.length !== count) throw new Error(`keygen made ${j.shares.length} shares, not ${count}`);
  return { npub: j.group_npub, pk: j.group_package.group_pk, shares: j.shares.map((s) => s.bfprofile) };
}

/** Starts frostbox serve; returns { url, log(), stop() }. */
export async function startServer(extraEnv = {}) {
  if (process.env.FROSTBOX_UI_URL) {
    return { url: process.env.FROSTBOX_UI_URL.replace(/\/$/, ''), log: () => '', stop: async () => {}, external: true };
  }
  const bin = frostboxBin;
  if (!fs.existsSync(bin)) throw new Error(`no frostbox binary at ${bin}: run cargo build first`);
  const data = fs.mkdtempSync(path.join(os.tmpdir(), 'frostbox-ui-'));
  const port = await freePort();
  let out = '';
  let proc = null;
  const url = `http://127.0.0.1:${port}`;
  const launch = async () => {
    proc = spawn(bin, ['serve', '--data', data], {
      env: {
        PATH: process.env.PATH, HOME: data, RUST_LOG: process.env.RUST_LOG || 'info',
        HOST_NAME: '127.0.0.1', HOST_PORT: String(port), FROSTBOX_DATA: data,
        ADMIN_SECRET, RELAYS: `ws://127.0.0.1:${port}`, ...extraEnv,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    proc.stdout.on('data', (d) => { out += d; });
    proc.stderr.on('data', (d) => { out += d; });
    try {
      await waitHttp(`${url}/health`, 15000, proc);
    } catch (e) {
      proc.kill('SIGKILL');
      throw new Error(`${e.message}\n--- frostbox log ---\n${out}`);
    }
  };
  const halt = async () => {
    if (proc && proc.exitCode === null) {
      const p = proc;
      p.kill('SIGTERM');
      await new Promise((r) => { const t = setTimeout(() => { p.kill('SIGKILL'); r(); }, 5000); p.on('exit', () => { clearTimeout(t); r(); }); });
    }
  };
  await launch();
  return {
    url, data, port,
    log: () => out,
    /** Stops and starts the same instance (same data directory and port). */
    async restart() { await halt(); await launch(); },
    async stop() {
      await halt();
      fs.rmSync(data, { recursive: true, force: true });
    },
  };
}

/** A fresh Chromium profile (persistent context on a new temp --user-data-dir). */
export async function launchBrowser(options = {}) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'frostbox-ui-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      // A page fulfilled from disk (FROSTBOX_UI_WEB) has no address space: let it reach loopback.
      ...(webDir ? ['--disable-features=LocalNetworkAccessChecks'] : [])],
    viewport: { width: 1100, height: 900 },
    ...options,
  });
  const close = context.close.bind(context);
  context.close = async () => { await close(); fs.rmSync(profile, { recursive: true, force: true }); };
  return context;
}

const TYPES = { '.js': 'text/javascript', '.css': 'text/css', '.html': 'text/html; charset=utf-8', '.svg': 'image/svg+xml' };
async function fromDisk(route, url) {
  const u = new URL(url);
  let rel = null;
  if (u.pathname === '/' || u.pathname === '/index.html') rel = 'index.html';
  else if (u.pathname.startsWith('/assets/')) {
    const parts = u.pathname.slice('/assets/'.length).split('/');
    if (parts.length > 1 && /^[0-9a-f]{12}$/.test(parts[0])) parts.shift();
    rel = path.join('assets', ...parts);
  }
  if (!rel || route.request().method() !== 'GET' || route.request().resourceType() === 'websocket') return false;
  const file = path.resolve(webDir, rel);
  if (!file.startsWith(webDir + path.sep) || !fs.existsSync(file)) return false;
  const real = await route.fetch();
  const headers = { ...real.headers() };
  for (const k of ['content-encoding', 'content-length', 'etag', 'vary']) delete headers[k];
  headers['content-type'] = TYPES[path.extname(file)] || 'application/octet-stream';
  headers['cache-control'] = 'no-store';
  await route.fulfill({ status: 200, headers, body: fs.readFileSync(file) });
  return true;
}

/**
 * A page that records every request and fails on any request that leaves the Frostbox origin,
 * on page errors and console errors.
 */
export async function watchedPage(context, origin) {
  const page = await context.newPage();
  const seen = { requests: [], foreign: [], errors: [], statuses: [] };
  await page.route('**/*', async (route) => {
    const u = route.request().url();
    seen.requests.push(u);
    const ok = u.startsWith(`${origin}/`) || u === origin || u.startsWith('data:') || u.startsWith('blob:');
    if (!ok) { seen.foreign.push(u); return route.abort(); }
    if (webDir && u.startsWith(`${origin}/`) && await fromDisk(route, u)) return undefined;
    return route.continue();
  });
  page.on('websocket', (ws) => { seen.requests.push(ws.url()); if (!ws.url().startsWith(origin.replace(/^http/, 'ws'))) seen.foreign.push(ws.url()); });
  page.on('response', (r) => seen.statuses.push([r.status(), r.url()]));
  page.on('pageerror', (e) => seen.errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) seen.errors.push(`console: ${m.text()}`); });
  return { page, seen };
}

/** A call to `srv`'s API as the operator (the admin secret as bearer token), as scripts and the
 * other boxes in a test use it. */
export function adminApi(srv, method, p, body) {
  return fetch(`${srv.url}/${p.replace(/^\//, '')}`, {
    method, headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_SECRET}` },
    body: body ? JSON.stringify(body) : undefined,
  });
}

// First run through the UI: the admin secret as setup code, then the admin account.
export async function createAdmin(page, url, password) {
  await page.goto(`${url}/`);
  await page.getByLabel('Setup code or admin secret').fill(ADMIN_SECRET);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByLabel('Username').fill('admin');
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByLabel('Repeat password').fill(password);
  await page.getByRole('button', { name: 'Create account' }).click();
}

export async function shot(page, name) {
  fs.mkdirSync(shotsDir, { recursive: true });
  await page.screenshot({ path: path.join(shotsDir, `${name}.png`), fullPage: true });
}

/** True when `path` exists on the server (not 404/405/501); used to skip tests that need
 * routes another part of Frostbox has not shipped yet. */
export async function hasRoute(url, method, p, body) {
  try {
    const r = await fetch(`${url}/${p.replace(/^\//, '')}`, { method, headers: { 'content-type': 'application/json' }, body: body ? JSON.stringify(body) : undefined });
    return ![404, 405, 501].includes(r.status);
  } catch { return false; }
}
