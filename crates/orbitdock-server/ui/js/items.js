// Rendering of transcript items (protocol `TranscriptItem`), one element per item keyed by `seq`.
// A full item update re-renders its element; streamed text (`item_text` deltas) is appended in
// place with `appendText` so a long answer streams without re-rendering anything.
// Agent text is untrusted: it is inserted as text, or as HTML the server sanitised (markdown).

import { h, setSanitizedHtml, formatDuration, compactNumber } from './dom.js';
import * as markdown from './markdown.js';
import { request } from './api.js';
import { diffStats, normaliseFileDiff, renderDiff, statsBadge } from './diff.js';

const MAX_OUTPUT_CHARS = 200_000;

/** `path` relative to `cwd` when it lies inside it (agents report absolute paths). */
export function displayPath(path, cwd) {
  if (!path || !cwd) return path || '';
  const base = cwd.endsWith('/') ? cwd : `${cwd}/`;
  return path.startsWith(base) ? path.slice(base.length) : path;
}

/**
 * Whether an `in_progress` item is still live. The agent does not always complete an item whose
 * turn was interrupted or failed; once its turn is over it is shown as stopped, not streaming.
 */
export function isLive(item, ctx = {}) {
  if (item.status !== 'in_progress') return false;
  if (!('activeTurn' in ctx)) return true;
  if (!ctx.activeTurn) return false;
  return !item.turn_id || item.turn_id === ctx.activeTurn;
}

export function renderItem(item, ctx = {}) {
  let el;
  const live = isLive(item, ctx);
  switch (item.type) {
    case 'user_message':
      el = messageItem(item, 'user', 'You', live);
      break;
    case 'agent_message':
      el = messageItem(item, 'agent', 'Agent', live);
      break;
    case 'reasoning':
      el = reasoningItem(item);
      break;
    case 'command_execution':
      el = commandItem(item, live, ctx);
      break;
    case 'file_change':
      el = fileChangeItem(item, ctx, live);
      break;
    case 'mcp_tool_call':
      el = mcpItem(item, live);
      break;
    case 'web_search':
      el = h('article', { class: 'item note', 'aria-label': 'Web search' },
        h('span', { class: 'note-icon', 'aria-hidden': 'true', text: '⌕' }), ' Searched the web: ',
        h('q', { text: item.query || '' }));
      break;
    case 'plan':
      el = messageItem(item, 'plan', 'Plan', live);
      break;
    case 'error':
      el = h('article', { class: 'item error-card', role: 'alert', 'aria-label': 'Error' },
        h('strong', { text: 'Error: ' }), h('span', { class: 'error-text', text: item.message || '' }));
      break;
    case 'notice':
      el = noticeItem(item);
      break;
    case 'context_compaction':
      el = compactionItem(item, live);
      break;
    case 'mcp_server_status':
      el = h('article', {
        class: `item note mcp-status${item.state === 'failed' ? ' failed' : ''}`, 'aria-label': `MCP server ${item.server || ''}`,
      },
      h('span', { class: 'note-icon', 'aria-hidden': 'true', text: '⚙' }), ' ',
      h('span', { text: `MCP server “${item.server || '?'}”: ${item.state || 'unknown'}` }),
      item.error ? h('span', { class: 'error-text', text: ` — ${item.error}` }) : null);
      break;
    case 'goal':
      el = h('article', { class: 'item note goal', 'aria-label': 'Thread goal' },
        h('span', { class: 'note-icon', 'aria-hidden': 'true', text: '◎' }), ' ',
        h('span', { text: item.goal ? `Goal (${item.goal.status || 'set'}): ${item.goal.objective || ''}` : 'Goal cleared' }),
        item.goal && item.goal.tokens_used
          ? h('span', { class: 'muted small', text: ` · ${compactNumber(item.goal.tokens_used)}${item.goal.token_budget ? ` of ${compactNumber(item.goal.token_budget)}` : ''} tokens` })
          : null);
      break;
    case 'review_mode':
      el = item.entered
        ? h('article', { class: 'item notice review-enter', 'aria-label': 'Entered review mode' },
          h('span', { class: 'note-icon', 'aria-hidden': 'true', text: '🔍' }),
          h('span', { text: ` Review mode: reviewing ${item.review || 'the changes'}` }))
        : messageItem({ ...item, text: item.review || '(no findings)' }, 'review', 'Review findings', false);
      if (!item.entered) el.classList.add('review-exit');
      break;
    default:
      el = otherItem(item);
  }
  el.dataset.seq = String(item.seq);
  el.dataset.itemId = item.id || '';
  el.dataset.type = item.type || 'unknown';
  el.dataset.status = isStopped(item, live) ? 'stopped' : item.status || '';
  return el;
}

