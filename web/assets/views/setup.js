// First run: setup code → admin account → import or create a key → locked or unattended.
import { post } from '../api.js';
import { h, field, msgBox, copy, download, qrToggle, errorText, toast } from '../dom.js';

const STEP_NAMES = ['Setup code', 'Admin account', 'Your key', 'After a restart'];

function stepper(cur) {
  return h('ol', { class: 'steps', 'aria-label': 'Setup progress' },
    STEP_NAMES.map((n, i) => h('li', { 'aria-current': i === cur ? 'step' : null }, `${i + 1}. ${n}`)));
}

function busy(btn, on) { btn.disabled = on; btn.setAttribute('aria-busy', on ? 'true' : 'false'); }

export async function render(root, ctx) {
  let code = null; // kept in this closure only, dropped when the page changes
  const box = h('div');
  root.append(h('h1', {}, 'Set up Frostbox'), box);
  const show = (...els) => { box.textContent = ''; box.append(...els); const f = box.querySelector('input,textarea,button'); if (f) f.focus(); };

  function stepCode() {
    const input = h('input', { type: 'password', autocomplete: 'off', spellcheck: 'false', name: 'setup-code', required: true });
    const msg = msgBox();
    const btn = h('button', { class: 'btn', type: 'submit' }, 'Continue');
    const form = h('form', { class: 'card', novalidate: true }, stepper(0),
      h('p', {}, 'Welcome. Frostbox keeps one piece (a "share") of your Nostr key and signs together with your other devices, so no single device ever holds the whole key.'),
      h('p', {}, 'To prove you own this box, enter the one-time setup code Frostbox printed in its log when it started (for example with ', h('code', {}, 'journalctl -u frostbox'), ' or ', h('code', {}, 'docker logs frostbox'), '). If you set ', h('code', {}, 'ADMIN_SECRET'), ', enter that instead.'),
      field('Setup code or admin secret', input), msg, btn);
    form.addEventListener('submit', async (e) => {
      e.preventDefault(); msg.clear();
      const val = input.value.trim();
      if (!val) { msg.show('Enter the setup code.'); input.focus(); return; }
      busy(btn, true);
      try {
        await post('api/onboarding/validate-admin', {}, { bearer: val, allow401: true });
        code = val; input.value = '';
        stepAccount();
      } catch (err) {
        msg.show(err.status === 401 ? 'That code is not right (or this box is already set up).' : errorText(err));
      } finally { busy(btn, false); }
    });
    show(form);
  }

  function stepAccount() {
    const user = h('input', { type: 'text', autocomplete: 'username', name: 'username', required: true, minlength: 3, maxlength: 50, value: 'admin' });
    const pw = h('input', { type: 'password', autocomplete: 'new-password', name: 'password', required: true, minlength: 8 });
    const pw2 = h('input', { type: 'password', autocomplete: 'new-password', name: 'password2', required: true });
    const msg = msgBox();
    const btn = h('button', { class: 'btn', type: 'submit' }, 'Create account');
    const form = h('form', { class: 'card', novalidate: true }, stepper(1),
      h('p', {}, 'Create the account you will use to open this page. If you choose "locked" later, this password also unlocks the signer after a restart, so pick one you will remember.'),
      field('Username', user), field('Password', pw, 'At least 8 characters. A long passphrase is best.'), field('Repeat password', pw2), msg, btn);
    form.addEventListener('submit', async (e) => {
      e.preventDefault(); msg.clear();
      if (user.value.trim().length < 3) { msg.show('The username needs at least 3 characters.'); user.focus(); return; }
      if (pw.value.length < 8) { msg.show('The password needs at least 8 characters.'); pw.focus(); return; }
      if (pw.value !== pw2.value) { msg.show('The two passwords differ.'); pw2.focus(); return; }
      busy(btn, true);
      try {
        await post('api/onboarding/setup', { username: user.value.trim(), password: pw.value }, { bearer: code, allow401: true });
        await post('api/auth/login', { username: user.value.trim(), password: pw.value }, { allow401: true });
        pw.value = ''; pw2.value = ''; code = null;
        ctx.onboarding = { ...(ctx.onboarding || {}), initialized: true };
        await ctx.loggedIn({ username: user.value.trim() });
        stepKeys();
      } catch (err) {
        msg.show(errorText(err));
      } finally { busy(btn, false); }
    });
    show(form);
  }

  function stepKeys() {
    const choose = h('div', { class: 'card' }, stepper(2),
      h('p', {}, 'Frostbox needs one share of a key. Either bring a share you already have, or create a new key here and hand its other shares to your other devices.'),
      h('div', { class: 'choice' },
        h('button', { type: 'button', onclick: importForm }, h('strong', {}, 'Import a share'), 'I already use FROSTR (Igloo, Frost2x, another Frostbox) and have a share package for this box.'),
        h('button', { type: 'button', onclick: createForm }, h('strong', {}, 'Create a new key'), 'Split a fresh Nostr key, or one you already have (nsec), into shares.')),
      h('p', {}, h('button', { type: 'button', class: 'linklike', onclick: () => ctx.go('dashboard') }, 'Skip for now')));
    show(choose);
  }

  function importForm() {
    const cred = h('textarea', { spellcheck: 'false', autocomplete: 'off', rows: 4, placeholder: 'bfshare1… / bfonboard1… / bfprofile1…' });
    const pw = h('input', { type: 'password', autocomplete: 'off' });
    const legacy = h('input', { type: 'checkbox', id: 'legacy-toggle' });
    const group = h('textarea', { spellcheck: 'false', autocomplete: 'off', rows: 3, placeholder: 'bfgroup1…' });
    const legacyBox = h('div', { hidden: true },
      h('div', { class: 'warning-loud', role: 'note' }, 'Legacy 1.0 shares are less safe: the old protocol can leak shares to the other devices in the group. Use this only to move an existing group over, then press "Migrate" on the dashboard to switch to the current generation.'),
      field('Group package (bfgroup)', group));
    legacy.addEventListener('change', () => { legacyBox.hidden = !legacy.checked; pwField.hidden = legacy.checked; });
    const pwField = field('Package password', pw, 'The password chosen when this share package was exported (bfshare, bfonboard and bfprofile packages are encrypted). It is used once to open the package.');
    const msg = msgBox();
    const btn = h('button', { class: 'btn', type: 'submit' }, 'Next');
    const form = h('form', { class: 'card', novalidate: true }, stepper(2), h('h2', {}, 'Import a share'),
      field('Share package', cred, 'Paste the text that starts with bfshare1, bfonboard1 or bfprofile1.'), pwField,
      h('div', { class: 'field' }, h('label', { class: 'check', for: 'legacy-toggle' }, legacy, 'This is a legacy 1.0 share (bfgroup + bfshare)')),
      legacyBox, msg,
      h('div', { class: 'row' }, btn, h('button', { type: 'button', class: 'btn secondary', onclick: stepKeys }, 'Back')));
    form.addEventListener('submit', async (e) => {
      e.preventDefault(); msg.clear();
      const c = cred.value.trim();
      if (!c) { msg.show('Paste a share package.'); cred.focus(); return; }
      let body;
      if (legacy.checked) {
        if (!/^bfgroup1/i.test(group.value.trim())) { msg.show('A legacy import needs the group package (bfgroup1…).'); group.focus(); return; }
        body = { share_cred: c, group_cred: group.value.trim() };
      } else {
        if (!/^bf(share|onboard|profile)1/i.test(c)) { msg.show('That does not look like a share package: it should start with bfshare1, bfonboard1 or bfprofile1.'); cred.focus(); return; }
        body = { share_cred: c };
        if (pw.value) body.share_password = pw.value;
      }
      cred.value = ''; pw.value = ''; group.value = '';
      stepMode(async (mode, lockPassword) => {
        const b = { ...body, mode };
        if (lockPassword) b.password = lockPassword;
        await post('api/keyset', b);
        toast('Share imported.', 'ok');
      });
    });
    show(form);
  }

  function createForm() {
    const t = h('input', { type: 'number', min: 2, max: 10, value: 2, inputmode: 'numeric' });
    const n = h('input', { type: 'number', min: 2, max: 10, value: 3, inputmode: 'numeric' });
    const src = h('select', {}, h('option', { value: 'new' }, 'Create a brand-new key'), h('option', { value: 'nsec' }, 'Split my existing key (nsec)'));
    const nsec = h('input', { type: 'password', autocomplete: 'off', spellcheck: 'false', placeholder: 'nsec1…' });
    const nsecField = field('Your nsec', nsec, 'Used once to make the shares, then forgotten by the box. Afterwards, delete it everywhere else too.');
    nsecField.hidden = true;
    src.addEventListener('change', () => { nsecField.hidden = src.value !== 'nsec'; });
    const pw = h('input', { type: 'password', autocomplete: 'new-password' });
    const msg = msgBox();
    const btn = h('button', { class: 'btn', type: 'submit' }, 'Next');
    const explain = h('div', { class: 'msg info' },
      h('p', {}, h('strong', {}, 'How shares work. '), 'Your key is cut into several shares. Any "threshold" number of them, working together, can sign; fewer learn nothing about the key. With 2 of 3, for example, you can lose one device and still sign, and a thief needs two devices.'),
      h('p', {}, 'This box keeps share 1. Each other share goes to another device you control (a phone app, a desktop signer, a second Frostbox). The whole key is never stored anywhere.'));
    const form = h('form', { class: 'card', novalidate: true }, stepper(2), h('h2', {}, 'Create a new key'), explain,
      h('div', { class: 'grid' }, field('Threshold (shares needed to sign)', t), field('Total shares', n)),
      field('Key', src), nsecField,
      field('Password for the share packages', pw, 'Each share you hand out is encrypted with this password; the other device asks for it on import.'),
      msg, h('div', { class: 'row' }, btn, h('button', { type: 'button', class: 'btn secondary', onclick: stepKeys }, 'Back')));
    form.addEventListener('submit', async (e) => {
      e.preventDefault(); msg.clear();
      const k = Number(t.value); const total = Number(n.value);
      if (!Number.isInteger(k) || !Number.isInteger(total) || total < 2 || total > 10 || k < 2 || k > total) { msg.show('Use 2 to 10 shares, and a threshold between 2 and the total number of shares.'); return; }
      if (src.value === 'nsec' && !/^nsec1/.test(nsec.value.trim())) { msg.show('Paste a key that starts with nsec1.'); nsec.focus(); return; }
      if (pw.value.length < 8) { msg.show('Pick a package password of at least 8 characters.'); pw.focus(); return; }
      const body = { threshold: k, total, password: pw.value };
      if (src.value === 'nsec') body.nsec = nsec.value.trim();
      nsec.value = ''; pw.value = '';
      stepMode(async (mode, lockPassword) => {
        const b = { ...body, mode };
        if (lockPassword) b.lock_password = lockPassword;
        const res = await post('api/keyset/create', b);
        return () => showShares(res);
      });
    });
    show(form);
  }

  function showShares(res) {
    const shares = (res.shares || res.packages || []).filter((s) => !s.local);
    const list = h('div');
    shares.forEach((s, i) => {
      const text = s.credential || s.bfonboard || s.bfshare || s.package || '';
      const idx = s.idx ?? s.index ?? i + 2;
      const q = qrToggle(() => text, `QR code of share ${idx}`);
      list.append(h('div', { class: 'card' }, h('h3', {}, `Share ${idx}`),
        h('p', { class: 'secret mono' }, text),
        h('div', { class: 'row' }, h('button', { type: 'button', class: 'btn small', onclick: () => copy(text, `Share ${idx}`) }, 'Copy'),
          h('button', { type: 'button', class: 'btn small', onclick: () => download(`frostbox-share-${idx}.txt`, `${text}\n`) }, 'Download'), q.button), q.holder));
    });
    const ack = h('input', { type: 'checkbox', id: 'ack-shares' });
    const cont = h('button', { class: 'btn', type: 'button', disabled: true, onclick: () => { list.textContent = ''; ctx.go('dashboard'); } }, 'Continue to the dashboard');
    ack.addEventListener('change', () => { cont.disabled = !ack.checked; });
    show(h('div', { class: 'card' }, stepper(2), h('h2', {}, 'Hand out the other shares'),
      h('p', {}, `Threshold: ${res.threshold ?? '?'} of ${res.total ?? (shares.length + 1)}. This box kept its own share. Give each share below to a different device and keep the package password separately. They are shown only now.`),
      list, h('div', { class: 'field' }, h('label', { class: 'check', for: 'ack-shares' }, ack, 'I have saved every share somewhere safe')), cont));
  }

  // Last step: how the share is sealed on this box. `finish(mode, lockPassword)` stores the key;
  // it may return a function to show next (created shares) instead of the dashboard.
  function stepMode(finish) {
    const msg = msgBox();
    const lockPw = h('input', { type: 'password', autocomplete: 'new-password' });
    const lockPw2 = h('input', { type: 'password', autocomplete: 'new-password' });
    const lockBox = h('div', { hidden: true }, field('Unlock password', lockPw, 'Asked after every restart. At least 8 characters; your login password is fine.'), field('Repeat unlock password', lockPw2));
    const radio = (val, label, text) => h('div', { class: 'field' }, h('label', { class: 'check', for: `sm-${val}` },
      h('input', { type: 'radio', name: 'sm', id: `sm-${val}`, value: val, checked: val === 'unattended' }), h('span', {}, h('strong', {}, label), h('br'), text)));
    const btn = h('button', { class: 'btn', type: 'submit' }, 'Save and finish');
    const form = h('form', { class: 'card', novalidate: true }, stepper(3), h('h2', {}, 'What should happen after a restart?'),
      h('fieldset', {}, h('legend', { class: 'offscreen' }, 'After a restart'),
        radio('unattended', 'Unattended (recommended for an always-on box)', 'Signs again right after a power cut or reboot, with nobody logging in. The share is encrypted with a key kept on this box, so whoever takes the box and its disk holds this one share — which alone cannot sign.'),
        radio('locked', 'Locked', 'After every restart the signer waits until you log in here and unlock it with a password. Safer if the box could be stolen, but it cannot sign until you do.')),
      lockBox, msg, h('div', { class: 'row' }, btn, h('button', { type: 'button', class: 'btn secondary', onclick: stepKeys }, 'Start over')));
    form.addEventListener('change', () => { lockBox.hidden = form.querySelector('input[name=sm]:checked')?.value !== 'locked'; });
    form.addEventListener('submit', async (e) => {
      e.preventDefault(); msg.clear();
      const mode = form.querySelector('input[name=sm]:checked')?.value || 'unattended';
      let pw = null;
      if (mode === 'locked') {
        if (lockPw.value.length < 8) { msg.show('The unlock password needs at least 8 characters.'); lockPw.focus(); return; }
        if (lockPw.value !== lockPw2.value) { msg.show('The two passwords differ.'); lockPw2.focus(); return; }
        pw = lockPw.value;
      }
      busy(btn, true);
      try {
        const next = await finish(mode, pw);
        lockPw.value = ''; lockPw2.value = '';
        await ctx.refreshStatus();
        if (typeof next === 'function') next(); else ctx.go('dashboard');
      } catch (err) { msg.show(errorText(err)); } finally { busy(btn, false); }
    });
    show(form);
  }

  if (ctx.onboarding?.initialized) {
    if (!ctx.user) { ctx.go('login'); return null; }
    stepKeys();
  } else stepCode();
  return () => { code = null; box.textContent = ''; };
}
