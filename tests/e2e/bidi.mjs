// A small WebDriver BiDi client for Debian's Firefox ESR, enough to load a page, run script
// in it, read its console and take a screenshot. (playwright-core's Firefox support speaks
// to a newer Firefox than the ESR Debian ships; the protocol itself is a W3C standard that
// Firefox ESR speaks natively.) Needs a global WebSocket: Node.js 22, or Node.js 20 with
// --experimental-websocket.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const FIREFOX = process.env.FIREFOX || '/usr/bin/firefox-esr';

// Nothing fetched from outside: no updates, telemetry, safe-browsing lists, captive-portal
// checks or first-run pages.
const PREFS = {
  'app.update.enabled': false,
  'app.update.auto': false,
  'browser.shell.checkDefaultBrowser': false,
  'browser.startup.homepage_override.mstone': 'ignore',
  'browser.startup.page': 0,
  'browser.safebrowsing.malware.enabled': false,
  'browser.safebrowsing.phishing.enabled': false,
  'browser.safebrowsing.downloads.enabled': false,
  'browser.safebrowsing.update.enabled': false,
  'datareporting.policy.dataSubmissionEnabled': false,
  'datareporting.healthreport.uploadEnabled': false,
  'toolkit.telemetry.enabled': false,
  'network.captive-portal-service.enabled': false,
  'network.connectivity-service.enabled': false,
  'extensions.update.enabled': false,
  'extensions.getAddons.cache.enabled': false,
  'browser.newtabpage.enabled': false,
  'services.settings.server': 'http://127.0.0.1:9/',
};

export class Firefox {
  /** Starts Firefox headless with a fresh profile and opens a BiDi session on its tab. */
  static async launch({ width = 1300, height = 860 } = {}) {
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-e2e-firefox-'));
    fs.writeFileSync(path.join(profile, 'user.js'), Object.entries(PREFS).map(([k, v]) => `user_pref(${JSON.stringify(k)}, ${JSON.stringify(v)});\n`).join(''));
    const child = spawn(FIREFOX, ['--headless', '--no-remote', '--profile', profile, '--remote-debugging-port=0', `--width=${width}`, `--height=${height}`, 'about:blank'], { stdio: ['ignore', 'ignore', 'pipe'] });
    const url = await new Promise((resolve, reject) => {
      let err = '';
      const timer = setTimeout(() => reject(new Error(`Firefox did not start its BiDi server: ${err}`)), 30000);
      child.stderr.on('data', (d) => {
        err += d;
        const m = /WebDriver BiDi listening on (ws:\/\/\S+)/.exec(err);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
      child.on('exit', (code) => reject(new Error(`Firefox exited (${code}): ${err}`)));
    });
    const ff = new Firefox(child, profile);
    await ff.connect(`${url.replace(/\/$/, '')}/session`);
    await ff.send('session.new', { capabilities: { alwaysMatch: { acceptInsecureCerts: false } } });
    const tree = await ff.send('browsingContext.getTree', {});
    ff.context = tree.contexts[0].context;
    await ff.send('browsingContext.setViewport', { context: ff.context, viewport: { width, height } });
    await ff.send('session.subscribe', { events: ['log.entryAdded'] });
    return ff;
  }

  constructor(child, profile) {
    this.child = child;
    this.profile = profile;
    this.next = 1;
    this.pending = new Map();
    this.logs = [];
  }

  connect(url) {
    return new Promise((resolve, reject) => {
      this.ws = new WebSocket(url);
      this.ws.onopen = () => resolve();
      this.ws.onerror = (e) => reject(new Error(`BiDi connection failed: ${e.message || e.type}`));
      this.ws.onmessage = (e) => {
        const msg = JSON.parse(e.data);
        if (msg.id !== undefined && this.pending.has(msg.id)) {
          const { resolve: ok, reject: fail } = this.pending.get(msg.id);
          this.pending.delete(msg.id);
          if (msg.type === 'error') fail(new Error(`${msg.error}: ${msg.message}`));
          else ok(msg.result);
        } else if (msg.method === 'log.entryAdded') {
          this.logs.push(msg.params);
        }
      };
    });
  }

  send(method, params) {
    const id = this.next++;
    this.ws.send(JSON.stringify({ id, method, params }));
    return new Promise((resolve, reject) => this.pending.set(id, { resolve, reject }));
  }

  navigate(url) {
    return this.send('browsingContext.navigate', { context: this.context, url, wait: 'complete' });
  }

  /** Evaluates `expression` (a promise is awaited) in the page; returns its JSON value. */
  async eval(expression) {
    const r = await this.send('script.evaluate', {
      expression: `(async () => JSON.stringify(await (${expression})))()`,
      target: { context: this.context },
      awaitPromise: true,
      resultOwnership: 'none',
    });
    if (r.type === 'exception') throw new Error(`in the page: ${r.exceptionDetails.text}`);
    return r.result.value === undefined ? undefined : JSON.parse(r.result.value);
  }

  async screenshot(file) {
    const r = await this.send('browsingContext.captureScreenshot', { context: this.context });
    fs.writeFileSync(file, Buffer.from(r.data, 'base64'));
  }

  /** The page's script errors so far. */
  errors() {
    return this.logs.filter((l) => l.type === 'javascript' && l.level === 'error').map((l) => l.text);
  }

  async close() {
    try {
      await this.send('browser.close', {});
    } catch {
      // It is going anyway.
    }
    await new Promise((resolve) => {
      if (this.child.exitCode !== null) resolve();
      else {
        const timer = setTimeout(() => {
          this.child.kill('SIGKILL');
          resolve();
        }, 5000);
        this.child.on('exit', () => {
          clearTimeout(timer);
          resolve();
        });
      }
    });
    fs.rmSync(this.profile, { recursive: true, force: true });
  }
}
