// Codex hosts: the machines (or other CODEX_HOMEs) the hub runs sessions on besides its own.
// This module keeps the hosts the server knows (`GET /api/hosts`, then the WebSocket's
// `host_changed` / `host_removed`), and builds what shows them: the host chip on a session's
// header and its sidebar row, the host picker of the new-session sheet, and the Hosts sheet
// (state, Codex version, last error; add, test, remove).
//
// A host's token is typed into a password field, sent once with the add request and cleared
// from the page at once: the server stores it 0600 and never sends it back, so nothing here can
// show it again.
//
// Chips carry `data-host` and are restyled in place when a host's state changes, so a host
// going unreachable is shown on every row and header without re-rendering them.

import { h, setChildren } from './dom.js';
import { request } from './api.js';
import { sheet } from './sheet.js';

/** name -> HostInfo, in the order the server listed them. */
export const hosts = new Map();
/** Fires `change` whenever `hosts` changed. */
export const hostEvents = new EventTarget();

const STATE_TEXT = {
  connected: 'connected',
  reconnecting: 'reconnecting',
  unreachable: 'unreachable',
};

export function stateText(state) {
  return STATE_TEXT[state] || 'unknown';
}

function changed() {
  syncChips();
  hostEvents.dispatchEvent(new Event('change'));
}

/** Reloads every host (at start and after each WebSocket reconnect: changes may have been missed). */
export async function refreshHosts() {
  let list = [];
  try {
    const r = await request('GET', '/api/hosts');
    list = (r && r.hosts) || [];
  } catch (err) {
    // A server without host links (409) or an older one (404) has none to show; anything else
    // is worth a console line.
    if (!err || (err.status !== 404 && err.status !== 409)) console.warn('orbitdock: could not load hosts', err);
  }
  hosts.clear();
  for (const host of list) hosts.set(host.name, host);
  changed();
}

/** A `host_changed` message. */
export function applyHostChanged(host) {
  if (!host || !host.name) return;
  hosts.set(host.name, host);
  changed();
}

/** A `host_removed` message. */
export function applyHostRemoved(name) {
  if (hosts.delete(name)) changed();
}

function chipTitle(name) {
  const host = hosts.get(name);
  if (!host) return `Host ${name} (not configured any more)`;
  const parts = [`Host ${name}: ${stateText(host.state)}`];
  if (host.codex_version) parts.push(`Codex ${host.codex_version}`);
  if (host.last_error && host.state !== 'connected') parts.push(host.last_error);
  return parts.join(' · ');
}

function styleChip(el) {
  const name = el.dataset.host;
  if (!name) return;
  const host = hosts.get(name);
  el.dataset.state = host ? host.state : 'unknown';
  el.title = chipTitle(name);
  el.setAttribute('aria-label', chipTitle(name));
}

function syncChips() {
  for (const el of document.querySelectorAll('.chip.host[data-host]')) styleChip(el);
}

/**
 * The chip naming a session's host (`null`: the hub's own machine). The local machine gets a
 * chip only when `always` (a header, on a hub that has hosts), so single-machine users see
 * nothing new.
 */
export function hostChip(name, { always = false } = {}) {
  if (!name) {
    return always ? h('span', { class: 'chip host local', title: 'Runs on the hub\u2019s own machine', text: 'local' }) : null;
  }
  const el = h('span', { class: 'chip host', dataset: { host: name }, text: name });
  styleChip(el);
  return el;
}

// ------------------------------------------------------------------ new-session picker

/**
 * The host `<select>` of the new-session sheet (Codex only; hidden while the hub has no hosts).
 * `onChange(host)` gets the chosen name, or `null` for the hub's own machine.
 */
export class HostPicker {
  constructor(label, { onChange } = {}) {
    this.label = label;
    this.select = label.querySelector('select');
    this.hint = label.parentElement.querySelector('.host-hint');
    this.onChange = onChange || (() => {});
    this.agent = 'codex';
    this.select.addEventListener('change', () => {
      this.showHint();
      this.onChange(this.value());
    });
    hostEvents.addEventListener('change', () => this.fill());
    this.fill();
  }

