// Talking to the daemon: JSON requests, NDJSON streams read with fetch, and the one
// Server-Sent Events connection (`/v1/stream`) that keeps every view live.
//
// The page is served by the daemon itself, so every request is same-origin and carries the
// session cookie the login set: no token is ever seen by this code. A 401 means the session
// is over (the daemon forgot it, or it expired): `onSessionEnded` is told once, and the page
// says how to get a new link.

const sessionListeners = [];
let sessionEnded = false;

/** Calls `fn` once when any request is answered 401. */
export function onSessionEnded(fn) {
  sessionListeners.push(fn);
}

export function isSessionEnded() {
  return sessionEnded;
}

function endSession() {
  if (sessionEnded) return;
  sessionEnded = true;
  for (const fn of sessionListeners) fn();
}

/** An error answer of the API, with its status and the `{"error"}` message. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function check(response) {
  if (response.ok) return response;
  if (response.status === 401) endSession();
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    if (body && body.error) message = body.error;
  } catch {
    // Not JSON: keep the status line.
  }
  throw new ApiError(response.status, message);
}

/** GET a JSON answer. */
export async function getJSON(path, signal) {
  const response = await fetch(path, { headers: { Accept: 'application/json' }, signal });
  await check(response);
  return response.json();
}

/** POST a JSON body (or none) and read the JSON answer. */
export async function postJSON(path, body) {
  const response = await fetch(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  await check(response);
  return response.json();
}

/**
 * Reads an NDJSON answer line by line, calling `onItem` with each parsed object as it comes
 * (a `follow=1` answer keeps coming until `signal` aborts it or the daemon ends it). Resolves
 * when the answer ends; an abort resolves quietly.
 */
export async function readNDJSON(path, onItem, signal) {
  let response;
  try {
    response = await fetch(path, { headers: { Accept: 'application/x-ndjson' }, signal });
  } catch (e) {
    if (signal && signal.aborted) return;
    throw e;
  }
  await check(response);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let rest = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      rest += decoder.decode(value, { stream: true });
      let newline;
      while ((newline = rest.indexOf('\n')) >= 0) {
        const line = rest.slice(0, newline);
        rest = rest.slice(newline + 1);
        if (line.trim()) onItem(JSON.parse(line));
      }
    }
    if (rest.trim()) onItem(JSON.parse(rest));
  } catch (e) {
    if (signal && signal.aborted) return;
    throw e;
  } finally {
    reader.releaseLock();
  }
}

/** Every item of an NDJSON answer that does not follow. */
export async function getNDJSON(path, signal) {
  const items = [];
  await readNDJSON(path, (item) => items.push(item), signal);
  return items;
}

/**
 * The live connection: one EventSource on `/v1/stream`, whose `status`, `sample`, `event`
 * and `alert` messages are handed to the listeners given to `on`.
 *
 * Its `state` is `connecting` (before the first message), `live`, `away` (the stream broke:
 * the daemon stopped, was killed or is restarting) or `ended` (the session is over). An
 * EventSource reconnects by itself after a broken stream (the daemon asks for 2 s); when the
 * browser gives up instead (an answer that is not a stream, such as a 502 or 503, closes it
 * for good) a new one is opened after a backoff that grows to 10 s. A stream that has been
 * silent for 10 s while services run (when a status comes every second) is treated as broken
 * too.
 */
export class Live {
  constructor() {
    this.state = 'connecting';
    this.listeners = new Map();
    this.source = null;
    this.backoff = 1000;
    this.retryTimer = 0;
    this.lastMessage = 0;
    this.everLive = false;
    this.beating = false;
    this.watchdog = setInterval(() => this.checkSilence(), 5000);
    onSessionEnded(() => this.end());
  }

  /** Listens to a message type (`status`, `sample`, `event`, `alert`) or to `state`. */
  on(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, []);
    this.listeners.get(type).push(fn);
  }

  emit(type, data) {
    for (const fn of this.listeners.get(type) || []) {
      try {
        fn(data);
      } catch (e) {
        console.error(`a ${type} listener failed`, e);
      }
    }
  }

  setState(state) {
    if (this.state === state) return;
    const before = this.state;
    this.state = state;
    this.emit('state', { state, before, reconnected: state === 'live' && this.everLive && before === 'away' });
    if (state === 'live') this.everLive = true;
  }

  connect() {
    if (this.state === 'ended') return;
    this.close();
    const source = new EventSource('/v1/stream');
    this.source = source;
    const message = (type) => (e) => {
      this.lastMessage = Date.now();
      this.backoff = 1000;
      let data;
      try {
        data = JSON.parse(e.data);
      } catch {
        return;
      }
      if (type === 'status') {
        // While anything runs a status comes every second: silence then means trouble.
        this.beating = (data.services || []).some((svc) => svc.pid);
      }
      this.setState('live');
      this.emit(type, data);
    };
    for (const type of ['status', 'sample', 'event', 'alert']) {
      source.addEventListener(type, message(type));
    }
    source.onopen = () => {
      this.lastMessage = Date.now();
    };
    source.onerror = () => {
      if (this.source !== source) return;
      if (this.state !== 'connecting' || this.everLive) this.setState('away');
      // Is it the session, or the daemon? A 401 here ends the session for every view.
      fetch('/v1/status?usage=false', { headers: { Accept: 'application/json' } })
        .then((r) => {
          if (r.status === 401) endSession();
        })
        .catch(() => {});
      if (source.readyState === EventSource.CLOSED) this.retryLater();
    };
  }

  /** A new EventSource after the backoff, for when the browser gave up on the old one. */
  retryLater() {
    this.close();
    clearTimeout(this.retryTimer);
    const wait = this.backoff;
    this.backoff = Math.min(this.backoff * 2, 10000);
    this.retryTimer = setTimeout(() => this.connect(), wait);
  }

  checkSilence() {
    // The daemon sends a status every second while anything runs (its keepalive comments,
    // every 15 s, are not seen by an EventSource's listeners).
    if (this.state === 'live' && this.beating && Date.now() - this.lastMessage > 10000) {
      this.setState('away');
      this.retryLater();
    }
  }

  close() {
    if (this.source) {
      this.source.close();
      this.source = null;
    }
  }

  end() {
    clearTimeout(this.retryTimer);
    clearInterval(this.watchdog);
    this.close();
    this.setState('ended');
  }
}

/** A query string from an object, repeating arrays and leaving out null and undefined. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === null || value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) q.append(key, v);
    else q.append(key, String(value));
  }
  const s = q.toString();
  return s ? '?' + s : '';
}

/** A path segment: a service name is letters, digits, `_`, `-` and `.`, but be safe. */
export function segment(name) {
  return encodeURIComponent(name);
}
