// The session list: every session the server knows (direct and passive, Codex and Claude) with
// name, provider, project, status badge and relative time; filters and full-text search. Each
// row is a link (`#/s/ID`), so it is reachable and activatable with the keyboard.
//
// Why virtualized and paged: a heavy user has tens of thousands of sessions. The server filters
// and pages (live.js follows a paged view: the first page, then only changes of rows in view),
// and this list renders only the rows on screen plus a margin, between two spacers that keep the
// scrollbar honest; scrolling near the end asks for the next page. Rows have a fixed height, so
// the visible slice is arithmetic, not layout.
//
// Search (typing in the box) asks the server's full-text index and shows its hits in the same
// list, each with the matching snippet; opening one goes to the matching item (`#/s/ID/i/SEQ`).

import { h, basename, relativeTime } from './dom.js';
import * as store from './store.js';
import { api } from './api.js';
import { statusBadge } from './badges.js';
import { displayName } from './session_view.js';
import { hostChip } from './hosts.js';

/** Height of a row in px (the CSS fixes it: `.session-list > li.vrow`). */
export const ROW_H = 62;
/** Rows rendered above and below the visible ones. */
const OVERSCAN = 8;
/** How long typing pauses before a search is sent. */
const SEARCH_DEBOUNCE_MS = 150;

/** The statuses of the "Active" filter: everything but ended. */
const ACTIVE = ['working', 'waiting', 'needs_approval', 'needs_answer', 'failed', 'host_unreachable'];

export class Sidebar {
  constructor({ list, empty, search, status, provider, archived, onQuery, onNeedMore }) {
    this.listEl = list;
    this.emptyEl = empty;
    this.search = search;
    this.status = status;
    this.provider = provider;
    // Archived sessions stay out of the list unless asked for; shown, they are dimmed.
    this.archived = archived;
    this.onQuery = onQuery || (() => {});
    this.onNeedMore = onNeedMore || (() => {});
    this.selected = null;
    this.sorted = []; // the list's rows in order (sessions, or search hits)
    this.hits = null; // search hits while searching
    this.searchSeq = 0;
    this.searchAbort = null;
    this.searchTimer = null;
    this.topPad = h('li', { class: 'vpad', 'aria-hidden': 'true' });
    this.bottomPad = h('li', { class: 'vpad', 'aria-hidden': 'true' });
    this.painted = new Map(); // id -> <li> currently in the DOM
    this.frame = 0;
    for (const el of [status, provider, archived].filter(Boolean)) {
      el.addEventListener('change', () => {
        this.listEl.scrollTop = 0;
        this.onQuery(this.query());
        if (this.hits) this.runSearch();
      });
    }
    search.addEventListener('input', () => {
      clearTimeout(this.searchTimer);
      this.searchTimer = setTimeout(() => this.runSearch(), SEARCH_DEBOUNCE_MS);
    });
    this.listEl.addEventListener('scroll', () => this.schedulePaint(), { passive: true });
    window.addEventListener('resize', () => this.schedulePaint());
    setInterval(() => this.refreshTimes(), 30000);
  }

  /** The server-side filters chosen in the sidebar (see `ListQuery` in the protocol). */
  query() {
    const q = {};
    switch (this.status.value) {
      case 'active': q.status = ACTIVE; break;
      case 'attention': q.attention = true; break;
      case 'ended': q.status = ['ended']; break;
      default: break;
    }
    if (this.provider.value !== 'all') q.provider = this.provider.value;
    q.archived = this.archived && this.archived.checked ? 'include' : 'exclude';
    return q;
  }

  /** Whether a summary passes the filters (for search hits, which the index does not filter). */
  matches(s) {
    if (s.archived && !(this.archived && this.archived.checked)) return false;
    switch (this.status.value) {
      case 'active': if (s.status === 'ended') return false; break;
      case 'attention': if (!store.needsAttention(s)) return false; break;
      case 'ended': if (s.status !== 'ended') return false; break;
      default: break;
    }
    if (this.provider.value !== 'all' && s.provider !== this.provider.value) return false;
    return true;
  }

  async runSearch() {
    const text = this.search.value.trim();
    if (this.searchAbort) this.searchAbort.abort();
    if (!text) {
      this.hits = null;
      this.render();
      return;
    }
    const seq = ++this.searchSeq;
    const ctrl = new AbortController();
    this.searchAbort = ctrl;
    try {
      const r = await api.search(text, 100, { signal: ctrl.signal });
      if (seq !== this.searchSeq) return;
      this.hits = (r.hits || []).filter((hit) => hit.session && this.matches(hit.session));
    } catch (err) {
      if (err && err.name === 'AbortError') return;
      console.warn('orbitdock: search failed', err);
      this.hits = [];
    }
    this.listEl.scrollTop = 0;
    this.render();
  }

