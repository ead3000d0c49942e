// One service (#/service/NAME): its state and figures, start/stop/restart (a stop asks
// first), charts of CPU, memory, descriptors and health-check latency, its live log with a
// filter, its events and alerts, and its definition.
//
// The log follows `GET /v1/logs/NAME?follow=1` (NDJSON read with fetch, aborted when the
// page is left). It keeps to the bottom while you are there; scroll up and it stays where
// you are, with a button to jump back to the newest line.

import { ApiError, getJSON, postJSON, readNDJSON, getNDJSON, query, segment, isSessionEnded } from './api.js';
import * as fmt from './format.js';
import { ChartSet } from './history.js';
import { scoreClass } from './overview.js';
import { eventItem } from './events.js';
import { alertTable } from './alerts.js';

const LOG_KEEP = 5000;
const LOG_BACKLOG = 200;

export function createService(ctx) {
  const view = document.createElement('section');
  view.className = 'view view-service';
  view.setAttribute('aria-labelledby', 'service-title');
  view.innerHTML = `
    <nav class="crumbs" aria-label="Breadcrumb"><a href="#/">Services</a> <span aria-hidden="true">/</span></nav>
    <div class="service-head">
      <h1 id="service-title" tabindex="-1"></h1>
      <span class="badge" data-field="state"></span>
      <span class="badge" data-field="health"></span>
      <span class="badge" data-field="score"></span>
      <div class="actions" role="group" aria-label="Actions">
        <button type="button" data-action="start">Start</button>
        <button type="button" data-action="stop" class="danger">Stop</button>
        <button type="button" data-action="restart">Restart</button>
      </div>
    </div>
    <p class="action-result" role="status" aria-live="polite"></p>
    <dl class="facts">
      <div><dt>PID</dt><dd data-field="pid"></dd></div>
      <div><dt>Port</dt><dd data-field="port"></dd></div>
      <div><dt>Uptime</dt><dd data-field="uptime"></dd></div>
      <div><dt>Restarts</dt><dd data-field="restarts"></dd></div>
      <div><dt>CPU</dt><dd data-field="cpu"></dd></div>
      <div><dt>Memory</dt><dd data-field="mem"></dd></div>
      <div><dt>Exit code</dt><dd data-field="exit"></dd></div>
    </dl>
    <p class="reasons muted" data-field="reasons"></p>
    <div class="charts-slot"></div>
    <section class="log-section" aria-labelledby="log-title">
      <div class="toolbar">
        <h2 id="log-title">Log</h2>
        <input type="search" class="log-filter" placeholder="Filter the log (press /)" aria-label="Show only log lines containing" autocomplete="off">
        <span class="muted log-count"></span>
        <button type="button" class="log-jump" hidden>Jump to the newest line</button>
      </div>
      <div class="log" role="log" aria-label="The service's log" tabindex="0"></div>
    </section>
    <div class="two">
      <section aria-labelledby="svc-events-title">
        <h2 id="svc-events-title">Events</h2>
        <ol class="events service-events"></ol>
      </section>
      <section aria-labelledby="svc-alerts-title">
        <h2 id="svc-alerts-title">Alerts</h2>
        <div class="service-alerts"></div>
      </section>
    </div>
    <details class="definition">
      <summary>Definition</summary>
      <pre class="mono"></pre>
    </details>
    <dialog class="confirm" aria-labelledby="confirm-title">
      <form method="dialog">
        <h2 id="confirm-title">Stop <span class="confirm-name"></span>?</h2>
        <p class="confirm-detail">It is stopped with what depends on it, and stays stopped until it is started again.</p>
        <div class="actions">
          <button value="cancel" type="submit" autofocus>Cancel</button>
          <button value="stop" type="submit" class="danger">Stop</button>
        </div>
      </form>
    </dialog>`;

  const q = (s) => view.querySelector(s);
  const field = (name) => view.querySelector(`[data-field="${name}"]`);
  const title = q('#service-title');
  const crumbs = q('.crumbs');
  const crumbName = document.createElement('span');
  crumbs.appendChild(crumbName);
  const result = q('.action-result');
  const logEl = q('.log');
  const logFilter = q('.log-filter');
  const logCount = q('.log-count');
  const jump = q('.log-jump');
  const eventsEl = q('.service-events');
  const alertsEl = q('.service-alerts');
  const definition = q('.definition pre');
  const dialog = q('dialog');
  const buttons = Object.fromEntries([...view.querySelectorAll('[data-action]')].map((b) => [b.dataset.action, b]));

  let name = null;
  let visible = false;
  let charts = null;
  let logAbort = null;
  let stick = true;
  let unseen = 0;
  let pendingLines = [];
  let flushQueued = false;
  let filterText = '';
  let busy = null;

  // --- the header and facts, from every status ------------------------------------------------
  function renderService(s) {
    const set = (f, text, className) => {
      const e = field(f);
      if (e.textContent !== text) e.textContent = text;
      if (className !== undefined && e.className !== className) e.className = className;
    };
    set('state', s.state, `badge state-${s.state}`);
    set('health', s.health, `badge health-${s.health}`);
    set('score', s.score === null || s.score === undefined ? 'score -' : `score ${s.score}`, `badge ${scoreClass(s.score)}`);
    set('pid', fmt.orDash(s.pid));
    set('port', fmt.port(s.port, s.configured_port));
    set('uptime', fmt.duration(s.uptime_s));
    set('restarts', String(s.restarts));
    set('cpu', fmt.percent(s.cpu_percent));
    set('mem', fmt.bytes(s.rss_bytes));
    set('exit', fmt.orDash(s.exit_code));
    const why = [s.reason, s.note, ...(s.score_reasons || [])].filter(Boolean).join(' · ');
    set('reasons', why);
    // What the buttons can do now. A restart is always possible except while stopping.
    const up = ['running', 'starting', 'waiting', 'backoff'].includes(s.state);
    buttons.start.disabled = busy !== null || up || s.state === 'stopping';
    buttons.stop.disabled = busy !== null || !up;
    buttons.restart.disabled = busy !== null || s.state === 'stopping';
  }

  ctx.live.on('status', (status) => {
    if (!visible || !name) return;
    const s = status.services.find((x) => x.name === name);
    if (s) renderService(s);
  });

  // --- start, stop, restart -----------------------------------------------------------------------
  async function act(action) {
    const target = name;
    busy = action;
    for (const b of Object.values(buttons)) b.disabled = true;
    result.className = 'action-result';
    result.textContent = `${action === 'stop' ? 'Stopping' : action === 'start' ? 'Starting' : 'Restarting'} ${target}…`;
    try {
      const answer = await postJSON(`/v1/services/${segment(target)}/${action}`, action === 'stop' ? {} : undefined);
      const list = answer.services.length ? answer.services.join(', ') : 'nothing';
      result.textContent = `${action === 'stop' ? 'Stopping' : action === 'start' ? 'Starting' : 'Restarting'}: ${list}.`;
    } catch (e) {
      result.className = 'action-result error';
      result.textContent = `Could not ${action} ${target}: ${e.message}`;
    } finally {
      busy = null;
      const s = ctx.status && ctx.status.services.find((x) => x.name === target);
      if (s && target === name) renderService(s);
      else for (const b of Object.values(buttons)) b.disabled = false;
    }
  }

  buttons.start.addEventListener('click', () => act('start'));
  buttons.restart.addEventListener('click', () => act('restart'));
  buttons.stop.addEventListener('click', () => {
    q('.confirm-name').textContent = name;
    dialog.returnValue = '';
    dialog.showModal();
  });
  dialog.addEventListener('close', () => {
    if (dialog.returnValue === 'stop') act('stop');
    else buttons.stop.focus();
  });

  // --- the log ------------------------------------------------------------------------------------
  function matches(text) {
    return !filterText || text.toLowerCase().includes(filterText);
  }

  function lineEl(item) {
    const div = document.createElement('div');
    div.className = `ll stream-${item.stream}`;
    const time = document.createElement('time');
    time.textContent = item.time ? fmt.clock(item.time) : '';
    if (item.time) time.dateTime = item.time;
    const text = document.createElement('span');
    text.textContent = item.line;
    div.append(time, text);
    div.hidden = !matches(item.line);
    return div;
  }

  /** Lines come in bursts: they are added once per frame. */
  function addLine(item) {
    pendingLines.push(item);
    if (!flushQueued) {
      flushQueued = true;
      requestAnimationFrame(flush);
    }
  }

  function flush() {
    flushQueued = false;
    if (!pendingLines.length) return;
    const fragment = document.createDocumentFragment();
    let shown = 0;
    for (const item of pendingLines) {
      const div = lineEl(item);
      if (!div.hidden) shown++;
      fragment.appendChild(div);
    }
    pendingLines = [];
    logEl.appendChild(fragment);
    while (logEl.childElementCount > LOG_KEEP) logEl.firstElementChild.remove();
    if (stick) logEl.scrollTop = logEl.scrollHeight;
    else if (shown) {
      unseen += shown;
      jump.hidden = false;
      jump.textContent = `Jump to the newest line (${unseen} new)`;
    }
    countLines();
  }

  function countLines() {
    const all = logEl.childElementCount;
    if (!filterText) {
      logCount.textContent = `${all} lines`;
      return;
    }
    let shown = 0;
    for (const line of logEl.children) if (!line.hidden) shown++;
    logCount.textContent = `${shown} of ${all} lines`;
  }

  logEl.addEventListener('scroll', () => {
    stick = logEl.scrollTop + logEl.clientHeight >= logEl.scrollHeight - 8;
    if (stick) {
      unseen = 0;
      jump.hidden = true;
    }
  });
  jump.addEventListener('click', () => {
    stick = true;
    unseen = 0;
    jump.hidden = true;
    logEl.scrollTop = logEl.scrollHeight;
    logEl.focus();
  });
  logFilter.addEventListener('input', () => {
    filterText = logFilter.value.toLowerCase();
    for (const line of logEl.children) line.hidden = !matches(line.lastElementChild.textContent);
    countLines();
    if (stick) logEl.scrollTop = logEl.scrollHeight;
  });
  logFilter.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      logFilter.value = '';
      logFilter.dispatchEvent(new Event('input'));
    }
  });

  function followLog() {
    stopLog();
    logEl.replaceChildren();
    pendingLines = [];
    stick = true;
    unseen = 0;
    jump.hidden = true;
    const abort = new AbortController();
    logAbort = abort;
    const target = name;
    let refused = false;
    readNDJSON(`/v1/logs/${segment(target)}` + query({ lines: LOG_BACKLOG, follow: 1 }), addLine, abort.signal)
      .catch((e) => {
        // A 4xx (no such service) will not change by asking again.
        refused = e instanceof ApiError && e.status < 500;
        if (!abort.signal.aborted) addLine({ time: null, stream: 'berth', line: `(the log could not be read: ${e.message})` });
      })
      .finally(() => {
        // The answer ended while we still want it (the daemon went away, or cut a slow
        // client): follow again, from scratch, once the daemon answers (or on reconnect).
        if (logAbort === abort && !abort.signal.aborted && !refused && !isSessionEnded()) {
          setTimeout(() => {
            if (logAbort === abort && ctx.live.state === 'live') followLog();
          }, 2000);
        }
      });
  }

  function stopLog() {
    if (logAbort) logAbort.abort();
    logAbort = null;
  }

  // --- events and alerts ---------------------------------------------------------------------------
  async function loadEvents() {
    const target = name;
    try {
      const list = await getNDJSON('/v1/events' + query({ service: target, lines: 50 }));
      if (target !== name) return;
      eventsEl.replaceChildren(...list.reverse().map((e) => eventItem(e, false)));
      if (!list.length) eventsEl.replaceChildren(emptyItem('No events yet.'));
    } catch (e) {
      eventsEl.replaceChildren(emptyItem(`The events could not be read: ${e.message}`));
    }
  }

  function emptyItem(text) {
    const li = document.createElement('li');
    li.className = 'muted';
    li.textContent = text;
    return li;
  }

  async function loadAlerts() {
    const target = name;
    try {
      const answer = await getJSON('/v1/alerts');
      if (target !== name) return;
      const mine = answer.alerts.filter((a) => a.service === target);
      alertsEl.replaceChildren(mine.length ? alertTable(mine, null) : Object.assign(document.createElement('p'), { className: 'muted', textContent: 'None pending or firing.' }));
    } catch (e) {
      alertsEl.textContent = `The alerts could not be read: ${e.message}`;
    }
  }

  ctx.live.on('event', (e) => {
    if (!visible || e.service !== name) return;
    const first = eventsEl.firstElementChild;
    if (first && first.classList.contains('muted')) first.remove();
    eventsEl.prepend(eventItem(e, false));
    while (eventsEl.childElementCount > 50) eventsEl.lastElementChild.remove();
    if (e.kind === 'alert') loadAlerts();
  });

  // --- showing a service ---------------------------------------------------------------------------
  async function open(next) {
    name = next;
    title.textContent = next;
    crumbName.textContent = next;
    document.title = `${next} · berth`;
    result.textContent = '';
    definition.textContent = '';
    logFilter.value = '';
    filterText = '';
    if (charts) {
      charts.stop();
      charts.el.remove();
    }
    const params = { service: next };
    charts = new ChartSet(ctx, [
      { title: 'CPU (% of one core)', metric: 'cpu_percent', params, format: fmt.percent, live: (s) => s.services.find((x) => x.name === next)?.cpu_percent },
      { title: 'Memory (RSS)', metric: 'rss_bytes', params, format: fmt.bytes, axis: { bytes: true }, live: (s) => s.services.find((x) => x.name === next)?.rss_bytes },
      { title: 'Open descriptors', metric: 'open_fds', params, format: fmt.count, live: (s) => s.services.find((x) => x.name === next)?.open_fds },
      { title: 'Health-check latency', metric: 'check_ms', params, format: fmt.millis },
    ], `${next} over time`);
    q('.charts-slot').replaceChildren(charts.el);
    charts.start();
    const s = ctx.status && ctx.status.services.find((x) => x.name === next);
    if (s) renderService(s);
    followLog();
    loadEvents();
    try {
      const detail = await getJSON(`/v1/services/${segment(next)}`);
      if (name !== next) return;
      renderService(detail.service);
      definition.textContent = JSON.stringify(detail.definition, null, 2);
      if (!detail.definition.health) charts.chart('check_ms').setEmptyText('no health check configured');
      const mine = detail.alerts;
      alertsEl.replaceChildren(mine.length ? alertTable(mine, null) : Object.assign(document.createElement('p'), { className: 'muted', textContent: 'None pending or firing.' }));
    } catch (e) {
      result.className = 'action-result error';
      result.textContent = e.status === 404 ? e.message : `The service could not be read: ${e.message}`;
    }
  }

  ctx.onReconnect(() => {
    if (!visible || !name) return;
    followLog();
    loadEvents();
    loadAlerts();
  });

  return {
    el: view,
    show(params) {
      visible = true;
      if (params.service !== name || !logAbort) open(params.service);
      title.focus({ preventScroll: true });
    },
    hide() {
      visible = false;
      stopLog();
      if (charts) charts.stop();
      name = null;
    },
  };
}
