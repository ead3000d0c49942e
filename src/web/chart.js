// Small SVG charts of our own: a sparkline for the table's cells and a line chart with a
// value axis, a time axis and a readout under the pointer. Points are `[unix_ms, value]`,
// oldest first, as `/v1/history` gives them.

const SVG = 'http://www.w3.org/2000/svg';

function svgEl(name, attrs = {}) {
  const el = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

/** The polyline's `points` for `points` scaled into a w×h box (y grows downwards). */
function polyline(points, w, h, t0, t1, max) {
  const span = Math.max(1, t1 - t0);
  const top = max > 0 ? max : 1;
  let out = '';
  for (const [t, v] of points) {
    const x = ((t - t0) / span) * w;
    const y = h - (Math.max(0, v) / top) * (h - 2) - 1;
    out += x.toFixed(1) + ',' + y.toFixed(1) + ' ';
  }
  return out;
}

/**
 * A sparkline: an inline SVG whose line is replaced by `update(points)`. It shows at most
 * `windowMs` back from now; a service younger than that fills the width from its first
 * point (two minutes at least), since a sparkline is about the trend.
 */
export class Sparkline {
  constructor(label, windowMs) {
    this.windowMs = windowMs;
    this.el = svgEl('svg', { class: 'spark', viewBox: '0 0 60 16', preserveAspectRatio: 'none', role: 'img', 'aria-label': label });
    this.line = svgEl('polyline', { fill: 'none', 'vector-effect': 'non-scaling-stroke' });
    this.el.appendChild(this.line);
  }

  update(points) {
    if (!points.length) {
      this.line.setAttribute('points', '');
      return;
    }
    const t1 = Date.now();
    const t0 = Math.max(t1 - this.windowMs, Math.min(points[0][0], t1 - 120e3));
    const shown = points.filter((p) => p[0] >= t0);
    let max = 0;
    for (const p of shown) if (p[1] > max) max = p[1];
    this.line.setAttribute('points', polyline(shown, 60, 16, t0, t1, max * 1.1));
  }
}

/**
 * A round upper bound for an axis at or above `v`: 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × a power of
 * ten, or of 1024 for sizes (so that 48MiB, not 47.7MiB, tops a memory chart).
 */
function niceMax(v, bytes) {
  if (!(v > 0)) return 1;
  let unit = 1;
  if (bytes) {
    while (v / unit >= 1024) unit *= 1024;
  }
  const x = v / unit;
  const p = Math.pow(10, Math.floor(Math.log10(x)));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= x) return m * p * unit;
  return 10 * p * unit;
}

/**
 * A line chart in a `<figure>`: title and latest value, the line over a grid, the axis'
 * top value, the window's start and end, and under the pointer the value at that time.
 * `format` writes a value (its unit included). `data-points` on the figure says how many
 * points it draws (for tests and for people reading the DOM).
 */
export class LineChart {
  /** `options`: `bytes` (the axis in binary steps), `ceiling` (a top the axis never passes,
   * such as 100 for a share of the machine). */
  constructor(title, format, options = {}) {
    this.format = format;
    this.options = options;
    this.points = [];
    this.t0 = 0;
    this.t1 = 0;
    this.el = document.createElement('figure');
    this.el.className = 'chart';
    const caption = document.createElement('figcaption');
    this.titleEl = document.createElement('span');
    this.titleEl.className = 'chart-title';
    this.titleEl.textContent = title;
    this.valueEl = document.createElement('span');
    this.valueEl.className = 'chart-value';
    caption.append(this.titleEl, this.valueEl);
    this.box = document.createElement('div');
    this.box.className = 'chart-box';
    this.svg = svgEl('svg', { viewBox: '0 0 300 100', preserveAspectRatio: 'none', role: 'img', 'aria-label': title });
    for (const y of [1, 50, 99]) {
      this.svg.appendChild(svgEl('line', { class: 'grid', x1: 0, x2: 300, y1: y, y2: y, 'vector-effect': 'non-scaling-stroke' }));
    }
    this.area = svgEl('polygon', { class: 'area' });
    this.line = svgEl('polyline', { class: 'line', fill: 'none', 'vector-effect': 'non-scaling-stroke' });
    this.cursor = svgEl('line', { class: 'cursor', y1: 0, y2: 100, 'vector-effect': 'non-scaling-stroke', visibility: 'hidden' });
    this.svg.append(this.area, this.line, this.cursor);
    this.maxEl = document.createElement('span');
    this.maxEl.className = 'axis axis-max';
    this.startEl = document.createElement('span');
    this.startEl.className = 'axis axis-start';
    this.endEl = document.createElement('span');
    this.endEl.className = 'axis axis-end';
    this.emptyEl = document.createElement('span');
    this.emptyEl.className = 'axis chart-empty';
    this.emptyEl.textContent = 'no data yet';
    this.box.append(this.svg, this.maxEl, this.startEl, this.endEl, this.emptyEl);
    this.el.append(caption, this.box);
    this.el.dataset.points = '0';
    this.box.addEventListener('pointermove', (e) => this.hover(e));
    this.box.addEventListener('pointerleave', () => this.unhover());
  }

