// Unit tests of the UI's client-side store (crates/orbitdock-server/ui/js/store.js): the rules
// that make reconnects lossless and duplicate-free. Pure logic, run in Node (EventTarget and
// CustomEvent are globals there too).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as store from '../../crates/orbitdock-server/ui/js/store.js';

const item = (seq, text = `t${seq}`, extra = {}) => ({ seq, id: `i${seq}`, type: 'agent_message', status: 'completed', text, ...extra });

function collect() {
  const seen = [];
  const types = ['list', 'session-state', 'session-items', 'session-text'];
  const fns = types.map((t) => {
    const fn = (ev) => seen.push([t, ev.detail]);
    store.events.addEventListener(t, fn);
    return [t, fn];
  });
  return { seen, stop: () => fns.forEach(([t, fn]) => store.events.removeEventListener(t, fn)) };
}

test('list deltas apply in order; duplicates are dropped; gaps are reported', () => {
  store.applyListSnapshot(10, [{ id: 'a', updated_at: 1, status: 'waiting' }]);
  assert.equal(store.applyListDelta(11, { kind: 'upsert', summary: { id: 'b', updated_at: 5, status: 'working' } }), 'applied');
  assert.equal(store.applyListDelta(11, { kind: 'upsert', summary: { id: 'b', updated_at: 9, status: 'ended' } }), 'duplicate');
  assert.equal(store.list.sessions.get('b').status, 'working', 'a replayed delta is not applied twice');
  assert.equal(store.applyListDelta(13, { kind: 'removed', id: 'a' }), 'gap');
  assert.ok(store.list.sessions.has('a'), 'nothing applied past a gap');
  assert.equal(store.applyListDelta(12, { kind: 'mystery_kind' }), 'applied', 'unknown kinds keep the revision');
  assert.equal(store.applyListDelta(13, { kind: 'removed', id: 'a' }), 'applied');
  assert.deepEqual(store.sortedSessions().map((s) => s.id), ['b']);
});

test('session snapshot then deltas: items, streamed text, approvals, plan, diff', () => {
  const model = store.openSession('s1');
  assert.equal(store.applySessionDelta(model, 1, { kind: 'item', item: item(1) }), 'gap', 'no delta before a snapshot');
  const c = collect();
  store.applySessionSnapshot(model, 5, { id: 's1', item_count: 2, pending_approvals: [] },
    [item(2, '', { status: 'in_progress' }), item(1)]);
  assert.deepEqual(model.seqs(), [1, 2]);
  assert.equal(model.hasOlder, false);
  assert.equal(store.applySessionDelta(model, 6, { kind: 'item_text', seq: 2, item_id: 'i2', stream: 'text', delta: 'Hel' }), 'applied');
  assert.equal(store.applySessionDelta(model, 7, { kind: 'item_text', seq: 2, item_id: 'i2', stream: 'text', delta: 'lo' }), 'applied');
  // The same deltas replayed after a reconnect change nothing.
  assert.equal(store.applySessionDelta(model, 6, { kind: 'item_text', seq: 2, item_id: 'i2', stream: 'text', delta: 'Hel' }), 'duplicate');
  assert.equal(store.applySessionDelta(model, 7, { kind: 'item_text', seq: 2, item_id: 'i2', stream: 'text', delta: 'lo' }), 'duplicate');
  assert.equal(model.items.get(2).text, 'Hello');
  // The authoritative item replaces the streamed one.
  store.applySessionDelta(model, 8, { kind: 'item', item: item(2, 'Hello!') });
  assert.equal(model.items.get(2).text, 'Hello!');
  store.applySessionDelta(model, 9, { kind: 'approval_requested', approval: { request_id: 'r1', kind: 'command', version: 1 } });
  store.applySessionDelta(model, 10, { kind: 'approval_requested', approval: { request_id: 'r1', kind: 'command', version: 1 } });
  assert.equal(model.state.pending_approvals.length, 1, 'a re-sent approval is not shown twice');
  store.applySessionDelta(model, 11, { kind: 'approval_resolved', request_id: 'r1', version: 1, resolution: 'decided' });
  assert.deepEqual(model.state.pending_approvals, []);
  store.applySessionDelta(model, 12, { kind: 'plan', plan: { steps: [{ step: 'x', status: 'pending' }] } });
  store.applySessionDelta(model, 13, { kind: 'diff', diff: '+a\n' });
  store.applySessionDelta(model, 14, { kind: 'summary', summary: { id: 's1', name: 'N', status: 'waiting' } });
  assert.equal(model.state.name, 'N');
  assert.equal(model.state.diff, '+a\n');
  assert.equal(model.revision, 14);
  assert.equal(store.applySessionDelta(model, 16, { kind: 'diff', diff: '' }), 'gap');
  assert.equal(model.state.diff, '+a\n');
  c.stop();
  const textEvents = c.seen.filter(([t]) => t === 'session-text').map(([, d]) => d.delta);
  assert.deepEqual(textEvents, ['Hel', 'lo']);
});

test('a snapshot after a reconnect merges when it overlaps, restarts when it does not', () => {
  const model = store.openSession('s2');
  store.applySessionSnapshot(model, 3, { id: 's2', item_count: 3 }, [item(1), item(2), item(3)]);
  // Overlapping snapshot (server restarted; replay log gone): upsert, nothing doubled.
  store.applySessionSnapshot(model, 9, { id: 's2', item_count: 5 }, [item(3, 'changed'), item(4), item(5)]);
  assert.deepEqual(model.seqs(), [1, 2, 3, 4, 5]);
  assert.equal(model.items.get(3).text, 'changed');
  // Snapshot tail far ahead (more than a page was missed): start from it, older ones page in.
  store.applySessionSnapshot(model, 400, { id: 's2', item_count: 500 }, Array.from({ length: 200 }, (_, i) => item(301 + i)));
  assert.equal(model.firstSeq(), 301);
  assert.equal(model.items.size, 200);
  assert.equal(model.hasOlder, true);
  store.prependItems(model, { items: [item(299), item(300), item(301)], has_more: true });
  assert.equal(model.firstSeq(), 299);
  assert.equal(model.items.size, 202);
});

test('attention: needs_approval, needs_answer or pending approvals', () => {
  assert.equal(store.needsAttention({ status: 'needs_approval' }), true);
  assert.equal(store.needsAttention({ status: 'needs_answer' }), true);
  assert.equal(store.needsAttention({ status: 'working', pending_approval_count: 1 }), true);
  assert.equal(store.needsAttention({ status: 'waiting', pending_approval_count: 0 }), false);
});
