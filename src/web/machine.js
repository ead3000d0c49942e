// The machine: CPU, memory, load, disks and network from the latest sampling round, and
// charts of CPU, memory, load and the first disk over time. `machineSummary` is the strip
// the stack's page shows above its table.

import * as fmt from './format.js';
import { ChartSet } from './history.js';

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** A bar from 0 to 100 % (a `<meter>`, which the browser draws and screen readers read). */
function meter(fraction, label) {
  const m = document.createElement('meter');
  m.min = 0;
  m.max = 1;
  m.low = 0.7;
  m.high = 0.9;
  m.optimum = 0;
  m.value = Number.isFinite(fraction) ? fraction : 0;
  m.setAttribute('aria-label', label);
  return m;
}

/** Network bytes per second between two rounds, or null. */
function netRates(sample, previous) {
  const a = previous && previous.system;
  const b = sample && sample.system;
  if (!a || !b || b.at_ms <= a.at_ms) return null;
  const s = (b.at_ms - a.at_ms) / 1000;
  return { rx: Math.max(0, b.net_rx_bytes - a.net_rx_bytes) / s, tx: Math.max(0, b.net_tx_bytes - a.net_tx_bytes) / s };
}

/** The stack page's machine strip: a few figures, each a label and a value. */
export function machineSummary(sample, previous) {
  const sys = sample && sample.system;
  if (!sys) return [el('span', 'muted', 'The machine: no reading yet.')];
  const used = sys.memory_total_bytes - sys.memory_available_bytes;
  const items = [
    ['CPU', `${fmt.percent(sys.cpu_percent)} of ${sys.cores} cores`],
    ['Memory', `${fmt.bytes(used)} of ${fmt.bytes(sys.memory_total_bytes)}`],
    ['Load', sys.load.map((l) => l.toFixed(2)).join(' ')],
  ];
  for (const d of sys.disks.slice(0, 2)) {
    items.push([`Disk ${d.path}`, `${fmt.bytes(d.used_bytes)} of ${fmt.bytes(d.total_bytes)}`]);
  }
  const net = netRates(sample, previous);
  if (net) items.push(['Network', `↓ ${fmt.rate(net.rx)} ↑ ${fmt.rate(net.tx)}`]);
  const out = items.map(([label, value]) => {
    const item = el('a', 'figure');
    item.href = '#/machine';
    item.append(el('span', 'figure-label', label), el('span', 'figure-value', value));
    return item;
  });
  return out;
}

export function createMachine(ctx) {
  const view = el('section', 'view view-machine');
  view.setAttribute('aria-labelledby', 'machine-title');
  const title = el('h1', null, 'The machine');
  title.id = 'machine-title';
  title.tabIndex = -1;
  const now = el('div', 'machine-now');
  const disks = el('div', 'table-wrap');
  const charts = new ChartSet(ctx, [
    { title: 'CPU (% of the machine)', metric: 'system.cpu_percent', params: {}, format: fmt.percent, axis: { ceiling: 100 }, live: (s) => s.system && s.system.cpu_percent },
    { title: 'Memory used', metric: 'system.memory_used_bytes', params: {}, format: fmt.bytes, axis: { bytes: true }, live: (s) => s.system && s.system.memory_total_bytes - s.system.memory_available_bytes },
    { title: 'Load (1 minute)', metric: 'system.load1', params: {}, format: (v) => v.toFixed(2), live: (s) => s.system && s.system.load[0] },
    { title: 'Disk used (the first tracked)', metric: 'system.disk_used_bytes', params: {}, format: fmt.bytes, axis: { bytes: true }, live: (s) => s.system && s.system.disks[0] && s.system.disks[0].used_bytes },
  ], 'The machine over time');
  view.append(title, now, el('h2', null, 'Disks'), disks, el('h2', null, 'Over time'), charts.el);
  let visible = false;

  function render() {
    const sample = ctx.sample;
    const sys = sample && sample.system;
    if (!sys) {
      now.replaceChildren(el('p', 'muted', 'No reading of the machine yet.'));
      disks.replaceChildren();
      return;
    }
    const used = sys.memory_total_bytes - sys.memory_available_bytes;
    const net = netRates(sample, ctx.previousSample);
    const cards = [
      ['CPU', fmt.percent(sys.cpu_percent), `${sys.cores} cores`, (sys.cpu_percent ?? 0) / 100],
      ['Memory', fmt.bytes(used), `of ${fmt.bytes(sys.memory_total_bytes)}; ${fmt.bytes(sys.memory_available_bytes)} available`, used / sys.memory_total_bytes],
      ['Load', sys.load.map((l) => l.toFixed(2)).join(' / '), 'over 1, 5 and 15 minutes', sys.load[0] / Math.max(1, sys.cores)],
      ['Swap used', fmt.bytes(sys.swap_used_bytes), '', null],
      ['Network', net ? `↓ ${fmt.rate(net.rx)}  ↑ ${fmt.rate(net.tx)}` : '-', `since boot: ↓ ${fmt.bytes(sys.net_rx_bytes)} ↑ ${fmt.bytes(sys.net_tx_bytes)}`, null],
    ];
    now.replaceChildren(...cards.map(([label, value, detail, fraction]) => {
      const card = el('div', 'card');
      card.append(el('div', 'figure-label', label), el('div', 'card-value', value));
      if (fraction !== null) card.append(meter(fraction, `${label} in use`));
      if (detail) card.append(el('div', 'muted', detail));
      return card;
    }));
    const table = el('table', 'plain');
    table.innerHTML = '<thead><tr><th scope="col">File system of</th><th scope="col" class="num">Used</th><th scope="col" class="num">Size</th><th scope="col">Use</th></tr></thead>';
    const body = el('tbody');
    for (const d of sys.disks) {
      const tr = el('tr');
      const fraction = d.total_bytes ? d.used_bytes / d.total_bytes : 0;
      const bar = el('td');
      bar.append(meter(fraction, `${d.path} in use`), el('span', 'muted', ` ${fmt.percent(fraction * 100)}`));
      tr.append(el('td', 'mono', d.path), el('td', 'num', fmt.bytes(d.used_bytes)), el('td', 'num', fmt.bytes(d.total_bytes)), bar);
      body.appendChild(tr);
    }
    table.appendChild(body);
    disks.replaceChildren(table);
  }

  ctx.live.on('sample', () => visible && render());

  return {
    el: view,
    show() {
      visible = true;
      render();
      charts.start();
      title.focus({ preventScroll: true });
    },
    hide() {
      visible = false;
      charts.stop();
    },
  };
}
