// Ports (#/ports): each service's port and who holds it, every listening socket with its
// holder (the stack's flagged), and the port decisions berth made (events of kind `port`).

import { getJSON, getNDJSON, query } from './api.js';
import * as fmt from './format.js';
import { eventItem } from './events.js';

function td(text, className) {
  const e = document.createElement('td');
  e.textContent = text;
  if (className) e.className = className;
  return e;
}

function table(headers, rows) {
  const t = document.createElement('table');
  t.className = 'plain';
  const head = document.createElement('thead');
  const tr = document.createElement('tr');
  for (const [h, num] of headers) {
    const th = document.createElement('th');
    th.scope = 'col';
    th.textContent = h;
    if (num) th.className = 'num';
    tr.appendChild(th);
  }
  head.appendChild(tr);
  const body = document.createElement('tbody');
  body.append(...rows);
  t.append(head, body);
  return t;
}

function serviceLink(name) {
  const a = document.createElement('a');
  a.href = `#/service/${encodeURIComponent(name)}`;
  a.textContent = name;
  return a;
}

export function createPorts(ctx) {
  const view = document.createElement('section');
  view.className = 'view view-ports';
  view.setAttribute('aria-labelledby', 'ports-title');
  view.innerHTML = `
    <div class="toolbar">
      <h1 id="ports-title" tabindex="-1">Ports</h1>
      <label class="inline"><input type="checkbox" class="ports-all"> UDP too</label>
      <input type="search" placeholder="Filter sockets (press /)" aria-label="Show only sockets whose port, holder or service contains" autocomplete="off">
      <span class="muted ports-updated"></span>
    </div>
    <h2>The stack's ports</h2>
    <div class="table-wrap ports-services"></div>
    <h2>Listening sockets</h2>
    <div class="table-wrap ports-listening"></div>
    <h2>Port decisions</h2>
    <ol class="events ports-decisions"></ol>`;
  const servicesEl = view.querySelector('.ports-services');
  const listeningEl = view.querySelector('.ports-listening');
  const decisions = view.querySelector('.ports-decisions');
  const all = view.querySelector('.ports-all');
  const filter = view.querySelector('input[type=search]');
  const updated = view.querySelector('.ports-updated');
  let visible = false;
  let timer = 0;
  let last = null;

  function render() {
    if (!last) return;
    const { services, listening } = last;
    servicesEl.replaceChildren(services.length
      ? table([['Service'], ['Port', true], ['Configured', true], ['State'], ['Held by']], services.map((p) => {
        const tr = document.createElement('tr');
        const name = document.createElement('td');
        name.appendChild(serviceLink(p.service));
        const state = document.createElement('td');
        const badge = document.createElement('span');
        badge.className = `badge port-${p.state}`;
        badge.textContent = p.state;
        state.appendChild(badge);
        tr.append(name, td(String(p.port), 'num'), td(p.configured_port ? String(p.configured_port) : '', 'num'), state, td(p.holder || (p.state === 'ours' ? 'the service' : '-')));
        return tr;
      }))
      : Object.assign(document.createElement('p'), { className: 'muted', textContent: 'No service of the stack has a port.' }));
    const words = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
    const rows = [];
    // The stack's sockets first, then by port.
    const sorted = [...listening].sort((a, b) => (b.configured_for ? 1 : 0) - (a.configured_for ? 1 : 0) || a.port - b.port);
    for (const l of sorted) {
      const hay = `${l.port} ${l.proto} ${l.address} ${l.pid ?? ''} ${l.user ?? ''} ${l.command ?? ''} ${l.service ?? ''} ${l.configured_for ?? ''}`.toLowerCase();
      if (!words.every((w) => hay.includes(w))) continue;
      const tr = document.createElement('tr');
      if (l.configured_for) tr.className = l.ours ? 'stack' : 'stack conflict';
      const svc = document.createElement('td');
      if (l.configured_for) {
        svc.appendChild(serviceLink(l.configured_for));
        const flag = document.createElement('span');
        flag.className = `badge ${l.ours ? 'port-ours' : 'port-conflict'}`;
        flag.textContent = l.ours ? 'stack' : 'in the way';
        flag.title = l.ours ? 'held by this service of the stack' : `the port of ${l.configured_for}, held by someone else`;
        svc.append(' ', flag);
      } else if (l.service) {
        svc.textContent = `${l.service}${l.project ? ` (${l.project})` : ''}`;
      }
      tr.append(td(String(l.port), 'num'), td(l.proto), td(l.address, 'mono'), td(fmt.orDash(l.pid), 'num'), td(fmt.orDash(l.user)), td(fmt.orDash(l.command), 'mono command'), svc);
      rows.push(tr);
    }
    listeningEl.replaceChildren(table([['Port', true], ['Proto'], ['Address'], ['PID', true], ['User'], ['Command'], ['Service']], rows));
  }

  async function load() {
    try {
      last = await getJSON('/v1/ports' + query({ all: all.checked ? 1 : null }));
      updated.textContent = `as of ${fmt.clock(Date.now())}`;
      render();
    } catch (e) {
      updated.textContent = `could not read the ports: ${e.message}`;
    }
  }

  async function loadDecisions() {
    try {
      const events = await getNDJSON('/v1/events' + query({ kind: 'port', lines: 200 }));
      decisions.replaceChildren(...events.reverse().map((e) => eventItem(e)));
      if (!events.length) decisions.replaceChildren(Object.assign(document.createElement('li'), { className: 'muted', textContent: 'No port decisions yet: every service got the port berth.yaml gives it.' }));
    } catch (e) {
      decisions.replaceChildren(Object.assign(document.createElement('li'), { className: 'muted', textContent: `The events could not be read: ${e.message}` }));
    }
  }

  all.addEventListener('change', load);
  filter.addEventListener('input', render);
  ctx.live.on('event', (e) => {
    if (!visible) return;
    if (e.kind === 'port') loadDecisions();
    if (['started', 'stopped', 'exited', 'port'].includes(e.kind)) load();
  });

  return {
    el: view,
    show() {
      visible = true;
      load();
      loadDecisions();
      clearInterval(timer);
      timer = setInterval(load, 5000);
      view.querySelector('h1').focus({ preventScroll: true });
    },
    hide() {
      visible = false;
      clearInterval(timer);
    },
  };
}
