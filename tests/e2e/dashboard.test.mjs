// The dashboard end to end: a real stack run by the berth binary, the page served by its
// daemon, Debian's Chromium driving it. The tests run in order on one stack and one
// browser, each starting from where the one before left it.
//
//   BERTH_BIN=path/to/berth   the binary (default: target/debug/berth)
//   BERTH_SCREENSHOTS=docs    write the two screenshots into docs/ (or another directory;
//                             by default they go to a temp dir removed at the end)

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO, berth, berthJSON, browser, daemonPid, dashboard, status, teardown, until, webStack } from './support.mjs';

// A stack that looks like a real one: a database and a cache, an API and what it needs, a
// front end, background workers.
const SERVICES = [
  { name: 'db', ballast_mib: 48 },
  { name: 'cache', ballast_mib: 12 },
  { name: 'auth', depends_on: ['db'], ballast_mib: 18 },
  { name: 'api', depends_on: ['db', 'cache', 'auth'], ballast_mib: 32 },
  { name: 'worker', depends_on: ['db', 'cache'], ballast_mib: 24 },
  { name: 'mailer', depends_on: ['db'], ballast_mib: 6 },
  // Its port is taken by someone else (this test) when the stack starts: berth moves it.
  { name: 'web', depends_on: ['api'], ballast_mib: 8, held: true },
];
// A rule that fires once the worker has been killed (no channel: the page shows it).
const ALERTS = `alerts:
  rules:
    - name: restarted
      when: restarts > 0 in 10m
      services: [worker]
`;
const NAMES = SERVICES.map((s) => s.name);

const SHOTS = process.env.BERTH_SCREENSHOTS
  ? path.resolve(REPO, process.env.BERTH_SCREENSHOTS)
  : fs.mkdtempSync(path.join(os.tmpdir(), 'berth-e2e-shots-'));

let dir;
let held = [];
let upAt;
let login;
let origin;
let chrome;
let page;
const pageErrors = [];

const row = (name) => page.locator(`tbody tr[data-service="${name}"]`);
const cell = (name, col) => row(name).locator(`td[data-col="${col}"]`);
const serviceOf = async (name) => (await status(dir)).services.find((s) => s.name === name);

/**
 * For the README's screenshots, a few minutes of history make the sparklines and charts
 * worth looking at; the plain test run does not wait for them.
 */
async function historyForScreenshots() {
  if (!process.env.BERTH_SCREENSHOTS) return;
  const wait = upAt + 180000 - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
}

/** Whether the page is still the one loaded first (a reload would have dropped the mark). */
const marked = () => page.evaluate(() => window.__berthTestMark === 'still the same page');

