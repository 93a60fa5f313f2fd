// Keysets: the identities this box signs for. List them, switch, add another (import a share
// package), unlock a locked one, delete one after a typed confirmation.
import { get, post, del, currentKeyset } from '../api.js';
import { h, field, msgBox, errorText, toast, badge, npub, copy } from '../dom.js';

const STATE = {
  ready: ['Ready to sign', 'ok'], running: ['Waiting for other devices', 'warn'], locked: ['Locked', 'warn'],
  starting: ['Starting', 'warn'], absent: ['Not set up', 'muted'],
};

export async function render(root, ctx) {
  root.append(h('h1', {}, 'Keysets'),
    h('p', { class: 'lead' }, 'Each keyset is one Nostr identity: its own share, group of devices and npub. This box can sign for several. The keyset chosen at the top of the page is the one every other page works on.'));
  const listMsg = msgBox();
  const list = h('div', { 'data-testid': 'keyset-list' });
  const listSection = h('section', { 'aria-labelledby': 'ks-list-h' }, h('h2', { id: 'ks-list-h', tabindex: '-1' }, 'On this box'), listMsg, list);
  const clearers = [];
  // What is open (delete confirmation / unlock form) survives the periodic refresh.
  const open = { del: null, unlock: null };
  // Unlocked here: the node starts in the background, so the list may say "locked" a moment longer.
  const unlocked = new Set();
  const timers = [];

  // `quiet`: the periodic refresh, which leaves the list alone while the user works in it.
  async function load(quiet = false) {
    try {
      const r = await get('api/keysets');
      ctx.setKeysets(Array.isArray(r.keysets) ? r.keysets : []);
      listMsg.clear();
    } catch (e) { if (!quiet) listMsg.show(errorText(e)); }
    if (quiet && list.contains(document.activeElement)) return;
    draw();
  }

  function draw() {
    // Keep a half-typed confirmation or password across a redraw.
    const keep = [...list.querySelectorAll('input')].map((i) => [i.id, i.value]);
    const focusedId = document.activeElement && list.contains(document.activeElement) ? document.activeElement.id : null;
    list.textContent = '';
    if (!ctx.keysets.length) { list.append(h('p', { class: 'card lead' }, 'No keyset yet. Add one below, or set one up from the first-run page.')); return; }
    const cur = currentKeyset();
    for (const k of ctx.keysets) list.append(card(k, k.id === cur));
    for (const [id, v] of keep) { const el = id && document.getElementById(id); if (el && list.contains(el)) el.value = v; }
    if (focusedId) { const el = document.getElementById(focusedId); if (el && list.contains(el)) el.focus(); }
    for (const b of list.querySelectorAll('[data-confirm]')) b.disabled = b.dataset.confirm !== document.getElementById(b.dataset.input)?.value.trim();
  }

  function card(k, current) {
    if (k.state !== 'locked') unlocked.delete(k.id);
    const state = k.state === 'locked' && unlocked.has(k.id) ? 'starting' : k.state;
    const [stText, stKind] = STATE[state] || [state || 'Unknown', 'muted'];
    const np = k.npub || (k.groupPubkey ? npub(k.groupPubkey) : '');
    const name = k.label || k.id;
    const facts = h('dl', { class: 'ks-facts' },
      h('dt', {}, 'Id'), h('dd', { class: 'mono' }, k.id),
      h('dt', {}, 'State'), h('dd', {}, badge(stText, stKind)),
      h('dt', {}, 'Identity'), h('dd', { class: 'mono', 'data-testid': 'keyset-npub' }, np || 'appears once the signer has started'),
      k.threshold ? [h('dt', {}, 'Signing'), h('dd', {}, `${k.threshold} of ${k.total ?? '?'} shares`)] : '',
      k.mode ? [h('dt', {}, 'After a restart'), h('dd', {}, k.mode === 'locked' ? 'waits for unlock (locked)' : 'signs on its own (unattended)')] : '',
      k.generation === 'legacy' ? [h('dt', {}, 'Protocol'), h('dd', {}, 'legacy 1.0 (migrate it on "Keys & recovery")')] : '',
      // The keyset's NIP-46 bunker: its remote-signer pubkey, shortened (the full hex on hover).
      k.bunker ? [h('dt', {}, 'Remote signer'), h('dd', { class: 'mono', title: k.bunker.pubkey, 'data-testid': 'keyset-bunker' },
        `${k.bunker.pubkey.slice(0, 8)}…${k.bunker.pubkey.slice(-8)}${k.bunker.running ? '' : ' (stopped)'}`)] : '');
    const actions = h('div', { class: 'row' });
    if (!current) {
      actions.append(h('button', { type: 'button', class: 'btn small', onclick: async () => {
        await ctx.selectKeyset(k.id, true);
        toast(`Now working on ${ctx.keysetName(k.id)}.`, 'ok');
        draw();
      } }, `Use ${name}`));
    }
    if (np) actions.append(h('button', { type: 'button', class: 'btn small secondary', onclick: () => copy(np, 'npub') }, 'Copy npub'));
    if (state === 'locked') {
      actions.append(h('button', { type: 'button', class: 'btn small secondary', 'aria-expanded': String(open.unlock === k.id), onclick: () => { open.unlock = open.unlock === k.id ? null : k.id; draw(); focusIn(`ks-unlock-pw-${k.id}`); } }, 'Unlock…'));
    }
    actions.append(h('button', { type: 'button', class: 'btn small danger', 'aria-expanded': String(open.del === k.id), onclick: () => { open.del = open.del === k.id ? null : k.id; draw(); focusIn(`ks-del-${k.id}`); } }, 'Delete…'));
    const el = h('div', { class: current ? 'card ks-card current' : 'card ks-card', 'data-testid': 'keyset-row', 'data-keyset-id': k.id },
      h('h3', {}, name, current ? h('span', { class: 'help' }, ' · in use') : '', k.default && name !== k.id ? h('span', { class: 'help' }, ' · the default keyset') : ''),
      facts,
      // The server opens the package before storing it; a keyset that stays "starting" is one
      // whose signer cannot get going (relays unreachable, the node failing): the logs say why.
      k.state === 'starting' && !unlocked.has(k.id) ? h('p', { class: 'help' }, 'The signer is starting. If this does not change within a minute, the event log or the server log says why (relays unreachable, for example).') : '',
      actions);
    if (open.unlock === k.id && state === 'locked') el.append(unlockForm(k));
    if (open.del === k.id) el.append(deleteForm(k));
    return el;
  }

  function focusIn(id) { requestAnimationFrame(() => document.getElementById(id)?.focus()); }

  function unlockForm(k) {
    const pw = h('input', { type: 'password', id: `ks-unlock-pw-${k.id}`, autocomplete: 'current-password' });
    const msg = msgBox();
    const btn = h('button', { class: 'btn small', type: 'submit' }, `Unlock ${k.label || k.id}`);
    const f = h('form', { novalidate: true, class: 'ks-inline' }, field('Unlock password', pw, 'The password chosen when this keyset was added in locked mode.'), msg, btn);
    f.addEventListener('submit', async (e) => {
      e.preventDefault(); msg.clear();
      if (!pw.value) { msg.show('Enter the unlock password.'); pw.focus(); return; }
      btn.disabled = true;
      const password = pw.value; pw.value = '';
      try {
        await post('api/keyset/unlock', { password }, { keyset: k.id, allow401: true });
        toast(`${k.label || k.id} unlocked.`, 'ok');
        open.unlock = null;
        unlocked.add(k.id);
        await ctx.refreshStatus();
        await load();
        // Its signer is starting: look again soon rather than at the next 10 s refresh.
        for (const ms of [1500, 4000]) timers.push(setTimeout(() => load(true), ms));
      } catch (err) { msg.show(err.status === 401 ? 'Wrong password.' : errorText(err)); pw.focus(); } finally { btn.disabled = false; }
    });
    clearers.push(() => { pw.value = ''; });
    return f;
  }

  function deleteForm(k) {
    const input = h('input', { type: 'text', id: `ks-del-${k.id}`, autocomplete: 'off', spellcheck: 'false' });
    const msg = msgBox();
    const btn = h('button', { class: 'btn small danger', type: 'submit', disabled: true, 'data-confirm': k.id, 'data-input': input.id }, `Delete ${k.label || k.id}`);
    input.addEventListener('input', () => { btn.disabled = input.value.trim() !== k.id; });
    const f = h('form', { novalidate: true, class: 'msg warn' },
      h('p', {}, `This removes this box's share of ${k.label || k.id}${k.npub ? ` (${k.npub.slice(0, 12)}…)` : ''} and stops signing for it here. The identity itself lives on in your other devices' shares; keep a backup if this box's share is the only copy you have.`),
      field(`Type the keyset id "${k.id}" to confirm`, input), msg,
      h('div', { class: 'row' }, btn, h('button', { type: 'button', class: 'btn small secondary', onclick: () => { open.del = null; draw(); } }, 'Cancel')));
    f.addEventListener('submit', async (e) => {
      e.preventDefault(); msg.clear();
      if (input.value.trim() !== k.id) { msg.show(`Type "${k.id}" exactly to confirm.`); input.focus(); return; }
      btn.disabled = true;
      try {
        await del(`api/keysets/${encodeURIComponent(k.id)}`);
        open.del = null;
        toast(`Keyset ${k.label || k.id} deleted.`, 'ok');
        const wasCurrent = k.id === currentKeyset();
        await load();
        if (wasCurrent) {
          const to = ctx.keysets.some((x) => x.id === 'default') || !ctx.keysets.length ? 'default' : ctx.keysets[0].id;
          await ctx.selectKeyset(to, ctx.keysets.length > 1);
        } else await ctx.refreshStatus();
        draw();
        document.getElementById('ks-list-h')?.focus();
      } catch (err) { msg.show(errorText(err)); btn.disabled = false; }
    });
    return f;
  }

  // --- add another keyset ----------------------------------------------------------------
  const label = h('input', { type: 'text', autocomplete: 'off', maxlength: 64, placeholder: 'e.g. Work' });
  const kid = h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false', maxlength: 32, placeholder: 'e.g. work' });
  const cred = h('textarea', { spellcheck: 'false', autocomplete: 'off', rows: 4, placeholder: 'bfshare1… / bfonboard1… / bfprofile1…' });
  const spw = h('input', { type: 'password', autocomplete: 'off' });
  const legacy = h('input', { type: 'checkbox', id: 'ks-legacy' });
  const group = h('textarea', { spellcheck: 'false', autocomplete: 'off', rows: 3, placeholder: 'bfgroup1…' });
  const legacyBox = h('div', { hidden: true },
    h('div', { class: 'warning-loud', role: 'note' }, 'Legacy 1.0 shares are less safe: the old protocol can leak shares to the other devices in the group. The box refuses them unless legacy mode is switched on; migrate such a group to the current generation soon.'),
    field('Group package (bfgroup)', group));
  legacy.addEventListener('change', () => { legacyBox.hidden = !legacy.checked; });
  const lockPw = h('input', { type: 'password', autocomplete: 'new-password' });
  const lockPw2 = h('input', { type: 'password', autocomplete: 'new-password' });
  const lockBox = h('div', { hidden: true }, field('Unlock password', lockPw, 'Asked after every restart to let this keyset sign.'), field('Repeat unlock password', lockPw2));
  const radio = (val, text, help) => h('div', { class: 'field' }, h('label', { class: 'check', for: `ks-mode-${val}` },
    h('input', { type: 'radio', name: 'ks-mode', id: `ks-mode-${val}`, value: val, checked: val === 'unattended' }), h('span', {}, h('strong', {}, text), h('br'), h('span', { class: 'help' }, help))));
  const msg = msgBox();
  const out = h('div', { 'aria-live': 'polite' });
  const btn = h('button', { class: 'btn', type: 'submit' }, 'Add keyset');
  const form = h('form', { class: 'card', novalidate: true, 'aria-labelledby': 'ks-add-h' }, h('h2', { id: 'ks-add-h' }, 'Add another keyset'),
    h('p', {}, 'Bring a share of another identity (a share package exported by Igloo, Frost2x, another Frostbox or frostbox keygen). This box then signs for it too, with that group\'s other devices.'),
    field('Name', label, 'Shown in the keyset switcher, e.g. "Work" or "Podcast".'),
    field('Share package', cred, 'Paste the text that starts with bfshare1, bfonboard1 or bfprofile1.'),
    field('Package password', spw, 'The password chosen when the package was exported. Used once to open it.'),
    h('div', { class: 'field' }, h('label', { class: 'check', for: 'ks-legacy' }, legacy, 'This is a legacy 1.0 share (bfgroup + bfshare)')),
    legacyBox,
    h('fieldset', {}, h('legend', {}, 'After a restart'),
      radio('unattended', 'Unattended', 'Signs again on its own after a reboot.'),
      radio('locked', 'Locked', 'Waits until you unlock it here with a password.')),
    lockBox,
    h('details', {}, h('summary', {}, 'Advanced'), field('Keyset id (optional)', kid, 'Letters a-z, digits, "-" and "_"; made from the name when empty. Used in links (?keyset=<id>) and the API.')),
    msg, btn, out);
  form.addEventListener('change', () => { lockBox.hidden = form.querySelector('input[name=ks-mode]:checked')?.value !== 'locked'; });
  const wipe = () => { for (const el of [cred, spw, group, lockPw, lockPw2]) el.value = ''; };
  clearers.push(wipe);
  form.addEventListener('submit', async (e) => {
    e.preventDefault(); msg.clear(); out.textContent = '';
    const c = cred.value.trim();
    if (!c) { msg.show('Paste a share package.'); cred.focus(); return; }
    const mode = form.querySelector('input[name=ks-mode]:checked')?.value || 'unattended';
    if (mode === 'locked' && lockPw.value !== lockPw2.value) { msg.show('The two unlock passwords differ.'); lockPw2.focus(); return; }
    const body = { share_cred: c, mode };
    if (label.value.trim()) body.label = label.value.trim();
    if (kid.value.trim()) body.id = kid.value.trim();
    if (spw.value) body.share_password = spw.value;
    if (legacy.checked && group.value.trim()) body.group_cred = group.value.trim();
    if (mode === 'locked') body.password = lockPw.value;
    // Secrets leave the page with this request; the fields are emptied whatever the answer.
    wipe();
    btn.disabled = true; btn.setAttribute('aria-busy', 'true');
    try {
      const r = await post('api/keysets', body);
      const k = r.keyset || {};
      const id = k.id || body.id;
      label.value = ''; kid.value = '';
      msg.show(`Added ${k.label || id}.`, 'ok');
      if (id && id !== currentKeyset()) {
        out.append(h('button', { type: 'button', class: 'btn small', onclick: async () => {
          await ctx.selectKeyset(id, true); out.textContent = ''; toast(`Now working on ${ctx.keysetName(id)}.`, 'ok'); draw();
        } }, `Use ${k.label || id} now`));
      }
      await load();
    } catch (err) {
      const text = errorText(err);
      msg.show(`${text}${/[.!?]$/.test(text) ? '' : '.'} Paste the package again to retry.`);
    } finally { btn.disabled = false; btn.setAttribute('aria-busy', 'false'); }
  });

  root.append(listSection, form);
  await load();
  // Keysets change state (starting → ready, unlocked elsewhere): refresh while visible.
  const timer = setInterval(() => { if (!document.hidden) load(true); }, 10000);
  return () => { clearInterval(timer); for (const t of timers) clearTimeout(t); for (const c of clearers) c(); };
}