/** A notice; one recording an action taken on someone's behalf (`via`) says through what. */
function noticeItem(item) {
  if (!item.via) {
    return h('article', { class: 'item notice', 'aria-label': 'Notice' }, h('span', { text: item.message || '' }));
  }
  const label = item.via === 'mcp' ? 'via MCP' : `via ${item.via}`;
  return h('article', { class: 'item notice attributed', 'aria-label': `Action ${label}` },
    h('span', { class: 'badge via-badge', text: label }), ' ', h('span', { text: item.message || '' }));
}

/** Appends streamed text to an item's element; returns false when a full re-render is needed. */
export function appendText(el, item, field, delta) {
  if (item.type === 'agent_message' || item.type === 'user_message' || item.type === 'plan') {
    if (field !== 'text') return false;
    const body = el.querySelector('.msg-body');
    if (!body || !body.classList.contains('plain')) return false;
    body.append(delta);
    return true;
  }
  if (item.type === 'command_execution' && field === 'output') {
    const pre = el.querySelector('pre.output');
    if (!pre) return false;
    if (item.output.length > MAX_OUTPUT_CHARS) return false;
    pre.hidden = false;
    pre.append(delta);
    return true;
  }
  if (item.type === 'reasoning') {
    const target = el.querySelector(field === 'summary' ? '.reasoning-summary' : '.reasoning-text');
    if (!target) return false;
    target.append(delta);
    return true;
  }
  return false;
}

function messageItem(item, role, label, live) {
  const body = h('div', { class: 'msg-body' });
  const text = item.text || '';
  const streaming = live;
  const stopped = isStopped(item, live);
  if (streaming || stopped || !text) {
    body.classList.add('plain');
    body.textContent = text;
  } else {
    const html = markdown.cached(item.id, text);
    if (html !== undefined) {
      body.classList.add('md');
      setSanitizedHtml(body, html);
    } else {
      // Plain text first, markdown as soon as the server has rendered it.
      body.classList.add('plain');
      body.textContent = text;
      markdown.render(item.id, text).then((rendered) => {
        body.classList.remove('plain');
        body.classList.add('md');
        setSanitizedHtml(body, rendered);
        labelCodeBlocks(body);
      }, (err) => {
        console.warn('orbitdock: markdown rendering failed, showing plain text', err);
      });
    }
    labelCodeBlocks(body);
  }
  return h('article', { class: `item msg ${role}`, 'aria-label': `${label} message` },
    h('div', { class: 'msg-role', 'aria-hidden': 'true', text: label }),
    role === 'user' && item.turn_id ? messageActions(item.turn_id) : null,
    body,
    streaming ? h('span', { class: 'typing', 'aria-label': 'streaming', text: '▍' }) : null,
    stopped ? h('div', { class: 'muted small', text: '(stopped: the turn ended before this message was finished)' }) : null);
}

/**
 * "Revert from here" / "Fork from here" on a user message. The buttons only announce the choice
 * (a bubbling `history-op` event with the message's turn); the session view opens the dialog.
 */
function messageActions(turnId) {
  const fire = (op) => (ev) => {
    ev.currentTarget.dispatchEvent(new CustomEvent('history-op', { bubbles: true, detail: { op, turnId } }));
  };
  return h('div', { class: 'msg-actions' },
    h('button', {
      type: 'button', class: 'link-btn', 'aria-label': 'Revert from this message',
      title: 'Drop this message and everything after it', on: { click: fire('revert') },
    }, 'Revert from here'),
    h('button', {
      type: 'button', class: 'link-btn', 'aria-label': 'Fork from this message',
      title: 'A new session with the conversation up to this message and its answer', on: { click: fire('fork') },
    }, 'Fork from here'));
}

function labelCodeBlocks(body) {
  for (const code of body.querySelectorAll('pre > code')) {
    const pre = code.parentElement;
    const lang = [...code.classList].find((c) => c.startsWith('language-'));
    pre.tabIndex = 0;
    pre.setAttribute('aria-label', lang ? `Code block (${lang.slice(9)})` : 'Code block');
    if (lang) pre.dataset.lang = lang.slice(9);
  }
}

function reasoningItem(item) {
  const summaryText = item.summary || '';
  const first = (summaryText || item.text || '').split('\n').find((l) => l.trim()) || '';
  return h('details', { class: 'item reasoning' },
    h('summary', { 'aria-label': 'Reasoning (collapsed)' },
      h('span', { class: 'reasoning-label', text: 'Reasoning' }),
      first ? h('span', { class: 'muted ellipsis', text: ` · ${first.replace(/\*\*/g, '')}` }) : null),
    h('div', { class: 'reasoning-summary', text: summaryText }),
    h('div', { class: 'reasoning-text muted', text: item.text || '' }));
}

/**
 * Whether an item was cut short: `interrupted` (its turn ended before the agent finished it; the
 * server marks such items, also after a crash), or an `in_progress` item whose turn is over.
 */
