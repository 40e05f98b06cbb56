// The thread browser: the threads Codex itself has stored (started in a terminal, an editor,
// `codex exec` or this hub), searchable by title, newest first, paged with the agent's cursor.
// A thread already bound to a session opens it; any other is imported with its history into a
// new session, which resumes the thread on its first message.

import { h, setChildren, relativeTime, basename } from './dom.js';
import { api } from './api.js';
import { sheet } from './sheet.js';

export class ThreadBrowser {
  constructor({ toast }) {
    this.toast = toast;
    this.s = sheet('Codex threads', 'threads-sheet');
    this.s.dialog.classList.add('wide');
    this.search = h('input', {
      type: 'search', autocomplete: 'off', placeholder: 'Search thread titles',
      'aria-label': 'Search Codex threads',
    });
    this.searchBtn = h('button', { type: 'submit', class: 'btn', 'aria-label': 'Search' }, 'Search');
    this.list = h('ul', { class: 'thread-list', 'aria-label': 'Codex threads', 'aria-live': 'polite' });
    this.more = h('button', { type: 'button', class: 'btn ghost small', hidden: true, 'aria-label': 'Load more threads', on: { click: () => this.load(true) } }, 'More');
    const close = h('button', { type: 'button', class: 'btn ghost', 'aria-label': 'Close threads', on: { click: () => this.s.dialog.close() } }, 'Close');
    setChildren(this.s.form, this.s.heading,
      h('p', { class: 'muted small', text: 'Threads Codex keeps in this hub\'s CODEX_HOME. Importing one makes a session with its history.' }),
      h('div', { class: 'inline-form' }, this.search, this.searchBtn),
      this.list, this.more, this.s.error, h('div', { class: 'sheet-actions' }, close));
    this.s.form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.load(false);
    });
  }

  open() {
    this.s.fail('');
    this.s.dialog.showModal();
    this.search.focus();
    this.load(false);
  }

  async load(more) {
    // Only the latest query may fill the list: an earlier, slower answer must not overwrite it.
    this.generation = (this.generation || 0) + 1;
    const generation = this.generation;
    if (!more) {
      this.cursor = null;
      setChildren(this.list, h('li', { class: 'muted', text: 'Loading…' }));
    }
    this.s.fail('');
    this.more.disabled = true;
    const search = this.search.value.trim();
    let res;
    try {
      res = await api.agentThreads({ search, cursor: more ? this.cursor : null });
    } catch (err) {
      if (generation !== this.generation) return;
      if (!more) setChildren(this.list);
      this.s.fail(`Could not list Codex's threads: ${err.message}`);
      return;
    } finally {
      this.more.disabled = false;
    }
    if (generation !== this.generation) return;
    const threads = (res && res.threads) || [];
    const rows = threads.map((t) => this.row(t));
    if (more) this.list.append(...rows);
    else setChildren(this.list, rows.length ? rows : h('li', { class: 'muted empty', text: search ? `No thread matches “${search}”.` : 'Codex has no threads yet.' }));
    this.cursor = res && res.next_cursor;
    this.more.hidden = !this.cursor;
  }

  row(t) {
    const title = t.name || (t.preview || '').split('\n')[0] || t.thread_id;
    const action = t.session_id
      ? h('a', { class: 'btn small', href: `#/s/${encodeURIComponent(t.session_id)}`, 'aria-label': `Open ${title}`, on: { click: () => this.s.dialog.close() } }, 'Open')
      : h('button', { type: 'button', class: 'btn primary small', 'aria-label': `Import ${title}`, on: { click: (ev) => this.import(t, ev.currentTarget) } }, 'Import');
    return h('li', { class: 'thread-row', dataset: { threadId: t.thread_id } },
      h('div', { class: 'thread-text' },
        h('div', { class: 'thread-title', text: title }),
        h('div', { class: 'muted small' },
          h('span', { class: 'chip project', title: t.cwd || '', text: basename(t.cwd) || '—' }), ' ',
          h('span', { text: relativeTime(t.updated_at) }),
          t.session_id ? [' ', h('span', { class: 'chip ok', text: 'in OrbitDock' })] : null)),
      action);
  }

  async import(t, button) {
    button.disabled = true;
    this.s.fail('');
    try {
      const st = await api.importThread(t.thread_id);
      this.s.dialog.close();
      this.toast('Imported: the thread continues here on your next message');
      location.hash = `#/s/${encodeURIComponent(st.id)}`;
    } catch (err) {
      this.s.fail(`Could not import the thread: ${err.message}`);
      button.disabled = false;
    }
  }
}
