// The provider picker of the new-session sheet: the OpenAI account (who is logged in, log in with
// an API key or a ChatGPT device code, log out) and the local model (codexpc: model, context
// size, tokens/s, generations in flight, sessions; which GGUF to serve). Live while the sheet is
// open: GET /api/providers is polled every 2 s.

import { h, setChildren } from './dom.js';
import { api } from './api.js';

const POLL_MS = 2000;

const STATE_TEXT = {
  up: 'ready',
  starting: 'starting',
  down: 'down',
  logged_out: 'not logged in',
};

function stateChip(state) {
  const known = STATE_TEXT[state];
  return h('span', { class: `chip provider-state state-${known ? state : 'unknown'}`, text: known || String(state || 'unknown') });
}

/** "gpt-oss-20b · 32,768-token context · 18.0 tok/s · 1 busy · 2 sessions" */
export function localFacts(p) {
  const parts = [];
  if (p.model) parts.push(p.model);
  if (p.context_size) parts.push(`${Number(p.context_size).toLocaleString('en-US')}-token context`);
  if (typeof p.tokens_per_second === 'number') parts.push(`${p.tokens_per_second.toFixed(1)} tok/s`);
  if (typeof p.busy === 'number') parts.push(`${p.busy} busy`);
  parts.push(`${p.sessions || 0} session${p.sessions === 1 ? '' : 's'}`);
  return parts.join(' · ');
}

/** The provider name a session's `model_provider` stands for. */
export function providerLabel(modelProvider) {
  if (!modelProvider || modelProvider === 'openai') return 'OpenAI';
  if (modelProvider === 'codexpc') return 'Local gpt-oss';
  return modelProvider;
}

export class ProviderPicker {
  /**
   * `el`: the fieldset to render into; `onChange(providerId)` when the choice changes (the sheet
   * disables its model list for the local model, which serves one model).
   */
  constructor(el, { onChange }) {
    this.el = el;
    this.onChange = onChange;
    this.providers = [];
    this.account = null;
    this.selected = '';
    this.deviceCode = null;
    this.timer = null;
    this.shown = '';
    this.busy = false;
    this.message = '';
  }

  async start() {
    this.deviceCode = null;
    this.message = '';
    await this.refresh();
    this.stop();
    this.timer = setInterval(() => this.refresh(), POLL_MS);
  }

