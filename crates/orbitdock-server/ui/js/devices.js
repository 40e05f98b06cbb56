// The devices sheet and the installable app: paired devices (paired_devices.js); registers the service worker (sw.js: shows pushes,
// answers approval notifications, offline page), subscribes this browser to Web Push with the
// server's VAPID key, and lists every device getting notifications with its delivery record
// (last success, failures, last error), its kinds and quiet hours, a test push and removal.

import { h, localTime as when } from './dom.js';
import { request } from './api.js';
import { showError, wireClose } from './sheets.js';
import { PairedDevices } from './paired_devices.js';

const KINDS = [
  ['approval', 'Approvals'],
  ['question', 'Questions'],
  ['turn_completed', 'Turn completed'],
  ['turn_failed', 'Turn failed'],
  ['session_ended', 'Session ended'],
];

/** Registers sw.js (where the browser has service workers); resolves to the registration. */
export async function registerServiceWorker() {
  if (!('serviceWorker' in navigator)) return null;
  try {
    return await navigator.serviceWorker.register('/sw.js', { scope: '/' });
  } catch (err) {
    console.warn('orbitdock: service worker registration failed', err);
    return null;
  }
}

function b64urlToBytes(s) {
  const pad = '='.repeat((4 - (s.length % 4)) % 4);
  const bin = atob((s + pad).replace(/-/g, '+').replace(/_/g, '/'));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

function minutes(hhmm) {
  const m = /^(\d{1,2}):(\d{2})$/.exec(hhmm || '');
  return m ? Number(m[1]) * 60 + Number(m[2]) : null;
}

function hhmm(min) {
  return `${String(Math.floor(min / 60)).padStart(2, '0')}:${String(min % 60).padStart(2, '0')}`;
}

export class DevicesSheet {
  constructor(dialog, { toast }) {
    this.dialog = dialog;
    this.form = dialog.querySelector('form');
    this.list = dialog.querySelector('#device-list');
    this.support = dialog.querySelector('.push-support');
    this.toast = toast;
    this.publicKey = null;
    wireClose(dialog);
    this.form.addEventListener('submit', (ev) => ev.preventDefault());
    dialog.querySelector('#push-enable').addEventListener('click', () => this.enable());
    this.channels = dialog.querySelector('#channel-list');
    dialog.querySelector('#channel-add').addEventListener('click', () => this.addChannel());
    this.paired = new PairedDevices(dialog, { onError: (m) => showError(this.form, m), toast });
  }

  async open() {
    showError(this.form, '');
    if (!this.form.elements.name.value) {
      this.form.elements.name.value = /Mobi|Android|iPhone/.test(navigator.userAgent) ? 'Phone' : 'This browser';
    }
    const supported = 'serviceWorker' in navigator && 'PushManager' in window;
    this.support.hidden = supported;
    this.support.textContent = supported ? '' : 'This browser has no Web Push (on iPhone: add OrbitDock to the home screen first).';
    this.dialog.showModal();
    await this.refresh();
  }

  async refresh() {
    try {
      await this.paired.refresh();
      const r = await request('GET', '/api/push/subscriptions');
      this.publicKey = r.public_key;
      this.render(r.devices);
      const c = await request('GET', '/api/notify/channels');
      this.renderChannels(c.channels);
    } catch (err) {
      showError(this.form, `Could not load devices: ${err.message}`);
    }
  }

  render(devices) {
    this.list.replaceChildren(...devices.map((d) => this.row(d)));
    if (!devices.length) this.list.append(h('li', { class: 'empty', text: 'No device gets notifications yet.' }));
  }

  renderChannels(channels) {
    this.channels.replaceChildren(...channels.map((c) => h('li', { class: 'device channel', dataset: { id: c.id } },
      h('div', { class: 'device-head' },
        h('strong', { class: 'device-name', text: c.name }),
        h('span', { class: 'muted', text: `${c.kind} · ${c.url}` })),
      h('div', { class: 'muted', text: `Added ${when(c.created_at)} · last delivered ${when(c.last_success_at)}` }),
      c.failure_count ? h('span', { class: 'device-failure', text: `${c.failure_count} failed: ${c.last_error || ''}` }) : null,
      h('div', { class: 'sheet-actions' },
        h('button', { type: 'button', class: 'btn ghost', text: 'Send test', 'aria-label': `Send a test notification to ${c.name}`,
          on: { click: () => this.act('Test failed', () => request('POST', `/api/notify/channels/${encodeURIComponent(c.id)}/test`, {})) } }),
        h('button', { type: 'button', class: 'btn ghost danger', text: 'Remove', 'aria-label': `Remove ${c.name}`,
          on: { click: () => this.act('Could not remove', () => request('POST', `/api/notify/channels/${encodeURIComponent(c.id)}/delete`, {})) } })))));
  }

  addChannel() {
    const f = this.form.elements;
    return this.act('Could not add the channel', async () => {
      await request('POST', '/api/notify/channels', { kind: f.channel_kind.value, name: f.channel_name.value, url: f.channel_url.value });
      f.channel_name.value = '';
      f.channel_url.value = '';
    });
  }

  row(d) {
    const kinds = KINDS.map(([k, label]) => h('label', { class: 'choice' },
      h('input', {
        type: 'checkbox', checked: d.kinds.includes(k), 'aria-label': `${label} on ${d.name}`,
        on: { change: (ev) => this.setKind(d, k, ev.target.checked) },
      }), label));
    const q = d.quiet_hours;
    const quietFrom = h('input', { type: 'time', value: q ? hhmm(q.start_minute) : '', 'aria-label': `Quiet hours start on ${d.name}` });
    const quietTo = h('input', { type: 'time', value: q ? hhmm(q.end_minute) : '', 'aria-label': `Quiet hours end on ${d.name}` });
    const saveQuiet = () => this.setQuiet(d, minutes(quietFrom.value), minutes(quietTo.value));
    quietFrom.addEventListener('change', saveQuiet);
    quietTo.addEventListener('change', saveQuiet);
    const failures = d.failure_count
      ? h('span', { class: 'device-failure', text: `${d.failure_count} failed: ${d.last_error || ''}` }) : null;
    return h('li', { class: 'device', dataset: { id: d.id } },
      h('div', { class: 'device-head' },
        h('strong', { class: 'device-name', text: d.name }),
        h('span', { class: 'muted', text: d.service })),
      h('div', { class: 'muted', text: `Added ${when(d.created_at)} · last delivered ${when(d.last_success_at)}` }),
      failures,
      h('div', { class: 'device-kinds' }, kinds),
      h('div', { class: 'device-quiet' }, h('span', { class: 'muted', text: 'Quiet hours' }), quietFrom, '–', quietTo),
      h('div', { class: 'sheet-actions' },
        h('button', { type: 'button', class: 'btn ghost', text: 'Send test', 'aria-label': `Send a test notification to ${d.name}`, on: { click: () => this.test(d) } }),
        h('button', { type: 'button', class: 'btn ghost danger', text: 'Remove', 'aria-label': `Remove ${d.name}`, on: { click: () => this.remove(d) } })));
  }

  async act(what, fn) {
    try {
      await fn();
    } catch (err) {
      showError(this.form, `${what}: ${err.message}`);
    }
    await this.refresh();
  }

  setKind(d, kind, on) {
    const kinds = on ? [...new Set([...d.kinds, kind])] : d.kinds.filter((k) => k !== kind);
    return this.act('Could not save', () => request('POST', `/api/push/subscriptions/${encodeURIComponent(d.id)}`, { kinds }));
  }

  setQuiet(d, start, end) {
    const quiet_hours = start === null || end === null ? null
      : { start_minute: start, end_minute: end, utc_offset_minutes: -new Date().getTimezoneOffset() };
    return this.act('Could not save', () => request('POST', `/api/push/subscriptions/${encodeURIComponent(d.id)}`, { quiet_hours }));
  }

  test(d) {
    return this.act('Test failed', async () => {
      await request('POST', `/api/push/subscriptions/${encodeURIComponent(d.id)}/test`, {});
      this.toast(`Test notification sent to ${d.name}`);
    });
  }

  remove(d) {
    return this.act('Could not remove', () => request('POST', `/api/push/subscriptions/${encodeURIComponent(d.id)}/delete`, {}));
  }

  async enable() {
    showError(this.form, '');
    const name = this.form.elements.name.value.trim();
    if (!name) {
      showError(this.form, 'Give this device a name.');
      return;
    }
    try {
      if (!('serviceWorker' in navigator) || !('PushManager' in window)) throw new Error('this browser has no Web Push');
      const permission = await Notification.requestPermission();
      if (permission !== 'granted') throw new Error('notifications are blocked for this site');
      await registerServiceWorker();
      const reg = await navigator.serviceWorker.ready;
      if (!this.publicKey) await this.refresh();
      const sub = await reg.pushManager.getSubscription()
        || await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: b64urlToBytes(this.publicKey) });
      await request('POST', '/api/push/subscriptions', { name, subscription: sub.toJSON() });
      this.toast(`${name} gets notifications`);
    } catch (err) {
      showError(this.form, `Could not enable notifications: ${err.message}`);
    }
    await this.refresh();
  }
}
