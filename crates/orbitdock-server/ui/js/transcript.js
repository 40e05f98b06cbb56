// The transcript pane: a scrolling list of item elements in `seq` order.
//
// Long sessions stay fast because the page never holds the whole transcript: it opens on the
// snapshot's tail (at most 200 items, whatever the session's length), and older items are paged
// in 200 at a time with `GET /api/sessions/{id}/items?before=SEQ` when the reader scrolls up. Each
// item is laid out only when near the viewport (`content-visibility: auto` in app.css), so even
// after paging in thousands of items the browser renders just what is visible.
// The view sticks to the bottom while the reader is at the bottom, and keeps the reader's place
// when older items are prepended.

import { h } from './dom.js';
import { api } from './api.js';
import * as store from './store.js';
import { renderItem, appendText } from './items.js';

const PAGE = 200;
const STICK_PX = 80;

export class TranscriptView {
  constructor(model, onError) {
    this.model = model;
    this.onError = onError;
    this.elements = new Map(); // seq -> element
    this.order = []; // rendered seqs, ascending
    this.loadingOlder = false;

    this.loadButton = h('button', {
      type: 'button', class: 'btn ghost small', 'aria-label': 'Load earlier messages',
      on: { click: () => this.loadOlder() },
    }, 'Load earlier messages');
    this.topBar = h('div', { class: 'transcript-top', hidden: true }, this.loadButton);
    this.list = h('div', { class: 'items' });
    this.el = h('div', {
      class: 'transcript', role: 'log', 'aria-label': 'Transcript', 'aria-live': 'off', tabindex: '0',
    }, this.topBar, this.list);

    this.observer = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) this.loadOlder();
    }, { root: this.el, rootMargin: '400px 0px 0px 0px' });
    this.observer.observe(this.topBar);

    // Stay pinned to the end when the pane shrinks (an approval card or the keyboard appears) or
    // the content grows, as long as the reader was at the end.
    // Only the reader scrolling UP unpins: a shrinking pane also moves scrollTop (clamping,
    // scroll anchoring) and fires 'scroll', and must not count as the reader leaving the end.
    this.stuck = true;
    this.lastTop = 0;
    this.el.addEventListener('scroll', () => {
      const top = this.el.scrollTop;
      if (this.atBottom()) this.stuck = true;
      else if (top < this.lastTop) this.stuck = false;
      this.lastTop = top;
    }, { passive: true });
    this.resizer = new ResizeObserver(() => {
      if (this.stuck) this.scrollToBottom();
    });
    this.resizer.observe(this.el);
    this.resizer.observe(this.list);
  }

  destroy() {
    this.observer.disconnect();
    this.resizer.disconnect();
  }

  atBottom() {
    const el = this.el;
    return el.scrollHeight - el.scrollTop - el.clientHeight < STICK_PX;
  }

  scrollToBottom() {
    this.el.scrollTop = this.el.scrollHeight;
    this.stuck = true;
  }

  /** Renders everything the model holds, replacing what was shown; scrolls to the end. */
  reset() {
    this.elements.clear();
    this.order = this.model.seqs();
    const frag = document.createDocumentFragment();
    for (const seq of this.order) {
      const el = renderItem(this.model.items.get(seq), this.context());
      this.elements.set(seq, el);
      frag.append(el);
    }
    this.list.replaceChildren(frag);
    this.topBar.hidden = !this.model.hasOlder;
    this.scrollToBottom();
    this.markRendered();
  }

  /** Inserts or re-renders the given seqs. */
  upsert(seqs) {
    const stick = this.atBottom();
    for (const seq of seqs) {
      const item = this.model.items.get(seq);
      if (!item) continue;
      const el = renderItem(item, this.context());
      const old = this.elements.get(seq);
      if (old) {
        // Keep a <details> the reader opened open across re-renders.
        if (old.tagName === 'DETAILS' && el.tagName === 'DETAILS' && old.open) el.open = true;
        old.replaceWith(el);
      } else {
        const i = insertionIndex(this.order, seq);
        this.order.splice(i, 0, seq);
        const next = this.elements.get(this.order[i + 1]);
        if (next) next.before(el);
        else this.list.append(el);
      }
      this.elements.set(seq, el);
    }
    if (stick) this.scrollToBottom();
    this.markRendered();
  }

  /** Older items were fetched: insert them above, keeping the reader's place. */
  prepend(seqs) {
    if (!seqs.length) {
      this.topBar.hidden = !this.model.hasOlder;
      return;
    }
    const before = this.el.scrollHeight;
    const top = this.el.scrollTop;
    const sorted = [...seqs].sort((a, b) => a - b);
    const frag = document.createDocumentFragment();
    for (const seq of sorted) {
      const el = renderItem(this.model.items.get(seq), this.context());
      this.elements.set(seq, el);
      frag.append(el);
    }
    this.order = [...sorted, ...this.order];
    this.list.prepend(frag);
    this.topBar.hidden = !this.model.hasOlder;
    this.el.scrollTop = top + (this.el.scrollHeight - before);
  }

  text(seq, field, delta) {
    const el = this.elements.get(seq);
    const item = this.model.items.get(seq);
    if (!el || !item) return;
    const stick = this.atBottom();
    if (!appendText(el, item, field, delta)) this.upsert([seq]);
    if (stick) this.scrollToBottom();
  }

  /** What item rendering needs to know about the session (paths are shown relative to cwd). */
  context() {
    const st = this.model.state;
    return {
      sessionId: st ? (st.id || (st.summary && st.summary.id)) : null,
      cwd: st ? st.cwd : null,
      activeTurn: st && st.current_turn ? st.current_turn.id : null,
      awaiting: new Set(((st && st.pending_approvals) || []).map((a) => a.item_id).filter(Boolean)),
    };
  }

  /** Re-renders items still marked in progress (after a turn or an approval started or ended). */
  refreshInProgress() {
    const seqs = [];
    for (const seq of this.order) {
      const it = this.model.items.get(seq);
      if (it && it.status === 'in_progress') seqs.push(seq);
    }
    if (seqs.length) this.upsert(seqs);
  }

  async loadOlder() {
    if (this.loadingOlder || !this.model.hasOlder) return;
    const first = this.model.firstSeq();
    if (first === null) return;
    this.loadingOlder = true;
    this.loadButton.disabled = true;
    this.loadButton.textContent = 'Loading…';
    try {
      const page = await api.itemsBefore(this.model.id, first, PAGE);
      if (store.current === this.model) store.prependItems(this.model, page);
    } catch (err) {
      this.onError(`Could not load earlier messages: ${err.message}`);
    } finally {
      this.loadingOlder = false;
      this.loadButton.disabled = false;
      this.loadButton.textContent = 'Load earlier messages';
    }
  }

  markRendered() {
    const last = this.order.length ? this.order[this.order.length - 1] : 0;
    this.el.dataset.renderedCount = String(this.order.length);
    this.el.dataset.lastSeq = String(last);
    performance.mark('orbitdock:transcript-rendered', { detail: { session: this.model.id, last } });
  }
}

function insertionIndex(sorted, seq) {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