  stop() {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** The provider id to send (`undefined`: the agent's default, the account). */
  value() {
    return this.selected && this.selected !== 'openai' ? this.selected : undefined;
  }

  async refresh() {
    try {
      const [res, account] = await Promise.all([api.providers(), api.account()]);
      this.providers = (res && res.providers) || [];
      this.account = account;
      if (this.deviceCode && account && account.logged_in) this.deviceCode = null;
    } catch (err) {
      this.message = `Could not read the providers: ${err.message}`;
    }
    if (!this.providers.some((p) => p.id === this.selected)) {
      // First open: the account when someone is logged in, else a local model that runs.
      const local = this.providers.find((p) => p.id === 'codexpc' && p.state === 'up');
      const openai = this.providers.find((p) => p.id === 'openai');
      this.selected = openai && openai.state !== 'logged_out' ? 'openai' : (local ? local.id : (openai ? 'openai' : ''));
      this.onChange(this.selected);
    }
    this.render();
  }

  choose(id) {
    this.selected = id;
    this.onChange(id);
    this.render();
  }

  render() {
    // Rebuild only when something shown changed (the poll usually brings the same answer).
    const shown = JSON.stringify([this.providers, this.account, this.selected, this.deviceCode, this.message]);
    if (shown === this.shown && this.el.querySelector('.provider-option')) return;
    this.shown = shown;
    // Keep what the user is typing across live refreshes.
    const focused = document.activeElement;
    if (focused && this.el.contains(focused) && focused.tagName === 'INPUT' && focused.type !== 'radio') {
      this.renderFacts();
      return;
    }
    setChildren(this.el,
      h('legend', { text: 'Provider' }),
      this.providers.map((p) => this.option(p)),
      this.message ? h('p', { class: 'form-error', role: 'alert', text: this.message }) : null);
  }

  /** Updates only the live figures (while the user types in a field of the panel). */
  renderFacts() {
    for (const p of this.providers) {
      const facts = this.el.querySelector(`[data-facts="${p.id}"]`);
      if (facts) facts.textContent = this.factsText(p);
      const chip = this.el.querySelector(`[data-state="${p.id}"]`);
      if (chip) chip.replaceChildren(stateChip(p.state));
    }
  }

  factsText(p) {
    return p.id === 'codexpc' ? (p.state === 'up' ? localFacts(p) : (p.detail || '')) : (p.detail || '');
  }

  option(p) {
    const id = `provider-${p.id}`;
    const radio = h('input', {
      type: 'radio', name: 'provider_choice', id, value: p.id,
      'aria-describedby': `${id}-facts`,
      on: { change: () => this.choose(p.id) },
    });
    radio.checked = this.selected === p.id;
    return h('div', { class: `provider-option${this.selected === p.id ? ' selected' : ''}`, dataset: { provider: p.id } },
      h('div', { class: 'provider-head' },
        radio,
        h('label', { for: id, class: 'provider-name', text: p.name }),
        h('span', { dataset: { state: p.id } }, stateChip(p.state))),
      h('p', { class: 'provider-facts muted', id: `${id}-facts`, dataset: { facts: p.id }, text: this.factsText(p) }),
      p.id === 'openai' ? this.accountPanel() : null,
      p.id === 'codexpc' ? this.localPanel(p) : null);
  }

  accountPanel() {
    const a = this.account || {};
    if (a.error) {
      return h('div', { class: 'account-panel' }, h('p', { class: 'form-error', role: 'alert', text: a.error }));
    }
    if (a.logged_in) {
      return h('div', { class: 'account-panel' },
        h('button', { type: 'button', class: 'btn ghost small', 'aria-label': 'Log out of OpenAI', text: 'Log out', on: { click: () => this.logout() } }));
    }
    const key = h('input', {
      type: 'password', name: 'api_key', autocomplete: 'off', spellcheck: 'false',
      placeholder: 'sk-...', 'aria-label': 'OpenAI API key',
      on: { keydown: (ev) => { if (ev.key === 'Enter') { ev.preventDefault(); this.loginWithKey(key.value); } } },
    });
    return h('div', { class: 'account-panel', role: 'group', 'aria-label': 'OpenAI login' },
      h('p', { class: 'newcomer', text: 'Nobody is logged in to OpenAI. Log in with an API key or ChatGPT, or use the local model.' }),
      h('div', { class: 'inline-form' },
        key,
        h('button', { type: 'button', class: 'btn small', 'aria-label': 'Log in with API key', text: 'Log in', on: { click: () => this.loginWithKey(key.value) } })),
      this.deviceCode
        ? h('p', { class: 'device-code', role: 'status' },
          'Enter the code ', h('code', { text: this.deviceCode.user_code }), ' at ',
          h('a', { href: this.deviceCode.verification_url, target: '_blank', rel: 'noopener noreferrer', text: this.deviceCode.verification_url }),
          ' (this sheet updates when the login completes).')
        : h('button', { type: 'button', class: 'btn ghost small', 'aria-label': 'Log in with ChatGPT', text: 'Log in with ChatGPT (device code)', on: { click: () => this.loginWithDeviceCode() } }));
  }

  localPanel(p) {
    const path = h('input', {
      name: 'model_path', autocomplete: 'off', spellcheck: 'false',
      placeholder: '/path/to/gpt-oss-20b.gguf', 'aria-label': 'GGUF model file',
      on: { keydown: (ev) => { if (ev.key === 'Enter') { ev.preventDefault(); this.useModel(path.value); } } },
    });
    return h('details', { class: 'local-panel', open: p.state !== 'up' },
      h('summary', { text: 'Model file' }),
      h('div', { class: 'inline-form' },
        path,
        h('button', { type: 'button', class: 'btn small', 'aria-label': 'Serve this model', text: 'Use', on: { click: () => this.useModel(path.value) } })));
  }

  async act(what, fn) {
    if (this.busy) return;
    this.busy = true;
    this.message = '';
    try {
      await fn();
    } catch (err) {
      this.message = `Could not ${what}: ${err.message}`;
    } finally {
      this.busy = false;
      if (document.activeElement && this.el.contains(document.activeElement)) document.activeElement.blur();
      await this.refresh();
    }
  }

  loginWithKey(key) {
    if (!key.trim()) {
      this.message = 'Enter an API key.';
      this.render();
      return Promise.resolve();
    }
    return this.act('log in', async () => {
      const r = await api.login({ method: 'api_key', api_key: key.trim() });
      if (r && r.account && r.account.logged_in) this.selected = 'openai';
    });
  }

  loginWithDeviceCode() {
    return this.act('start the ChatGPT login', async () => {
      const r = await api.login({ method: 'device_code' });
      if (r && r.user_code) this.deviceCode = { user_code: r.user_code, verification_url: r.verification_url };
    });
  }

  logout() {
    return this.act('log out', () => api.logout());
  }

  useModel(path) {
    if (!path.trim()) {
      this.message = 'Enter the path of a GGUF file on the server.';
      this.render();
      return Promise.resolve();
    }
    return this.act('use this model', () => api.setLocalModel(path.trim()));
  }
}
