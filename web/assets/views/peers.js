// The other devices of the group: online state, last seen, round-trip time, ping, policies.
import { get, post, put } from '../api.js';
import { h, badge, ago, short, npub, msgBox, errorText, toast } from '../dom.js';

export async function render(root) {
  const msg = msgBox();
  const body = h('div');
  const pingAll = h('button', { type: 'button', class: 'btn secondary' }, 'Ping all');
  root.append(h('h1', {}, 'Devices'),
    h('p', { class: 'lead' }, 'The other devices that hold shares of your key. "Sends requests" lets this box ask a device to co-sign; "answers requests" lets this box co-sign when that device asks.'),
    h('div', { class: 'row' }, pingAll), msg, body);

  let peers = [];
  async function load() {
    try {
      const r = await get('api/peers');
      peers = r.peers || [];
      msg.clear();
    } catch (e) { msg.show(errorText(e)); peers = []; }
    draw();
  }

  function draw() {
    body.textContent = '';
    if (!peers.length) { body.append(h('p', { class: 'card' }, 'No other devices known yet. They appear after a key is set up.')); return; }
    const tb = h('tbody');
    for (const p of peers) {
      const pk = p.pubkey;
      const pol = p.policy || {};
      const send = pol.effectiveSend ?? pol.allowSend ?? pol.send ?? true;
      const recv = pol.effectiveReceive ?? pol.allowReceive ?? pol.receive ?? pol.recv ?? true;
      const mk = (label, checked, key) => {
        const id = `pol-${key}-${pk}`;
        const cb = h('input', { type: 'checkbox', id, checked });
        cb.addEventListener('change', async () => {
          cb.disabled = true;
          try {
            await put(`api/peers/${encodeURIComponent(pk)}/policy`, { allowSend: key === 'send' ? cb.checked : send, allowReceive: key === 'recv' ? cb.checked : recv });
            toast('Policy saved.', 'ok');
            await load();
          } catch (e) { cb.checked = !cb.checked; toast(errorText(e), 'error'); } finally { cb.disabled = false; }
        });
        return h('label', { class: 'check', for: id }, cb, label);
      };
      const ping = h('button', { type: 'button', class: 'btn small' }, 'Ping');
      ping.addEventListener('click', async () => {
        ping.disabled = true; ping.textContent = 'Pinging…';
        try {
          const r = await post('api/peers/ping', { target: pk });
          toast(r.success ? `Answered in ${Math.round(r.latency ?? r.rtt_ms ?? 0)} ms.` : `No answer: ${r.error || 'timeout'}.`, r.success ? 'ok' : 'error');
          await load();
        } catch (e) { toast(errorText(e), 'error'); ping.disabled = false; ping.textContent = 'Ping'; }
      });
      const name = p.label || pol.label || `Device ${p.idx ?? ''}`.trim();
      tb.append(h('tr', {},
        h('td', {}, h('strong', {}, name), h('br'), h('span', { class: 'mono', title: pk }, short(npub(pk), 10))),
        h('td', {}, p.online ? badge('Online', 'ok') : badge('Offline', 'err')),
        h('td', { class: 'hide-sm' }, ago(p.lastSeen ?? p.last_seen)),
        h('td', { class: 'hide-sm' }, (p.latency ?? p.rtt_ms) != null ? `${Math.round(p.latency ?? p.rtt_ms)} ms` : '—'),
        h('td', {}, mk('Sends requests', send, 'send'), mk('Answers requests', recv, 'recv')),
        h('td', {}, ping)));
    }
    body.append(h('div', { class: 'card' }, h('table', {}, h('caption', { class: 'offscreen' }, 'Devices in this group'),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Device'), h('th', { scope: 'col' }, 'State'), h('th', { scope: 'col', class: 'hide-sm' }, 'Last seen'),
        h('th', { scope: 'col', class: 'hide-sm' }, 'Round trip'), h('th', { scope: 'col' }, 'Policy'), h('th', { scope: 'col' }, h('span', { class: 'offscreen' }, 'Actions')))), tb)));
  }

  pingAll.addEventListener('click', async () => {
    pingAll.disabled = true;
    try {
      const r = await post('api/peers/ping', { target: 'all' });
      const res = r.results || [];
      toast(`${res.filter((x) => x.success).length} of ${res.length} devices answered.`, 'ok');
      await load();
    } catch (e) { toast(errorText(e), 'error'); } finally { pingAll.disabled = false; }
  });

  await load();
  const timer = setInterval(() => { if (!document.hidden) load(); }, 15000);
  return () => clearInterval(timer);
}
