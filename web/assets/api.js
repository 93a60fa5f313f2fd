// Talks to the Frostbox API on the same origin. The session lives in an HttpOnly cookie set by
// the server; nothing secret is kept in JavaScript storage.

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
  get missing() { return this.status === 404 || this.status === 405 || this.status === 501; }
}

const base = new URL('.', document.baseURI);
export const apiUrl = (path) => new URL(path.replace(/^\//, ''), base).toString();

let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

// ---- keyset selector ------------------------------------------------------------------------
// A box may hold several keysets (identities). The one this tab works on is sent with every
// API call as `X-Frostbox-Keyset` (here, once, not per call). Its id, not a secret, is kept in
// localStorage only once the user picks one explicitly; one-keyset boxes store nothing.
const KEYSET_KEY = 'frostbox.keyset';
export const KEYSET_ID = /^[a-z0-9][a-z0-9_-]{0,31}$/;
function storedKeyset() {
  try { const v = localStorage.getItem(KEYSET_KEY); return v && KEYSET_ID.test(v) ? v : null; } catch { return null; }
}
let keyset = storedKeyset() || 'default';
let onUnknownKeyset = () => {};
export const currentKeyset = () => keyset;
export const storedKeysetChoice = storedKeyset;
/** Selects keyset `id` for every later call; `persist` remembers it for the next visit. */
export function setKeyset(id, persist) {
  keyset = id;
  try {
    if (persist) localStorage.setItem(KEYSET_KEY, id);
    else if (persist === false) localStorage.removeItem(KEYSET_KEY);
  } catch { /* storage disabled: the choice lasts for this tab */ }
}
export function setUnknownKeysetHandler(fn) { onUnknownKeyset = fn; }

export async function api(method, path, body, opts = {}) {
  const headers = { Accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (opts.bearer) headers.Authorization = `Bearer ${opts.bearer}`;
  // `opts.keyset` acts on another keyset than the selected one (e.g. unlock from the list).
  const ks = opts.keyset || keyset;
  if (ks) headers['X-Frostbox-Keyset'] = ks;
  let res;
  try {
    res = await fetch(apiUrl(path), init);
  } catch (e) {
    throw new ApiError(0, 'Cannot reach the Frostbox server. Is it running?', null);
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = { error: text.slice(0, 300) }; }
  }
  if (!res.ok) {
    const msg = (data && (data.message || data.error || data.code)) || `${res.status} ${res.statusText}`;
    const err = new ApiError(res.status, typeof msg === 'string' ? msg : JSON.stringify(msg), data);
    if (res.status === 401 && !opts.allow401) onUnauthorized(err);
    // The selected keyset was deleted (here or in another tab): the shell falls back.
    if (res.status === 404 && data && data.code === 'UNKNOWN_KEYSET' && !opts.keyset && ks === keyset) onUnknownKeyset(ks);
    if (res.status === 429) {
      const after = res.headers.get('Retry-After');
      err.message = `Too many requests${after ? `; try again in ${after} s` : ''}.`;
    }
    throw err;
  }
  return data ?? {};
}

export const get = (p, o) => api('GET', p, undefined, o);
export const post = (p, b, o) => api('POST', p, b ?? {}, o);
export const put = (p, b, o) => api('PUT', p, b ?? {}, o);
export const del = (p, b, o) => api('DELETE', p, b, o);

// ---- live event stream (/api/events) -------------------------------------------------------
// One WebSocket per tab, reconnecting with capped exponential backoff; listeners get every
// parsed frame. The last 500 frames are kept in memory (never in browser storage). Frames of a
// keyset (node activity, NIP-46 notices) name it in `data.keyset`; views show the selected
// keyset's with `forSelectedKeyset`. (The socket does not use `?keyset=`: a keyset deleted
// elsewhere would make every reconnect a 404 until the shell falls back.)
const listeners = new Set();
const stateListeners = new Set();
export const events = { log: [], state: 'closed' };
let ws = null; let retry = 0; let timer = null; let wanted = false;

function setState(s) { events.state = s; for (const f of stateListeners) f(s); }

function connect() {
  if (!wanted || ws) return;
  const u = new URL(apiUrl('api/events'));
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  setState('connecting');
  try { ws = new WebSocket(u.toString()); } catch { ws = null; schedule(); return; }
  ws.onopen = () => { retry = 0; setState('open'); };
  ws.onmessage = (m) => {
    let ev;
    try { ev = JSON.parse(m.data); } catch { ev = { type: 'info', message: String(m.data) }; }
    if (!ev || typeof ev !== 'object') return;
    ev.received = Date.now();
    events.log.push(ev);
    if (events.log.length > 500) events.log.splice(0, events.log.length - 500);
    for (const f of listeners) f(ev);
  };
  ws.onclose = () => { ws = null; setState('closed'); schedule(); };
  ws.onerror = () => { /* onclose follows */ };
}
function schedule() {
  if (!wanted || timer) return;
  const delay = Math.min(30000, 1000 * 2 ** Math.min(retry++, 5));
  timer = setTimeout(() => { timer = null; connect(); }, delay);
}
export function startEvents() { wanted = true; connect(); }
export function stopEvents() {
  wanted = false;
  if (timer) { clearTimeout(timer); timer = null; }
  if (ws) { ws.onclose = null; ws.close(); ws = null; }
  setState('closed');
}
export function onEvent(fn) { listeners.add(fn); return () => listeners.delete(fn); }
/** Whether event `ev` belongs to the selected keyset (or to the whole box). */
export const forSelectedKeyset = (ev) => !ev || !ev.data || typeof ev.data.keyset !== 'string' || ev.data.keyset === keyset;
export function onEventsState(fn) { stateListeners.add(fn); return () => stateListeners.delete(fn); }

// ---- status normalisation ------------------------------------------------------------------
// Frostbox's /api/status keeps igloo-server's fields and adds node detail; read both.
export function normaliseStatus(s) {
  s = s || {};
  const node = s.node || {};
  const pick = (...v) => v.find((x) => x !== undefined && x !== null) ?? null;
  const relaysRaw = pick(s.relay_status, s.relayStatus, node.relays, s.relays, []);
  const relays = (Array.isArray(relaysRaw) ? relaysRaw : []).map((r) => (typeof r === 'string'
    ? { url: r, connected: null }
    : { url: r.url, connected: pick(r.connected, r.isConnected, null), rtt: pick(r.rtt_ms, r.rtt, r.latency, null), error: pick(r.last_error, r.error, null) }));
  const vault = s.vault || {};
  // `vault` describes the default keyset; another selected keyset is described by its entry
  // in `keysets` (state locked/running/ready, mode).
  const keysets = Array.isArray(s.keysets) ? s.keysets : null;
  const entry = keysets && s.keyset ? keysets.find((k) => k.id === s.keyset) : null;
  const own = entry && s.keyset !== 'default' ? entry : null;
  return {
    raw: s,
    keyset: pick(s.keyset, null),
    keysets,
    configured: own ? own.state !== 'absent' : !!pick(vault.has_keyset, s.configured, s.hasCredentials, node.configured, false),
    locked: own ? own.state === 'locked' : !!pick(vault.locked, s.locked, node.locked, false),
    ready: !!pick(node.ready, s.ready, s.nodeActive, false),
    thresholdReachable: pick(s.thresholdReachable, s.threshold_reachable, node.threshold_reachable, null),
    running: !!pick(s.nodeActive, node.running, false),
    nodeKnown: !!s.node,
    legacy: !!pick(node.legacy, s.legacy, false),
    // {peer, codes, lastAt}: peers asked to sign with nonces this signer never made.
    duplicateShare: pick(node.duplicateShare, null),
    mode: own ? own.mode : pick(vault.mode, s.mode, null),
    threshold: pick(node.threshold, s.threshold, null),
    total: pick(node.total, null),
    peersOnline: pick(node.peersOnline, node.peers_online, null),
    peersTotal: pick(node.peerCount, node.peers_total, null),
    groupPubkey: pick(node.groupPubkey, node.group_pk, s.group_pk, own && own.groupPubkey, null),
    version: pick(s.version, null),
    relays,
  };
}
