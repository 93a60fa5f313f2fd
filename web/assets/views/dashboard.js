// One-glance state: signer, other devices, group npub, relays, recent activity.
import { get, post, onEvent, events, forSelectedKeyset } from '../api.js';
import { h, badge, npub, copy, qrToggle, msgBox, errorText, field, toast } from '../dom.js';

function signerState(s) {
  if (!s) return { text: 'Unknown', kind: 'muted', help: 'The server did not answer.' };
  if (!s.configured) return { text: 'Not set up', kind: 'muted', help: 'This box has no key share yet.' };
  if (s.locked) return { text: 'Waiting for unlock', kind: 'warn', help: 'The signer is locked after a restart. Enter your password to let it sign.' };
  if (s.ready) return { text: 'Ready to sign', kind: 'ok', help: 'Enough of your devices are online to sign.' };
  if (!s.nodeKnown) return { text: 'Signer not running', kind: 'warn', help: 'The key share is stored, but the signing service has not started. The event log may say why.' };
  return { text: 'Waiting for other devices', kind: 'warn', help: 'Not enough of your other devices are online to reach the threshold.' };
}

export async function render(root, ctx) {
  root.append(h('h1', {}, 'Dashboard'));
  const top = h('div');
  const grid = h('div', { class: 'grid' });
  const activity = h('ul', { class: 'log', 'aria-label': 'Recent activity' });
  root.append(top, grid, h('div', { class: 'card' }, h('h2', {}, 'Recent activity'), activity,
    h('p', {}, h('a', { href: '#/log' }, 'Open the full event log'))));

  let group = null;
  async function loadGroup() {
    try { group = await get('api/peers/group'); } catch { group = null; }
  }

  function draw() {
    const s = ctx.status;
    const st = signerState(s);
    top.textContent = '';
    if (s && s.legacy) {
      top.append(h('div', { class: 'warning-loud', role: 'alert' },
        'This box runs a legacy 1.0 share. The old protocol can leak shares to the other devices in your group. ',
        h('a', { href: '#/keys' }, 'Migrate to the current generation'), ' — your npub stays the same.'));
    }
    if (s && s.duplicateShare) {
      top.append(h('div', { class: 'warning-loud', role: 'alert' },
        'Another signer seems to be running with this same share: a device in your group asked this box to sign with ',
        `${s.duplicateShare.codes} nonce(s) it never made, so signing fails at random. `,
        'Run each share in exactly one signer (stop the other app or device holding this share).'));
    }
    grid.textContent = '';
    const signer = h('section', { class: 'card', 'aria-labelledby': 'sig-h' }, h('h2', { id: 'sig-h' }, 'Signer'),
      h('p', { class: 'big-state' }, badge(st.text, st.kind)), h('p', {}, st.help));
    const mode = s && (s.locked ? 'locked' : s.mode);
    if (mode) signer.append(h('p', { class: 'help' }, `After a restart: ${mode === 'locked' ? 'waits for unlock (locked mode)' : 'signs on its own (unattended mode)'}.`));
    if (s && !s.configured) signer.append(h('a', { class: 'btn', href: '#/setup' }, 'Set up the key'));
    if (s && s.locked) signer.append(unlockForm(ctx, draw));
    grid.append(signer);

    const t = group?.threshold ?? s?.threshold;
    const total = group?.totalShares ?? s?.total;
    const dev = h('section', { class: 'card', 'aria-labelledby': 'dev-h' }, h('h2', { id: 'dev-h' }, 'Other devices'));
    if (s && s.nodeKnown && s.thresholdReachable !== null) {
      dev.append(h('p', { class: 'big-state' }, s.thresholdReachable ? badge('Threshold reachable', 'ok') : badge('Threshold not reachable', 'err')));
    }
    if (t) dev.append(h('p', {}, `Signing needs ${t} of ${total ?? '?'} shares (this box holds one).`));
    if (s && s.nodeKnown && s.peersOnline !== null) dev.append(h('p', {}, `${s.peersOnline} of ${s.peersTotal ?? '?'} other devices online.`));
    dev.append(h('a', { href: '#/peers' }, 'See devices'));
    grid.append(dev);

    const gpk = group?.pubkey || s?.groupPubkey;
    const idc = h('section', { class: 'card', 'aria-labelledby': 'id-h' }, h('h2', { id: 'id-h' }, 'Your Nostr identity'));
    if (ctx.multi && ctx.multi()) idc.append(h('p', { class: 'help', 'data-testid': 'dashboard-keyset' }, `Keyset: ${ctx.keysetName()}`));
    if (gpk) {
      const np = npub(gpk);
      const q = qrToggle(np, 'QR code of the group npub');
      idc.append(h('p', { class: 'mono', 'data-testid': 'npub' }, np), h('div', { class: 'row' },
        h('button', { type: 'button', class: 'btn small', onclick: () => copy(np, 'npub') }, 'Copy npub'), q.button), q.holder);
    } else idc.append(h('p', { class: 'lead' }, 'Appears once a key is set up.'));
    grid.append(idc);

    const rel = h('section', { class: 'card', 'aria-labelledby': 'rel-h' }, h('h2', { id: 'rel-h' }, 'Relays'));
    const rl = s?.relays || [];
    if (!rl.length) rel.append(h('p', { class: 'lead' }, 'No relays configured.'));
    else {
      const ul = h('ul');
      for (const r of rl) {
        const state = r.connected === true ? badge('connected', 'ok') : r.connected === false ? badge('disconnected', 'err') : badge('unknown', 'muted');
        ul.append(h('li', {}, h('span', { class: 'mono' }, r.url), ' ', state, r.rtt != null ? ` ${r.rtt} ms` : '', r.error ? h('span', { class: 'help' }, ` (${r.error})`) : ''));
      }
      rel.append(ul);
    }
    grid.append(rel);
  }

  function addActivity(ev) {
    activity.prepend(h('li', {}, h('span', { class: 't' }, new Date(ev.received || Date.now()).toLocaleTimeString()),
      h('span', { class: `ty ${ev.type}` }, ev.type || 'event'), h('span', {}, ev.message || '')));
    while (activity.children.length > 8) activity.lastChild.remove();
  }
  // The selected keyset's events and the box's own (like the Event log), not another identity's.
  const mine = events.log.filter(forSelectedKeyset);
  for (const ev of mine.slice(-8)) addActivity(ev);
  if (!mine.length) activity.append(h('li', { class: 'empty lead' }, 'Nothing yet.'));
  const off = onEvent((ev) => {
    if (!forSelectedKeyset(ev)) return;
    activity.querySelector('.empty')?.remove(); addActivity(ev);
  });

  await Promise.all([ctx.refreshStatus(), loadGroup()]);
  draw();
  // Poll only while the tab is visible: two open tabs stay far below any rate limit.
  const timer = setInterval(async () => { if (document.hidden) return; await ctx.refreshStatus(); if (!group) await loadGroup(); draw(); }, 10000);
  return () => { clearInterval(timer); off(); };
}

function unlockForm(ctx, redraw) {
  const pw = h('input', { type: 'password', autocomplete: 'current-password' });
  const msg = msgBox();
  const btn = h('button', { class: 'btn', type: 'submit' }, 'Unlock');
  const f = h('form', { novalidate: true }, field('Password', pw), msg, btn);
  f.addEventListener('submit', async (e) => {
    e.preventDefault(); msg.clear(); btn.disabled = true;
    try {
      await post('api/keyset/unlock', { password: pw.value }, { allow401: true });
      pw.value = ''; toast('Signer unlocked.', 'ok');
      await ctx.refreshStatus(); redraw();
    } catch (err) { msg.show(err.status === 401 ? 'Wrong password.' : errorText(err)); } finally { btn.disabled = false; }
  });
  return f;
}