describe('the dashboard', { timeout: 480000 }, () => {
  before(async () => {
    ({ dir, held } = await webStack('shop', SERVICES, ALERTS));
    await berth(dir, ['up'], { timeout: 120000 });
    upAt = Date.now();
    login = await dashboard(dir);
    assert.match(login.url, /^http:\/\/127\.0\.0\.1:\d+\/login\?code=\S+$/);
    origin = new URL(login.url).origin;
    chrome = await browser();
    page = chrome.context.pages()[0] || (await chrome.context.newPage());
    page.on('pageerror', (e) => pageErrors.push(e.message));
    // Anything the Content-Security-Policy refused (an inline style or script would be).
    page.on('console', (m) => {
      if (/Content Security Policy|Refused to (apply|execute|load|connect)/.test(m.text())) pageErrors.push(m.text());
    });
  });

  after(async () => {
    if (chrome) await chrome.close();
    await teardown(dir);
    for (const server of held) server.close();
    if (!process.env.BERTH_SCREENSHOTS) fs.rmSync(SHOTS, { recursive: true, force: true });
  });

  test('a request without the session cookie is refused with 401', async () => {
    const { request } = await import('playwright-core');
    const anonymous = await request.newContext();
    try {
      const answer = await anonymous.get(`${origin}/v1/status`);
      assert.equal(answer.status(), 401);
      const stream = await anonymous.get(`${origin}/v1/stream`, { timeout: 5000 });
      assert.equal(stream.status(), 401);
      const restart = await anonymous.post(`${origin}/v1/services/api/restart`, { headers: { Origin: origin } });
      assert.equal(restart.status(), 401);
    } finally {
      await anonymous.dispose();
    }
  });

  test('the login address opens the page, which shows every service', async () => {
    await page.goto(login.url);
    assert.equal(new URL(page.url()).pathname, '/', 'the login redirects to the page');
    const cookies = await chrome.context.cookies(origin);
    assert.ok(cookies.length > 0, 'the login leaves a cookie');
    assert.ok(cookies.every((c) => c.httpOnly && c.sameSite === 'Strict'), `HttpOnly, SameSite=Strict: ${JSON.stringify(cookies)}`);
    assert.ok(!page.url().includes('code='), 'the code is not left in the address bar');
    for (const name of NAMES) {
      await row(name).waitFor({ timeout: 10000 });
    }
    const shown = await page.locator('tbody tr[data-service]').evaluateAll((rows) => rows.map((r) => r.dataset.service));
    assert.deepEqual([...shown].sort(), [...NAMES].sort());
    const st = await status(dir);
    for (const s of st.services) {
      await until(`${s.name} running on the page`, async () => (await cell(s.name, 'state').textContent()) === 'running');
      const port = s.name === 'web' ? `${s.port} (was ${s.configured_port})` : String(s.port);
      assert.equal(await cell(s.name, 'port').textContent(), port);
    }
    const web = st.services.find((s) => s.name === 'web');
    assert.ok(web.configured_port && web.configured_port !== web.port, `web was moved: ${JSON.stringify(web)}`);
    assert.equal(await page.locator('#project').textContent(), 'shop');
    await until('the connection shown live', async () => (await page.locator('#conn').getAttribute('data-state')) === 'live');
    // The login code is single-use: a second visit is refused.
    const again = await (await import('playwright-core')).request.newContext();
    try {
      assert.equal((await again.get(login.url, { maxRedirects: 0 })).status(), 401);
    } finally {
      await again.dispose();
    }
    await page.evaluate(() => {
      window.__berthTestMark = 'still the same page';
    });
  });

  test('a kill -9 of a service shows its restart without a reload', async () => {
    const before = await serviceOf('worker');
    assert.ok(before.pid > 0);
    assert.equal(await cell('worker', 'pid').textContent(), String(before.pid));
    const restartsBefore = Number(await cell('worker', 'restarts').textContent());
    process.kill(before.pid, 'SIGKILL');
    await until('the new pid and one more restart on the page', async () => {
      const pid = await cell('worker', 'pid').textContent();
      const restarts = Number(await cell('worker', 'restarts').textContent());
      return /^\d+$/.test(pid) && pid !== String(before.pid) && restarts === restartsBefore + 1;
    }, { timeout: 20000 });
    const after = await serviceOf('worker');
    assert.notEqual(after.pid, before.pid);
    await until('the page showing the pid berth reports', async () => (await cell('worker', 'pid').textContent()) === String((await serviceOf('worker')).pid));
    assert.ok(await marked(), 'the page was not reloaded');
  });

  test('the rows are reachable with the keyboard, and Enter opens a service', async () => {
    await page.locator('#overview-filter').focus();
    // Tab from the filter goes through the column headers to the rows (one tab stop).
    let onRow = false;
    for (let i = 0; i < 20 && !onRow; i++) {
      await page.keyboard.press('Tab');
      onRow = await page.evaluate(() => document.activeElement?.matches('tbody tr[data-service]') ?? false);
    }
    assert.ok(onRow, 'Tab reaches a service row');
    const order = await page.locator('tbody tr[data-service]').evaluateAll((rows) => rows.map((r) => r.dataset.service));
    const focused = () => page.evaluate(() => document.activeElement?.dataset.service);
    assert.equal(await focused(), order[0]);
    await page.keyboard.press('ArrowDown');
    assert.equal(await focused(), order[1]);
    await page.keyboard.press('j');
    assert.equal(await focused(), order[2]);
    await page.keyboard.press('k');
    assert.equal(await focused(), order[1]);
    await page.keyboard.press('End');
    assert.equal(await focused(), order[order.length - 1]);
    await page.keyboard.press('Home');
    assert.equal(await focused(), order[0]);
    // Sorting by a header reorders the rows (by name, the other way).
    await page.locator('th[data-col="name"] button').click();
    const reversed = await page.locator('tbody tr[data-service]').evaluateAll((rows) => rows.map((r) => r.dataset.service));
    assert.deepEqual(reversed, [...order].sort().reverse());
    await page.locator('th[data-col="name"] button').click();
    // The filter hides what does not match.
    await page.locator('#overview-filter').fill('work');
    assert.deepEqual(await page.locator('tbody tr[data-service]:visible').evaluateAll((rows) => rows.map((r) => r.dataset.service)), ['worker']);
    await page.locator('#overview-filter').fill('');
    // The overview with its sparklines filled in, for the README.
    await until('sparklines drawn', async () => {
      const lengths = await page.locator('td[data-col="cpu"] svg.spark polyline').evaluateAll((ls) => ls.map((l) => (l.getAttribute('points') || '').trim().split(' ').filter(Boolean).length));
      return lengths.length === NAMES.length && lengths.every((n) => n >= 2);
    }, { timeout: 60000, every: 500 });
    await historyForScreenshots();
    await page.evaluate(() => document.activeElement?.blur());
    await page.mouse.move(0, 0);
    await page.screenshot({ path: path.join(SHOTS, 'dashboard-overview.png') });
    // Enter on a row opens that service.
    await row('api').focus();
    await page.keyboard.press('Enter');
    await until('the service page', async () => (await page.evaluate(() => location.hash)) === '#/service/api');
    await page.locator('#service-title').filter({ hasText: 'api' }).waitFor();
    assert.ok(await marked(), 'opening a service does not reload the page');
  });

  test("a service's chart has points and its log follows", async () => {
    const chart = page.locator('figure[data-metric="cpu_percent"]');
    await until('points in the CPU chart', async () => Number(await chart.getAttribute('data-points')) >= 3, { timeout: 45000, every: 500 });
    await until('points in the memory chart', async () => Number(await page.locator('figure[data-metric="rss_bytes"]').getAttribute('data-points')) >= 3, { timeout: 20000, every: 500 });
    // The line is drawn: a polyline with as many points as the chart says.
    const drawn = await chart.locator('polyline.line').getAttribute('points');
    assert.ok(drawn.trim().split(' ').length >= 3, `the CPU line is drawn: ${drawn}`);
    // Each range asks history again, at its own step ("retention" asks how far back it goes).
    for (const [range, step] of [['1h', 'step 15s'], ['24h', 'step 300s'], ['retention', 'step '], ['15m', 'step 5s']]) {
      await page.locator(`.ranges button[data-range="${range}"]`).click();
      await until(`the ${range} range drawn`, async () => (await page.locator(`.ranges button[data-range="${range}"]`).getAttribute('aria-pressed')) === 'true'
        && (await page.locator('.chart-note').textContent()).startsWith(step)
        && Number(await chart.getAttribute('data-points')) >= 1);
    }

    // The log: service.py writes "tick N: …" every second; a newer tick must appear.
    const ticks = async () => {
      const lines = await page.locator('.log .ll span').allTextContents();
      const numbers = lines.map((l) => /^tick (\d+):/.exec(l)).filter(Boolean).map((m) => Number(m[1]));
      return numbers.length ? Math.max(...numbers) : 0;
    };
    const first = await until('log lines on the page', ticks);
    await until('a new log line', async () => (await ticks()) > first, { timeout: 10000 });
    // The filter: only matching lines are shown, case-insensitively.
    await until('a slow-query line (one every 7 s)', async () => (await page.locator('.log .ll', { hasText: 'slow query' }).count()) > 0, { timeout: 15000 });
    await page.locator('.log-filter').fill('SLOW QUERY');
    const visible = await page.locator('.log .ll:visible span').allTextContents();
    assert.ok(visible.length > 0);
    assert.ok(visible.every((l) => l.toLowerCase().includes('slow query')), `filtered: ${visible.join(' | ')}`);
    await page.locator('.log-filter').fill('');
    // Escape goes back to the stack, with the keyboard on the row it left; Enter comes back.
    await page.locator('#service-title').focus();
    await page.keyboard.press('Escape');
    await until('back on the stack', async () => (await page.evaluate(() => location.hash)) === '#/');
    // The hash is set at once, the view shown by the hashchange event after it: a busy browser
    // may answer between the two.
    await until('the keyboard back on the row it left', async () => (await page.evaluate(() => document.activeElement?.dataset.service)) === 'api');
    await page.keyboard.press('Enter');
    await page.locator('#service-title').filter({ hasText: 'api' }).waitFor();
    assert.ok(await marked());
  });

  test('the restart button restarts the service', async () => {
    const before = await serviceOf('api');
    await page.locator('button[data-action="restart"]').click();
    await until('api running with a new pid', async () => {
      const s = await serviceOf('api');
      return s.state === 'running' && s.pid && s.pid !== before.pid;
    }, { timeout: 30000 });
    const after = await serviceOf('api');
    await until('the page showing the new pid', async () => (await page.locator('[data-field="pid"]').textContent()) === String(after.pid), { timeout: 10000 });
    await until('the restart in the page', async () => (await page.locator('.action-result').textContent()).includes('api'));
    // Its events include the new start, live.
    await until('the new start among its events', async () => (await page.locator('.service-events li', { hasText: String(after.pid) }).count()) > 0, { timeout: 10000 });
  });

  test('the stop button asks first; stop and start work', async () => {
    // Cancel leaves it running.
    await page.locator('button[data-action="stop"]').click();
    const dialog = page.locator('dialog.confirm');
    await dialog.waitFor({ state: 'visible' });
    await dialog.locator('button[value="cancel"]').click();
    await dialog.waitFor({ state: 'hidden' });
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await serviceOf('web')).state, 'running');
    assert.equal((await serviceOf('api')).state, 'running');
    // Confirmed, it stops (with web, which depends on it).
    await page.locator('button[data-action="stop"]').click();
    await dialog.locator('button[value="stop"]').click();
    await until('api stopped', async () => ['stopped', 'exited'].includes((await serviceOf('api')).state), { timeout: 30000 });
    await until('the page showing it stopped', async () => ['stopped', 'exited'].includes(await page.locator('[data-field="state"]').textContent()));
    assert.ok(!(await page.locator('button[data-action="start"]').isDisabled()));
    await page.locator('button[data-action="start"]').click();
    await until('api running again', async () => (await serviceOf('api')).state === 'running', { timeout: 30000 });
    await until('the page showing it running', async () => (await page.locator('[data-field="state"]').textContent()) === 'running');
    await berth(dir, ['up'], { timeout: 60000 }); // web too, for the views that follow
  });

  test('a screenshot of a service page', async () => {
    await page.goto(`${origin}/#/service/db`);
    await page.locator('#service-title').filter({ hasText: 'db' }).waitFor();
    for (const metric of ['cpu_percent', 'rss_bytes', 'open_fds', 'check_ms']) {
      await until(`points in ${metric}`, async () => Number(await page.locator(`figure[data-metric="${metric}"]`).getAttribute('data-points')) >= 3, { timeout: 30000, every: 500 });
    }
    await until('log lines', async () => (await page.locator('.log .ll').count()) > 10);
    await page.mouse.move(0, 0);
    await page.screenshot({ path: path.join(SHOTS, 'dashboard-service.png') });
    await page.evaluate(() => {
      window.__berthTestMark = 'still the same page';
    });
  });

  test('the machine, ports, alerts and events views', async () => {
    await page.locator('nav a[data-view="machine"]').click();
    await until('machine figures', async () => (await page.locator('.machine-now .card').count()) >= 4);
    assert.match(await page.locator('.machine-now').textContent(), /cores/);
    await page.locator('nav a[data-view="ports"]').click();
    const st = await status(dir);
    for (const s of st.services) {
      await until(`${s.name}'s port in the ports view`, async () => (await page.locator('.ports-services tr', { hasText: String(s.port) }).count()) === 1);
    }
    assert.ok((await page.locator('.ports-listening tr.stack').count()) >= NAMES.length, "the stack's sockets are flagged");
    // Web's move is among the port decisions.
    await until("web's move among the port decisions", async () => (await page.locator('.ports-decisions li[data-service="web"]').count()) > 0);
    assert.equal(await page.locator('.ports-services tr', { hasText: String(st.services.find((s) => s.name === 'web').configured_port) }).count(), 1);

    // The worker's kill fired `restarted`; the header counts it; silence it from its row.
    await until('the alert counted in the header', async () => (await page.locator('#alert-count').textContent()) === '1' && (await page.locator('#alert-count').isVisible()));
    await page.locator('nav a[data-view="alerts"]').click();
    const firing = page.locator('.alerts-now tr[data-rule="restarted"]');
    await until('restarted firing for worker', async () => (await firing.textContent()).includes('worker') && (await firing.textContent()).includes('firing'));
    await firing.locator('button', { hasText: 'Silence' }).click();
    assert.equal(await page.locator('.silence-form input[name="rule"]').inputValue(), 'restarted');
    assert.equal(await page.locator('.silence-form input[name="service"]').inputValue(), 'worker');
    await page.locator('.silence-form input[name="for"]').fill('30m');
    await page.locator('.silence-form button[type="submit"]').click();
    await page.locator('.silence-list li', { hasText: 'restarted' }).waitFor({ timeout: 10000 });
    await until('the alert shown silenced', async () => (await firing.textContent()).includes('silenced'));
    const silences = (await berthJSON(dir, ['alerts'])).silences;
    assert.deepEqual(silences.map((x) => [x.rule, x.service]), [['restarted', 'worker']]);
    await page.locator('.silence-list li', { hasText: 'restarted' }).locator('button').click();
    await page.locator('.silences', { hasText: 'No silences.' }).waitFor({ timeout: 10000 });
    assert.deepEqual((await berthJSON(dir, ['alerts'])).silences, []);
    await until('the transition among the past alerts', async () => (await page.locator('.alerts-past li', { hasText: 'restarted' }).count()) > 0);

    await page.locator('nav a[data-view="events"]').click();
    await until("the worker's kill among the events", async () => (await page.locator('.timeline li[data-kind="exited"][data-service="worker"]').count()) > 0);
    // A kind filter hides the others.
    await page.locator('.chips button[data-kind="ready"]').click();
    assert.equal(await page.locator('.timeline li[data-kind="ready"]:visible').count(), 0);
    await page.locator('.chips button[data-kind="ready"]').click();
    assert.ok(await marked());
  });

  test('the daemon killed while the page is open: the page says so, and recovers by itself', async () => {
    await page.locator('nav a[data-view="overview"]').click();
    const pid = await daemonPid(dir);
    assert.ok(pid > 0);
    const services = (await status(dir)).services;
    process.kill(pid, 'SIGKILL');
    await page.locator('#banner', { hasText: 'The daemon is away' }).waitFor({ timeout: 10000 });
    assert.equal(await page.locator('#conn').getAttribute('data-state'), 'away');
    // berth up brings the daemon back; it finds the services still running.
    await berth(dir, ['up'], { timeout: 120000 });
    await until('the page live again', async () => (await page.locator('#conn').getAttribute('data-state')) === 'live', { timeout: 20000 });
    await page.locator('#banner', { hasText: 'Reconnected' }).waitFor({ timeout: 5000 });
    // And live for real: a change after the restart shows up.
    const before = await serviceOf('mailer');
    assert.equal(before.pid, services.find((s) => s.name === 'mailer').pid, 'the services kept running');
    process.kill(before.pid, 'SIGKILL');
    await until("mailer's new pid on the page", async () => {
      const shown = await cell('mailer', 'pid').textContent();
      return /^\d+$/.test(shown) && shown !== String(before.pid);
    }, { timeout: 20000 });
    assert.ok(await marked(), 'the page recovered without a reload');
  });

  test('an unknown service: the page says so', async () => {
    await page.goto(`${origin}/#/service/nosuch`);
    await page.locator('.action-result', { hasText: 'nosuch' }).waitFor({ timeout: 10000 });
  });

  test('a session gone: the page says how to get a new link', async () => {
    await chrome.context.clearCookies();
    // The next request the page makes (the alerts view asks at once) is refused.
    await page.locator('nav a[data-view="alerts"]').click();
    await page.locator('#banner', { hasText: 'Your session has ended — run berth dashboard for a new link' }).waitFor({ timeout: 10000 });
    assert.equal(await page.locator('#conn').getAttribute('data-state'), 'ended');
  });

  test('no script error on the page, nothing refused by its CSP', () => {
    assert.deepEqual(pageErrors, []);
  });
});
