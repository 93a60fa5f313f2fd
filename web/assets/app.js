// Frostbox web UI: shell, hash routing and session state.
import { get, post, setUnauthorizedHandler, startEvents, stopEvents, onEventsState, events, normaliseStatus } from './api.js';
import { h, toast } from './dom.js';
import * as setup from './views/setup.js';
import * as login from './views/login.js';
import * as dashboard from './views/dashboard.js';
import * as peers from './views/peers.js';
import * as tools from './views/tools.js';
import * as apps from './views/apps.js';
import * as log from './views/log.js';
import * as keys from './views/keys.js';
import * as settings from './views/settings.js';

const ROUTES = {
  dashboard: { view: dashboard, title: 'Dashboard' },
  peers: { view: peers, title: 'Devices' },
  tools: { view: tools, title: 'Sign & encrypt' },
  apps: { view: apps, title: 'Apps' },
  log: { view: log, title: 'Event log' },
  keys: { view: keys, title: 'Keys & recovery' },
  settings: { view: settings, title: 'Settings' },
};
const PUBLIC = { setup: { view: setup, title: 'Set up' }, login: { view: login, title: 'Log in' } };

// A deep link opened while logged out (e.g. a NIP-46 app's auth_url `#/apps/<app>/<request>`):
// kept here (not in storage) and opened after the login instead of the dashboard.
let returnTo = null;

export const ctx = {
  user: null,
  onboarding: null,
  status: null,
  /** The route to open after logging in (once), else `fallback`. */
  takeReturn(fallback) { const r = returnTo; returnTo = null; return r || fallback; },
  go(route) { if (location.hash === `#/${route}`) render(); else location.hash = `#/${route}`; },
  async refreshStatus() {
    try { ctx.status = normaliseStatus(await get('api/status')); } catch { /* shown by views */ }
    updateHeader();
    return ctx.status;
  },
  async loggedIn(user) {
    ctx.user = user || ctx.user || {};
    startEvents();
    buildNav();
    await ctx.refreshStatus();
  },
  async logout() {
    try { await post('api/auth/logout', {}); } catch { /* session may be gone already */ }
    ctx.user = null;
    stopEvents();
    events.log.length = 0;
    buildNav();
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

async function render() {
  if (cleanup) { try { cleanup(); } catch { /* ignore */ } cleanup = null; }
  let route = currentRoute();
  if (!ctx.onboarding?.initialized && route !== 'setup') route = 'setup';
  else if (!ctx.user && route !== 'login' && route !== 'setup') {
    const want = location.hash.slice(2);
    if (ROUTES[route] && /^[a-z]+(\/[0-9a-f]{1,64}){0,2}$/.test(want)) returnTo = want;
    route = 'login';
  }
  else if (ctx.user && route === 'login') route = 'dashboard';
  const r = ROUTES[route] || PUBLIC[route] || ROUTES.dashboard;
  if (!ROUTES[route] && !PUBLIC[route]) route = 'dashboard';
  if (currentRoute() !== route) history.replaceState(null, '', `#/${route}`);
  document.title = `${r.title} · Frostbox`;
  markNav();
  const root = main();
  root.textContent = '';
  try {
    cleanup = (await r.view.render(root, ctx)) || null;
  } catch (e) {
    root.append(h('div', { class: 'msg error', role: 'alert' }, `This page failed to load: ${e.message}`));
  }
  const hd = root.querySelector('h1');
  if (hd) { hd.setAttribute('tabindex', '-1'); hd.focus({ preventScroll: true }); }
}

async function boot() {
  setUnauthorizedHandler(() => {
    if (!ctx.user) return;
    ctx.user = null; stopEvents(); buildNav();
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
  window.addEventListener('hashchange', render);
  document.addEventListener('visibilitychange', () => { if (!document.hidden && ctx.user) ctx.refreshStatus(); });
  await render();
}

boot();
