// Frostbox web UI: shell, hash routing and session state.
import {
  get, post, setUnauthorizedHandler, startEvents, stopEvents, onEventsState, events, normaliseStatus,
  currentKeyset, setKeyset, storedKeysetChoice, setUnknownKeysetHandler,
} from './api.js';
import { h, toast, npub } from './dom.js';
import * as setup from './views/setup.js';
import * as login from './views/login.js';
import * as dashboard from './views/dashboard.js';
import * as peers from './views/peers.js';
import * as tools from './views/tools.js';
import * as apps from './views/apps.js';
import * as log from './views/log.js';
import * as keys from './views/keys.js';
import * as settings from './views/settings.js';
import * as keysetsView from './views/keysets.js';

const ROUTES = {
  dashboard: { view: dashboard, title: 'Dashboard' },
  peers: { view: peers, title: 'Devices' },
  tools: { view: tools, title: 'Sign & encrypt' },
  apps: { view: apps, title: 'Apps' },
  log: { view: log, title: 'Event log' },
  keys: { view: keys, title: 'Keys & recovery' },
  settings: { view: settings, title: 'Settings' },
  // In the menu only when the box holds several keysets (a one-keyset box looks as before);
  // reachable from "Keys & recovery" to add the second one.
  keysets: { view: keysetsView, title: 'Keysets', multiOnly: true },
};
const PUBLIC = { setup: { view: setup, title: 'Set up' }, login: { view: login, title: 'Log in' } };

// A deep link opened while logged out (e.g. a NIP-46 app's auth_url `#/apps/<app>/<request>`,
// with `?keyset=<id>` for another keyset than the default): kept here (not in storage) and
// opened after the login instead of the dashboard.
let returnTo = null;
const RETURN_RE = /^[a-z]+(\/[0-9a-f]{1,64}){0,2}(\?keyset=[A-Za-z0-9_.%-]{1,64})?$/;

const STATE_WORDS = { ready: 'ready', running: 'running', locked: 'locked', starting: 'starting', absent: 'not set up' };
const shortNpub = (k) => {
  const np = k.npub || (k.groupPubkey ? npub(k.groupPubkey) : '');
  return np && np.startsWith('npub1') ? `${np.slice(0, 9)}…${np.slice(-4)}` : '';
};

export const ctx = {
  user: null,
  onboarding: null,
  status: null,
  /** Keysets of the box (`GET /api/keysets`); the selected one is `currentKeyset()`. */
  keysets: [],
  get keyset() { return currentKeyset(); },
  /** The list entry of keyset `id` (default: the selected one). */
  keysetInfo(id = currentKeyset()) { return ctx.keysets.find((k) => k.id === id) || null; },
  keysetName(id = currentKeyset()) { const k = ctx.keysetInfo(id); return k && k.label && k.label !== id ? `${k.label} (${id})` : id; },
  multi() { return ctx.keysets.length > 1; },
  async loadKeysets() {
    try {
      const r = await get('api/keysets');
      ctx.setKeysets(Array.isArray(r.keysets) ? r.keysets : []);
    } catch { /* an older server, or signed out: keep what we know */ }
    return ctx.keysets;
  },
  setKeysets(list) { ctx.keysets = list; drawKeysetUi(); },
  /** Works on keyset `id` from now on (remembered for the next visit unless `persist` is false). */
  async selectKeyset(id, persist = true) {
    clearNotice();
    setKeyset(id, persist);
    ctx.status = null;
    drawKeysetUi();
    await ctx.refreshStatus();
  },
  /** A message above the page that stays until dismissed or the keyset changes. */
  notice(text, kind = 'warn') { showNotice(text, kind); },
  /** The route to open after logging in (once), else `fallback`. */
  takeReturn(fallback) { const r = returnTo; returnTo = null; return r || fallback; },
  go(route) { if (location.hash === `#/${route}`) render(); else location.hash = `#/${route}`; },
  async refreshStatus() {
    try {
      const s = normaliseStatus(await get('api/status'));
      ctx.status = s;
      // Signed-in status answers carry the keyset list: the switcher stays current for free.
      if (s.keysets && ctx.user) ctx.setKeysets(s.keysets);
    } catch { /* shown by views */ }
    updateHeader();
    return ctx.status;
  },
  async loggedIn(user) {
    ctx.user = user || ctx.user || {};
    startEvents();
    buildNav();
    await ctx.loadKeysets();
    checkSelection();
    await ctx.refreshStatus();
  },
  async logout() {
    try { await post('api/auth/logout', {}); } catch { /* session may be gone already */ }
    ctx.user = null;
    stopEvents();
    events.log.length = 0;
    ctx.keysets = [];
    clearNotice();
    buildNav();
    drawKeysetUi();
    ctx.go('login');
  },
};

let cleanup = null;
const main = () => document.getElementById('main');

