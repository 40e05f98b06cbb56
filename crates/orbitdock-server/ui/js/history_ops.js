// Revert, fork and review: the three operations that change which history a thread has (or run
// over it). Each opens a modal <dialog> built here (focus trapped, Escape closes), says what will
// happen before anything is sent, and reports the server's refusal inside the dialog so nothing
// typed is lost. Revert warns that only the conversation is rewound: the agent's file changes
// stay on disk.

import { h, setChildren } from './dom.js';
import { api } from './api.js';
import { sheet, submitting } from './sheet.js';

/** "Revert": drop the last N turns, or a chosen message and everything after it. */
export class RevertDialog {
  constructor({ toast }) {
    this.toast = toast;
    this.s = sheet('Revert the conversation', 'revert-sheet');
    this.what = h('p', { class: 'revert-what' });
    this.count = h('input', {
      name: 'last_turns', type: 'number', min: '1', value: '1', 'aria-label': 'Number of turns to drop',
    });
    this.countRow = h('label', {}, 'Turns to drop (newest first)', this.count);
    this.submit = h('button', { type: 'submit', class: 'btn danger', 'aria-label': 'Revert' }, 'Revert');
    setChildren(this.s.form, this.s.heading, this.what, this.countRow,
      h('p', { class: 'warning-note', role: 'note' },
        h('strong', { text: 'File changes are not undone. ' }),
        'The agent forgets the dropped turns, but files it changed in them stay as they are now.'),
      this.s.error, h('div', { class: 'sheet-actions' }, this.s.cancel, this.submit));
    this.s.form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.run();
    });
  }

  /** `beforeTurnId`: the message whose turn (and every later one) is dropped; none: last N. */
  open(sessionId, beforeTurnId) {
    this.sessionId = sessionId;
    this.beforeTurnId = beforeTurnId || null;
    this.what.textContent = this.beforeTurnId
      ? 'Drop this message, its answer and everything after it from the conversation.'
      : 'Drop the most recent turns from the conversation.';
    this.countRow.hidden = Boolean(this.beforeTurnId);
    this.count.value = '1';
    this.s.fail('');
    this.s.dialog.showModal();
    this.submit.focus();
  }

  run() {
    const body = this.beforeTurnId
      ? { before_turn_id: this.beforeTurnId }
      : { last_turns: Number(this.count.value) };
    return submitting(this.s, this.submit, async () => {
      await api.revert(this.sessionId, body);
      this.toast('Reverted: the agent no longer sees those turns (files were not restored)');
    });
  }
}

/** "Fork": a new session from this one (all of it, or through a chosen message). */
export class ForkDialog {
  constructor({ toast }) {
    this.toast = toast;
    this.s = sheet('Fork the session', 'fork-sheet');
    this.what = h('p', { class: 'fork-what' });
    this.name = h('input', { name: 'name', autocomplete: 'off', 'aria-label': 'Fork name' });
    this.model = h('select', { name: 'model', 'aria-label': 'Fork model' });
    this.approval = h('select', { name: 'approval_policy', 'aria-label': 'Fork approval policy' },
      h('option', { value: '', text: 'Same as this session' }),
      h('option', { value: 'untrusted', text: 'Ask for everything (untrusted)' }),
      h('option', { value: 'on-request', text: 'Ask when needed (on-request)' }),
      h('option', { value: 'never', text: 'Never ask (never)' }));
    this.sandbox = h('select', { name: 'sandbox_mode', 'aria-label': 'Fork sandbox mode' },
      h('option', { value: '', text: 'Same as this session' }),
      h('option', { value: 'read-only', text: 'Read only' }),
      h('option', { value: 'workspace-write', text: 'Workspace write' }),
      h('option', { value: 'danger-full-access', text: 'Full access (danger)' }));
    this.submit = h('button', { type: 'submit', class: 'btn primary', 'aria-label': 'Create fork' }, 'Fork');
    setChildren(this.s.form, this.s.heading, this.what,
      h('label', {}, 'Name (optional)', this.name),
      h('div', { class: 'row' }, h('label', {}, 'Model', this.model)),
      h('div', { class: 'row' }, h('label', {}, 'Approval policy', this.approval),
        h('label', {}, 'Sandbox', this.sandbox)),
      this.s.error, h('div', { class: 'sheet-actions' }, this.s.cancel, this.submit));
    this.s.form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.run();
    });
  }

  async open(sessionId, throughTurnId) {
    this.sessionId = sessionId;
    this.throughTurnId = throughTurnId || null;
    this.what.textContent = this.throughTurnId
      ? 'A new session with the conversation up to and including this message and its answer. This session stays as it is.'
      : 'A new session with this whole conversation. This session stays as it is.';
    this.name.value = '';
    this.approval.value = '';
    this.sandbox.value = '';
    setChildren(this.model, h('option', { value: '', text: 'Same as this session' }));
    this.s.fail('');
    this.s.dialog.showModal();
    this.name.focus();
    try {
      const res = await api.models();
      for (const m of (res && res.models) || []) {
        this.model.append(h('option', { value: m.id, text: m.display_name || m.id }));
      }
    } catch (err) {
      this.s.fail(`Could not load models (${err.message}); the fork keeps this session's model.`);
    }
  }

  run() {
    const body = {};
    if (this.throughTurnId) body.through_turn_id = this.throughTurnId;
    for (const [k, el] of [['name', this.name], ['model', this.model],
      ['approval_policy', this.approval], ['sandbox_mode', this.sandbox]]) {
      if (el.value.trim()) body[k] = el.value.trim();
    }
    return submitting(this.s, this.submit, async () => {
      const st = await api.fork(this.sessionId, body);
      this.toast('Forked: now in the new session');
      location.hash = `#/s/${encodeURIComponent(st.id)}`;
    });
  }
}