function isStopped(item, live) {
  return item.status === 'interrupted' || (item.status === 'in_progress' && !live);
}

function statusChip(item, extra, live = item.status === 'in_progress') {
  let text;
  let cls;
  if (isStopped(item, live)) return h('span', { class: 'chip declined', text: 'stopped' });
  switch (item.status) {
    case 'in_progress':
      text = 'running';
      cls = 'running';
      break;
    case 'declined':
      text = 'declined';
      cls = 'declined';
      break;
    case 'failed':
      text = extra || 'failed';
      cls = 'failed';
      break;
    case 'completed':
      text = extra || 'done';
      cls = 'ok';
      break;
    default:
      text = item.status || '';
      cls = '';
  }
  return h('span', { class: `chip ${cls}`, text });
}

/** The agent summarised the history; earlier turns stay visible here but the model sees the summary. */
function compactionItem(item, live) {
  const before = item.context_tokens_before;
  const text = live ? 'Compacting the context…'
    : `Context compacted${before ? ` (was ${Math.round(before / 100) / 10}k tokens)` : ''}: the agent now works from a summary of the earlier turns.`;
  return h('article', {
    class: `item note compaction${live ? ' in-progress' : ''}`, 'aria-label': 'Context compaction',
    'aria-busy': live ? 'true' : 'false',
  },
  h('span', { class: 'note-icon', 'aria-hidden': 'true', text: '⇣' }), ' ', h('span', { text }), ' ',
  statusChip(item, 'compacted', live));
}

function awaitingChip() {
  return h('span', { class: 'chip attn-chip', text: 'awaiting approval' });
}

function commandItem(item, live, ctx = {}) {
  const exit = item.exit_code;
  const exitText = exit === null || exit === undefined ? null : `exit ${exit}`;
  const chip = live && ctx.awaiting && ctx.awaiting.has(item.id) ? awaitingChip() : statusChip(item, exitText, live);
  if (exit !== null && exit !== undefined && exit !== 0) chip.className = 'chip failed';
  let output = item.output || '';
  let truncated = false;
  if (output.length > MAX_OUTPUT_CHARS) {
    output = output.slice(output.length - MAX_OUTPUT_CHARS);
    truncated = true;
  }
  const meta = [item.cwd, item.duration_ms !== null && item.duration_ms !== undefined
    ? formatDuration(item.duration_ms) : null].filter(Boolean).join(' · ');
  const omitted = item.output_omitted && item.output_omitted.omitted_bytes > 0 ? item.output_omitted : null;
  let body;
  if (omitted) {
    // The server kept the start and the end; the middle is read back from the agent's record.
    const cut = Math.min(omitted.head_bytes, utf8Length(item.output || ''));
    const [head, tail] = splitAtUtf8(item.output || '', cut);
    body = [
      h('pre', { class: 'output', tabindex: '0', 'aria-label': 'Command output (start)', text: head }),
      omittedMarker(item, omitted, ctx),
      h('pre', { class: 'output', tabindex: '0', 'aria-label': 'Command output (end)', text: tail }),
    ];
  } else {
    body = [h('pre', { class: 'output', tabindex: '0', 'aria-label': 'Command output', hidden: !output, text: output })];
  }
  return h('article', { class: 'item card cmd', 'aria-label': `Command: ${item.command || ''}` },
    h('header', { class: 'card-head' },
      h('span', { class: 'prompt', 'aria-hidden': 'true', text: '$' }),
      h('code', { class: 'cmd-line', text: item.command || '' }),
      chip),
    meta ? h('div', { class: 'card-meta muted', text: meta }) : null,
    truncated ? h('div', { class: 'muted small', text: '… earlier output omitted' }) : null,
    ...body);
}

function utf8Length(text) {
  return new TextEncoder().encode(text).length;
}

/** Splits `text` after its first `bytes` UTF-8 bytes. */
function splitAtUtf8(text, bytes) {
  const enc = new TextEncoder().encode(text);
  const dec = new TextDecoder();
  return [dec.decode(enc.slice(0, bytes)), dec.decode(enc.slice(bytes))];
}

function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${Math.round(n / 1024)} KiB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
}

