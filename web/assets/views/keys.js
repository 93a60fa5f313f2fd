// Keys & recovery: recover the nsec from shares, migrate a legacy group, encrypted backup.
import { post } from '../api.js';
import { h, field, msgBox, errorText, copy, download } from '../dom.js';

export async function render(root, ctx) {
  root.append(h('h1', {}, 'Keys & recovery'));
  const clearers = [];

  // --- recover ---------------------------------------------------------------------------
  const shareList = h('div');
  const addShare = () => {
    const ta = h('textarea', { rows: 2, spellcheck: 'false', autocomplete: 'off', placeholder: 'bfshare1… or bfprofile1…' });
    shareList.append(field(`Share ${shareList.children.length + 1}`, ta));
    return ta;
  };
  addShare(); addShare();
  const group = h('textarea', { rows: 2, spellcheck: 'false', autocomplete: 'off', placeholder: 'bfgroup1… (legacy only)' });
  const pw = h('input', { type: 'password', autocomplete: 'off' });
  const out = h('div', { 'aria-live': 'polite' });
  const msg = msgBox();
  let wipeTimer = null;
  const wipe = () => { out.textContent = ''; if (wipeTimer) clearTimeout(wipeTimer); wipeTimer = null; };
  const recForm = h('form', { class: 'card', novalidate: true }, h('h2', {}, 'Recover your nsec'),
    h('p', {}, 'Combine enough shares (the threshold) to rebuild the whole key, for example to move to another signer. The shares are sent to this box only and are never stored by this page.'),
    h('div', { class: 'warning-loud', role: 'note' }, 'The recovered nsec is your whole key. Anyone who sees it controls your identity. Do this on a trusted device, then close the page.'),
    shareList, h('button', { type: 'button', class: 'btn small secondary', onclick: () => addShare().focus() }, 'Add another share'),
    field('Share password', pw, 'The password of the share packages, if they are encrypted.'),
    h('details', {}, h('summary', {}, 'Legacy 1.0 group'), field('Group package (bfgroup)', group)),
    msg, h('button', { class: 'btn', type: 'submit' }, 'Recover nsec'), out);
  recForm.addEventListener('submit', async (e) => {
    e.preventDefault(); msg.clear(); wipe();
    const shares = [...shareList.querySelectorAll('textarea')].map((t) => t.value.trim()).filter(Boolean);
    if (shares.length < 1) { msg.show('Paste at least the threshold number of shares.'); return; }
    try {
      const body = { shareCredentials: shares };
      if (group.value.trim()) body.groupCredential = group.value.trim();
      if (pw.value) body.password = pw.value;
      const r = await post('api/recover', body);
      for (const t of recForm.querySelectorAll('textarea, input[type=password]')) t.value = '';
      const nsec = r.nsec;
      const secret = h('p', { class: 'secret mono', 'data-testid': 'nsec' }, nsec);
      out.append(h('div', { class: 'msg ok' }, `Recovered from ${r.details?.sharesUsed ?? shares.length} shares. It will be hidden in 2 minutes.`), secret,
        h('div', { class: 'row' }, h('button', { type: 'button', class: 'btn small', onclick: () => copy(nsec, 'nsec') }, 'Copy'),
          h('button', { type: 'button', class: 'btn small secondary', onclick: wipe }, 'Hide now')));
      wipeTimer = setTimeout(wipe, 120000);
    } catch (err) { msg.show(errorText(err)); }
  });
  clearers.push(() => { wipe(); for (const t of recForm.querySelectorAll('textarea, input')) t.value = ''; });

  // --- migrate ---------------------------------------------------------------------------
  const locked = ctx.status?.mode === 'locked';
  const mmsg = msgBox();
  const mout = h('div', { 'aria-live': 'polite' });
  const mpw = h('input', { type: 'password', autocomplete: 'new-password' });
  const mshares = h('textarea', { rows: 3, spellcheck: 'false', autocomplete: 'off', placeholder: 'bfshare1… (one per line)' });
  const mgroup = h('textarea', { rows: 2, spellcheck: 'false', autocomplete: 'off', placeholder: 'bfgroup1… (only if this box does not run the legacy share)' });
  const mlock = h('input', { type: 'password', autocomplete: 'current-password' });
  const migForm = h('form', { class: 'card', novalidate: true }, h('h2', {}, 'Move a legacy group to the current generation'),
    h('p', {}, 'Legacy 1.0 groups (bfgroup/bfshare) use an older protocol that can leak shares. Migrating creates new shares of the same key, so your npub and followers stay the same. Every other device then needs its new share.'),
    ctx.status && !ctx.status.legacy ? h('p', { class: 'help' }, 'This box does not run a legacy share. You can still migrate a group by pasting its bfgroup and enough of its shares.') : '',
    field('Other legacy shares of the group', mshares, 'The box uses its own share; paste the others until you reach the threshold. They are used once and not stored.'),
    h('details', {}, h('summary', {}, 'Legacy group package'), field('Group package (bfgroup)', mgroup)),
    locked ? field('Unlock password of this box', mlock) : '',
    field('Password for the new share packages', mpw, 'At least 8 characters. Each device asks for it when importing its new share.'),
    mmsg, h('button', { class: 'btn', type: 'submit' }, 'Migrate'), mout);
  migForm.addEventListener('submit', async (e) => {
    e.preventDefault(); mmsg.clear(); mout.textContent = '';
    if (mpw.value.length < 8) { mmsg.show('Pick a package password of at least 8 characters.'); mpw.focus(); return; }
    if (!window.confirm('Create new shares for every device? The old shares stop working together with this box.')) return;
    try {
      const body = { password: mpw.value, shares: mshares.value.split(/\s+/).filter(Boolean) };
      if (mgroup.value.trim()) body.group_cred = mgroup.value.trim();
      if (locked && mlock.value) body.lock_password = mlock.value;
      const r = await post('api/migrate', body, { allow401: true });
      for (const t of [mpw, mshares, mgroup, mlock]) t.value = '';
      mmsg.show('Migrated. Hand each device its new share now; they are shown only once.', 'ok');
      for (const s of r.shares || []) {
        const text = s.credential || s.bfonboard || s.bfshare || s.package || '';
        mout.append(h('div', { class: 'card' }, h('h3', {}, `Share ${s.idx ?? ''}`), h('p', { class: 'secret mono' }, text),
          h('div', { class: 'row' }, h('button', { type: 'button', class: 'btn small', onclick: () => copy(text, 'Share') }, 'Copy'),
            h('button', { type: 'button', class: 'btn small', onclick: () => download(`frostbox-share-${s.idx ?? 'x'}.txt`, `${text}\n`) }, 'Download'))));
      }
      await ctx.refreshStatus();
    } catch (err) { mmsg.show(err.status === 401 ? 'The unlock password is wrong.' : errorText(err)); }
  });
  clearers.push(() => { mout.textContent = ''; for (const t of [mpw, mshares, mgroup, mlock]) t.value = ''; });

  // --- backup ----------------------------------------------------------------------------
  const bpw = h('input', { type: 'password', autocomplete: 'new-password' });
  const bpw2 = h('input', { type: 'password', autocomplete: 'new-password' });
  const bmsg = msgBox();
  const block = h('input', { type: 'password', autocomplete: 'current-password' });
  const bForm = h('form', { class: 'card', novalidate: true }, h('h2', {}, 'Encrypted backup of this box\'s share'),
    h('p', {}, 'Download this box\'s share as a password-protected bfprofile package. With it you can restore this box, or move its share to another device.'),
    locked ? field('Unlock password of this box', block) : '',
    field('Backup password', bpw, 'At least 8 characters. Without it the backup cannot be opened.'), field('Repeat password', bpw2),
    bmsg, h('button', { class: 'btn', type: 'submit' }, 'Download backup'));
  bForm.addEventListener('submit', async (e) => {
    e.preventDefault(); bmsg.clear();
    if (bpw.value.length < 8) { bmsg.show('Use at least 8 characters.'); return; }
    if (bpw.value !== bpw2.value) { bmsg.show('The two passwords differ.'); return; }
    try {
      const body = { password: bpw.value };
      if (locked && block.value) body.lock_password = block.value;
      const r = await post('api/keyset/backup', body, { allow401: true });
      bpw.value = ''; bpw2.value = ''; block.value = '';
      const text = r.bfprofile || r.backup || r.credential || '';
      download(`frostbox-backup-${new Date().toISOString().slice(0, 10)}.txt`, `${text}\n`);
      bmsg.show('Backup downloaded. Keep the file and its password in different places.', 'ok');
    } catch (err) { bmsg.show(err.status === 401 ? 'The unlock password is wrong.' : errorText(err)); }
  });
  clearers.push(() => { bpw.value = ''; bpw2.value = ''; block.value = ''; });

  // Several identities on one box: the Keysets page (in the menu once there are two).
  const more = h('section', { class: 'card', 'aria-labelledby': 'more-ks-h' }, h('h2', { id: 'more-ks-h' }, 'Another identity on this box'),
    h('p', {}, 'This box can sign for more than one Nostr identity, each with its own share and devices. ',
      h('a', { href: '#/keysets' }, ctx.keysets && ctx.keysets.length > 1 ? 'Manage keysets' : 'Add another keyset'), '.'));
  root.append(recForm, migForm, bForm, more);
  return () => { for (const c of clearers) c(); };
}
