// Alerts (#/alerts): those firing and pending, the silences, a form to silence a rule (for
// one service or all), and the past transitions and deliveries. `alertTable` writes a list
// of alerts; a service's page uses it too.

import { getJSON, postJSON, getNDJSON, query } from './api.js';
import * as fmt from './format.js';
import { eventItem } from './events.js';

function cell(tag, text, className) {
  const e = document.createElement(tag);
  e.textContent = text;
  if (className) e.className = className;
  return e;
}

/**
 * A table of alerts. `onSilence(alert)`, when given, adds a button to each row that fills
 * the silence form with it.
 */
export function alertTable(alerts, onSilence) {
  const table = document.createElement('table');
  table.className = 'plain alerts';
  const head = document.createElement('thead');
  const hr = document.createElement('tr');
  for (const h of ['Rule', 'Subject', 'State', 'Severity', 'Value', 'Since', '']) hr.appendChild(cell('th', h));
  for (const th of hr.children) th.scope = 'col';
  head.appendChild(hr);
  const body = document.createElement('tbody');
  for (const a of alerts) {
    const tr = document.createElement('tr');
    tr.dataset.rule = a.rule;
    const subject = document.createElement('td');
    if (a.service) {
      const link = cell('a', a.subject);
      link.href = `#/service/${encodeURIComponent(a.service)}`;
      subject.appendChild(link);
    } else subject.textContent = a.subject;
    const state = document.createElement('td');
    state.appendChild(cell('span', a.silenced ? `${a.state}, silenced` : a.state, `badge alert-${a.state}${a.silenced ? ' silenced' : ''}`));
    const actions = document.createElement('td');
    if (onSilence) {
      const b = cell('button', 'Silence…');
      b.type = 'button';
      b.addEventListener('click', () => onSilence(a));
      actions.appendChild(b);
    }
    tr.append(cell('td', a.rule, 'mono'), subject, state, cell('td', a.severity, `sev-${a.severity}`), cell('td', a.value), cell('td', `${fmt.clock(a.since)} (${fmt.ago(a.since)})`), actions);
    body.appendChild(tr);
  }
  table.append(head, body);
  return table;
}

export function createAlerts(ctx) {
  const view = document.createElement('section');
  view.className = 'view view-alerts';
  view.setAttribute('aria-labelledby', 'alerts-title');
  view.innerHTML = `
    <h1 id="alerts-title" tabindex="-1">Alerts</h1>
    <section aria-labelledby="alerts-now-title">
      <h2 id="alerts-now-title">Firing and pending</h2>
      <div class="alerts-now"></div>
    </section>
    <section aria-labelledby="silence-title">
      <h2 id="silence-title">Silences</h2>
      <div class="silences"></div>
      <form class="silence-form">
        <label>Rule <input name="rule" required autocomplete="off" list="alert-rules"></label>
        <datalist id="alert-rules"></datalist>
        <label>Service <input name="service" placeholder="every service" autocomplete="off"></label>
        <label>For <input name="for" value="1h" required size="6" pattern="[0-9]+(ms|s|m|h|d)([0-9]+(ms|s|m|h|d))*" title="A duration: 30m, 2h, 1d"></label>
        <button type="submit">Silence</button>
        <span class="form-result" role="status" aria-live="polite"></span>
      </form>
    </section>
    <section aria-labelledby="alerts-past-title">
      <h2 id="alerts-past-title">The last 24 hours</h2>
      <ol class="events alerts-past"></ol>
    </section>`;
  const now = view.querySelector('.alerts-now');
  const silences = view.querySelector('.silences');
  const form = view.querySelector('form');
  const formResult = view.querySelector('.form-result');
  const rulesList = view.querySelector('datalist');
  const past = view.querySelector('.alerts-past');
  const countEl = document.getElementById('alert-count');
  let visible = false;
  let timer = 0;

  function fill(alert) {
    form.elements.rule.value = alert.rule;
    form.elements.service.value = alert.service || '';
    form.elements.for.focus();
    form.elements.for.select();
  }

  function renderCount(alerts) {
    const firing = alerts.filter((a) => a.state === 'firing' && !a.silenced).length;
    countEl.hidden = firing === 0;
    countEl.textContent = String(firing);
    countEl.title = `${firing} firing`;
  }

  async function loadNow() {
    try {
      const answer = await getJSON('/v1/alerts');
      renderCount(answer.alerts);
      if (!visible) return;
      now.replaceChildren(answer.alerts.length ? alertTable(answer.alerts, fill) : cell('p', 'None: every rule is quiet.', 'muted'));
      rulesList.replaceChildren(...[...new Set(answer.alerts.map((a) => a.rule))].map((r) => Object.assign(document.createElement('option'), { value: r })));
      if (!answer.silences.length) silences.replaceChildren(cell('p', 'No silences.', 'muted'));
      else {
        const ul = document.createElement('ul');
        ul.className = 'silence-list';
        for (const s of answer.silences) {
          const li = document.createElement('li');
          const b = cell('button', 'Unsilence');
          b.type = 'button';
          b.addEventListener('click', async () => {
            b.disabled = true;
            try {
              await postJSON('/v1/alerts/unsilence', { rule: s.rule, service: s.service });
            } catch (e) {
              formResult.textContent = `Could not unsilence: ${e.message}`;
            }
            loadNow();
          });
          li.append(cell('span', s.rule, 'mono'), ` for ${s.service || 'every service'} until ${fmt.clock(s.until)} `, b);
          ul.appendChild(li);
        }
        silences.replaceChildren(ul);
      }
    } catch (e) {
      if (visible) now.replaceChildren(cell('p', `The alerts could not be read: ${e.message}`, 'error'));
    }
  }

  async function loadPast() {
    try {
      const events = await getNDJSON('/v1/alerts/history' + query({ since: '24h' }));
      past.replaceChildren(...events.reverse().slice(0, 500).map((e) => eventItem(e)));
      if (!events.length) past.replaceChildren(cell('li', 'Nothing in the last 24 hours.', 'muted'));
    } catch (e) {
      past.replaceChildren(cell('li', `The history could not be read: ${e.message}`, 'muted'));
    }
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = { rule: form.elements.rule.value.trim(), for: form.elements.for.value.trim() };
    const service = form.elements.service.value.trim();
    if (service) body.service = service;
    formResult.className = 'form-result';
    try {
      await postJSON('/v1/alerts/silence', body);
      formResult.textContent = `Silenced ${body.rule}${service ? ` for ${service}` : ''} for ${body.for}.`;
      loadNow();
    } catch (err) {
      formResult.className = 'form-result error';
      formResult.textContent = err.message;
    }
  });

  // The count in the header is kept up whichever view is shown.
  ctx.live.on('alert', () => {
    loadNow();
    if (visible) loadPast();
  });
  ctx.onReconnect(() => loadNow());
  loadNow();

  return {
    el: view,
    show() {
      visible = true;
      loadNow();
      loadPast();
      clearInterval(timer);
      timer = setInterval(loadNow, 5000);
      view.querySelector('h1').focus({ preventScroll: true });
    },
    hide() {
      visible = false;
      clearInterval(timer);
    },
  };
}