/** "N KiB omitted — Show full output": loads the whole output into the card. */
function omittedMarker(item, omitted, ctx) {
  const note = h('span', { text: `${formatBytes(omitted.omitted_bytes)} omitted — ` });
  const button = h('button', { type: 'button', class: 'link-btn show-full-output', text: 'Show full output' });
  const marker = h('div', { class: 'output-omitted muted small', role: 'group', 'aria-label': 'Omitted output' }, note, button);
  button.addEventListener('click', async () => {
    button.disabled = true;
    button.textContent = 'Loading…';
    try {
      const sid = encodeURIComponent(ctx.sessionId || '');
      const r = await request('GET', `/api/sessions/${sid}/items/${item.seq}/output`);
      const card = marker.closest('article');
      const whole = r.complete !== false;
      const full = h('pre', { class: 'output full-output', tabindex: '0', 'aria-label': whole ? 'Full command output' : 'Command output (all that was kept)', text: r.output });
      // The agent's record may itself be shortened (Codex keeps 64 KiB of an output in its
      // rollout): say so rather than pass a part off as the whole.
      const partial = whole ? null : h('div', { class: 'output-omitted muted small', role: 'note', text: r.note || 'The agent kept only part of this output.' });
      if (card) {
        card.querySelectorAll('pre.output').forEach((p) => p.remove());
        marker.replaceWith(...[partial, full].filter(Boolean));
      }
    } catch (err) {
      note.textContent = `${formatBytes(omitted.omitted_bytes)} omitted — ${err && err.message ? err.message : err}`;
      note.setAttribute('role', 'alert');
      button.remove();
    }
  });
  return marker;
}

function fileChangeItem(item, ctx, live) {
  const changes = item.changes || [];
  let added = 0;
  let removed = 0;
  const files = changes.map((c) => {
    const diff = normaliseFileDiff(c);
    const st = diffStats(diff);
    added += st.added;
    removed += st.removed;
    const shown = displayPath(c.path, ctx.cwd);
    const label = c.move_path ? `${shown} → ${displayPath(c.move_path, ctx.cwd)}` : shown;
    return h('details', { class: 'file', open: changes.length <= 3 },
      h('summary', { 'aria-label': `${c.kind} ${label}` },
        h('span', { class: `kind kind-${c.kind}`, text: c.kind }), ' ',
        h('code', { class: 'path', text: label }), ' ', statsBadge(st)),
      renderDiff(diff));
  });
  const title = changes.length === 1 ? '1 file' : `${changes.length} files`;
  return h('article', { class: 'item card filechange', 'aria-label': `File change: ${title}` },
    h('header', { class: 'card-head' },
      h('span', { class: 'prompt', 'aria-hidden': 'true', text: '±' }),
      h('span', { class: 'card-title', text: `Changed ${title}` }),
      statsBadge({ added, removed }),
      live && ctx.awaiting && ctx.awaiting.has(item.id) ? awaitingChip() : statusChip(item, null, live)),
    files);
}

function mcpItem(item, live) {
  const args = item.arguments === undefined || item.arguments === null ? '' : JSON.stringify(item.arguments, null, 2);
  const result = item.result === undefined || item.result === null ? '' : JSON.stringify(item.result, null, 2);
  return h('article', { class: 'item card mcp', 'aria-label': `Tool call ${item.server}.${item.tool}` },
    h('header', { class: 'card-head' },
      h('span', { class: 'prompt', 'aria-hidden': 'true', text: '⚙' }),
      h('code', { class: 'cmd-line', text: `${item.server || '?'} · ${item.tool || '?'}` }),
      statusChip(item, null, live)),
    args ? h('details', {}, h('summary', { text: 'Arguments' }), h('pre', { class: 'output', text: args })) : null,
    result ? h('details', {}, h('summary', { text: 'Result' }), h('pre', { class: 'output', text: result })) : null,
    item.error ? h('div', { class: 'error-text', role: 'alert', text: item.error }) : null);
}

/**
 * A kind this UI has no card for (an agent item the server keeps raw, or a newer item type): a
 * card naming the kind, its short fields as a list, and the full payload collapsed underneath.
 */
function otherItem(item) {
  const type = item.original_type || item.type || 'unknown';
  const payload = item.raw && typeof item.raw === 'object' ? item.raw : item;
  const skip = new Set(['seq', 'id', 'turn_id', 'type', 'status', 'original_type', 'raw', 'created_at', 'updated_at']);
  const fields = Object.entries(payload)
    .filter(([k, v]) => !skip.has(k) && v !== null && v !== undefined && typeof v !== 'object')
    .slice(0, 8);
  const label = type.replace(/([a-z])([A-Z])/g, '$1 $2').replace(/_/g, ' ');
  return h('article', { class: 'item card generic', 'aria-label': `Agent item: ${label}` },
    h('header', { class: 'card-head' },
      h('span', { class: 'prompt', 'aria-hidden': 'true', text: '◇' }),
      h('span', { class: 'card-title', text: label.charAt(0).toUpperCase() + label.slice(1) }),
      item.status ? statusChip(item) : null),
    fields.length
      ? h('dl', { class: 'generic-fields' }, fields.map(([k, v]) => [h('dt', { text: k }), h('dd', { text: String(v).slice(0, 300) })]))
      : null,
    h('details', {}, h('summary', { text: 'Details' }),
      h('pre', { class: 'output', text: JSON.stringify(payload, null, 2) })));
}
