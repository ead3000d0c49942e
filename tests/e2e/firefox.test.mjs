// The dashboard in Debian's Firefox ESR, driven over WebDriver BiDi (bidi.mjs): the same page
// must work there too. A shorter run than Chromium's: the page loads with the login address
// and shows every service, a kill -9 shows without a reload, a service's chart has points
// and its log follows, the restart button restarts it (a same-origin POST from Firefox), the
// daemon killed and back, no script error.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { berth, daemonPid, dashboard, status, teardown, until, webStack } from './support.mjs';
import { Firefox } from './bidi.mjs';

const SERVICES = [{ name: 'db', ballast_mib: 16 }, { name: 'api', depends_on: ['db'] }, { name: 'web', depends_on: ['api'] }];

let dir;
let login;
let ff;

const serviceOf = async (name) => (await status(dir)).services.find((s) => s.name === name);
const text = (selector) => ff.eval(`document.querySelector(${JSON.stringify(selector)})?.textContent ?? null`);
const cellText = (name, col) => text(`tbody tr[data-service="${name}"] td[data-col="${col}"]`);
const marked = () => ff.eval("window.__berthTestMark === 'still the same page'");

describe('the dashboard in Firefox', { timeout: 240000 }, () => {
  before(async () => {
    ({ dir } = await webStack('shop', SERVICES));
    await berth(dir, ['up'], { timeout: 120000 });
    login = await dashboard(dir);
    ff = await Firefox.launch();
  });

  after(async () => {
    if (ff) await ff.close();
    await teardown(dir);
  });

  test('the login address opens the page, which shows every service', async () => {
    await ff.navigate(login.url);
    assert.equal(await ff.eval('location.pathname'), '/');
    await until('every row', async () => (await ff.eval("[...document.querySelectorAll('tbody tr[data-service]')].map((r) => r.dataset.service).sort().join(' ')")) === 'api db web');
    for (const s of (await status(dir)).services) {
      await until(`${s.name}'s pid on the page`, async () => (await cellText(s.name, 'pid')) === String(s.pid));
    }
    await until('live', async () => (await ff.eval("document.getElementById('conn').dataset.state")) === 'live');
    await ff.eval("(window.__berthTestMark = 'still the same page')");
  });

  test('a kill -9 shows its restart without a reload', async () => {
    const before = await serviceOf('web');
    process.kill(before.pid, 'SIGKILL');
    await until("web's new pid and a restart", async () => {
      const pid = await cellText('web', 'pid');
      return /^\d+$/.test(pid) && pid !== String(before.pid) && (await cellText('web', 'restarts')) === '1';
    }, { timeout: 20000 });
    assert.ok(await marked());
  });

  test("a service's chart has points, its log follows, restart restarts it", async () => {
    await ff.eval("(location.hash = '#/service/api', true)");
    await until('points in the CPU chart', async () => Number(await ff.eval("document.querySelector('figure[data-metric=\"cpu_percent\"]')?.dataset.points ?? 0")) >= 3, { timeout: 45000, every: 500 });
    const ticks = () => ff.eval("Math.max(0, ...[...document.querySelectorAll('.log .ll span')].map((s) => Number((/^tick (\\d+):/.exec(s.textContent) || [0, 0])[1])))");
    const first = await until('log lines', ticks);
    await until('a newer log line', async () => (await ticks()) > first, { timeout: 10000 });
    const before = await serviceOf('api');
    await ff.eval("(document.querySelector('button[data-action=\"restart\"]').click(), true)");
    await until('api restarted', async () => {
      const s = await serviceOf('api');
      return s.state === 'running' && s.pid && s.pid !== before.pid;
    }, { timeout: 30000 });
    const after = await serviceOf('api');
    await until('the new pid on the page', async () => (await text('[data-field="pid"]')) === String(after.pid));
    assert.ok(await marked());
  });

  test('the daemon killed: the page says so, and recovers by itself', async () => {
    await ff.eval("(location.hash = '#/', true)");
    process.kill(await daemonPid(dir), 'SIGKILL');
    await until('the away banner', async () => ((await text('#banner')) || '').includes('The daemon is away'), { timeout: 10000 });
    await berth(dir, ['up'], { timeout: 120000 });
    await until('live again', async () => (await ff.eval("document.getElementById('conn').dataset.state")) === 'live', { timeout: 20000 });
    const before = await serviceOf('db');
    process.kill(before.pid, 'SIGKILL');
    await until("db's new pid on the page", async () => {
      const pid = await cellText('db', 'pid');
      return /^\d+$/.test(pid) && pid !== String(before.pid);
    }, { timeout: 20000 });
    assert.ok(await marked());
  });

  test('no script error on the page', () => {
    assert.deepEqual(ff.errors(), []);
  });
});