  /** The chosen host, or `null` for the hub's own machine. */
  value() {
    return this.label.hidden ? null : (this.select.value || null);
  }

  setAgent(agent) {
    this.agent = agent;
    this.fill();
  }

  fill() {
    const keep = this.select.value;
    setChildren(this.select, h('option', { value: '', text: 'This machine (local)' }),
      [...hosts.values()].map((host) => h('option', {
        value: host.name,
        text: `${host.name} \u2014 ${stateText(host.state)}${host.codex_version ? ` \u00b7 Codex ${host.codex_version}` : ''}`,
      })));
    this.select.value = hosts.has(keep) ? keep : '';
    this.label.hidden = this.agent !== 'codex' || hosts.size === 0;
    this.showHint();
  }

  showHint() {
    if (!this.hint) return;
    const name = this.value();
    const host = name ? hosts.get(name) : null;
    this.hint.hidden = !host;
    if (!host) return;
    const down = host.state !== 'connected';
    this.hint.classList.toggle('warn', down);
    this.hint.textContent = `The project directory is a path on ${host.name}; the model and provider come from its own Codex config.`
      + (down ? ` ${host.name} is ${stateText(host.state)}${host.last_error ? `: ${host.last_error}` : ''}.` : '');
  }
}

// ------------------------------------------------------------------ the Hosts sheet

export class HostsSheet {
  constructor({ toast }) {
    this.toast = toast;
    this.s = sheet('Hosts', 'hosts-sheet');
    this.s.dialog.classList.add('devices', 'hosts');
    this.list = h('ul', { id: 'host-list', class: 'device-list', 'aria-label': 'Codex hosts' });
    this.tests = new Map(); // host name -> last test outcome line
    this.confirming = null;
    const f = {
      name: h('input', { name: 'host_name', maxlength: '64', autocomplete: 'off', spellcheck: 'false', placeholder: 'build-box', 'aria-label': 'Host name' }),
      url: h('input', { name: 'host_url', autocomplete: 'off', spellcheck: 'false', placeholder: 'ws://127.0.0.1:4500 or ssh://me@box', 'aria-label': 'Host address' }),
      token: h('input', { name: 'host_token', type: 'password', autocomplete: 'new-password', spellcheck: 'false', placeholder: 'capability token (ws:// only)', 'aria-label': 'Host token' }),
      insecure: h('input', { name: 'host_insecure', type: 'checkbox', 'aria-label': 'Allow plain ws:// to a non-loopback address' }),
    };
    this.fields = f;
    const add = h('button', { type: 'button', class: 'btn primary', id: 'host-add', 'aria-label': 'Add host', on: { click: () => this.add() } }, 'Add');
    this.s.form.addEventListener('submit', (ev) => ev.preventDefault());
    const close = h('button', { type: 'button', class: 'btn ghost', 'aria-label': 'Close hosts', on: { click: () => this.s.dialog.close() } }, 'Close');
    this.s.form.append(
      this.s.heading,
      h('p', { class: 'hint', text: 'Codex app-servers on other machines (or other CODEX_HOMEs) this hub runs sessions on. '
        + 'Prefer ssh:// or a private network (Tailscale, WireGuard): plain ws:// carries the token and every prompt in clear text. '
        + 'A token is stored on the hub, readable by its owner only, and never shown again.' }),
      this.list,
      h('h3', { text: 'Add a host' }),
      h('div', { class: 'row host-add' }, f.name, f.url),
      h('div', { class: 'row host-add' }, f.token, add),
      h('label', { class: 'choice host-insecure' }, f.insecure, 'Allow plain ws:// to a non-loopback address'),
      this.s.error,
      h('div', { class: 'sheet-actions' }, close),
    );
    this.onChange = () => {
      if (this.s.dialog.open) this.render();
    };
    hostEvents.addEventListener('change', this.onChange);
  }

  async open() {
    this.s.fail('');
    this.s.dialog.showModal();
    this.render();
    await refreshHosts();
  }

