// The one-off command runner: a shell line run by the agent in the session's directory under its
// sandbox, outside any turn. The server streams the output into the transcript as a command
// card; this panel follows that same item (by its id) from the store, so what it shows is what
// the transcript keeps. Stdin can be written (and closed) and the run terminated while it lasts.

import { h } from './dom.js';
import { api } from './api.js';
import * as store from './store.js';

export class CommandRunner {
  constructor({ toast }) {
    this.toast = toast;
    this.sessionId = null;
    this.commandId = null;
    this.line = h('input', {
      class: 'runner-line', autocomplete: 'off', spellcheck: 'false', placeholder: 'e.g. ls -la',
      'aria-label': 'Command to run',
    });
    this.sandbox = h('select', { 'aria-label': 'Sandbox for the command' },
      h('option', { value: '', text: 'Session sandbox' }),
      h('option', { value: 'read-only', text: 'Read only' }),
      h('option', { value: 'workspace-write', text: 'Workspace write' }));
    this.runBtn = h('button', { type: 'submit', class: 'btn primary', 'aria-label': 'Run command' }, 'Run');
    this.status = h('span', { class: 'chip runner-status', hidden: true });
    this.output = h('pre', { class: 'output runner-output', tabindex: '0', 'aria-label': 'Command output', 'aria-live': 'polite' });
    this.stdin = h('input', { class: 'runner-stdin', autocomplete: 'off', spellcheck: 'false', 'aria-label': 'Input for the command' });
    this.closeStdin = h('input', { type: 'checkbox', 'aria-label': 'Close input after sending' });
    this.stdinBtn = h('button', { type: 'button', class: 'btn small', 'aria-label': 'Send input', on: { click: () => this.sendStdin() } }, 'Send input');
    this.terminateBtn = h('button', { type: 'button', class: 'btn danger small', 'aria-label': 'Terminate command', on: { click: () => this.terminate() } }, 'Terminate');
    this.running = h('div', { class: 'runner-running', hidden: true },
      h('div', { class: 'inline-form' }, this.stdin, this.stdinBtn),
      h('div', { class: 'runner-controls' },
        h('label', { class: 'radio' }, this.closeStdin, ' close input after sending'), this.terminateBtn));
    this.error = h('p', { class: 'form-error', role: 'alert', hidden: true });
    this.el = h('form', {
      class: 'runner', 'aria-label': 'Run a command',
      on: { submit: (ev) => { ev.preventDefault(); this.run(); } },
    },
    h('p', { class: 'muted small', text: 'Runs once in the session\'s directory under its sandbox, outside the conversation; the output also lands in the transcript.' }),
    h('div', { class: 'inline-form' }, this.line, this.sandbox, this.runBtn),
    h('div', { class: 'runner-head' }, this.status),
    this.output, this.running, this.error);

    this.onItems = (ev) => this.itemsChanged(ev.detail);
    this.onText = (ev) => this.textAppended(ev.detail);
    store.events.addEventListener('session-items', this.onItems);
    store.events.addEventListener('session-text', this.onText);
  }

  destroy() {
    store.events.removeEventListener('session-items', this.onItems);
    store.events.removeEventListener('session-text', this.onText);
  }

  show(sessionId) {
    if (sessionId !== this.sessionId) {
      this.sessionId = sessionId;
      this.commandId = null;
      this.output.textContent = '';
      this.output.hidden = true;
      this.status.hidden = true;
      this.running.hidden = true;
    }
    this.fail('');
    this.line.focus();
  }

  fail(msg) {
    this.error.textContent = msg || '';
    this.error.hidden = !msg;
  }

  item() {
    const m = store.current;
    if (!m || m.id !== this.sessionId || !this.commandId) return null;
    for (const it of m.items.values()) if (it.id === this.commandId) return it;
    return null;
  }

  async run() {
    const text = this.line.value.trim();
    if (!text) return;
    this.fail('');
    this.runBtn.disabled = true;
    try {
      const body = { command: ['sh', '-c', text] };
      if (this.sandbox.value) body.sandbox_mode = this.sandbox.value;
      const res = await api.runCommand(this.sessionId, body);
      this.commandId = res.command_id;
      this.output.textContent = '';
      this.output.hidden = false;
      this.el.dataset.commandId = this.commandId;
      this.setStatus('running', 'running');
      this.running.hidden = false;
      this.stdin.value = '';
      this.stdinBtn.disabled = false;
      // The card may already be in the store (the delta can beat the answer).
      const it = this.item();
      if (it) this.renderItem(it);
    } catch (err) {
      this.fail(`Could not run the command: ${err.message}`);
    } finally {
      this.runBtn.disabled = false;
    }
  }

  setStatus(text, cls) {
    this.status.hidden = false;
    this.status.textContent = text;
    this.status.className = `chip runner-status ${cls}`;
  }

  renderItem(it) {
    this.output.textContent = it.output || '';
    this.output.hidden = false;
    this.output.scrollTop = this.output.scrollHeight;
    if (it.status === 'in_progress') {
      this.setStatus('running', 'running');
      this.running.hidden = false;
    } else {
      const exit = it.exit_code === null || it.exit_code === undefined ? 'stopped' : `exit ${it.exit_code}`;
      this.setStatus(it.status === 'completed' ? exit : `failed · ${exit}`, it.status === 'completed' ? 'ok' : 'failed');
      this.running.hidden = true;
    }
  }

  itemsChanged(d) {
    if (!this.commandId || d.id !== this.sessionId) return;
    const it = this.item();
    if (it) this.renderItem(it);
  }

  textAppended(d) {
    if (!this.commandId || d.id !== this.sessionId || d.field !== 'output') return;
    const m = store.current;
    const it = m && m.items.get(d.seq);
    if (!it || it.id !== this.commandId) return;
    this.output.hidden = false;
    this.output.append(d.delta);
    this.output.scrollTop = this.output.scrollHeight;
  }

  async sendStdin() {
    if (!this.commandId) return;
    const close = this.closeStdin.checked;
    this.stdinBtn.disabled = true;
    try {
      await api.commandStdin(this.sessionId, this.commandId, `${this.stdin.value}\n`, close);
      this.stdin.value = '';
      if (close) this.stdinBtn.disabled = true;
    } catch (err) {
      this.fail(`Could not send input: ${err.message}`);
    } finally {
      if (!close) this.stdinBtn.disabled = false;
    }
  }

  async terminate() {
    if (!this.commandId) return;
    this.terminateBtn.disabled = true;
    try {
      await api.terminateCommand(this.sessionId, this.commandId);
    } catch (err) {
      this.fail(`Could not terminate: ${err.message}`);
    } finally {
      this.terminateBtn.disabled = false;
    }
  }
}

