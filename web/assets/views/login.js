import { post } from '../api.js';
import { h, field, msgBox, errorText } from '../dom.js';

export async function render(root, ctx) {
  const user = h('input', { type: 'text', autocomplete: 'username', name: 'username', required: true });
  const pw = h('input', { type: 'password', autocomplete: 'current-password', name: 'password', required: true });
  const msg = msgBox();
  const btn = h('button', { class: 'btn', type: 'submit' }, 'Log in');
  const form = h('form', { class: 'card', novalidate: true }, field('Username', user), field('Password', pw), msg, btn);
  form.addEventListener('submit', async (e) => {
    e.preventDefault(); msg.clear();
    if (!user.value.trim() || !pw.value) { msg.show('Enter your username and password.'); return; }
    btn.disabled = true;
    try {
      await post('api/auth/login', { username: user.value.trim(), password: pw.value }, { allow401: true });
      pw.value = '';
      await ctx.loggedIn({ username: user.value.trim() });
      ctx.go(ctx.takeReturn('dashboard'));
    } catch (err) {
      msg.show(err.status === 401 ? 'Wrong username or password.' : errorText(err));
      pw.focus();
    } finally { btn.disabled = false; }
  });
  root.append(h('h1', {}, 'Log in to Frostbox'), form);
  user.focus();
  return () => { pw.value = ''; };
}
