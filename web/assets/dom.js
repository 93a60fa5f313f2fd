// Small DOM helpers: element builder (text only, never HTML strings), toasts, copy, download,
// formatting and bech32 for npub.
import { qrSvg } from './qr.js';

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

let uid = 0;
export const nextId = (p = 'f') => `${p}${++uid}`;

/** A labelled form field. `input` may be an element or attributes for an <input>. */
export function field(label, input, help) {
  const el = input instanceof Node ? input : h('input', input);
  if (!el.id) el.id = nextId();
  const parts = [h('label', { for: el.id }, label), el];
  if (help) {
    const hid = nextId('help');
    el.setAttribute('aria-describedby', hid);
    parts.push(h('p', { class: 'help', id: hid }, help));
  }
  return h('div', { class: 'field' }, parts);
}

export function toast(msg, kind = 'info') {
  const box = document.getElementById('toast');
  if (!box) return;
  const t = h('div', { class: `toast ${kind}` }, msg);
  box.append(t);
  setTimeout(() => t.remove(), kind === 'error' ? 8000 : 4000);
}

/** An inline message area for a form: role=alert for errors so screen readers announce it. */
export function msgBox() {
  const el = h('div', { class: 'msg', 'aria-live': 'polite' });
  el.show = (text, kind = 'error') => {
    el.textContent = '';
    if (!text) { el.className = 'msg'; el.removeAttribute('role'); return; }
    el.className = `msg ${kind}`;
    if (kind === 'error') el.setAttribute('role', 'alert'); else el.removeAttribute('role');
    el.textContent = text;
  };
  el.clear = () => el.show('');
  return el;
}

export async function copy(text, what = 'Text') {
  try {
    await navigator.clipboard.writeText(text);
    toast(`${what} copied to the clipboard.`, 'ok');
  } catch {
    // Fallback for plain-http LAN origins without clipboard permission.
    const ta = h('textarea', { class: 'offscreen', readonly: true }, text);
    document.body.append(ta); ta.select();
    let ok = false;
    try { ok = document.execCommand('copy'); } catch { ok = false; }
    ta.remove();
    toast(ok ? `${what} copied to the clipboard.` : 'Copy failed: select the text and copy it by hand.', ok ? 'ok' : 'error');
  }
}

export function download(filename, text, type = 'text/plain') {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h('a', { href: url, download: filename, class: 'offscreen' }, filename);
  document.body.append(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export function copyButton(getText, what, label = 'Copy') {
  return h('button', { type: 'button', class: 'btn small', onclick: () => copy(typeof getText === 'function' ? getText() : getText, what) }, label);
}

/** A "Show QR" toggle that renders the QR code on demand and removes it when hidden. */
export function qrToggle(getText, label) {
  const holder = h('div', { class: 'qr-holder' });
  const btn = h('button', { type: 'button', class: 'btn small', 'aria-expanded': 'false' }, 'Show QR');
  btn.addEventListener('click', () => {
    if (holder.firstChild) { holder.textContent = ''; btn.textContent = 'Show QR'; btn.setAttribute('aria-expanded', 'false'); return; }
    try {
      holder.append(qrSvg(typeof getText === 'function' ? getText() : getText, label));
      btn.textContent = 'Hide QR'; btn.setAttribute('aria-expanded', 'true');
    } catch (e) { toast(e.message, 'error'); }
  });
  return { button: btn, holder };
}

export function ago(t) {
  if (t === undefined || t === null || t === '') return 'never';
  let ms = typeof t === 'number' ? (t < 1e12 ? t * 1000 : t) : Date.parse(t);
  if (!Number.isFinite(ms)) return String(t);
  const s = Math.round((Date.now() - ms) / 1000);
  if (s < 5) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(ms).toLocaleString();
}

export const short = (hex, n = 8) => (hex && hex.length > 2 * n + 1 ? `${hex.slice(0, n)}…${hex.slice(-n)}` : hex || '');

/** Status badge: the text always says the state; colour is only a second cue. */
export function badge(text, kind) {
  return h('span', { class: `badge ${kind}` }, h('span', { class: 'dot', 'aria-hidden': 'true' }), text);
}

export function errorText(e) {
  if (e && e.missing) return 'This Frostbox version does not offer this yet.';
  if (e && e.status === 503 && /^signer not ready/.test(e.message)) return `The signer cannot sign yet: not enough of your other devices are online (${e.message}).`;
  if (e && e.status === 503) return `The signer is not running, so this is not available now (${e.message}).`;
  return (e && e.message) || String(e);
}

// ---- bech32 (BIP-173) for npub display ------------------------------------------------------
const CHARSET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
function polymod(values) {
  const G = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
  let chk = 1;
  for (const v of values) {
    const b = chk >>> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (let i = 0; i < 5; i++) if ((b >>> i) & 1) chk ^= G[i];
  }
  return chk;
}
export function bech32Encode(hrp, bytes) {
  const data = [];
  let acc = 0; let bits = 0;
  for (const b of bytes) {
    acc = (acc << 8) | b; bits += 8;
    while (bits >= 5) { bits -= 5; data.push((acc >>> bits) & 31); }
  }
  if (bits) data.push((acc << (5 - bits)) & 31);
  const hrpExp = [...hrp].map((c) => c.charCodeAt(0) >>> 5).concat([0], [...hrp].map((c) => c.charCodeAt(0) & 31));
  const pm = polymod(hrpExp.concat(data, [0, 0, 0, 0, 0, 0])) ^ 1;
  const chk = []; for (let i = 0; i < 6; i++) chk.push((pm >>> (5 * (5 - i))) & 31);
  return `${hrp}1${data.concat(chk).map((d) => CHARSET[d]).join('')}`;
}
export function npub(hex) {
  if (!hex) return '';
  let x = hex.toLowerCase();
  if (x.length === 66) x = x.slice(2);
  if (!/^[0-9a-f]{64}$/.test(x)) return hex;
  const bytes = []; for (let i = 0; i < 64; i += 2) bytes.push(parseInt(x.slice(i, i + 2), 16));
  return bech32Encode('npub', bytes);
}
