// The session list: every session the server knows (direct and passive, Codex and Claude) with
// name, provider, project, status badge and relative time; search and filters. Each row is a
// link (`#/s/ID`), so it is reachable and activatable with the keyboard.

import { h, basename, relativeTime } from './dom.js';
import * as store from './store.js';
import { statusBadge } from './badges.js';
import { displayName } from './session_view.js';

/** Rows rendered at first; "Show more" adds pages, so 10k sessions never hit the DOM at once. */
const PAGE_ROWS = 300;

export class Sidebar {
  constructor({ list, empty, search, status, provider, archived }) {
    this.listEl = list;
    this.emptyEl = empty;
    this.search = search;
    this.status = status;
    this.provider = provider;
    // Archived sessions stay out of the list unless asked for; shown, they are dimmed.
    this.archived = archived;
    this.selected = null;
    this.limit = PAGE_ROWS;
    this.rows = new Map(); // id -> <li>
    this.more = h('li', { class: 'more-row' }, h('button', {
      type: 'button', class: 'btn ghost small', 'aria-label': 'Show more sessions',
      on: { click: () => { this.limit += PAGE_ROWS; this.render(); } },
    }, 'Show more'));
    for (const el of [search, status, provider, archived].filter(Boolean)) {
      el.addEventListener(el.type === 'checkbox' ? 'change' : 'input', () => {
        this.limit = PAGE_ROWS;
        this.render();
      });
    }
    setInterval(() => this.refreshTimes(), 30000);
  }

  /**
   * Applies one session's change without rebuilding the list: the row is re-rendered and moved
   * to its place in the most-recently-updated-first order (usually the top).
   */
  update(id) {
    const s = store.list.sessions.get(id);
    const old = this.rows.get(id);
    if (!s || !this.matches(s)) {
      if (old) {
        old.remove();
        this.rows.delete(id);
      }
      this.afterChange();
      return;
    }
    const li = this.row(s);
    if (old) old.remove();
    this.rows.set(id, li);
    // Find the first rendered row updated before this one.
    let before = null;
    for (const other of this.listEl.children) {
      const oid = other.dataset.id;
      if (!oid) continue;
      const os = store.list.sessions.get(oid);
      if (os && (os.updated_at || 0) < (s.updated_at || 0)) {
        before = other;
        break;
      }
    }
    if (before) before.before(li);
    else if (this.rows.size <= this.limit) this.listEl.insertBefore(li, this.more.isConnected ? this.more : null);
    else this.rows.delete(id);
    this.afterChange();
  }

  afterChange() {
    this.emptyEl.hidden = this.rows.size > 0;
    this.emptyEl.textContent = store.list.sessions.size ? 'No sessions match.' : 'No sessions yet.';
  }

  select(id) {
    this.selected = id;
    for (const a of this.listEl.querySelectorAll('a.session-row')) {
      if (a.dataset.id === id) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
  }

  matches(s) {
    if (s.archived && !(this.archived && this.archived.checked)) return false;
    const q = this.search.value.trim().toLowerCase();
    if (q) {
      const hay = [displayName(s), s.first_prompt, s.cwd, s.model, s.id, s.provider]
        .filter(Boolean).join('\n').toLowerCase();
      if (!q.split(/\s+/).every((w) => hay.includes(w))) return false;
    }
    switch (this.status.value) {
      case 'active':
        if (s.status === 'ended') return false;
        break;
      case 'attention':
        if (!store.needsAttention(s)) return false;
        break;
      case 'ended':
        if (s.status !== 'ended') return false;
        break;
      default:
        break;
    }
    if (this.provider.value !== 'all' && s.provider !== this.provider.value) return false;
    return true;
  }

  render() {
    this.rows.clear();
    let matching = 0;
    const frag = document.createDocumentFragment();
    for (const s of store.sortedSessions()) {
      if (!this.matches(s)) continue;
      matching += 1;
      if (matching > this.limit) continue;
      const li = this.row(s);
      this.rows.set(s.id, li);
      frag.append(li);
    }
    if (matching > this.limit) {
      this.more.querySelector('button').textContent = `Show more (${matching - this.limit} hidden)`;
      frag.append(this.more);
    }
    this.listEl.replaceChildren(frag);
    this.afterChange();
  }

  row(s) {
    const name = displayName(s);
    const project = basename(s.cwd);
    const pending = s.pending_approval_count || 0;
    const label = `${name}, ${s.provider || 'agent'}${s.origin === 'passive' ? ' (passive)' : ''}, `
      + `project ${project || 'unknown'}, ${s.status}, updated ${relativeTime(s.updated_at)}`
      + (pending ? `, ${pending} pending approval${pending > 1 ? 's' : ''}` : '')
      + (s.archived ? ', archived' : '')
      + (s.forked_from ? `, forked from ${forkParentName(s.forked_from)}` : '');
    const a = h('a', {
      class: `session-row${store.needsAttention(s) ? ' attention' : ''}${s.archived ? ' archived' : ''}`,
      href: `#/s/${encodeURIComponent(s.id)}`,
      'aria-label': label,
      'aria-current': s.id === this.selected ? 'page' : null,
      dataset: { id: s.id, status: s.status || '' },
    },
    h('div', { class: 'row-top' },
      h('span', { class: 'row-name', text: name }),
      h('time', { class: 'row-time muted', datetime: new Date(s.updated_at || 0).toISOString(), dataset: { ms: String(s.updated_at || 0) }, text: relativeTime(s.updated_at) })),
    h('div', { class: 'row-bottom' },
      h('span', { class: `chip provider-${s.provider}`, text: s.provider || 'agent' }),
      s.model_provider === 'codexpc' ? h('span', { class: 'chip model-provider', title: 'Local gpt-oss (codexpc)', text: 'local' }) : null,
      s.origin === 'passive' ? h('span', { class: 'chip', text: 'passive' }) : null,
      s.archived ? h('span', { class: 'chip archived-chip', text: 'archived' }) : null,
      s.forked_from ? h('span', {
        class: 'chip fork-chip', title: `Forked from ${forkParentName(s.forked_from)}`,
        text: `↳ ${forkParentName(s.forked_from)}`,
      }) : null,
      h('span', { class: 'row-project muted', title: s.cwd || '', text: project }),
      h('span', { class: 'spacer' }),
      pending ? h('span', { class: 'pending-count', 'aria-hidden': 'true', text: String(pending) }) : null,
      statusBadge(s.status)));
    return h('li', { dataset: { id: s.id } }, a);
  }

  refreshTimes() {
    for (const t of this.listEl.querySelectorAll('time.row-time')) {
      t.textContent = relativeTime(Number(t.dataset.ms));
    }
  }
}

/** The display name of a fork's parent (its id's start when the parent is not listed). */
function forkParentName(parentId) {
  const parent = store.list.sessions.get(parentId);
  return parent ? displayName(parent) : parentId.slice(0, 8);
}
