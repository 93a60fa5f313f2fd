// Settings: relays, API keys, password, locked/unattended, rate limits, log out.
import { get, post } from '../api.js';
import { h, field, msgBox, errorText, copy, ago, toast } from '../dom.js';

export async function render(root, ctx) {
  root.append(h('h1', {}, 'Settings'));
  const envP = get('api/env');
  envP.catch(() => {});

  // --- relays ----------------------------------------------------------------------------
  const relays = h('textarea', { rows: 4, spellcheck: 'false', 'aria-describedby': 'relays-help' });
  const rmsg = msgBox();
  const rForm = h('form', { class: 'card', novalidate: true }, h('h2', {}, 'Relays'),
    h('div', { class: 'field' }, h('label', { for: 'relays' }, 'Relay addresses, one per line'), relays,
      h('p', { class: 'help', id: 'relays-help' }, 'Your devices talk to each other through these Nostr relays (wss://…). Use at least one that every device can reach.')),
    rmsg, h('button', { class: 'btn', type: 'submit' }, 'Save relays'));
  relays.id = 'relays';
  try {
    const env = await envP;
    const list = Array.isArray(env.RELAYS) ? env.RELAYS : String(env.RELAYS || '').split(/[\s,]+/).filter(Boolean);
    relays.value = list.join('\n');
  } catch (e) { rmsg.show(errorText(e)); }
  rForm.addEventListener('submit', async (e) => {
    e.preventDefault(); rmsg.clear();
    const list = relays.value.split(/[\s,]+/).map((x) => x.trim()).filter(Boolean);
    const bad = list.find((u) => !/^wss?:\/\/[^\s]+$/i.test(u));
    if (bad) { rmsg.show(`"${bad}" is not a relay address (it must start with wss:// or ws://).`); return; }
    try { await post('api/env', { RELAYS: list.join(',') }); rmsg.show('Relays saved. They apply after the next restart of the signer.', 'ok'); await ctx.refreshStatus(); } catch (err) { rmsg.show(errorText(err)); }
  });

  // --- API keys --------------------------------------------------------------------------
  const keysBox = h('div');
  const klabel = h('input', { type: 'text', maxlength: 128, autocomplete: 'off', placeholder: 'e.g. home automation' });
  const kmsg = msgBox();
  const newKey = h('div', { 'aria-live': 'polite' });
  const kForm = h('form', { class: 'card', novalidate: true }, h('h2', {}, 'API keys'),
    h('p', {}, 'Programs that call this box\'s API use a key. A new key is shown once; store it in the program right away.'),
    field('Label', klabel), kmsg, h('button', { class: 'btn', type: 'submit' }, 'Create key'), newKey, keysBox);
  async function loadKeys() {
    keysBox.textContent = '';
    try {
      const r = await get('api/admin/api-keys');
      const keys = r.apiKeys || r.keys || [];
      if (!keys.length) { keysBox.append(h('p', { class: 'lead' }, 'No API keys yet.')); return; }
      const tb = h('tbody');
      for (const k of keys) {
        const revoked = !!(k.revokedAt || k.revoked_at);
        const btn = revoked ? h('span', { class: 'help' }, 'Revoked') : h('button', { type: 'button', class: 'btn small danger', onclick: async () => {
          if (!window.confirm(`Revoke the key "${k.label || k.prefix}"? Programs using it stop working.`)) return;
          try { await post('api/admin/api-keys/revoke', { apiKeyId: k.id }); toast('Key revoked.', 'ok'); await loadKeys(); } catch (e) { toast(errorText(e), 'error'); }
        } }, 'Revoke');
        tb.append(h('tr', { 'data-testid': 'api-key-row' }, h('td', {}, k.label || '(no label)'), h('td', { class: 'mono' }, `${k.prefix || ''}…`),
          h('td', { class: 'hide-sm' }, `used ${ago(k.lastUsedAt || k.last_used_at)}`), h('td', {}, revoked ? 'revoked' : 'active'), h('td', {}, btn)));
      }
      keysBox.append(h('table', {}, h('caption', { class: 'offscreen' }, 'API keys'), h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Label'),
        h('th', { scope: 'col' }, 'Starts with'), h('th', { scope: 'col', class: 'hide-sm' }, 'Last used'), h('th', { scope: 'col' }, 'State'), h('th', { scope: 'col' }, h('span', { class: 'offscreen' }, 'Actions')))), tb));
    } catch (e) { keysBox.append(h('p', { class: 'msg error' }, errorText(e))); }
  }
  kForm.addEventListener('submit', async (e) => {
    e.preventDefault(); kmsg.clear(); newKey.textContent = '';
    try {
      const r = await post('api/admin/api-keys', klabel.value.trim() ? { label: klabel.value.trim() } : {});
      const token = r.apiKey?.token || r.token;
      klabel.value = '';
      const hide = h('button', { type: 'button', class: 'btn small secondary', onclick: () => { newKey.textContent = ''; } }, 'Done, hide it');
      newKey.append(h('div', { class: 'msg warn' }, 'Copy this key now. It will not be shown again.'),
        h('p', { class: 'secret mono', 'data-testid': 'new-api-key' }, token),
        h('div', { class: 'row' }, h('button', { type: 'button', class: 'btn small', onclick: () => copy(token, 'API key') }, 'Copy'), hide));
      await loadKeys();
    } catch (err) { kmsg.show(errorText(err)); }
  });

  // --- signer mode -----------------------------------------------------------------------
  const mmsg = msgBox();
  const mode = ctx.status?.mode;
  const radio = (val, label, help) => {
    const id = `mode-${val}`;
    return h('div', { class: 'field' }, h('label', { class: 'check', for: id }, h('input', { type: 'radio', name: 'mode', id, value: val, checked: mode === val }), h('span', {}, h('strong', {}, label), h('br'), h('span', { class: 'help' }, help))));
  };
  // Passwords the switch needs: the current unlock password to open a locked keyset, a new
  // one (twice) to seal it in locked mode.
  const curLock = h('input', { type: 'password', autocomplete: 'current-password' });
  const newLock = h('input', { type: 'password', autocomplete: 'new-password' });
  const newLock2 = h('input', { type: 'password', autocomplete: 'new-password' });
  const curBox = h('div', { hidden: mode !== 'locked' }, field('Current unlock password', curLock, 'The keyset is sealed under it; needed to re-seal it.'));
  const newBox = h('div', { hidden: true }, field('New unlock password', newLock, 'Asked after every restart. At least 8 characters.'), field('Repeat new unlock password', newLock2));
  const modeForm = h('form', { class: 'card', novalidate: true }, h('h2', {}, 'After a restart'),
    h('fieldset', {}, h('legend', { class: 'offscreen' }, 'Signer mode'),
      radio('unattended', 'Unattended', 'Signs again on its own after a reboot; the share is encrypted with a key kept on this box.'),
      radio('locked', 'Locked', 'Waits until you log in and unlock with your password.')),
    curBox, newBox,
    mmsg, h('div', { class: 'row' }, h('button', { class: 'btn', type: 'submit' }, 'Save mode'),
      h('button', { type: 'button', class: 'btn secondary', onclick: async () => {
        mmsg.clear();
        try { await post('api/lock', {}); toast('Signer locked.', 'ok'); await ctx.refreshStatus(); } catch (e) { mmsg.show(errorText(e)); }
      } }, 'Lock now')));
  modeForm.addEventListener('change', () => {
    newBox.hidden = modeForm.querySelector('input[name=mode]:checked')?.value !== 'locked';
  });
  modeForm.addEventListener('submit', async (e) => {
    e.preventDefault(); mmsg.clear();
    const v = modeForm.querySelector('input[name=mode]:checked')?.value;
    if (!v) { mmsg.show('Choose a mode.'); return; }
    const body = { mode: v };
    if (ctx.status?.mode === 'locked') {
      if (!curLock.value) { mmsg.show('Enter the current unlock password.'); curLock.focus(); return; }
      body.current_password = curLock.value;
    }
    if (v === 'locked') {
      if (newLock.value.length < 8) { mmsg.show('The new unlock password needs at least 8 characters.'); newLock.focus(); return; }
      if (newLock.value !== newLock2.value) { mmsg.show('The two unlock passwords differ.'); newLock2.focus(); return; }
      body.password = newLock.value;
    }
    try {
      await post('api/keyset/mode', body, { allow401: true });
      curLock.value = ''; newLock.value = ''; newLock2.value = '';
      mmsg.show('Saved.', 'ok');
      await ctx.refreshStatus();
      curBox.hidden = ctx.status?.mode !== 'locked';
      newBox.hidden = true;
    } catch (err) { mmsg.show(err.status === 401 ? 'The current unlock password is wrong.' : errorText(err)); }
  });

  // --- password --------------------------------------------------------------------------
  const cur = h('input', { type: 'password', autocomplete: 'current-password' });
  const nw = h('input', { type: 'password', autocomplete: 'new-password' });
  const nw2 = h('input', { type: 'password', autocomplete: 'new-password' });
  const pmsg = msgBox();
  const pForm = h('form', { class: 'card', novalidate: true }, h('h2', {}, 'Change password'),
    h('p', { class: 'help' }, `Logged in as ${ctx.user?.username || 'admin'}.`),
    field('Current password', cur), field('New password', nw, 'At least 8 characters.'), field('Repeat new password', nw2), pmsg,
    h('button', { class: 'btn', type: 'submit' }, 'Change password'));
  pForm.addEventListener('submit', async (e) => {
    e.preventDefault(); pmsg.clear();
    if (nw.value.length < 8) { pmsg.show('The new password needs at least 8 characters.'); return; }
    if (nw.value !== nw2.value) { pmsg.show('The two new passwords differ.'); return; }
    try {
      await post('api/user/password', { currentPassword: cur.value, newPassword: nw.value }, { allow401: true });
      cur.value = ''; nw.value = ''; nw2.value = '';
      pmsg.show('Password changed.', 'ok');
    } catch (err) { pmsg.show(err.status === 401 ? 'The current password is wrong.' : errorText(err)); }
  });

  // --- rate limits (read-only view of the server's settings) -----------------------------
  const rl = h('div', { class: 'card' }, h('h2', {}, 'Rate limits'));
  try {
    const env = await envP;
    const keys = Object.keys(env).filter((k) => /^RATE_LIMIT|SESSION_TIMEOUT|SIGN_TIMEOUT/.test(k));
    if (keys.length) rl.append(h('dl', {}, keys.map((k) => [h('dt', {}, k), h('dd', { class: 'mono' }, String(env[k]))])));
    else rl.append(h('p', { class: 'lead' }, 'Defaults in use.'));
  } catch (e) { rl.append(h('p', { class: 'lead' }, errorText(e))); }

  root.append(rForm, modeForm, kForm, pForm, rl,
    h('div', { class: 'card' }, h('h2', {}, 'Session'), h('button', { type: 'button', class: 'btn secondary', onclick: () => ctx.logout() }, 'Log out')));
  await loadKeys();
  return () => { newKey.textContent = ''; for (const i of [cur, nw, nw2, curLock, newLock, newLock2]) i.value = ''; };
}
