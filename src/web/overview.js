// The stack: a summary of the machine, and one row per service with its state, health,
// score, pid, port, uptime, restarts, CPU and memory (with 15-minute sparklines).
//
// Made for 200 services: the rows are built once, when the set of services is first seen
// (or changes), and each `status` only rewrites the cells whose text changed. Sparklines
// are fetched from history only for rows that come into view (an IntersectionObserver),
// a few requests at a time, then kept up by the `sample` messages; only rows in view are
// redrawn.
//
// Keyboard: the rows are one tab stop (the active row); ↑/↓ or k/j move, Home/End jump,
// Enter opens the service. Column headers are buttons that sort; "/" focuses the filter.

import { getJSON, query } from './api.js';
import * as fmt from './format.js';
import { Sparkline, addPoint } from './chart.js';
import { machineSummary } from './machine.js';

const SPARK_WINDOW = 15 * 60 * 1000;
const SPARK_STEP = 10 * 1000;
const HISTORY_AT_ONCE = 4;

/** How states sort: the ones that want attention first. */
const STATE_RANK = { failed: 0, backoff: 1, exited: 2, starting: 3, waiting: 4, stopping: 5, running: 6, stopped: 7 };
const HEALTH_RANK = { unhealthy: 0, unknown: 1, healthy: 2 };

const COLUMNS = [
  { key: 'name', label: 'Service', value: (s) => s.name },
  { key: 'state', label: 'State', value: (s) => STATE_RANK[s.state] ?? 9 },
  { key: 'health', label: 'Health', value: (s) => HEALTH_RANK[s.health] ?? 9 },
  { key: 'score', label: 'Score', value: (s) => s.score ?? -1, num: true },
  { key: 'pid', label: 'PID', value: (s) => s.pid ?? -1, num: true },
  { key: 'port', label: 'Port', value: (s) => s.port ?? -1, num: true },
  { key: 'uptime', label: 'Uptime', value: (s) => s.uptime_s ?? -1, num: true },
  { key: 'restarts', label: 'Restarts', value: (s) => s.restarts, num: true },
  { key: 'cpu', label: 'CPU', value: (s) => s.cpu_percent ?? -1, num: true },
  { key: 'mem', label: 'Memory', value: (s) => s.rss_bytes ?? -1, num: true },
];

export function scoreClass(score) {
  if (score === null || score === undefined) return 'score-none';
  if (score >= 90) return 'score-good';
  if (score >= 60) return 'score-fair';
  return 'score-poor';
}

