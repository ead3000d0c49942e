// Numbers and times written the way the CLI writes them (`berth status`): 60.3MiB, 2.0%,
// 1m30s. A missing value is "-", as in the CLI's tables.

const DASH = '-';

/** A measured size: MiB with one decimal, GiB from 1 GiB on (the CLI's format_measured_size). */
export function bytes(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return DASH;
  const mib = n / 1048576;
  if (mib >= 1024 * 1024) return (mib / 1048576).toFixed(1) + 'TiB';
  if (mib >= 1024) return (mib / 1024).toFixed(1) + 'GiB';
  return mib.toFixed(1) + 'MiB';
}

/** A rate in bytes per second, in the largest unit that keeps it readable. */
export function rate(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return DASH;
  if (n < 1024) return n.toFixed(0) + 'B/s';
  if (n < 1048576) return (n / 1024).toFixed(1) + 'KiB/s';
  return bytes(n) + '/s';
}

/** A percentage with one decimal: 2.0%. */
export function percent(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return DASH;
  return n.toFixed(1) + '%';
}

/** Whole seconds as a duration, as the CLI writes uptimes: 45s, 3m12s, 2h5s, 3d4h. */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return DASH;
  let s = Math.floor(seconds);
  if (s <= 0) return '0s';
  const units = [['d', 86400], ['h', 3600], ['m', 60], ['s', 1]];
  let out = '';
  for (const [unit, size] of units) {
    if (s >= size) {
      out += Math.floor(s / size) + unit;
      s %= size;
    }
  }
  return out;
}

/** A number of milliseconds: 3ms, 1.25s. */
export function millis(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return DASH;
  if (ms < 1000) return (ms < 10 ? ms.toFixed(1) : ms.toFixed(0)) + 'ms';
  return (ms / 1000).toFixed(2) + 's';
}

/** A plain count. */
export function count(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return DASH;
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

/** Any value or the dash. */
export function orDash(v) {
  return v === null || v === undefined || v === '' ? DASH : String(v);
}

/** An RFC 3339 time as the local clock shows it: 14:03:07, with the date when not today. */
export function clock(time) {
  if (!time) return DASH;
  const d = typeof time === 'number' ? new Date(time) : new Date(time);
  if (Number.isNaN(d.getTime())) return String(time);
  const hms = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
  const today = new Date();
  if (d.toDateString() === today.toDateString()) return hms;
  return d.toLocaleDateString([], { month: 'short', day: 'numeric' }) + ' ' + hms;
}

/** How long ago, roughly: 5s ago, 3m ago. */
export function ago(time) {
  const t = typeof time === 'number' ? time : Date.parse(time);
  if (Number.isNaN(t)) return DASH;
  const s = Math.max(0, (Date.now() - t) / 1000);
  if (s < 60) return Math.floor(s) + 's ago';
  if (s < 3600) return Math.floor(s / 60) + 'm ago';
  if (s < 86400) return Math.floor(s / 3600) + 'h ago';
  return Math.floor(s / 86400) + 'd ago';
}

/** The port column: `8001 (was 8000)` when berth moved it. */
export function port(p, configured) {
  if (p === null || p === undefined) return DASH;
  return configured && configured !== p ? `${p} (was ${configured})` : String(p);
}
