// The dashboard's bench: a stack of 200 services (`sleep`, as the monitor bench runs them),
// the page in Debian's headless Chromium, and
//   1. first render: from navigation to all 200 rows on screen (filled in, and a frame
//      painted after), RUNS times in fresh tabs;
//   2. a state change on screen: from a `kill -9` of a service to its row showing it (its
//      state leaving `running`), and to its new pid, CHANGES times;
//   3. the main thread's busy time while the page is live;
//   4. the size of the page's own files.
// Prints a Markdown table of medians with min and max.
//
//   node bench.mjs            (BERTH_BIN=path/to/berth; RUNS=9; CHANGES=15; SERVICES=200)

import fs from 'node:fs';
import path from 'node:path';
import { REPO, berth, browser, dashboard, median, project, status, teardown, until } from './support.mjs';

const SERVICES = Number(process.env.SERVICES || 200);
const RUNS = Number(process.env.RUNS || 9);
const CHANGES = Number(process.env.CHANGES || 15);

function config() {
  let yaml = 'project: bench\nmonitor: { interval: 1s }\nservices:\n';
  for (let i = 0; i < SERVICES; i++) {
    const name = `svc-${String(i).padStart(3, '0')}`;
    yaml += `  ${name}:\n    command: ["sleep", "100000"]\n    restart_delay: 1s\n`;
  }
  return yaml;
}

function summary(values) {
  const s = [...values].sort((a, b) => a - b);
  return { median: median(s), min: s[0], max: s[s.length - 1], n: s.length };
}

const ms = (v) => `${v.toFixed(0)} ms`;