  /** What the chart says while it has no point ("no data yet"). */
  setEmptyText(text) {
    this.emptyEl.textContent = text;
  }

  /** Draws `points` over the window `[t0, t1]` (unix ms). */
  set(points, t0, t1) {
    this.points = points;
    this.t0 = t0;
    this.t1 = t1;
    this.draw();
  }

  draw() {
    const { points, t0, t1 } = this;
    let max = 0;
    for (const p of points) if (p[1] > max) max = p[1];
    let top = niceMax(max * 1.05, this.options.bytes);
    if (this.options.ceiling && max <= this.options.ceiling) top = Math.min(top, this.options.ceiling);
    this.top = top;
    const line = polyline(points, 300, 100, t0, t1, top);
    this.line.setAttribute('points', line);
    if (points.length) {
      const first = (((points[0][0] - t0) / Math.max(1, t1 - t0)) * 300).toFixed(1);
      const last = (((points[points.length - 1][0] - t0) / Math.max(1, t1 - t0)) * 300).toFixed(1);
      this.area.setAttribute('points', `${first},100 ${line}${last},100`);
    } else {
      this.area.setAttribute('points', '');
    }
    this.maxEl.textContent = this.format(top);
    this.startEl.textContent = timeLabel(t0, t1 - t0);
    this.endEl.textContent = 'now';
    this.emptyEl.hidden = points.length > 0;
    this.el.dataset.points = String(points.length);
    if (!this.hovering) this.showLatest();
  }

  showLatest() {
    const last = this.points[this.points.length - 1];
    this.valueEl.textContent = last ? this.format(last[1]) : '';
  }

  hover(e) {
    if (!this.points.length) return;
    const rect = this.box.getBoundingClientRect();
    const fraction = Math.min(1, Math.max(0, (e.clientX - rect.left) / rect.width));
    const t = this.t0 + fraction * (this.t1 - this.t0);
    // The nearest point by time (points are sorted).
    let lo = 0;
    let hi = this.points.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.points[mid][0] < t) lo = mid + 1;
      else hi = mid;
    }
    if (lo > 0 && t - this.points[lo - 1][0] < this.points[lo][0] - t) lo -= 1;
    const [pt, pv] = this.points[lo];
    const x = ((pt - this.t0) / Math.max(1, this.t1 - this.t0)) * 300;
    this.cursor.setAttribute('x1', x);
    this.cursor.setAttribute('x2', x);
    this.cursor.setAttribute('visibility', 'visible');
    this.hovering = true;
    this.valueEl.textContent = `${this.format(pv)} at ${new Date(pt).toLocaleTimeString([], { hour12: false })}`;
  }

  unhover() {
    this.hovering = false;
    this.cursor.setAttribute('visibility', 'hidden');
    this.showLatest();
  }
}

/** The window's start, as a span back from now: -15m, -1h, -24h, -14d. */
function timeLabel(t0, span) {
  const s = span / 1000;
  if (s < 3600) return `-${Math.round(s / 60)}m`;
  if (s < 86400 * 2) return `-${Math.round(s / 3600)}h`;
  return `-${Math.round(s / 86400)}d`;
}

/**
 * Adds a live reading to a series bucketed by `stepMs` as history buckets it (averaged over
 * the step, stamped with its start), and drops what is older than `keepMs`.
 */
export function addPoint(series, t, v, stepMs, keepMs) {
  if (v === null || v === undefined || Number.isNaN(v)) return;
  const bucket = Math.floor(t / stepMs) * stepMs;
  const last = series.points[series.points.length - 1];
  if (last && last[0] === bucket) {
    series.n = (series.n || 1) + 1;
    last[1] += (v - last[1]) / series.n;
  } else if (!last || last[0] < bucket) {
    series.points.push([bucket, v]);
    series.n = 1;
  }
  const cutoff = t - keepMs;
  let drop = 0;
  while (drop < series.points.length && series.points[drop][0] < cutoff) drop++;
  if (drop) series.points.splice(0, drop);
}
