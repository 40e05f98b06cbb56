// Session panels around the thread: "Tools…" (one-off command runner, the skills the agent
// would load in this directory, the thread's goal where the agent supports goals) and the
// delete confirmation. One dialog of each for the page, created on first use.

import { h, setChildren } from './dom.js';
import { api } from './api.js';
import { sheet, submitting, tabList } from './sheet.js';
import { CommandRunner } from './command_runner.js';

const TABS = [['command', 'Run command'], ['skills', 'Skills'], ['goal', 'Goal']];

export class ToolsDialog {
  constructor({ toast }) {
    this.toast = toast;
    this.s = sheet('Session tools', 'tools-sheet');
    this.s.dialog.classList.add('wide');
    this.runner = new CommandRunner({ toast });
    this.body = h('div', { class: 'tools-body', id: 'tools-body', role: 'tabpanel' });
    this.tabs = tabList('tools', TABS, this.body, 'Tool', (id) => this.show(id));
    const close = h('button', { type: 'button', class: 'btn ghost', 'aria-label': 'Close tools', on: { click: () => this.s.dialog.close() } }, 'Close');
    // The runner is a form of its own: keep the sheet's <form> as a plain container.
    const container = h('div', { class: 'tools' }, this.s.heading,
      this.tabs.el,
      this.body, this.s.error, h('div', { class: 'sheet-actions' }, close));
    this.s.form.replaceWith(container);
  }

  open(sessionId, tab = 'command') {
    this.sessionId = sessionId;
    this.s.fail('');
    if (!this.s.dialog.open) this.s.dialog.showModal();
    this.tabs.select(tab);
  }

  show(tab) {
    this.tab = tab;
    this.s.fail('');
    if (tab === 'command') {
      setChildren(this.body, this.runner.el);
      this.runner.show(this.sessionId);
    } else if (tab === 'skills') {
      this.showSkills();
    } else {
      this.showGoal();
    }
  }

  /** Fetches what a tab shows; undefined when it failed (said in the dialog) or the tab changed. */
  async fetchFor(tab, what, fetch) {
    setChildren(this.body, h('p', { class: 'muted', text: `Loading ${what}…` }));
    try {
      const res = await fetch();
      return this.tab === tab ? res : undefined;
    } catch (err) {
      if (this.tab === tab) {
        setChildren(this.body);
        this.s.fail(`Could not read ${what}: ${err.message}`);
      }
      return undefined;
    }
  }

  async showSkills() {
    const res = await this.fetchFor('skills', 'the skills', () => api.skills(this.sessionId));
    if (!res) return;
    const skills = (res && res.skills) || [];
    const errors = (res && res.errors) || [];
    setChildren(this.body,
      skills.length
        ? h('ul', { class: 'skill-list', 'aria-label': 'Skills' }, skills.map((s) => h('li', { class: 'card skill', dataset: { name: s.name } },
          h('header', { class: 'card-head' },
            h('span', { class: 'card-title', text: s.name }),
            h('span', { class: 'chip', text: s.scope || 'skill' }),
            h('span', { class: `chip ${s.enabled ? 'ok' : 'declined'}`, text: s.enabled ? 'enabled' : 'disabled' })),
          h('p', { class: 'skill-description', text: s.description || '' }),
          h('div', { class: 'card-meta muted' }, h('code', { text: s.path || '' })))))
        : h('p', { class: 'muted', text: 'No skills found for this directory.' }),
      errors.length
        ? h('div', { class: 'skill-errors', role: 'alert' }, h('strong', { text: 'Skills that failed to load' }),
          h('ul', {}, errors.map((e) => h('li', { class: 'error-text', text: e }))))
        : null);
  }

  async showGoal() {
    const res = await this.fetchFor('goal', 'the goal', () => api.goal(this.sessionId));
    if (!res) return;
    if (!res.supported) {
      setChildren(this.body, h('p', { class: 'muted goal-unsupported', text: 'This version of the agent does not support thread goals.' }));
      return;
    }
    const g = res.goal;
    const objective = h('input', {
      autocomplete: 'off', 'aria-label': 'Goal objective', value: g ? g.objective : '',
      placeholder: 'What the agent should keep working towards',
    });
    const setBtn = h('button', { type: 'button', class: 'btn primary small', 'aria-label': 'Set goal' }, 'Set goal');
    const clearBtn = h('button', { type: 'button', class: 'btn ghost small', 'aria-label': 'Clear goal', disabled: !g }, 'Clear');
    const save = async (value) => {
      setBtn.disabled = true;
      clearBtn.disabled = true;
      try {
        await api.setGoal(this.sessionId, value);
        this.toast(value ? 'Goal set' : 'Goal cleared');
        if (this.tab === 'goal') this.showGoal();
      } catch (err) {
        this.s.fail(`Could not change the goal: ${err.message}`);
        setBtn.disabled = false;
        clearBtn.disabled = !g;
      }
    };
    setBtn.addEventListener('click', () => { if (objective.value.trim()) save(objective.value.trim()); });
    clearBtn.addEventListener('click', () => save(''));
    setChildren(this.body,
      h('div', { class: 'goal-current' }, g
        ? [h('strong', { text: 'Current goal: ' }), h('span', { class: 'goal-objective', text: g.objective }), ' ',
          h('span', { class: 'chip', text: g.status || 'set' }),
          h('div', { class: 'muted small', text: `${g.tokens_used} tokens used${g.token_budget ? ` of ${g.token_budget}` : ''}` })]
        : h('span', { class: 'muted', text: 'No goal set.' })),
      h('div', { class: 'inline-form' }, objective, setBtn, clearBtn));
  }
}

/** "Delete…": confirmation, then the session and its agent thread are gone for good. */
export class DeleteDialog {
  constructor({ toast }) {
    this.toast = toast;
    this.s = sheet('Delete the session?', 'delete-sheet');
    this.what = h('p', { class: 'delete-what' });
    this.submit = h('button', { type: 'submit', class: 'btn danger', 'aria-label': 'Delete permanently' }, 'Delete');
    setChildren(this.s.form, this.s.heading, this.what,
      h('p', { class: 'warning-note', role: 'note' },
        h('strong', { text: 'This cannot be undone. ' }),
        'The transcript and the agent\'s own thread are deleted; files in the project stay. Archive keeps it instead.'),
      this.s.error, h('div', { class: 'sheet-actions' }, this.s.cancel, this.submit));
    this.s.form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.run();
    });
  }

  open(sessionId, name) {
    this.sessionId = sessionId;
    this.what.textContent = `“${name}” will be removed from OrbitDock and from the agent.`;
    this.s.fail('');
    this.s.dialog.showModal();
    this.s.cancel.focus();
  }

  run() {
    return submitting(this.s, this.submit, async () => {
      await api.deleteSession(this.sessionId);
      this.toast('Session deleted');
      location.hash = '';
    });
  }
}
