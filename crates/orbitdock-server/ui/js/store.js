// Client-side state: the session list and the open session, kept exactly in step with the
// server's revisioned stream. Every mutation comes from a snapshot or a delta (see live.js); views
// only read and subscribe. Revisions make re-delivery harmless: a delta whose revision is not
// newer than the one applied is dropped, so nothing is ever applied twice.

export const events = new EventTarget();

function emit(type, detail) {
  events.dispatchEvent(new CustomEvent(type, { detail }));
}

/**
 * The session list. `revision` is null until the first snapshot. A paged list (`paged`) holds
 * the pages loaded so far plus the rows that entered them; `nextCursor` says more exist.
 */
export const list = {
  revision: null,
  sessions: new Map(),
  paged: false,
  nextCursor: null,
  total: null,
};

export function applyListSnapshot(revision, sessions) {
  list.sessions = new Map(sessions.map((s) => [s.id, s]));
  list.revision = revision;
  list.paged = false;
  list.nextCursor = null;
  list.total = null;
  emit('list', { reset: true });
}

/**
 * A page of the paged list: the first one replaces what is held, `append` adds the next one.
 */
export function applyListPage(page, append) {
  if (!append) list.sessions = new Map();
  const added = [];
  for (const s of page.sessions || []) {
    list.sessions.set(s.id, s);
    added.push(s.id);
  }
  if (!append || list.revision === null) list.revision = page.revision;
  list.paged = true;
  list.nextCursor = page.next_cursor ?? null;
  list.total = page.total ?? null;
  emit('list', append ? { appended: added } : { reset: true });
}

/**
 * Returns 'applied', 'duplicate' or 'gap'. A paged list only receives the changes of rows in
 * view, so its revisions skip by design: only order matters there.
 */
export function applyListDelta(revision, delta) {
  if (list.revision !== null && revision <= list.revision) return 'duplicate';
  if (!list.paged && list.revision !== null && revision !== list.revision + 1) return 'gap';
  list.revision = revision;
  if (delta.kind === 'upsert' && delta.summary) {
    list.sessions.set(delta.summary.id, delta.summary);
  } else if (delta.kind === 'removed') {
    list.sessions.delete(delta.id);
  }
  // Unknown kinds: the revision still counts (protocol rule), nothing else to do.
  emit('list', { id: delta.summary ? delta.summary.id : delta.id });
  return 'applied';
}

/** Summaries sorted most-recently-updated first. */
export function sortedSessions() {
  return [...list.sessions.values()].sort(byActivity);
}

