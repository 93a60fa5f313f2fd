// NIP-46: connect Nostr apps to the threshold key, set what each may do, answer pending requests.
import { get, post, put, del, onEvent } from '../api.js';
import { h, field, msgBox, errorText, copy, ago, short, toast } from '../dom.js';
import { qrSvg } from '../qr.js';

const METHODS = [
  ['sign_event', 'Sign events'], ['nip44_encrypt', 'Encrypt (NIP-44)'], ['nip44_decrypt', 'Decrypt (NIP-44)'],
  ['nip04_encrypt', 'Encrypt (NIP-04)'], ['nip04_decrypt', 'Decrypt (NIP-04)'],
];

// `#/apps/<client pubkey>/<request id>`: the page a NIP-46 app's auth_url opens (the bunker
// sends it once when a request waits for the operator). That request comes first, marked and
// focused; if it is no longer waiting, the page says what happened to it.
function linkTarget() {
  const m = location.hash.replace(/\?.*$/, '').match(/^#\/apps\/([0-9a-f]{64})(?:\/([0-9a-f]{1,64}))?$/);
  return m ? { app: m[1], request: m[2] || null } : null;
}

const OUTCOME = {
  approved: 'was approved', completed: 'was approved and answered', denied: 'was denied',
  failed: 'was approved but failed', expired: 'timed out before anyone answered',
};

function kindsText(kinds) {
  if (!kinds) return '';
  return Object.entries(kinds).filter(([, v]) => v).map(([k]) => k).join(', ');
}

export async function render(root) {
  root.append(h('h1', {}, 'Apps'),
    h('p', { class: 'lead' }, 'Let Nostr apps sign with your key through this box (NIP-46, "remote signer"). The app never sees your key; every signature still needs your threshold of devices.'));

  // --- connect by bunker:// --------------------------------------------------------------
  const bunkerOut = h('div', { 'aria-live': 'polite' });
  const bname = h('input', { type: 'text', autocomplete: 'off', placeholder: 'e.g. Phone client' });
  // What the app may do without asking (the link is the operator's approval of the connection).
  const gboxes = METHODS.map(([m, label]) => {
    const id = `grant-${m}`;
    return h('label', { class: 'check', for: id }, h('input', { type: 'checkbox', id, 'data-method': m, checked: m === 'sign_event' }), label);
  });
  const gkinds = h('input', { type: 'text', value: '1', autocomplete: 'off', placeholder: 'e.g. 1, 7 or * for all' });
  const bmsg = msgBox();
  const bbtn = h('button', { class: 'btn', type: 'submit' }, 'Create connection link');
  const bform = h('form', { class: 'card', novalidate: true, 'aria-labelledby': 'bunker-h' }, h('h2', { id: 'bunker-h' }, 'Connect an app with a link from this box'),
    h('p', {}, 'Create a one-time bunker:// link, then paste it into the app or scan the QR code with it.'),
    field('Name for the app (optional)', bname),
    h('fieldset', {}, h('legend', {}, 'Allowed without asking'), gboxes,
      field('Event kinds it may sign', gkinds, 'Anything else the app asks for waits for your answer on this page.')),
    bmsg, bbtn, bunkerOut);
  bform.addEventListener('submit', async (e) => {
    e.preventDefault(); bmsg.clear(); bunkerOut.textContent = '';
    const methods = {};
    for (const b of gboxes) { const cb = b.querySelector('input'); if (cb.checked) methods[cb.dataset.method] = true; }
    const kinds = {};
    for (const part of gkinds.value.split(/[\s,]+/).filter(Boolean)) {
      if (part !== '*' && !(/^\d+$/.test(part) && Number(part) <= 65535)) { bmsg.show(`"${part}" is not an event kind number.`); gkinds.focus(); return; }
      kinds[part] = true;
    }
    const body = { policy: { methods, kinds: methods.sign_event ? kinds : {} } };
    if (bname.value.trim()) body.label = bname.value.trim();
    bbtn.disabled = true;
    try {
      const r = await post('api/nip46/bunker', body);
      const uri = r.uri || r.bunker || r.url;
      const exp = r.token?.expires_at ?? r.expires_at;
      const qr = h('div', { class: 'qr-holder' });
      if (r.qr_svg) {
        qr.append(h('img', { class: 'qr', alt: 'QR code of the connection link', src: `data:image/svg+xml;base64,${btoa(r.qr_svg)}` }));
      } else qr.append(qrSvg(uri, 'QR code of the connection link'));
      bunkerOut.append(h('p', { class: 'secret mono', 'data-testid': 'bunker-uri' }, uri),
        h('div', { class: 'row' }, h('button', { type: 'button', class: 'btn small', onclick: () => copy(uri, 'Connection link') }, 'Copy link')),
        exp ? h('p', { class: 'help' }, `Works once, until ${new Date(exp < 1e12 ? exp * 1000 : exp).toLocaleString()}.`) : '', qr);
    } catch (err) { bmsg.show(errorText(err)); } finally { bbtn.disabled = false; }
  });

  // --- connect by nostrconnect:// ---------------------------------------------------------
  const ncUri = h('textarea', { rows: 3, spellcheck: 'false', autocomplete: 'off', placeholder: 'nostrconnect://…' });
  const nmsg = msgBox();
  const nform = h('form', { class: 'card', novalidate: true }, h('h2', {}, 'Connect an app that shows a link'),
    field('nostrconnect:// link from the app', ncUri, 'Some apps show a nostrconnect:// link or QR code. Copy it here.'), nmsg,
    h('button', { class: 'btn', type: 'submit' }, 'Connect'));
  nform.addEventListener('submit', async (e) => {
    e.preventDefault(); nmsg.clear();
    const uri = ncUri.value.trim();
    if (!/^nostrconnect:\/\//i.test(uri)) { nmsg.show('The link must start with nostrconnect://'); ncUri.focus(); return; }
    try {
      await post('api/nip46/connect', { uri });
      ncUri.value = ''; nmsg.show('Connected. Check the permissions below.', 'ok');
      await load();
    } catch (err) { nmsg.show(errorText(err)); }
  });

  const pending = h('section', { class: 'card', 'aria-labelledby': 'pend-h' });
  const sessions = h('section', { class: 'card', 'aria-labelledby': 'sess-h' });
  root.append(pending, bform, nform, sessions);

  const target = linkTarget();
  let focused = false;

  async function load() {
    let reqs = []; let sess = []; let err = null; let gone = null;
    try { reqs = (await get('api/nip46/requests?status=pending')).requests || []; } catch (e) { err = e; }
    try { sess = (await get('api/nip46/sessions?history=true')).sessions || []; } catch (e) { err = err || e; }
    if (!err && target?.request && !reqs.some((r) => r.id === target.request)) {
      try {
        const all = (await get('api/nip46/requests?limit=500')).requests || [];
        gone = all.find((r) => r.id === target.request) || { status: 'unknown' };
      } catch { gone = { status: 'unknown' }; }
    }
    const names = new Map(sess.map((x) => [x.pubkey, x.profile?.name]).filter(([, n]) => n));
    drawPending(reqs, err, names, gone);
    drawSessions(sess, err);
  }

  function isTarget(r) {
    if (!target) return false;
    return target.request ? r.id === target.request : (r.session_pubkey === target.app);
  }

  function drawPending(reqs, err, names, gone) {
    pending.textContent = '';
    pending.append(h('h2', { id: 'pend-h' }, `Waiting for your answer (${reqs.length})`));
    if (err) { pending.append(h('p', { class: err.missing ? 'msg info' : 'msg error' }, errorText(err))); return; }
    if (gone) {
      const app = names.get(gone.session_pubkey || target.app) || short(target.app, 8);
      const what = gone.method ? `${gone.method}${gone.kind != null ? ` (kind ${gone.kind})` : ''} request` : 'request';
      pending.append(h('p', { class: 'msg info', 'data-testid': 'link-target-gone' },
        OUTCOME[gone.status] ? `The ${what} from ${app} that the app linked to ${OUTCOME[gone.status]}.`
          : `The request the app linked to is not known to this box (answered and removed, or meant for another box).`));
    }
    if (!reqs.length) { pending.append(h('p', { class: 'lead' }, 'No requests are waiting.')); return; }
    reqs = [...reqs.filter(isTarget), ...reqs.filter((r) => !isTarget(r))];
    for (const r of reqs) {
      let params = r.params;
      try { if (typeof params === 'string') params = JSON.parse(params); } catch { /* keep text */ }
      let kind = r.kind ?? null;
      if (kind === null && r.method === 'sign_event') {
        try { const evt = Array.isArray(params) ? (typeof params[0] === 'string' ? JSON.parse(params[0]) : params[0]) : params; kind = evt.kind ?? null; } catch { kind = null; }
      }
      const act = async (action, always) => {
        try {
          await post(`api/nip46/requests/${encodeURIComponent(r.id)}/${action}`, { always });
          toast(action === 'approve' ? 'Approved.' : 'Denied.', 'ok');
          await load();
        } catch (e) { toast(errorText(e), 'error'); }
      };
      const app = names.get(r.session_pubkey) || r.app_name || r.session_name || short(r.session_pubkey || r.client_pubkey, 8);
      const marked = isTarget(r);
      const card = h('div', marked
        ? { class: 'card target', 'data-testid': 'pending-request', 'data-request-id': r.id, 'data-target': 'true', tabindex: '-1', 'aria-label': `Request from ${app} that the app linked to` }
        : { class: 'card', 'data-testid': 'pending-request', 'data-request-id': r.id },
        marked ? h('p', { class: 'help' }, 'The app sent you here: it waits for your answer.') : '',
        h('p', {}, h('strong', {}, app), ` asks to ${r.method}${kind !== null ? ` (kind ${kind})` : ''}, ${ago(r.created_at)}.`),
        h('details', {}, h('summary', {}, 'Details'), h('pre', {}, JSON.stringify(params, null, 2))),
        h('div', { class: 'row' },
          h('button', { type: 'button', class: 'btn small', onclick: () => act('approve', false) }, 'Approve once'),
          h('button', { type: 'button', class: 'btn small secondary', onclick: () => act('approve', true) }, 'Always allow'),
          h('button', { type: 'button', class: 'btn small danger', onclick: () => act('deny', false) }, 'Deny once'),
          h('button', { type: 'button', class: 'btn small danger', onclick: () => act('deny', true) }, 'Always deny')));
      pending.append(card);
      if (marked && !focused) {
        focused = true;
        // after the shell has focused the page heading
        requestAnimationFrame(() => { card.scrollIntoView({ block: 'center' }); card.focus({ preventScroll: true }); });
      }
    }
  }

  function drawSessions(sess, err) {
    sessions.textContent = '';
    sessions.append(h('h2', { id: 'sess-h' }, 'Connected apps'));
    if (err) return;
    if (!sess.length) { sessions.append(h('p', { class: 'lead' }, 'No apps connected yet.')); return; }
    for (const s of sess) {
      const pk = s.pubkey || s.client_pubkey;
      const name = s.profile?.name || s.name || short(pk, 8);
      const methods = s.policy?.methods || {};
      const boxes = METHODS.map(([m, label]) => {
        const id = `m-${pk}-${m}`;
        return h('label', { class: 'check', for: id }, h('input', { type: 'checkbox', id, 'data-method': m, checked: !!methods[m] }), label);
      });
      const kinds = h('input', { type: 'text', value: kindsText(s.policy?.kinds), placeholder: 'e.g. 1, 7 or * for all' });
      const msg = msgBox();
      const save = async () => {
        const m = {};
        for (const b of boxes) { const cb = b.querySelector('input'); m[cb.dataset.method] = cb.checked; }
        const k = {};
        for (const part of kinds.value.split(/[\s,]+/).filter(Boolean)) {
          if (part !== '*' && !/^\d+$/.test(part)) { msg.show(`"${part}" is not an event kind number.`); return; }
          k[part] = true;
        }
        try { await put(`api/nip46/sessions/${encodeURIComponent(pk)}/policy`, { methods: m, kinds: k }); msg.show('Saved.', 'ok'); } catch (e) { msg.show(errorText(e)); }
      };
      const revoke = async () => {
        if (!window.confirm(`Disconnect ${name}? It will have to connect again.`)) return;
        try { await del(`api/nip46/sessions/${encodeURIComponent(pk)}`); toast(`${name} disconnected.`, 'ok'); await load(); } catch (e) { toast(errorText(e), 'error'); }
      };
      const allow = s.status === 'pending' ? h('div', { class: 'msg warn' },
        h('p', {}, `${name} wants to connect${s.requested_perms ? ` and asks for: ${s.requested_perms}` : ''}.`),
        h('button', { type: 'button', class: 'btn small', onclick: async () => {
          try { await put(`api/nip46/sessions/${encodeURIComponent(pk)}/status`, { status: 'active' }); toast(`${name} connected.`, 'ok'); await load(); } catch (e) { toast(errorText(e), 'error'); }
        } }, 'Allow this app')) : '';
      sessions.append(h('div', { class: target?.app === pk ? 'card target' : 'card', 'data-testid': 'app-session' },
        h('h3', {}, name, ' ', h('span', { class: 'help' }, `(${s.status || 'active'})`)), allow,
        s.profile?.url ? h('p', { class: 'help mono' }, s.profile.url) : '',
        h('p', { class: 'help' }, `Last used ${ago(s.last_active_at)}.`),
        h('fieldset', {}, h('legend', {}, 'Allowed without asking'), boxes, field('Event kinds it may sign', kinds)),
        msg, h('div', { class: 'row' }, h('button', { type: 'button', class: 'btn small', onclick: save }, 'Save permissions'),
          h('button', { type: 'button', class: 'btn small danger', onclick: revoke }, 'Revoke'))));
    }
  }

  await load();
  const off = onEvent((ev) => { if (String(ev.type || '').startsWith('nip46')) load(); });
  const timer = setInterval(() => { if (!document.hidden) load(); }, 20000);
  return () => { off(); clearInterval(timer); };
}