function buildNav() {
  const nav = document.getElementById('nav');
  nav.textContent = '';
  if (!ctx.user) return;
  const ul = h('ul');
  for (const [id, r] of Object.entries(ROUTES)) {
    if (r.multiOnly && !ctx.multi()) continue;
    ul.append(h('li', {}, h('a', { href: `#/${id}`, 'data-route': id }, r.title)));
  }
  ul.append(h('li', {}, h('button', { type: 'button', class: 'linklike', onclick: () => ctx.logout() }, 'Log out')));
  nav.append(ul);
  markNav();
}

function markNav() {
  const cur = currentRoute();
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.dataset.route === cur) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
}

function updateHeader() {
  const el = document.getElementById('hdr-status');
  if (!el) return;
  const s = ctx.status;
  el.textContent = '';
  if (!ctx.user || !s) return;
  let text = 'Not set up'; let kind = 'muted';
  if (s.locked) { text = 'Locked'; kind = 'warn'; } else if (s.ready) { text = 'Ready to sign'; kind = 'ok'; } else if (s.configured && !s.nodeKnown) { text = 'Signer not running'; kind = 'warn'; } else if (s.configured) { text = 'Waiting for devices'; kind = 'warn'; }
  el.append(h('span', { class: `badge ${kind}` }, h('span', { class: 'dot', 'aria-hidden': 'true' }), text));
}