  render() {
    const rows = [...hosts.values()].map((host) => this.row(host));
    this.list.replaceChildren(...rows);
    if (!rows.length) this.list.append(h('li', { class: 'empty', text: 'No hosts yet: sessions run on this machine.' }));
  }

  row(host) {
    // A test outcome describes the host as it was then: once its state changed, it would
    // contradict the state shown next to it.
    let tested = this.tests.get(host.name);
    if (tested && tested.state && tested.state !== host.state) {
      this.tests.delete(host.name);
      tested = null;
    }
    const removing = this.confirming === host.name;
    return h('li', { class: 'device host-row', dataset: { host: host.name, state: host.state } },
      h('div', { class: 'device-head' },
        h('strong', { class: 'device-name', text: host.name }),
        h('span', { class: `host-state state-${STATE_TEXT[host.state] ? host.state : 'unknown'}`, role: 'status', text: stateText(host.state) }),
        h('span', { class: 'muted', text: `${host.kind || ''} \u00b7 ${host.url}` })),
      h('div', { class: 'muted host-version', text: `${host.codex_version ? `Codex ${host.codex_version}` : 'Codex version not known yet'} \u00b7 ${host.sessions || 0} open session${host.sessions === 1 ? '' : 's'}` }),
      host.last_error ? h('div', { class: 'device-failure host-error', text: `Last error: ${host.last_error}` }) : null,
      tested ? h('div', { class: `host-test ${tested.ok ? 'ok' : 'failed'}`, role: 'status', text: tested.text }) : null,
      h('div', { class: 'sheet-actions' },
        h('button', { type: 'button', class: 'btn ghost', text: 'Test', 'aria-label': `Test ${host.name}`, on: { click: () => this.test(host.name) } }),
        h('button', {
          type: 'button', class: 'btn ghost danger', text: removing ? 'Really remove?' : 'Remove', 'aria-label': removing ? `Confirm removing ${host.name}` : `Remove ${host.name}`,
          on: { click: () => this.remove(host.name) },
        })));
  }

  async add() {
    const f = this.fields;
    const body = { name: f.name.value.trim(), url: f.url.value.trim() };
    const token = f.token.value.trim();
    // The token leaves the page with this request and is not kept in it, whatever happens.
    f.token.value = '';
    if (!body.name || !body.url) {
      this.s.fail('A name and an address are required.');
      return;
    }
    if (token) body.token = token;
    if (f.insecure.checked) body.allow_insecure_ws = true;
    this.s.fail('');
    try {
      const host = await request('POST', '/api/hosts', body);
      applyHostChanged(host);
      f.name.value = '';
      f.url.value = '';
      f.insecure.checked = false;
      this.toast(`${host.name} added (${stateText(host.state)})`);
    } catch (err) {
      this.s.fail(`Could not add the host: ${err.message}${token ? ' (type the token again)' : ''}`);
    }
  }

  async test(name) {
    this.tests.set(name, { ok: true, text: 'Testing\u2026' });
    this.render();
    try {
      const r = await request('POST', `/api/hosts/${encodeURIComponent(name)}/test`, {});
      const state = hosts.has(name) ? hosts.get(name).state : null;
      this.tests.set(name, r.ok
        ? { ok: true, state, text: `Reached: Codex ${r.codex_version || '(version unknown)'}${r.codex_home ? ` in ${r.codex_home}` : ''}` }
        : { ok: false, state, text: `Not reached: ${r.error || 'no answer'}` });
    } catch (err) {
      this.tests.set(name, { ok: false, text: `Test failed: ${err.message}` });
    }
    this.render();
  }

  async remove(name) {
    if (this.confirming !== name) {
      this.confirming = name;
      this.render();
      return;
    }
    this.confirming = null;
    try {
      await request('POST', `/api/hosts/${encodeURIComponent(name)}/remove`, {});
      this.tests.delete(name);
      applyHostRemoved(name);
      this.toast(`${name} removed`);
    } catch (err) {
      this.s.fail(`Could not remove ${name}: ${err.message}`);
      this.render();
    }
  }
}