async function main() {
  const dir = project(config(), 'berth-bench-dashboard-');
  let chrome;
  try {
    const t = Date.now();
    await berth(dir, ['up'], { timeout: 300000 });
    console.error(`up: ${SERVICES} services in ${Date.now() - t} ms`);
    const login = await dashboard(dir);
    const origin = new URL(login.url).origin;
    chrome = await browser({ viewport: { width: 1360, height: 900 } });
    const first = chrome.context.pages()[0] || (await chrome.context.newPage());
    await first.goto(login.url);
    await first.locator('tbody tr[data-service]').nth(SERVICES - 1).waitFor({ timeout: 30000 });
    await first.close();

    // 1. First render, in a fresh tab each time (the cookie is the context's).
    const renders = [];
    const paints = [];
    for (let run = 0; run < RUNS; run++) {
      const page = await chrome.context.newPage();
      // Before any of the page's scripts: note when the 200th row has its pid, then the
      // frame after it (two animation frames: the first runs before the paint).
      await page.addInitScript((expected) => {
        const done = () => {
          const rows = document.querySelectorAll('tbody tr[data-service]');
          if (rows.length < expected) return false;
          for (const r of rows) if (!r.querySelector('td[data-col="pid"]').textContent) return false;
          return true;
        };
        const observer = new MutationObserver(() => {
          if (!done()) return;
          observer.disconnect();
          requestAnimationFrame(() => requestAnimationFrame(() => {
            window.__rendered = performance.now();
          }));
        });
        document.addEventListener('DOMContentLoaded', () => observer.observe(document.body, { childList: true, subtree: true, characterData: true }));
      }, SERVICES);
      await page.goto(`${origin}/`);
      await page.waitForFunction(() => window.__rendered !== undefined, null, { timeout: 30000 });
      renders.push(await page.evaluate(() => window.__rendered));
      paints.push(await page.evaluate(() => performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN));
      await page.close();
    }

    // 2. A state change on screen. One tab stays open; each round kills another service.
    const page = await chrome.context.newPage();
    await page.goto(`${origin}/`);
    await page.locator('tbody tr[data-service]').nth(SERVICES - 1).waitFor({ timeout: 30000 });
    await until('the page live', async () => (await page.locator('#conn').getAttribute('data-state')) === 'live');
    // The page's cost while live: the main thread's busy time (Chromium's TaskDuration)
    // over 10-second windows of status and sample messages for 200 services.
    const cdp = await chrome.context.newCDPSession(page);
    await cdp.send('Performance.enable');
    const metric = async (name) => (await cdp.send('Performance.getMetrics')).metrics.find((m) => m.name === name).value;
    const busy = [];
    for (let w = 0; w < 3; w++) {
      const a = await metric('TaskDuration');
      await new Promise((r) => setTimeout(r, 10000));
      busy.push((((await metric('TaskDuration')) - a) / 10) * 100); // seconds busy in 10 s, as %
    }
    const toState = [];
    const toPid = [];
    const services = (await status(dir)).services;
    for (let i = 0; i < CHANGES; i++) {
      const target = services[(i * 13) % services.length];
      const pid = (await status(dir)).services.find((s) => s.name === target.name).pid;
      // The page timestamps the row's first change of state and of pid (the wall clock,
      // which this process shares).
      await page.evaluate(({ name, pid }) => {
        const row = document.querySelector(`tbody tr[data-service="${name}"]`);
        const state = row.querySelector('td[data-col="state"]');
        const pidCell = row.querySelector('td[data-col="pid"]');
        const mine = {};
        window.__change = mine;
        const look = () => {
          const now = performance.timeOrigin + performance.now();
          if (!mine.state && state.textContent !== 'running') mine.state = now;
          if (!mine.pid && /^\d+$/.test(pidCell.textContent) && pidCell.textContent !== String(pid)) mine.pid = now;
          if (!mine.pid && window.__change === mine) requestAnimationFrame(look);
        };
        requestAnimationFrame(look);
      }, { name: target.name, pid });
      await new Promise((r) => setTimeout(r, 300));
      const killedAt = performance.timeOrigin + performance.now();
      process.kill(pid, 'SIGKILL');
      const change = await until(`${target.name}'s change on the page`, () => page.evaluate(() => (window.__change.pid ? window.__change : null)), { timeout: 20000, every: 50 });
      // With restart_delay 1s the row shows `backoff` before the new pid; were a state
      // skipped between two statuses, the change would be the new pid.
      toState.push((change.state ?? change.pid) - killedAt);
      toPid.push(change.pid - killedAt);
      await until(`${target.name} running again`, async () => (await status(dir)).services.find((s) => s.name === target.name).state === 'running');
    }
    await page.close();

    // 3. The page's own files.
    const web = path.join(REPO, 'src/web');
    const files = fs.readdirSync(web).filter((f) => !f.startsWith('.'));
    const bytes = files.reduce((n, f) => n + fs.statSync(path.join(web, f)).size, 0);

    const r = summary(renders);
    const p = summary(paints.filter(Number.isFinite));
    const s = summary(toState);
    const q = summary(toPid);
    console.log(`| figure | median | min | max | runs | target |`);
    console.log(`|---|---|---|---|---|---|`);
    console.log(`| first render, ${SERVICES} services: navigation → every row filled in and painted | ${ms(r.median)} | ${ms(r.min)} | ${ms(r.max)} | ${r.n} | ≤ 1 s |`);
    console.log(`| first contentful paint (the header) | ${ms(p.median)} | ${ms(p.min)} | ${ms(p.max)} | ${p.n} | |`);
    console.log(`| kill -9 of a service → its row leaves \`running\` on screen | ${ms(s.median)} | ${ms(s.min)} | ${ms(s.max)} | ${s.n} | ≤ 1 s |`);
    console.log(`| kill -9 → its new pid on screen (after restart_delay: 1s) | ${ms(q.median)} | ${ms(q.min)} | ${ms(q.max)} | ${q.n} | |`);
    const b = summary(busy);
    console.log(`| the page's main thread while live, ${SERVICES} services (a status and a sample a second) | ${b.median.toFixed(1)} % | ${b.min.toFixed(1)} % | ${b.max.toFixed(1)} % | ${b.n} × 10 s | |`);
    console.log(`| the page's files (${files.length}), uncompressed | ${(bytes / 1024).toFixed(1)} KiB | | | | ≤ 150 KiB |`);
  } finally {
    if (chrome) await chrome.close();
    await teardown(dir);
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
