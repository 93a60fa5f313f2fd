// Live event log over /api/events: filter by type, search, pause, export. Memory only. Shows
// the selected keyset's events (signing, ECDH, peers, refusals) and the box-wide ones.
import { events, onEvent, onEventsState, currentKeyset, forSelectedKeyset } from '../api.js';
import { h, download } from '../dom.js';

export async function render(root) {
  const type = h('select', { id: 'log-type' }, h('option', { value: '' }, 'All types'));
  const search = h('input', { type: 'text', id: 'log-search', placeholder: 'Search messages' });
  const pause = h('button', { type: 'button', class: 'btn secondary', 'aria-pressed': 'false' }, 'Pause');
  const state = h('span', { class: 'help', 'aria-live': 'polite' });
  const list = h('ul', { class: 'log', 'aria-label': 'Events, newest first' });
  const note = h('p', { class: 'help', 'aria-live': 'polite' });
  let paused = false; let held = 0;
  const types = new Set();

  const matches = (ev) => forSelectedKeyset(ev) && (!type.value || ev.type === type.value)
    && (!search.value || `${ev.type} ${ev.message} ${ev.data ? JSON.stringify(ev.data) : ''}`.toLowerCase().includes(search.value.toLowerCase()));
  const row = (ev) => h('li', {}, h('span', { class: 't' }, new Date(Number.isFinite(Date.parse(ev.timestamp)) ? Date.parse(ev.timestamp) : ev.received || Date.now()).toLocaleTimeString()),
    h('span', { class: `ty ${ev.type}` }, ev.type || 'event'), h('span', {}, ev.message || '', ev.data ? h('span', { class: 'help mono' }, ` ${JSON.stringify(ev.data).slice(0, 300)}`) : ''));
  const addType = (t) => { if (t && !types.has(t)) { types.add(t); type.append(h('option', { value: t }, t)); } };
  function redraw() {
    list.textContent = '';
    const shown = events.log.filter(matches).slice(-300).reverse();
    for (const ev of shown) list.append(row(ev));
    if (!shown.length) list.append(h('li', { class: 'empty lead' }, 'No events yet.'));
  }
  for (const ev of events.log) addType(ev.type);
  type.addEventListener('change', redraw);
  search.addEventListener('input', redraw);
  pause.addEventListener('click', () => {
    paused = !paused;
    pause.textContent = paused ? 'Resume' : 'Pause';
    pause.setAttribute('aria-pressed', String(paused));
    if (!paused) { held = 0; note.textContent = ''; redraw(); }
  });
  const off = onEvent((ev) => {
    addType(ev.type);
    if (paused) { held++; note.textContent = `Paused: ${held} new event${held === 1 ? '' : 's'} waiting.`; return; }
    if (!matches(ev)) return;
    list.querySelector('li.empty')?.remove();
    list.prepend(row(ev));
    while (list.children.length > 300) list.lastChild.remove();
  });
  const showState = (s) => { state.textContent = s === 'open' ? 'Live: receiving events.' : s === 'connecting' ? 'Connecting…' : 'Not connected; retrying.'; };
  const off2 = onEventsState(showState); showState(events.state);
  const exportBtn = h('button', { type: 'button', class: 'btn secondary', onclick: () => {
    const lines = events.log.filter(matches).map((e) => JSON.stringify(e)).join('\n');
    download(`frostbox-events-${new Date().toISOString().replace(/[:.]/g, '-')}.jsonl`, `${lines}\n`, 'application/x-ndjson');
  } }, 'Export');
  const clear = h('button', { type: 'button', class: 'btn secondary', onclick: () => { events.log.length = 0; redraw(); } }, 'Clear');
  root.append(h('h1', {}, 'Event log'),
    h('p', { class: 'lead' }, 'What the box is doing, live. Kept only in this page (up to 500 events); export to keep them.'),
    h('p', { class: 'help' }, `Keyset ${currentKeyset()}: its signing, ECDH, peer and refusal events, and the box's own.`),
    h('div', { class: 'card' }, h('div', { class: 'grid' },
      h('div', { class: 'field' }, h('label', { for: 'log-type' }, 'Type'), type),
      h('div', { class: 'field' }, h('label', { for: 'log-search' }, 'Search'), search)),
    h('div', { class: 'row' }, pause, exportBtn, clear, state), note), h('div', { class: 'card' }, list));
  redraw();
  return () => { off(); off2(); };
}