function currentRoute() {
  const m = location.hash.match(/^#\/([a-z]+)/);
  return m ? m[1] : '';
}

// ---- keyset switcher and notices -------------------------------------------------------------
let noticeEl = null;
function showNotice(text, kind) {
  const box = document.getElementById('notice');
  if (!box) return;
  clearNotice();
  const close = h('button', { type: 'button', class: 'btn small secondary', onclick: clearNotice }, 'Dismiss');
  noticeEl = h('div', { class: `msg ${kind} notice`, role: kind === 'error' ? 'alert' : 'status', 'data-testid': 'keyset-notice' },
    h('span', {}, text), close);
  box.append(noticeEl);
}
function clearNotice() { if (noticeEl) { noticeEl.remove(); noticeEl = null; } }

/** The keyset to use when none (or a gone one) is chosen: `default` if the box has it, else the first. */
function fallbackKeyset() {
  if (!ctx.keysets.length || ctx.keysets.some((k) => k.id === 'default')) return 'default';
  return ctx.keysets[0].id;
}

/** After loading the list: a remembered keyset that is gone falls back, with a notice. */
function checkSelection() {
  const cur = currentKeyset();
  if (!ctx.keysets.length || ctx.keysets.some((k) => k.id === cur)) return;
  const stored = storedKeysetChoice();
  const to = fallbackKeyset();
  setKeyset(to, stored ? false : undefined);
  if (stored === cur || cur !== 'default') {
    showNotice(`The keyset "${cur}" you used last is no longer on this box. Now showing ${ctx.keysetName(to)}.`, 'warn');
  }
  drawKeysetUi();
}

let multiShown = false;
function drawKeysetUi() {
  const box = document.getElementById('hdr-keyset');
  if (!box) return;
  const multi = !!ctx.user && ctx.multi();
  if (multi !== multiShown) { multiShown = multi; buildNav(); }
  if (!multi) { box.textContent = ''; box.hidden = true; return; }
  box.hidden = false;
  let sel = box.querySelector('select');
  const ids = ctx.keysets.map((k) => k.id).join('\n');
  if (!sel || sel.dataset.ids !== ids) {
    box.textContent = '';
    sel = h('select', { id: 'ks-select', 'data-testid': 'keyset-switcher', 'aria-describedby': 'ks-help' });
    sel.dataset.ids = ids;
    for (const k of ctx.keysets) sel.append(h('option', { value: k.id }));
    sel.addEventListener('change', () => switchTo(sel.value));
    box.append(h('label', { for: 'ks-select' }, 'Keyset'), sel,
      h('span', { id: 'ks-help', class: 'offscreen' }, 'Every page works on the keyset chosen here.'));
  }
  [...sel.options].forEach((o, i) => {
    const k = ctx.keysets[i];
    const np = shortNpub(k);
    o.textContent = `${k.label || k.id}${np ? ` · ${np}` : ''} · ${STATE_WORDS[k.state] || k.state || '?'}`;
  });
  if (document.activeElement !== sel || sel.value !== currentKeyset()) sel.value = currentKeyset();
}

async function switchTo(id) {
  if (id === currentKeyset()) return;
  await ctx.selectKeyset(id, true);
  toast(`Now working on ${ctx.keysetName(id)}.`, 'ok');
  await render({ keepFocus: true });
}

/** `#/<path>?keyset=<id>`: select that keyset before the view loads (then drop the query). */
function applyLinkKeyset() {
  const i = location.hash.indexOf('?');
  if (i < 0) return;
  const params = new URLSearchParams(location.hash.slice(i + 1));
  history.replaceState(null, '', location.hash.slice(0, i));
  const id = params.get('keyset');
  if (id === null) return;
  if (ctx.keysets.some((k) => k.id === id) || (!ctx.keysets.length && id === 'default')) {
    if (id !== currentKeyset()) { clearNotice(); setKeyset(id, true); ctx.status = null; drawKeysetUi(); }
    return;
  }
  showNotice(`This link is for the keyset "${id.slice(0, 64)}", which this box does not have. Showing ${ctx.keysetName()} instead.`, 'error');
}

const PAGE_SCOPE = {
  peers: (n) => `Devices of keyset ${n}.`,
  tools: (n) => `Signs and encrypts as keyset ${n}.`,
  apps: (n) => `Apps of keyset ${n}.`,
  keys: (n) => `Backup and migration act on keyset ${n}; recovery works on any shares you paste.`,
  settings: (n) => `Signer mode and locking act on keyset ${n}; relays, API keys and rate limits apply to the whole box.`,
};

let renderGen = 0;
async function render(opts = {}) {
  const gen = ++renderGen;
  if (cleanup) { try { cleanup(); } catch { /* ignore */ } cleanup = null; }
  let route = currentRoute();
  if (!ctx.onboarding?.initialized && route !== 'setup') route = 'setup';
  else if (!ctx.user && route !== 'login' && route !== 'setup') {
    const want = location.hash.slice(2);
    if (ROUTES[route] && RETURN_RE.test(want)) returnTo = want;
    route = 'login';
  }
  else if (ctx.user && route === 'login') route = 'dashboard';
  const r = ROUTES[route] || PUBLIC[route] || ROUTES.dashboard;
  if (!ROUTES[route] && !PUBLIC[route]) route = 'dashboard';
  if (ctx.user && ROUTES[route]) {
    const before = currentKeyset();
    applyLinkKeyset();
    if (currentKeyset() !== before) await ctx.refreshStatus();
    if (gen !== renderGen) return;
  }
  if (currentRoute() !== route) history.replaceState(null, '', `#/${route}`);
  document.title = `${r.title} · Frostbox`;
  markNav();
  const root = main();
  root.textContent = '';
  // Each render draws into its own container: a slow view that finishes after the user moved on
  // (or switched keysets) draws into a detached element and is cleaned up at once.
  const view = h('div', { class: 'view' });
  root.append(view);
  let done = null;
  try {
    done = (await r.view.render(view, ctx)) || null;
  } catch (e) {
    view.append(h('div', { class: 'msg error', role: 'alert' }, `This page failed to load: ${e.message}`));
  }
  if (gen !== renderGen) { if (done) { try { done(); } catch { /* ignore */ } } return; }
  cleanup = done;
  // With several keysets, pages that act on one say which (the dashboard says it in its cards).
  if (ctx.user && ctx.multi() && PAGE_SCOPE[route]) {
    view.querySelector('h1')?.after(h('p', { class: 'help page-keyset', 'data-testid': 'page-keyset' }, PAGE_SCOPE[route](ctx.keysetName())));
  }
  const hd = view.querySelector('h1');
  if (hd) { hd.setAttribute('tabindex', '-1'); if (!opts.keepFocus) hd.focus({ preventScroll: true }); }
}

async function boot() {
  // The selected keyset vanished (deleted in another tab): fall back and say so.
  let refalling = false;
  setUnknownKeysetHandler(async (id) => {
    if (refalling || !ctx.user) return;
    refalling = true;
    try {
      await ctx.loadKeysets();
      if (currentKeyset() !== id) return;
      if (!ctx.keysets.some((k) => k.id === id)) {
        setKeyset(fallbackKeyset(), false);
        showNotice(`The keyset "${id}" is no longer on this box. Now showing ${ctx.keysetName()}.`, 'warn');
        drawKeysetUi();
        await ctx.refreshStatus();
        await render();
      }
    } finally { refalling = false; }
  });
  setUnauthorizedHandler(() => {
    if (!ctx.user) return;
    ctx.user = null; stopEvents(); buildNav(); drawKeysetUi();
    toast('Your session ended. Please log in again.', 'error');
    ctx.go('login');
  });
  onEventsState((s) => {
    const el = document.getElementById('hdr-live');
    if (el) el.textContent = ctx.user ? (s === 'open' ? 'Live updates on' : s === 'connecting' ? 'Connecting…' : 'Live updates off') : '';
  });
  try {
    ctx.onboarding = await get('api/onboarding/status');
  } catch (e) {
    ctx.onboarding = { initialized: true };
  }
  if (ctx.onboarding.initialized) {
    try {
      // Any authenticated GET tells whether the HttpOnly session cookie is still good.
      const me = await get('api/admin/whoami', { allow401: true });
      await ctx.loggedIn({ id: me.userId });
    } catch { ctx.user = null; }
  }
  window.addEventListener('hashchange', () => render());
  document.addEventListener('visibilitychange', () => { if (!document.hidden && ctx.user) ctx.refreshStatus(); });
  await render();
}

boot();
