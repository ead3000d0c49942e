// A set of charts over one time range picked with buttons (15m, 1h, 24h, retention), read
// from `/v1/history` and kept up by the live `sample` messages. Used by a service's page
// and by the machine's.

import { getJSON, query } from './api.js';
import { LineChart, addPoint } from './chart.js';

/** Each range: how far back, and the step of its points (about 200–300 of them). */
const RANGES = [
  { key: '15m', label: '15m', ms: 15 * 60e3, step: 5e3 },
  { key: '1h', label: '1h', ms: 3600e3, step: 15e3 },
  { key: '24h', label: '24h', ms: 86400e3, step: 300e3 },
  { key: 'retention', label: 'retention', ms: null, step: null },
];

/** `30s`, `5m`: a whole number of seconds as the API reads durations. */
function dur(ms) {
  return `${Math.max(1, Math.round(ms / 1000))}s`;
}

/**
 * `specs`: `[{ title, metric, params, format, axis, live(sample) → value|undefined }]`;
 * `axis` is the chart's options (`bytes`, `ceiling`).
 * `live` reads the metric's value out of a sampling round (none: the chart is fetched again
 * every 15 s instead, as for the health checks' latency, which no sample carries).
 */
export class ChartSet {
  constructor(ctx, specs, label) {
    this.ctx = ctx;
    this.specs = specs;
    this.range = RANGES[0];
    this.window = null;
    this.active = false;
    this.generation = 0;
    this.el = document.createElement('section');
    this.el.className = 'chart-set';
    this.el.setAttribute('aria-label', label);
    const bar = document.createElement('div');
    bar.className = 'ranges';
    bar.setAttribute('role', 'group');
    bar.setAttribute('aria-label', 'Time range');
    this.buttons = RANGES.map((r) => {
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = r.label;
      b.dataset.range = r.key;
      b.setAttribute('aria-pressed', String(r === this.range));
      b.title = r.ms ? `The last ${r.label}` : 'All the history kept';
      b.addEventListener('click', () => this.pick(r));
      bar.appendChild(b);
      return b;
    });
    this.note = document.createElement('span');
    this.note.className = 'muted chart-note';
    bar.appendChild(this.note);
    const grid = document.createElement('div');
    grid.className = 'charts';
    this.charts = specs.map((spec) => {
      const chart = new LineChart(spec.title, spec.format, spec.axis);
      chart.el.dataset.metric = spec.metric;
      grid.appendChild(chart.el);
      return { spec, chart, series: { points: [] } };
    });
    this.el.append(bar, grid);
    ctx.live.on('sample', (sample) => this.sample(sample));
    ctx.onReconnect(() => this.active && this.load());
  }

  /** The LineChart of `metric`. */
  chart(metric) {
    return this.charts.find((c) => c.spec.metric === metric)?.chart;
  }

  pick(range) {
    this.range = range;
    for (const b of this.buttons) b.setAttribute('aria-pressed', String(b.dataset.range === range.key));
    this.load();
  }

  start() {
    this.active = true;
    this.load();
    clearInterval(this.timer);
    this.timer = setInterval(() => this.refresh(), 15000);
  }

  stop() {
    this.active = false;
    this.generation++;
    clearInterval(this.timer);
  }

  /** The window and step of the range; "retention" asks history how far back it goes. */
  async resolve() {
    const r = this.range;
    if (r.ms) return { ms: r.ms, step: r.step };
    const first = this.specs[0];
    const probe = await getJSON('/v1/history' + query({ ...first.params, metric: first.metric, since: '3650d', step: '1d' }));
    const oldest = probe.points.length ? probe.points[0][0] : Date.now() - 3600e3;
    const ms = Math.max(3600e3, Date.now() - oldest + 86400e3);
    return { ms, step: Math.max(1000, Math.ceil(ms / 300 / 1000) * 1000) };
  }

  async load() {
    const generation = ++this.generation;
    this.note.textContent = 'loading…';
    try {
      const { ms, step } = await this.resolve();
      this.window = { ms, step };
      await Promise.all(this.charts.map((c) => this.fetchOne(c, generation)));
      if (generation === this.generation) this.note.textContent = `step ${dur(step)}`;
    } catch (e) {
      if (generation === this.generation) this.note.textContent = `history: ${e.message}`;
    }
  }

  async fetchOne(c, generation) {
    const { ms, step } = this.window;
    const series = await getJSON('/v1/history' + query({ ...c.spec.params, metric: c.spec.metric, since: dur(ms), step: dur(step) }));
    if (generation !== this.generation) return;
    c.series = { points: series.points.map((p) => [p[0], p[1]]) };
    this.draw(c);
  }

  /** Every 15 s: charts that no sample feeds are fetched again. */
  refresh() {
    if (!this.active || !this.window) return;
    const generation = this.generation;
    for (const c of this.charts) {
      if (!c.spec.live) this.fetchOne(c, generation).catch(() => {});
    }
  }

  sample(sample) {
    if (!this.active || !this.window) return;
    const t = Date.parse(sample.time);
    for (const c of this.charts) {
      if (!c.spec.live) continue;
      const v = c.spec.live(sample);
      if (v === undefined || v === null) continue;
      addPoint(c.series, t, v, this.window.step, this.window.ms);
      this.draw(c);
    }
  }

  draw(c) {
    const t1 = Date.now();
    c.chart.set(c.series.points, t1 - this.window.ms, t1);
  }
}
