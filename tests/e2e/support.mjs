// What the dashboard's tests and bench share: the berth binary, a stack in a temporary
// directory run by it, and Debian's Chromium driven by playwright-core (which never
// downloads a browser: it is pointed at /usr/bin/chromium).

import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, '../..');
export const BERTH = process.env.BERTH_BIN || path.join(REPO, 'target/debug/berth');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const SERVICE = path.join(HERE, 'service.py');

/** The environment berth runs in: none of the caller's berth settings, no colour. */
function env() {
  const e = { ...process.env, NO_COLOR: '1' };
  for (const k of ['BERTH_FILE', 'BERTH_PROFILE', 'BERTH_STATE_DIR']) delete e[k];
  return e;
}

/** `berth ARGS` in `dir`; resolves with stdout, rejects with stderr on a non-zero exit. */
export function berth(dir, args, { timeout = 60000 } = {}) {
  return new Promise((resolve, reject) => {
    execFile(BERTH, args, { cwd: dir, env: env(), timeout, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`berth ${args.join(' ')} failed (${err.code ?? err.signal}): ${stderr || stdout}`));
      else resolve(stdout);
    });
  });
}

/** `berth ARGS --json`, parsed. Its exit code may say that something is wrong (status: not
 * all running; alerts: some firing): the JSON is read whatever it is. */
export function berthJSON(dir, args) {
  return new Promise((resolve, reject) => {
    execFile(BERTH, [...args, '--json'], { cwd: dir, env: env(), timeout: 30000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      try {
        resolve(JSON.parse(stdout));
      } catch {
        reject(new Error(`berth ${args.join(' ')} --json failed (${err && (err.code ?? err.signal)}): ${stderr || stdout}`));
      }
    });
  });
}

/** `berth status --json`. */
export function status(dir) {
  return berthJSON(dir, ['status']);
}

/** `n` loopback ports that were free a moment ago (the OS picks them). */
export async function freePorts(n) {
  const servers = [];
  const ports = [];
  for (let i = 0; i < n; i++) {
    const server = net.createServer();
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(server);
    ports.push(server.address().port);
  }
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

/** A fresh temporary directory holding `berth.yaml` = `config`. */
export function project(config, prefix = 'berth-e2e-') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.writeFileSync(path.join(dir, 'berth.yaml'), config);
  return dir;
}

/**
 * A stack of small HTTP services (service.py), each with an HTTP health check, sampled
 * every second. `services`: `[{name, depends_on?, ballast_mib?, held?}]`; a `held` service's
 * port is taken by a listener of this process before the stack starts (so berth moves it to
 * its `alt_ports`). `extra` is YAML added at the top level (`alerts:`). Returns the directory
 * and the listeners holding ports (`held`: close them when done).
 */
export async function webStack(project_name, services, extra = '') {
  const ports = await freePorts(services.length * 2);
  const python = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).stdout.trim() || 'python3';
  const held = [];
  // The disk shown is the root's, not the temporary state dir's (the screenshots show it).
  let yaml = `project: ${project_name}\nmonitor: { interval: 1s, disks: [/] }\n${extra}services:\n`;
  for (const [i, s] of services.entries()) {
    const port = ports[2 * i];
    if (s.held) {
      const server = net.createServer((socket) => socket.destroy());
      await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
      held.push(server);
    }
    yaml += `  ${s.name}:\n`;
    yaml += `    command: [${JSON.stringify(python)}, ${JSON.stringify(SERVICE)}]\n`;
    yaml += `    port: ${port}\n`;
    if (s.held) yaml += `    alt_ports: [${ports[2 * i + 1]}]\n`;
    yaml += `    env: { SERVICE_NAME: ${s.name}, BALLAST_MIB: "${s.ballast_mib || 0}" }\n`;
    yaml += `    health: { http: "http://127.0.0.1:\${port}/health", interval: 1s }\n`;
    yaml += '    stop_timeout: 3s\n';
    if (s.depends_on) yaml += `    depends_on: [${s.depends_on.join(', ')}]\n`;
  }
  return { dir: project(yaml), held };
}

/** `berth dashboard --json`: `{url, listen, expires_in_s}`. */
export async function dashboard(dir) {
  return JSON.parse(await berth(dir, ['dashboard', '--json']));
}

/** Stops the stack and its daemon (best effort) and removes the directory. */
export async function teardown(dir) {
  if (!dir) return;
  try {
    await berth(dir, ['down', '--force'], { timeout: 60000 });
  } catch {
    try {
      await berth(dir, ['down'], { timeout: 60000 });
    } catch {
      // Nothing ran, or the daemon is gone: nothing to stop.
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

/**
 * Debian's Chromium, headless, with a fresh profile. Playwright's own browser downloads are
 * never used: `executablePath` names the system's.
 */
export async function browser({ colorScheme = 'light', viewport = { width: 1360, height: 860 } } = {}) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-e2e-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport,
    colorScheme,
    deviceScaleFactor: 1,
  });
  const close = async () => {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  };
  return { context, close };
}

/** Polls `fn` until it returns a truthy value; throws with `what` after `timeout` ms. */
export async function until(what, fn, { timeout = 15000, every = 100 } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, every));
  }
}

/** The pid in `.berth/daemon.lock`, else status's. */
export async function daemonPid(dir) {
  try {
    const pid = parseInt(fs.readFileSync(path.join(dir, '.berth/daemon.lock'), 'utf8'), 10);
    if (pid > 0) return pid;
  } catch {
    // Read it from the status instead.
  }
  return (await status(dir)).daemon.pid;
}

export function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