/** "Review": what to review and whether in this session or a detached one. */
export class ReviewDialog {
  constructor({ toast }) {
    this.toast = toast;
    this.s = sheet('Start a review', 'review-sheet');
    this.target = h('select', { name: 'target', 'aria-label': 'What to review', on: { change: () => this.fields() } },
      h('option', { value: 'uncommitted_changes', text: 'Uncommitted changes' }),
      h('option', { value: 'base_branch', text: 'Changes against a base branch' }),
      h('option', { value: 'commit', text: 'A commit' }),
      h('option', { value: 'custom', text: 'Custom instructions' }));
    this.branch = h('input', { name: 'branch', autocomplete: 'off', 'aria-label': 'Base branch', value: 'main' });
    this.sha = h('input', { name: 'sha', autocomplete: 'off', spellcheck: 'false', 'aria-label': 'Commit sha' });
    this.title = h('input', { name: 'title', autocomplete: 'off', 'aria-label': 'Commit title (optional)' });
    this.instructions = h('textarea', { name: 'instructions', rows: '3', 'aria-label': 'Review instructions' });
    this.branchRow = h('label', {}, 'Base branch', this.branch);
    this.commitRow = h('div', { class: 'row' }, h('label', {}, 'Commit', this.sha), h('label', {}, 'Title (optional)', this.title));
    this.customRow = h('label', {}, 'Instructions', this.instructions);
    this.inline = h('input', { type: 'radio', name: 'delivery', value: 'inline', checked: true, 'aria-label': 'In this session' });
    this.detached = h('input', { type: 'radio', name: 'delivery', value: 'detached', 'aria-label': 'In a new session (detached)' });
    this.submit = h('button', { type: 'submit', class: 'btn primary', 'aria-label': 'Start review' }, 'Review');
    setChildren(this.s.form, this.s.heading,
      h('label', {}, 'Target', this.target), this.branchRow, this.commitRow, this.customRow,
      h('fieldset', { class: 'delivery' }, h('legend', { text: 'Where' }),
        h('label', { class: 'radio' }, this.inline, ' In this session'),
        h('label', { class: 'radio' }, this.detached, ' In a new session (this one stays untouched)')),
      this.s.error, h('div', { class: 'sheet-actions' }, this.s.cancel, this.submit));
    this.s.form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.run();
    });
  }

  fields() {
    const t = this.target.value;
    this.branchRow.hidden = t !== 'base_branch';
    this.commitRow.hidden = t !== 'commit';
    this.customRow.hidden = t !== 'custom';
  }

  open(sessionId) {
    this.sessionId = sessionId;
    this.target.value = 'uncommitted_changes';
    this.inline.checked = true;
    this.fields();
    this.s.fail('');
    this.s.dialog.showModal();
    this.target.focus();
  }

  run() {
    const type = this.target.value;
    const target = { type };
    if (type === 'base_branch') target.branch = this.branch.value.trim();
    if (type === 'commit') {
      target.sha = this.sha.value.trim();
      if (this.title.value.trim()) target.title = this.title.value.trim();
    }
    if (type === 'custom') target.instructions = this.instructions.value;
    const missing = (type === 'base_branch' && !target.branch) || (type === 'commit' && !target.sha)
      || (type === 'custom' && !target.instructions.trim());
    if (missing) {
      this.s.fail('Fill in what to review.');
      return undefined;
    }
    const delivery = this.detached.checked ? 'detached' : 'inline';
    return submitting(this.s, this.submit, async () => {
      const st = await api.review(this.sessionId, { target, delivery });
      if (delivery === 'detached') {
        this.toast('Review started in a new session');
        location.hash = `#/s/${encodeURIComponent(st.id)}`;
      } else {
        this.toast('Review started');
      }
    });
  }
}
