// The "Paired devices" part of the Devices sheet: "Pair a device" asks the server for a one-time
// pairing link (POST /api/pairing) and shows it with its QR code (an SVG the server renders);
// the list shows every paired device (name, paired, last seen, this one marked) with Revoke.

import { h, localTime as when } from './dom.js';
import { request } from './api.js';

export class PairedDevices {
  constructor(dialog, { onError, toast }) {
    this.form = dialog.querySelector('form');
    this.list = dialog.querySelector('#paired-list');
    this.box = dialog.querySelector('#pairing');
    this.qr = dialog.querySelector('#pairing-qr');
    this.url = dialog.querySelector('#pairing-url');
    this.expiry = dialog.querySelector('#pairing-expiry');
    this.onError = onError;
    this.toast = toast;
    this.timer = null;
    dialog.querySelector('#pair-start').addEventListener('click', () => this.pair());
    dialog.addEventListener('close', () => this.hideCode());
  }

  async refresh() {
    const r = await request('GET', '/api/devices');
    this.render(r.devices);
  }

  render(devices) {
    this.list.replaceChildren(...devices.map((d) => h('li', { class: 'device paired', dataset: { id: d.id } },
      h('div', { class: 'device-head' },
        h('strong', { class: 'device-name', text: d.name }),
        d.current ? h('span', { class: 'device-current', text: 'this device' }) : null),
      h('div', { class: 'muted', text: `Paired ${when(d.created_at)} · last seen ${when(d.last_seen_at)}` }),
      h('div', { class: 'sheet-actions' },
        h('button', {
          type: 'button', class: 'btn ghost danger', text: 'Revoke', 'aria-label': `Revoke ${d.name}`,
          on: { click: () => this.revoke(d) },
        })))));
    if (!devices.length) this.list.append(h('li', { class: 'empty', text: 'No paired device.' }));
  }

  async pair() {
    this.onError('');
    const name = this.form.elements.pair_name.value.trim();
    try {
      const code = await request('POST', '/api/pairing', name ? { name } : {});
      this.showCode(code);
    } catch (err) {
      this.onError(`Could not create a pairing code: ${err.message}`);
    }
  }

  showCode(code) {
    this.qr.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(code.qr_svg)}`;
    this.url.href = code.url;
    this.url.textContent = code.url;
    this.box.hidden = false;
    clearInterval(this.timer);
    const tick = () => {
      const left = Math.round((code.expires_at - Date.now()) / 1000);
      if (left <= 0) {
        this.expiry.textContent = 'This code has expired; pair again for a new one.';
        this.qr.classList.add('expired');
        clearInterval(this.timer);
        return;
      }
      this.expiry.textContent = `Works once, for ${Math.floor(left / 60)}:${String(left % 60).padStart(2, '0')} more.`;
    };
    this.qr.classList.remove('expired');
    tick();
    this.timer = setInterval(tick, 1000);
  }

  hideCode() {
    clearInterval(this.timer);
    this.box.hidden = true;
    this.qr.removeAttribute('src');
  }

  async revoke(d) {
    this.onError('');
    try {
      await request('POST', `/api/devices/${encodeURIComponent(d.id)}/revoke`, {});
      this.toast(`${d.name} is signed out`);
    } catch (err) {
      this.onError(`Could not revoke ${d.name}: ${err.message}`);
    }
    await this.refresh().catch((err) => this.onError(`Could not load paired devices: ${err.message}`));
  }
}
