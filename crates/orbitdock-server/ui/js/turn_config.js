// The collapsible row above the composer: the session's defaults (model, reasoning effort,
// sandbox, approval policy) in one line, and, opened, per-turn overrides for the next message.
//
// Overrides are sent with the next message only and then cleared here. Codex keeps a turn's
// settings for the turns after it, so once the message is sent the session's defaults shown in
// the summary follow (the server reports them back); the note under the fields says so rather
// than pretending the override is one-shot on the agent's side.

import { h, setChildren } from './dom.js';
import { api } from './api.js';

const EFFORTS = ['minimal', 'low', 'medium', 'high'];
const SANDBOX = [
  ['read-only', 'Read only'],
  ['workspace-write', 'Workspace write'],
  ['danger-full-access', 'Full access (danger)'],
];
const APPROVAL = [
  ['untrusted', 'Ask for everything'],
  ['on-request', 'Ask when needed'],
  ['never', 'Never ask'],
];
const SANDBOX_SHORT = { 'read-only': 'read-only', 'workspace-write': 'workspace write', 'danger-full-access': 'no sandbox' };
const APPROVAL_SHORT = { untrusted: 'asks for everything', 'on-request': 'asks when needed', never: 'never asks' };

function select(label, options) {
  return h('select', { 'aria-label': label },
    h('option', { value: '', text: 'Session default' }),
    options.map(([v, t]) => h('option', { value: v, text: t })));
}

export class TurnConfigRow {
  constructor() {
    this.modelsLoaded = false;
    this.models = [];
    this.modelList = h('datalist', { id: `turn-models-${Math.random().toString(36).slice(2)}` });
    this.model = h('input', {
      class: 'override-model', autocomplete: 'off', spellcheck: 'false', list: this.modelList.id,
      placeholder: 'Session default', 'aria-label': 'Model for the next message',
      on: { input: () => this.changed() },
    });
    this.effort = select('Reasoning effort for the next message', EFFORTS.map((e) => [e, e]));
    this.sandbox = select('Sandbox for the next message', SANDBOX);
    this.approval = select('Approval policy for the next message', APPROVAL);
    for (const el of [this.effort, this.sandbox, this.approval]) el.addEventListener('change', () => this.changed());
    this.clearBtn = h('button', {
      type: 'button', class: 'btn ghost small', 'aria-label': 'Clear the overrides',
      on: { click: () => this.clear() },
    }, 'Clear');
    this.defaults = h('span', { class: 'turn-defaults' });
    this.pending = h('span', { class: 'chip running turn-overrides', hidden: true });
    this.el = h('details', {
      class: 'turn-config', on: { toggle: () => { if (this.el.open) this.loadModels(); } },
    },
    h('summary', { 'aria-label': 'Session settings and overrides for the next message' },
      h('span', { class: 'turn-config-label', text: 'Defaults' }), this.defaults, this.pending),
    h('div', { class: 'turn-config-body' },
      h('label', {}, 'Model', this.model, this.modelList),
      h('label', {}, 'Effort', this.effort),
      h('label', {}, 'Sandbox', this.sandbox),
      h('label', {}, 'Approval', this.approval),
      this.clearBtn,
      h('p', {
        class: 'muted small turn-config-note',
        text: 'Overrides go with the next message; Codex keeps them as the session\'s settings afterwards.',
      })));
  }

  render(st) {
    // Only Codex takes per-turn settings; an observed (passive) session sends nothing.
    this.el.hidden = st.provider !== 'codex' || st.origin === 'passive';
    const parts = [
      st.model || 'server default model',
      st.effort ? `effort ${st.effort}` : null,
      st.sandbox_mode ? SANDBOX_SHORT[st.sandbox_mode] || st.sandbox_mode : 'default sandbox',
      st.approval_policy ? APPROVAL_SHORT[st.approval_policy] || st.approval_policy : 'default approvals',
    ].filter(Boolean);
    this.defaults.textContent = parts.join(' · ');
  }

  async loadModels() {
    if (this.modelsLoaded) return;
    this.modelsLoaded = true;
    try {
      const res = await api.models('codex');
      this.models = (res && res.models) || [];
      setChildren(this.modelList, this.models.map((m) => h('option', { value: m.id, text: m.display_name || m.id })));
    } catch {
      // A free-text model still works; the list is only a convenience.
      this.modelsLoaded = false;
    }
  }

  /** The overrides chosen for the next message, as `SendMessageRequest` fields. */
  overrides() {
    const o = {};
    if (this.model.value.trim()) o.model = this.model.value.trim();
    if (this.effort.value) o.effort = this.effort.value;
    if (this.sandbox.value) o.sandbox_mode = this.sandbox.value;
    if (this.approval.value) o.approval_policy = this.approval.value;
    return o;
  }

  changed() {
    const n = Object.keys(this.overrides()).length;
    this.pending.hidden = n === 0;
    this.pending.textContent = n === 1 ? '1 override for the next message' : `${n} overrides for the next message`;
  }

  clear() {
    this.model.value = '';
    this.effort.value = '';
    this.sandbox.value = '';
    this.approval.value = '';
    this.changed();
  }
}
