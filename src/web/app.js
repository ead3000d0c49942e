// The dashboard's shell: the header (project, stack health and score, the connection), the
// banner that says when the daemon is away or the session is over, and the hash router
// that shows one view at a time:
//   #/                 the stack (overview.js)
//   #/service/NAME     one service (service.js)
//   #/machine, #/ports, #/alerts, #/events
//
// Views are made once and kept; each is `{el, show(params), hide()}` and listens to the
// live connection itself. `ctx` is what they share: the connection, the latest status and
// sample, and the "reconnected" signal that tells them to fetch again what they hold.

import { Live, getJSON, onSessionEnded } from './api.js';
import { createOverview } from './overview.js';
import { createService } from './service.js';
import { createMachine } from './machine.js';
import { createPorts } from './ports.js';
import { createAlerts } from './alerts.js';
import { createEvents } from './events.js';

const live = new Live();
const reconnectListeners = [];

const ctx = {
  live,
  /** The latest `/v1/status`, `null` before the first. */
  status: null,
  /** The latest sampling round and the one before it (for rates). */
  sample: null,
  previousSample: null,
  /** Calls `fn` after the daemon came back, to fetch again what a view holds. */
  onReconnect(fn) {
    reconnectListeners.push(fn);
  },
  navigate(hash) {
    if (location.hash === hash) route();
    else location.hash = hash;
  },
};

// --- the header --------------------------------------------------------------------------

const $ = (id) => document.getElementById(id);

function renderHeader(status) {
  $('project').textContent = status.project;
  document.title = `${status.project} · berth`;
  const health = $('stack-health');
  health.textContent = status.health;
  health.className = `badge health-${status.health}`;
  const score = $('stack-score');
  score.textContent = status.score === null || status.score === undefined ? '' : `score ${status.score}`;
  score.title = status.score_reasons && status.score_reasons.length
    ? status.score_reasons.join('; ')
    : "The stack's score: the lowest of its critical services'";
}

function acceptStatus(status) {
  ctx.status = status;
  renderHeader(status);
}

live.on('status', acceptStatus);
live.on('sample', (sample) => {
  ctx.previousSample = ctx.sample;
  ctx.sample = sample;
});

// The sticky table headers sit under the sticky page header, whatever its height.
const top = document.querySelector('header.top');
new ResizeObserver(() => {
  document.documentElement.style.setProperty('--header-height', `${top.offsetHeight}px`);
}).observe(top);

// --- the connection and the banner -------------------------------------------------------

let bannerTimer = 0;

function banner(text, kind) {
  const el = $('banner');
  clearTimeout(bannerTimer);
  if (!text) {
    el.hidden = true;
    el.textContent = '';
    return;
  }
  el.className = `banner banner-${kind}`;
  el.textContent = '';
  if (Array.isArray(text)) el.append(...text);
  else el.textContent = text;
  el.hidden = false;
}

function code(text) {
  const c = document.createElement('code');
  c.textContent = text;
  return c;
}

const CONN_TEXT = {
  connecting: 'connecting…',
  live: 'live',
  away: 'away, reconnecting…',
  ended: 'session ended',
};

live.on('state', ({ state, reconnected }) => {
  const conn = $('conn');
  conn.dataset.state = state;
  conn.textContent = CONN_TEXT[state];
  document.body.dataset.connection = state;
  if (state === 'away') {
    banner('The daemon is away — reconnecting…', 'warn');
  } else if (state === 'ended') {
    banner(['Your session has ended — run ', code('berth dashboard'), ' for a new link.'], 'error');
  } else if (state === 'live' && reconnected) {
    banner('Reconnected.', 'ok');
    bannerTimer = setTimeout(() => banner(null), 4000);
    for (const fn of reconnectListeners) fn();
  }
});

onSessionEnded(() => live.end());

// --- the router ----------------------------------------------------------------------------

const main = $('main');
const views = {};
let current = null;

function view(name) {
  if (!views[name]) {
    const make = { overview: createOverview, service: createService, machine: createMachine, ports: createPorts, alerts: createAlerts, events: createEvents }[name];
    views[name] = make(ctx);
    views[name].el.hidden = true;
    main.appendChild(views[name].el);
  }
  return views[name];
}

function parse(hash) {
  const parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] === 'service' && parts[1]) return { name: 'service', params: { service: parts[1] } };
  if (['machine', 'ports', 'alerts', 'events'].includes(parts[0])) return { name: parts[0], params: {} };
  return { name: 'overview', params: {} };
}

function route() {
  const { name, params } = parse(location.hash);
  const next = view(name);
  if (current && current !== next) {
    current.hide();
    current.el.hidden = true;
  }
  next.el.hidden = false;
  const from = current;
  current = next;
  next.show(params, from !== next);
  for (const a of document.querySelectorAll('nav a[data-view]')) {
    const here = a.dataset.view === name || (name === 'service' && a.dataset.view === 'overview');
    if (here) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

window.addEventListener('hashchange', route);

// "/" focuses the current view's filter, as in many tools (Escape in a filter clears it);
// Escape elsewhere on a service's page goes back to the stack.
document.addEventListener('keydown', (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  const t = e.target;
  if (t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement || t instanceof HTMLSelectElement) return;
  if (e.key === '/') {
    const filter = current && current.el.querySelector('input[type=search]');
    if (filter) {
      e.preventDefault();
      filter.focus();
    }
  } else if (e.key === 'Escape' && current === views.service && !document.querySelector('dialog[open]')) {
    ctx.navigate('#/');
  }
});

// --- start -----------------------------------------------------------------------------------

route();
// The alerts' view keeps the header's count of firing alerts, whichever view is shown.
view('alerts');
live.connect();
// The stream's first message is a status; asking for it too draws the table a little sooner
// when the stream is slow to open, and finds a 401 at once.
getJSON('/v1/status')
  .then((status) => {
    if (!ctx.status) live.emit('status', status);
  })
  .catch(() => {});