  /**
   * Applies one session's change: the row moves to its place in the order (usually the top);
   * only the visible slice is repainted.
   */
  update(id) {
    if (this.hits) {
      const hit = this.hits.find((x) => x.session_id === id);
      const s = store.list.sessions.get(id);
      if (hit && s) hit.session = s;
      this.schedulePaint();
      return;
    }
    const at = this.sorted.findIndex((s) => s.id === id);
    if (at >= 0) this.sorted.splice(at, 1);
    const s = store.list.sessions.get(id);
    if (s) {
      // Binary search for the place in the server's order.
      let lo = 0;
      let hi = this.sorted.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (store.byActivity(this.sorted[mid], s) < 0) lo = mid + 1;
        else hi = mid;
      }
      this.sorted.splice(lo, 0, s);
    }
    this.painted.delete(id);
    this.paint();
  }

  /** Rebuilds the order from the store (a new page or a fresh first page) or the search hits. */
  render() {
    this.sorted = this.hits ? this.hits : store.sortedSessions();
    this.painted.clear();
    this.paint();
  }

  schedulePaint() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.paint();
    });
  }

  /** Renders the rows in view (plus a margin) between the two spacers. */
  paint() {
    const n = this.sorted.length;
    const top = this.listEl.scrollTop;
    const height = this.listEl.clientHeight || window.innerHeight;
    const first = Math.max(0, Math.floor(top / ROW_H) - OVERSCAN);
    const last = Math.min(n, Math.ceil((top + height) / ROW_H) + OVERSCAN);
    this.topPad.style.height = `${first * ROW_H}px`;
    this.bottomPad.style.height = `${(n - last) * ROW_H}px`;
    const keep = new Map();
    const rows = [this.topPad];
    for (let i = first; i < last; i += 1) {
      const entry = this.sorted[i];
      const s = this.hits ? entry.session : entry;
      const key = this.hits ? `${s.id}:${entry.seq ?? ''}` : s.id;
      let li = this.painted.get(key);
      if (!li || li.dataset.rev !== String(s.revision) || li.dataset.upd !== String(s.updated_at)) {
        li = this.row(s, this.hits ? entry : null);
      }
      keep.set(key, li);
      rows.push(li);
    }
    rows.push(this.bottomPad);
    this.painted = keep;
    this.listEl.replaceChildren(...rows);
    this.listEl.setAttribute('aria-rowcount', String(this.hits ? n : (store.list.total ?? n)));
    this.afterChange();
    if (!this.hits && last >= n - OVERSCAN && store.list.nextCursor) this.onNeedMore();
  }

  afterChange() {
    const n = this.sorted.length;
    this.emptyEl.hidden = n > 0;
    this.emptyEl.textContent = (this.hits || store.list.sessions.size || this.filtered())
      ? 'No sessions match.' : 'No sessions yet.';
  }

  /** Whether any filter narrows the list. */
  filtered() {
    return this.status.value !== 'all' || this.provider.value !== 'all';
  }

  select(id) {
    this.selected = id;
    for (const a of this.listEl.querySelectorAll('a.session-row')) {
      if (a.dataset.id === id) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
  }

  row(s, hit) {
    const name = displayName(s);
    const project = basename(s.cwd);
    const pending = s.pending_approval_count || 0;
    const label = `${name}, ${s.provider || 'agent'}${s.origin === 'passive' ? ' (passive)' : ''}${s.host ? ` on ${s.host}` : ''}, `
      + `project ${project || 'unknown'}, ${s.status}, updated ${relativeTime(s.updated_at)}`
      + (pending ? `, ${pending} pending approval${pending > 1 ? 's' : ''}` : '')
      + (s.archived ? ', archived' : '')
      + (s.forked_from ? `, forked from ${forkParentName(s.forked_from)}` : '')
      + (hit ? `, match: ${hit.snippet.replace(/[\u0002\u0003]/g, '')}` : '');
    const href = hit && hit.seq
      ? `#/s/${encodeURIComponent(s.id)}/i/${hit.seq}`
      : `#/s/${encodeURIComponent(s.id)}`;
    const a = h('a', {
      class: `session-row${store.needsAttention(s) ? ' attention' : ''}${s.archived ? ' archived' : ''}${hit ? ' hit' : ''}`,
      href,
      'aria-label': label,
      'aria-current': s.id === this.selected ? 'page' : null,
      dataset: { id: s.id, status: s.status || '' },
    },
    h('div', { class: 'row-top' },
      h('span', { class: 'row-name', text: name }),
      h('time', { class: 'row-time muted', datetime: new Date(s.updated_at || 0).toISOString(), dataset: { ms: String(s.updated_at || 0) }, text: relativeTime(s.updated_at) })),
    hit ? h('div', { class: 'row-snippet muted' }, ...snippetNodes(hit.snippet)) : h('div', { class: 'row-bottom' },
      h('span', { class: `chip provider-${s.provider}`, text: s.provider || 'agent' }),
      hostChip(s.host),
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
    return h('li', { class: 'vrow', dataset: { id: s.id, rev: String(s.revision), upd: String(s.updated_at) } }, a);
  }

  refreshTimes() {
    for (const t of this.listEl.querySelectorAll('time.row-time')) {
      t.textContent = relativeTime(Number(t.dataset.ms));
    }
  }
}

/** A snippet's text with its match marks (STX ... ETX) as <mark>s; never parsed as HTML. */
function snippetNodes(snippet) {
  const out = [];
  const re = /\u0002([^\u0003]*)\u0003/g;
  let at = 0;
  let m;
  while ((m = re.exec(snippet)) !== null) {
    if (m.index > at) out.push(snippet.slice(at, m.index));
    out.push(h('mark', { text: m[1] }));
    at = m.index + m[0].length;
  }
  if (at < snippet.length) out.push(snippet.slice(at));
  return out;
}

/** The display name of a fork's parent (its id's start when the parent is not listed). */
function forkParentName(parentId) {
  const parent = store.list.sessions.get(parentId);
  return parent ? displayName(parent) : parentId.slice(0, 8);
}
