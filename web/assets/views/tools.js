// Test tools: sign an event, NIP-44 / NIP-04 encrypt and decrypt with the threshold key.
import { get, post } from '../api.js';
import { h, field, msgBox, errorText, copy } from '../dom.js';

export async function render(root, ctx) {
  root.append(h('h1', {}, 'Sign & encrypt'),
    h('p', { class: 'lead' }, 'Try the threshold key: every action here needs enough of your devices online, exactly as a real app would.'));

  let pk = ctx.status?.groupPubkey || '';
  if (!pk) { try { pk = (await get('api/peers/group')).pubkey || ''; } catch { /* shown on sign */ } }
  if (pk && pk.length === 66) pk = pk.slice(2);
  const now = Math.floor(Date.now() / 1000);
  const tmpl = { kind: 1, created_at: now, tags: [], content: 'Hello from Frostbox' };
  if (pk) tmpl.pubkey = pk;
  const ev = h('textarea', { rows: 8, spellcheck: 'false', 'data-testid': 'event-json' });
  ev.value = JSON.stringify(tmpl, null, 2);
  const out = h('pre', { hidden: true, 'aria-live': 'polite', 'data-testid': 'sign-result' });
  const msg = msgBox();
  const btn = h('button', { class: 'btn', type: 'submit' }, 'Sign event');
  const signForm = h('form', { class: 'card', novalidate: true }, h('h2', {}, 'Sign an event'),
    field('Event (JSON)', ev, 'kind, created_at, tags and content; pubkey is the group key.'), msg, btn, out);
  signForm.addEventListener('submit', async (e) => {
    e.preventDefault(); msg.clear(); out.hidden = true;
    let event;
    try { event = JSON.parse(ev.value); } catch (err) { msg.show(`Not valid JSON: ${err.message}`); return; }
    if (typeof event !== 'object' || event === null || Array.isArray(event)) { msg.show('The event must be a JSON object.'); return; }
    // The API takes the unsigned template only: keep its five fields, drop id/sig/etc.
    event = { pubkey: event.pubkey || undefined, kind: event.kind, created_at: event.created_at, content: event.content ?? '', tags: event.tags || [] };
    if (!event.pubkey) delete event.pubkey;
    btn.disabled = true; btn.textContent = 'Signing…';
    try {
      const r = await post('api/sign', { event });
      const signed = r.event || { ...event, id: r.id, sig: r.signature || r.sig };
      out.textContent = JSON.stringify(signed, null, 2);
      out.hidden = false;
      msg.show('Signed.', 'ok');
    } catch (err) { msg.show(errorText(err)); } finally { btn.disabled = false; btn.textContent = 'Sign event'; }
  });

  const peer = h('input', { type: 'text', spellcheck: 'false', autocomplete: 'off', placeholder: '64 hex characters' });
  const text = h('textarea', { rows: 4, spellcheck: 'false' });
  const scheme = h('select', {}, h('option', { value: 'nip44' }, 'NIP-44 (current)'), h('option', { value: 'nip04' }, 'NIP-04 (old apps)'));
  const res = h('textarea', { rows: 4, readonly: true, spellcheck: 'false' });
  const cmsg = msgBox();
  const run = async (op) => {
    cmsg.clear();
    if (!/^(02|03)?[0-9a-f]{64}$/i.test(peer.value.trim())) { cmsg.show('The other party\'s public key must be 64 hex characters.'); peer.focus(); return; }
    try {
      const r = await post(`api/${scheme.value}/${op}`, { peer_pubkey: peer.value.trim(), content: text.value });
      res.value = r.result ?? '';
      cmsg.show(op === 'encrypt' ? 'Encrypted.' : 'Decrypted.', 'ok');
    } catch (err) { cmsg.show(errorText(err)); }
  };
  const crypt = h('div', { class: 'card' }, h('h2', {}, 'Encrypt or decrypt a message'),
    field('Other party\'s public key (hex)', peer), field('Scheme', scheme), field('Text or ciphertext', text), cmsg,
    h('div', { class: 'row' }, h('button', { type: 'button', class: 'btn', onclick: () => run('encrypt') }, 'Encrypt'),
      h('button', { type: 'button', class: 'btn secondary', onclick: () => run('decrypt') }, 'Decrypt'),
      h('button', { type: 'button', class: 'btn small', onclick: () => copy(res.value, 'Result') }, 'Copy result')),
    field('Result', res));
  root.append(signForm, crypt);
  return () => { text.value = ''; res.value = ''; };
}
