// The event timeline (#/events): what happened to the stack, newest first, filtered by kind
// and by service, and live. `eventItem` writes one event; a service's page uses it too.

import { getNDJSON, query } from './api.js';
import * as fmt from './format.js';

const KINDS = ['started', 'ready', 'exited', 'restarting', 'failed', 'stopped', 'completed', 'adopted', 'port', 'health', 'alert', 'watch', 'config', 'history', 'api'];
const KEEP = 2000;

/** Kinds that are bad news, drawn as such. */
const BAD = new Set(['exited', 'failed', 'restarting']);

/** One event as a list item: its time, service (when `withService`), kind and message. */
export function eventItem(e, withService = true) {
  const li = document.createElement('li');
  li.className = `event kind-${e.kind}${BAD.has(e.kind) ? ' bad' : ''}`;
  li.dataset.kind = e.kind;
  if (e.service) li.dataset.service = e.service;
  const time = document.createElement('time');
  time.dateTime = e.time;
  time.textContent = fmt.clock(e.time);
  time.title = e.time;
  const kind = document.createElement('span');
  kind.className = 'kind';
  kind.textContent = e.kind;
  li.append(time, ' ');
  if (withService) {
    const who = document.createElement(e.service ? 'a' : 'span');
    who.className = 'who';
    if (e.service) who.href = `#/service/${encodeURIComponent(e.service)}`;
    who.textContent = e.service || 'stack';
    li.append(who, ' ');
  }
  const message = document.createElement('span');
  message.className = 'message';
  message.textContent = e.message || describe(e);
  li.append(kind, ' ', message);
  return li;
}

/** What an event with no message says, from its data. */
function describe(e) {
  const d = e.data || {};
  if (d.pid) return `pid ${d.pid}`;
  return '';
}

export function createEvents(ctx) {
  const view = document.createElement('section');
  view.className = 'view view-events';
  view.setAttribute('aria-labelledby', 'events-title');
  view.innerHTML = `
    <div class="toolbar">
      <h1 id="events-title" tabindex="-1">Events</h1>
      <input type="search" placeholder="Service or text (press /)" aria-label="Show only events whose service or message contains" autocomplete="off">
      <span class="muted events-count"></span>
    </div>
    <div class="chips" role="group" aria-label="Kinds shown"></div>
    <ol class="events timeline"></ol>`;
  const list = view.querySelector('ol');
  const chips = view.querySelector('.chips');
  const input = view.querySelector('input');
  const countEl = view.querySelector('.events-count');
  const hidden = new Set();
  let text = '';
  let visible = false;
  let loaded = false;

  const all = document.createElement('button');
  all.type = 'button';
  all.textContent = 'all kinds';
  all.addEventListener('click', () => {
    hidden.clear();
    for (const b of chips.querySelectorAll('[data-kind]')) b.setAttribute('aria-pressed', 'true');
    apply();
  });
  chips.appendChild(all);
  for (const kind of KINDS) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = `chip kind-${kind}`;
    b.dataset.kind = kind;
    b.textContent = kind;
    b.setAttribute('aria-pressed', 'true');
    b.addEventListener('click', () => {
      if (hidden.has(kind)) hidden.delete(kind);
      else hidden.add(kind);
      b.setAttribute('aria-pressed', String(!hidden.has(kind)));
      apply();
    });
    chips.appendChild(b);
  }

  function shows(li) {
    if (hidden.has(li.dataset.kind)) return false;
    return !text || li.textContent.toLowerCase().includes(text);
  }

  function apply() {
    let n = 0;
    for (const li of list.children) {
      li.hidden = !shows(li);
      if (!li.hidden) n++;
    }
    countEl.textContent = `${n} of ${list.childElementCount}`;
  }

  input.addEventListener('input', () => {
    text = input.value.toLowerCase();
    apply();
  });

  async function load() {
    try {
      const events = await getNDJSON('/v1/events' + query({ lines: 1000 }));
      list.replaceChildren(...events.reverse().map((e) => eventItem(e)));
      loaded = true;
      apply();
    } catch (e) {
      list.replaceChildren(Object.assign(document.createElement('li'), { className: 'muted', textContent: `The events could not be read: ${e.message}` }));
    }
  }

  ctx.live.on('event', (e) => {
    if (!loaded) return;
    const li = eventItem(e);
    li.hidden = !shows(li);
    li.classList.add('new');
    list.prepend(li);
    while (list.childElementCount > KEEP) list.lastElementChild.remove();
    if (visible) apply();
  });
  ctx.onReconnect(() => {
    if (visible) load();
    else loaded = false;
  });

  return {
    el: view,
    show() {
      visible = true;
      if (!loaded) load();
      view.querySelector('h1').focus({ preventScroll: true });
    },
    hide() {
      visible = false;
    },
  };
}