export function createOverview(ctx) {
  const el = document.createElement('section');
  el.className = 'view view-overview';
  el.setAttribute('aria-labelledby', 'overview-title');
  el.innerHTML = `
    <div class="machine-strip" aria-label="The machine"></div>
    <div class="toolbar">
      <h1 id="overview-title">Services</h1>
      <span class="muted" id="overview-counts"></span>
      <input type="search" id="overview-filter" placeholder="Filter (press /)" aria-label="Filter services by name, state or health" autocomplete="off">
    </div>
    <div class="table-wrap">
      <table class="services">
        <caption class="sr-only">Services of the stack. Use the arrow keys to move between rows and Enter to open one.</caption>
        <thead><tr></tr></thead>
        <tbody></tbody>
      </table>
    </div>
    <p class="empty muted" hidden>No service matches the filter.</p>`;

  const strip = el.querySelector('.machine-strip');
  const counts = el.querySelector('#overview-counts');
  const filterInput = el.querySelector('#overview-filter');
  const headRow = el.querySelector('thead tr');
  const tbody = el.querySelector('tbody');
  const empty = el.querySelector('.empty');

  /** name → { tr, cells, text (what each cell shows), service, spark, series, loaded, visible } */
  const rows = new Map();
  let order = [];
  let names = '';
  let sortKey = 'name';
  let sortDir = 1;
  let filter = '';
  let active = null;
  let visible = false;

  // --- headers that sort -----------------------------------------------------------------
  for (const col of COLUMNS) {
    const th = document.createElement('th');
    th.scope = 'col';
    th.dataset.col = col.key;
    if (col.num) th.className = 'num';
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = col.label;
    b.title = `Sort by ${col.label.toLowerCase()}`;
    b.addEventListener('click', () => {
      if (sortKey === col.key) sortDir = -sortDir;
      else {
        sortKey = col.key;
        // Numbers read best largest first; names and states from the top.
        sortDir = col.num ? -1 : 1;
      }
      markSort();
      reorder();
    });
    th.appendChild(b);
    headRow.appendChild(th);
  }
  function markSort() {
    for (const th of headRow.children) {
      th.setAttribute('aria-sort', th.dataset.col === sortKey ? (sortDir > 0 ? 'ascending' : 'descending') : 'none');
    }
  }
  markSort();

  // --- rows ----------------------------------------------------------------------------------
  function makeRow(name) {
    const tr = document.createElement('tr');
    tr.dataset.service = name;
    tr.tabIndex = -1;
    const cells = {};
    for (const col of COLUMNS) {
      const td = document.createElement('td');
      td.dataset.col = col.key;
      if (col.num) td.className = 'num';
      tr.appendChild(td);
      cells[col.key] = td;
    }
    const link = document.createElement('a');
    link.href = `#/service/${encodeURIComponent(name)}`;
    link.tabIndex = -1;
    link.textContent = name;
    const reason = document.createElement('span');
    reason.className = 'reason';
    cells.name.append(link, reason);
    const badge = (td) => {
      const b = document.createElement('span');
      b.className = 'badge';
      td.appendChild(b);
      return b;
    };
    const withSpark = (td, label) => {
      const v = document.createElement('span');
      v.className = 'v';
      const spark = new Sparkline(label, SPARK_WINDOW);
      td.append(spark.el, v);
      return { v, spark };
    };
    const cpu = withSpark(cells.cpu, `${name}: CPU over 15 minutes`);
    const mem = withSpark(cells.mem, `${name}: memory over 15 minutes`);
    const row = {
      name,
      tr,
      text: {},
      targets: {
        name: reason,
        state: badge(cells.state),
        health: badge(cells.health),
        score: badge(cells.score),
        pid: cells.pid,
        port: cells.port,
        uptime: cells.uptime,
        restarts: cells.restarts,
        cpu: cpu.v,
        mem: mem.v,
      },
      sparks: { cpu: cpu.spark, mem: mem.spark },
      series: { cpu: { points: [] }, mem: { points: [] } },
      loaded: false,
      inView: false,
      service: null,
    };
    return row;
  }

  /** Writes a cell only when its text changed (the common case is that nothing did). */
  function put(row, key, text, className) {
    if (row.text[key] === text) return;
    row.text[key] = text;
    const target = row.targets[key];
    target.textContent = text;
    if (className !== undefined) target.className = className;
  }

  function update(row, s) {
    row.service = s;
    // Why it failed or what it waits for, beside the name (cut short; whole in its title);
    // what berth decided about its port, on the port.
    put(row, 'name', s.reason || '');
    if (row.text.reasonTitle !== (s.reason || '')) {
      row.text.reasonTitle = s.reason || '';
      row.targets.name.title = s.reason || '';
    }
    if (row.text.note !== (s.note || '')) {
      row.text.note = s.note || '';
      row.targets.port.title = s.note || '';
    }
    put(row, 'state', s.state, `badge state-${s.state}`);
    put(row, 'health', s.health, `badge health-${s.health}`);
    put(row, 'score', s.score === null || s.score === undefined ? '-' : String(s.score), `badge ${scoreClass(s.score)}`);
    if (row.text.reasons !== s.score_reasons.join('; ')) {
      row.text.reasons = s.score_reasons.join('; ');
      row.targets.score.title = row.text.reasons || 'no points lost';
    }
    put(row, 'pid', fmt.orDash(s.pid));
    put(row, 'port', fmt.port(s.port, s.configured_port));
    put(row, 'uptime', fmt.duration(s.uptime_s));
    put(row, 'restarts', String(s.restarts));
    put(row, 'cpu', fmt.percent(s.cpu_percent));
    put(row, 'mem', fmt.bytes(s.rss_bytes));
  }

  function render(status) {
    const list = status.services;
    const key = list.map((s) => s.name).join('\n');
    if (key !== names) {
      // The set of services changed (the first status, or a new config): make the rows
      // that are new, drop those that are gone. Kept rows keep their sparklines.
      names = key;
      const keep = new Set(list.map((s) => s.name));
      for (const [name, row] of rows) {
        if (!keep.has(name)) {
          observer.unobserve(row.tr);
          row.tr.remove();
          rows.delete(name);
        }
      }
      const fragment = document.createDocumentFragment();
      for (const s of list) {
        if (!rows.has(s.name)) {
          const row = makeRow(s.name);
          rows.set(s.name, row);
          fragment.appendChild(row.tr);
          observer.observe(row.tr);
        }
      }
      tbody.appendChild(fragment);
      order = [];
    }
    for (const s of list) update(rows.get(s.name), s);
    reorder();
    applyFilter();
    // "197 of 200 running · 2 failed · 1 stopped": what is not running, by state.
    const by = {};
    for (const s of list) by[s.state] = (by[s.state] || 0) + 1;
    const others = Object.keys(by).filter((k) => k !== 'running').sort((a, b) => (STATE_RANK[a] ?? 9) - (STATE_RANK[b] ?? 9));
    counts.textContent = [`${by.running || 0} of ${list.length} running`, ...others.map((k) => `${by[k]} ${k}`)].join(' · ');
    if (!active || !rows.has(active)) setActive(order.find((n) => !rows.get(n).tr.hidden) || null, false);
  }

  /** Puts the rows in the sort order; moves DOM nodes only when the order changed. */
  function reorder() {
    const col = COLUMNS.find((c) => c.key === sortKey);
    const list = [...rows.values()].filter((r) => r.service);
    list.sort((a, b) => {
      const x = col.value(a.service);
      const y = col.value(b.service);
      const c = x < y ? -1 : x > y ? 1 : 0;
      return c * sortDir || a.name.localeCompare(b.name);
    });
    const next = list.map((r) => r.name);
    if (next.join('\n') === order.join('\n')) return;
    order = next;
    const fragment = document.createDocumentFragment();
    for (const r of list) fragment.appendChild(r.tr);
    const focused = document.activeElement;
    tbody.appendChild(fragment);
    if (focused && focused !== document.activeElement && tbody.contains(focused)) focused.focus({ preventScroll: true });
  }

  function applyFilter() {
    const words = filter.toLowerCase().split(/\s+/).filter(Boolean);
    let shown = 0;
    for (const row of rows.values()) {
      const s = row.service;
      const hay = s ? `${s.name} ${s.state} ${s.health}`.toLowerCase() : row.name;
      const hide = words.length > 0 && !words.every((w) => hay.includes(w));
      if (row.tr.hidden !== hide) row.tr.hidden = hide;
      if (!hide) shown++;
    }
    empty.hidden = shown > 0 || rows.size === 0;
    if (active && rows.get(active)?.tr.hidden) setActive(order.find((n) => !rows.get(n).tr.hidden) || null, false);
  }

  filterInput.addEventListener('input', () => {
    filter = filterInput.value;
    applyFilter();
  });
  filterInput.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      filterInput.value = '';
      filter = '';
      applyFilter();
    } else if (e.key === 'ArrowDown' || e.key === 'Enter') {
      // From the filter straight into the (filtered) rows.
      e.preventDefault();
      if (active) rows.get(active).tr.focus();
    }
  });

  // --- keyboard: a roving tab stop over the rows ----------------------------------------------
  function setActive(name, focus) {
    if (active && rows.has(active)) rows.get(active).tr.tabIndex = -1;
    active = name;
    if (!name) return;
    const tr = rows.get(name).tr;
    tr.tabIndex = 0;
    if (focus) {
      tr.focus();
      tr.scrollIntoView({ block: 'nearest' });
    }
  }

  function shownNames() {
    return order.filter((n) => !rows.get(n).tr.hidden);
  }

  tbody.addEventListener('keydown', (e) => {
    const tr = e.target.closest('tr');
    if (!tr) return;
    const list = shownNames();
    const i = list.indexOf(tr.dataset.service);
    let next = null;
    if (e.key === 'ArrowDown' || e.key === 'j') next = list[Math.min(list.length - 1, i + 1)];
    else if (e.key === 'ArrowUp' || e.key === 'k') next = list[Math.max(0, i - 1)];
    else if (e.key === 'Home') next = list[0];
    else if (e.key === 'End') next = list[list.length - 1];
    else if (e.key === 'PageDown') next = list[Math.min(list.length - 1, i + 10)];
    else if (e.key === 'PageUp') next = list[Math.max(0, i - 10)];
    else if (e.key === 'Enter' || e.key === 'o') {
      e.preventDefault();
      ctx.navigate(`#/service/${encodeURIComponent(tr.dataset.service)}`);
      return;
    } else return;
    e.preventDefault();
    if (next) setActive(next, true);
  });
  tbody.addEventListener('focusin', (e) => {
    const tr = e.target.closest('tr');
    if (tr && tr.dataset.service !== active) setActive(tr.dataset.service, false);
  });
  tbody.addEventListener('click', (e) => {
    const tr = e.target.closest('tr');
    if (!tr || e.target.closest('a')) return;
    ctx.navigate(`#/service/${encodeURIComponent(tr.dataset.service)}`);
  });

  // --- sparklines: history for rows in view, then live samples ------------------------------
  const waiting = [];
  let fetching = 0;

  const observer = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      const row = rows.get(entry.target.dataset.service);
      if (!row) continue;
      row.inView = entry.isIntersecting;
      if (row.inView) {
        if (!row.loaded && !row.queued) {
          row.queued = true;
          waiting.push(row);
        }
        drawSparks(row);
      }
    }
    pump();
  }, { rootMargin: '200px 0px' });

  function pump() {
    while (fetching < HISTORY_AT_ONCE && waiting.length) {
      const row = waiting.shift();
      if (!rows.has(row.name)) continue;
      fetching++;
      loadHistory(row).finally(() => {
        fetching--;
        pump();
      });
    }
  }

  async function loadHistory(row) {
    const get = (metric) =>
      getJSON('/v1/history' + query({ service: row.name, metric, since: '15m', step: '10s' }));
    try {
      const [cpu, mem] = await Promise.all([get('cpu_percent'), get('rss_bytes')]);
      merge(row.series.cpu, cpu.points);
      merge(row.series.mem, mem.points);
      row.loaded = true;
    } catch {
      // No history (yet): the live samples fill the line; try again when it is next in view.
      row.queued = false;
      return;
    }
    drawSparks(row);
  }

  /** History first, then what the samples brought in meanwhile. */
  function merge(series, points) {
    const live = series.points;
    const from = live.length ? live[0][0] : Infinity;
    series.points = points.filter((p) => p[0] < from).map((p) => [p[0], p[1]]).concat(live);
  }

  function drawSparks(row) {
    if (!visible || !row.inView) return;
    row.sparks.cpu.update(row.series.cpu.points);
    row.sparks.mem.update(row.series.mem.points);
  }

  ctx.live.on('sample', (sample) => {
    const t = Date.parse(sample.time);
    for (const s of sample.services) {
      const row = rows.get(s.name);
      if (!row) continue;
      addPoint(row.series.cpu, t, s.cpu_percent, SPARK_STEP, SPARK_WINDOW);
      addPoint(row.series.mem, t, s.rss_bytes, SPARK_STEP, SPARK_WINDOW);
    }
    if (visible) {
      for (const row of rows.values()) drawSparks(row);
      strip.replaceChildren(...machineSummary(sample, ctx.previousSample));
    }
  });

  ctx.live.on('status', (status) => render(status));

  ctx.onReconnect(() => {
    // History may have gained points while the daemon was away; fetch again on view.
    for (const row of rows.values()) {
      row.loaded = false;
      row.queued = false;
      row.series = { cpu: { points: [] }, mem: { points: [] } };
      if (row.inView) {
        row.queued = true;
        waiting.push(row);
      }
    }
    pump();
  });

  return {
    el,
    show(params, arrived) {
      visible = true;
      if (ctx.status && !names) render(ctx.status);
      if (ctx.sample) strip.replaceChildren(...machineSummary(ctx.sample, ctx.previousSample));
      for (const row of rows.values()) drawSparks(row);
      if (arrived && active && rows.has(active)) {
        // Back from a service: the keyboard is where it was.
        rows.get(active).tr.focus({ preventScroll: false });
      }
    },
    hide() {
      visible = false;
    },
  };
}
