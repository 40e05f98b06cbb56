// The session list: every session the server knows (direct and passive, Codex and Claude) with
// name, provider, project, status badge and relative time; search and filters. Each row is a
// link (`#/s/ID`), so it is reachable and activatable with the keyboard.

import { h, basename, relativeTime } from './dom.js';
import * as store from './store.js';
import { statusBadge } from './badges.js';
import { displayName } from './session_view.js';

export class Sidebar {
  constructor({ list, empty, search, status, provider }) {
    this.listEl = list;
    this.emptyEl = empty;
    this.search = search;
    this.status = status;
    this.provider = provider;
    this.selected = null;
    for (const el of [search, status, provider]) el.addEventListener('input', () => this.render());
    setInterval(() => this.refreshTimes(), 30000);
  }

  select(id) {
    this.selected = id;
    for (const a of this.listEl.querySelectorAll('a.session-row')) {
      if (a.dataset.id === id) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
  }

  matches(s) {
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
    const rows = [];
    for (const s of store.sortedSessions()) {
      if (!this.matches(s)) continue;
      rows.push(this.row(s));
    }
    this.listEl.replaceChildren(...rows);
    this.emptyEl.hidden = rows.length > 0;
    this.emptyEl.textContent = store.list.sessions.size ? 'No sessions match.' : 'No sessions yet.';
  }

  row(s) {
    const name = displayName(s);
    const project = basename(s.cwd);
    const pending = s.pending_approval_count || 0;
    const label = `${name}, ${s.provider || 'agent'}${s.origin === 'passive' ? ' (passive)' : ''}, `
      + `project ${project || 'unknown'}, ${s.status}, updated ${relativeTime(s.updated_at)}`
      + (pending ? `, ${pending} pending approval${pending > 1 ? 's' : ''}` : '');
    const a = h('a', {
      class: `session-row${store.needsAttention(s) ? ' attention' : ''}`,
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
      s.origin === 'passive' ? h('span', { class: 'chip', text: 'passive' }) : null,
      h('span', { class: 'row-project muted', title: s.cwd || '', text: project }),
      h('span', { class: 'spacer' }),
      pending ? h('span', { class: 'pending-count', 'aria-hidden': 'true', text: String(pending) }) : null,
      statusBadge(s.status)));
    return h('li', {}, a);
  }

  refreshTimes() {
    for (const t of this.listEl.querySelectorAll('time.row-time')) {
      t.textContent = relativeTime(Number(t.dataset.ms));
    }
  }
}
