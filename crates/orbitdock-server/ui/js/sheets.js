// The sheets (modal <dialog>s, so focus is trapped and Escape closes them): new session with the
// agent (Codex or Claude, with the server's word on whether each is ready), model, and the agent's
// own settings (model provider, effort, approval and sandbox for Codex; permission mode for
// Claude), and rename.

import { h, setChildren } from './dom.js';
import { api } from './api.js';
import * as store from './store.js';
import { ProviderPicker } from './providers.js';
import { HostPicker } from './hosts.js';

export function showError(form, message) {
  const p = form.querySelector('.form-error');
  p.textContent = message || '';
  p.hidden = !message;
}

export function wireClose(dialog) {
  for (const b of dialog.querySelectorAll('[data-close]')) b.addEventListener('click', () => dialog.close());
}

export class NewSessionSheet {
  constructor(dialog, { onCreated, toast }) {
    this.dialog = dialog;
    this.form = dialog.querySelector('form');
    this.onCreated = onCreated;
    this.toast = toast;
    this.models = [];
    this.agents = [];
    this.status = dialog.querySelector('.agent-status');
    this.title = dialog.querySelector('#new-session-title');
    this.providers = new ProviderPicker(dialog.querySelector('.provider-picker'), {
      onChange: (id) => this.providerChanged(id),
    });
    this.hosts = new HostPicker(dialog.querySelector('.host-picker'), {
      onChange: () => this.hostChanged(),
    });
    dialog.addEventListener('close', () => this.providers.stop());
    wireClose(dialog);
    this.form.elements.model.addEventListener('change', () => this.fillEfforts());
    for (const r of this.form.querySelectorAll('input[name=agent]')) {
      r.addEventListener('change', () => this.agentChanged());
    }
    this.form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.create();
    });
  }

  async open() {
    showError(this.form, '');
    const f = this.form.elements;
    if (!f.cwd.value) {
      const recent = store.sortedSessions().find((s) => s.cwd);
      if (recent) f.cwd.value = recent.cwd;
    }
    this.dialog.showModal();
    f.cwd.focus();
    this.providers.start();
    try {
      const res = await api.agents();
      this.agents = (res && res.agents) || [];
    } catch {
      this.agents = [];
    }
    for (const r of this.form.querySelectorAll('input[name=agent]')) {
      const info = this.agents.find((a) => a.provider === r.value);
      r.disabled = Boolean(info && !info.available);
    }
    await this.agentChanged();
  }

  /** The chosen agent: `codex` or `claude`. */
  agent() {
    const r = this.form.querySelector('input[name=agent]:checked');
    return r ? r.value : 'codex';
  }

  /** Shows the chosen agent's settings, its models and its account state. */
  async agentChanged() {
    const f = this.form.elements;
    const agent = this.agent();
    const name = agent === 'claude' ? 'Claude' : 'Codex';
    this.title.textContent = `New ${name} session`;
    for (const el of this.form.querySelectorAll('[data-agent]')) el.hidden = el.dataset.agent !== agent;
    const info = this.agents.find((a) => a.provider === agent);
    const parts = [];
    if (info && info.version) parts.push(`${name} ${info.version}.`);
    if (info && info.detail) parts.push(info.detail);
    this.status.textContent = parts.join(' ');
    this.status.classList.toggle('warn', Boolean(info && (!info.available || info.credentials === false)));
    try {
      const res = await api.models(agent);
      this.models = (res && res.models) || [];
    } catch (err) {
      this.models = [];
      showError(this.form, `Could not load models (${err.message}); the server default will be used.`);
    }
    if (this.agent() !== agent) return;
    const keep = f.model.value;
    setChildren(f.model, h('option', { value: '', text: 'Server default' }),
      this.models.map((m) => h('option', { value: m.id, text: m.display_name || m.id })));
    const def = this.models.find((m) => m.is_default);
    f.model.value = keep && this.models.some((m) => m.id === keep) ? keep : (def ? def.id : '');
    this.fillEfforts();
    this.hosts.setAgent(agent);
    this.hostChanged();
  }

  /**
   * On another host, Codex's own config there picks the model and the provider: the hub's lists
   * (this machine's account, its local model) do not apply.
   */
  hostChanged() {
    const remote = Boolean(this.hosts.value());
    const picker = this.form.querySelector('.provider-picker');
    if (picker) picker.hidden = remote || this.agent() !== 'codex';
    if (remote) {
      const f = this.form.elements;
      f.model.value = '';
      f.model.disabled = true;
      this.fillEfforts();
    } else {
      this.form.elements.model.disabled = false;
      this.providerChanged(this.agent() === 'codex' ? this.providers.value() : null);
    }
  }

  /** The local model serves one model: the model list is the account's. */
  providerChanged(id) {
    const f = this.form.elements;
    const local = Boolean(id) && id !== 'openai';
    f.model.disabled = local;
    if (local) {
      f.model.value = '';
      this.fillEfforts();
    }
  }

  fillEfforts() {
    const f = this.form.elements;
    const m = this.models.find((x) => x.id === f.model.value);
    const efforts = (m && m.efforts) || [];
    setChildren(f.effort, h('option', { value: '', text: 'Default' }),
      efforts.map((e) => h('option', { value: e, text: e })));
    f.effort.value = m && m.default_effort && efforts.includes(m.default_effort) ? m.default_effort : '';
    f.effort.disabled = efforts.length === 0;
  }

  async create() {
    const f = this.form.elements;
    const agent = this.agent();
    const body = { provider: agent, cwd: f.cwd.value.trim() };
    if (!body.cwd) {
      showError(this.form, 'A project directory is required.');
      return;
    }
    const own = agent === 'claude'
      ? ['permission_mode']
      : ['effort', 'approval_policy', 'sandbox_mode'];
    for (const k of ['name', 'model', ...own, 'prompt']) {
      const v = f[k].value.trim();
      if (v) body[k] = k === 'prompt' ? f[k].value : v;
    }
    const host = agent === 'codex' ? this.hosts.value() : null;
    if (host) body.host = host;
    const provider = agent === 'codex' && !host ? this.providers.value() : null;
    if (provider) {
      body.model_provider = provider;
      delete body.model;
    }
    const submit = this.form.querySelector('[type=submit]');
    submit.disabled = true;
    showError(this.form, '');
    try {
      const state = await api.createSession(body);
      f.prompt.value = '';
      f.name.value = '';
      this.dialog.close();
      this.onCreated(state);
    } catch (err) {
      showError(this.form, `Could not create the session: ${err.message}`);
    } finally {
      submit.disabled = false;
    }
  }
}

export class RenameSheet {
  constructor(dialog, { toast }) {
    this.dialog = dialog;
    this.form = dialog.querySelector('form');
    this.toast = toast;
    this.sessionId = null;
    wireClose(dialog);
    this.form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.save();
    });
  }

  open(model) {
    this.sessionId = model.id;
    showError(this.form, '');
    const st = model.state || {};
    this.form.elements.name.value = st.name || '';
    this.dialog.showModal();
    this.form.elements.name.select();
  }

  async save() {
    const name = this.form.elements.name.value.trim();
    if (!name) {
      showError(this.form, 'A name is required.');
      return;
    }
    const submit = this.form.querySelector('[type=submit]');
    submit.disabled = true;
    try {
      await api.rename(this.sessionId, name);
      this.dialog.close();
    } catch (err) {
      showError(this.form, `Could not rename: ${err.message}`);
    } finally {
      submit.disabled = false;
    }
  }
}