/** The server's list order: most recent activity first, ties by id. */
export function byActivity(a, b) {
  return (b.updated_at || 0) - (a.updated_at || 0) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

export function needsAttention(summary) {
  return summary.status === 'needs_approval' || summary.status === 'needs_answer'
    || (summary.pending_approval_count || 0) > 0;
}

/**
 * One opened session: its state (summary fields + pending approvals, plan, diff, ...) and the
 * part of its transcript the client holds, keyed by `seq`. `hasOlder` says whether items before
 * the first held one exist on the server (fetched with `?before=`).
 */
export class SessionModel {
  constructor(id) {
    this.id = id;
    this.revision = null;
    this.state = null;
    this.items = new Map();
    this.hasOlder = false;
  }

  /** Item seqs in ascending order. */
  seqs() {
    return [...this.items.keys()].sort((a, b) => a - b);
  }

  firstSeq() {
    let min = Infinity;
    for (const s of this.items.keys()) if (s < min) min = s;
    return min === Infinity ? null : min;
  }

  lastSeq() {
    let max = -Infinity;
    for (const s of this.items.keys()) if (s > max) max = s;
    return max === -Infinity ? null : max;
  }
}

/** The session currently shown (null on the welcome screen). */
export let current = null;

export function openSession(id) {
  if (current && current.id === id) return current;
  current = new SessionModel(id);
  emit('session-open', { id });
  return current;
}

export function closeSession() {
  current = null;
  emit('session-open', { id: null });
}

export function applySessionSnapshot(model, revision, state, items) {
  const prevLast = model.lastSeq();
  const sorted = [...items].sort((a, b) => a.seq - b.seq);
  // When the snapshot's tail starts after everything we hold, items in between may exist that
  // neither side has: start over from the snapshot (older items page in on scroll). Otherwise the
  // snapshot overlaps what we hold and upserting is exact.
  const contiguous = prevLast === null || sorted.length === 0 || sorted[0].seq <= prevLast + 1;
  let reset = false;
  if (!contiguous || model.items.size === 0) {
    model.items = new Map(sorted.map((it) => [it.seq, it]));
    const count = typeof state.item_count === 'number' ? state.item_count : null;
    model.hasOlder = sorted.length > 0
      && (count === null ? sorted.length >= 200 : count > sorted.length);
    reset = true;
  } else {
    for (const it of sorted) model.items.set(it.seq, it);
  }
  model.state = state;
  model.revision = revision;
  emit('session-state', { id: model.id, snapshot: true });
  emit('session-items', { id: model.id, reset, seqs: reset ? null : sorted.map((it) => it.seq) });
}

/** Returns 'applied', 'duplicate' or 'gap'. */
export function applySessionDelta(model, revision, delta) {
  if (model.revision === null) return 'gap';
  if (revision <= model.revision) return 'duplicate';
  if (revision !== model.revision + 1) return 'gap';
  model.revision = revision;
  const st = model.state;
  switch (delta.kind) {
    case 'item': {
      const item = delta.item;
      model.items.set(item.seq, item);
      if (st && typeof st.last_seq === 'number' && item.seq > st.last_seq) st.last_seq = item.seq;
      emit('session-items', { id: model.id, seqs: [item.seq] });
      break;
    }
    case 'item_text': {
      const item = model.items.get(delta.seq);
      if (item) {
        const field = textField(item, delta.stream);
        if (field) {
          item[field] = (item[field] || '') + delta.delta;
          emit('session-text', { id: model.id, seq: delta.seq, field, delta: delta.delta });
        }
      }
      // An unknown seq means we do not hold that item (e.g. paged out); its next full update
      // carries the whole text, so nothing is lost by skipping the fragment.
      break;
    }
    case 'summary':
      Object.assign(st, delta.summary);
      emit('session-state', { id: model.id, what: 'summary' });
      break;
    case 'turn_started':
      st.current_turn = delta.turn;
      emit('session-state', { id: model.id, what: 'turn' });
      break;
    case 'turn_ended':
      st.current_turn = null;
      emit('session-state', { id: model.id, what: 'turn', ended: delta });
      break;
    case 'approval_requested': {
      const a = delta.approval;
      st.pending_approvals = (st.pending_approvals || []).filter((p) => p.request_id !== a.request_id);
      st.pending_approvals.push(a);
      emit('session-state', { id: model.id, what: 'approvals' });
      break;
    }
    case 'approval_resolved':
      st.pending_approvals = (st.pending_approvals || []).filter(
        (p) => !(p.request_id === delta.request_id && (p.version || 0) <= (delta.version || 0)));
      emit('session-state', { id: model.id, what: 'approvals' });
      break;
    case 'plan':
      st.plan = delta.plan;
      emit('session-state', { id: model.id, what: 'plan' });
      break;
    case 'diff':
      st.diff = delta.diff;
      emit('session-state', { id: model.id, what: 'diff' });
      break;
    case 'rate_limits':
      st.rate_limits = delta.rate_limits;
      emit('session-state', { id: model.id, what: 'usage' });
      break;
    case 'transcript_reset':
      // The transcript was rebuilt from the agent's history (after a revert): what we hold is
      // gone; the rebuilt items follow as item deltas.
      model.items = new Map();
      model.hasOlder = false;
      emit('session-items', { id: model.id, reset: true });
      break;
    case 'attached':
      st.attached = delta.attached;
      emit('session-state', { id: model.id, what: 'attached' });
      break;
    default:
      // Unknown delta kinds are ignored but keep the revision (protocol rule).
      break;
  }
  return 'applied';
}

/** Older items fetched over REST (`?before=`), merged under what we hold. */
export function prependItems(model, page) {
  const added = [];
  for (const it of page.items || []) {
    if (!model.items.has(it.seq)) {
      model.items.set(it.seq, it);
      added.push(it.seq);
    }
  }
  model.hasOlder = Boolean(page.has_more);
  emit('session-items', { id: model.id, prepended: added });
}

function textField(item, stream) {
  switch (stream) {
    case 'text':
      return 'text';
    case 'output':
      return 'output';
    case 'reasoning':
      return 'text';
    case 'reasoning_summary':
      return 'summary';
    default:
      return null;
  }
}

export function emitConnection(state, detail) {
  emit('connection', { state, ...detail });
}
