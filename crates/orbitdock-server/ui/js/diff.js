// Unified-diff display: per-line colouring and +/- statistics, for file-change cards and the
// "Changes" sidebar. Diffs come from the agent (untrusted text): they are only ever put into the
// page as text nodes.

import { h } from './dom.js';

/** Counts added and removed lines of a unified diff (headers excluded). */
export function diffStats(diff) {
  let added = 0;
  let removed = 0;
  for (const line of lines(diff)) {
    if (line.startsWith('+++') || line.startsWith('---')) continue;
    if (line.startsWith('+')) added += 1;
    else if (line.startsWith('-')) removed += 1;
  }
  return { added, removed };
}

function lines(text) {
  if (!text) return [];
  const out = text.split('\n');
  if (out.length && out[out.length - 1] === '') out.pop();
  return out;
}

/**
 * For a file the agent adds, Codex may hand over the new content rather than a diff: show it as
 * all-added lines so the card and the stats stay truthful.
 */
export function normaliseFileDiff(change) {
  const diff = change.diff || '';
  if (change.kind === 'add' && diff && !/^(@@|\+\+\+|---|diff )/m.test(diff)) {
    return lines(diff).map((l) => `+${l}`).join('\n');
  }
  if (change.kind === 'delete' && diff && !/^(@@|\+\+\+|---|diff )/m.test(diff)) {
    return lines(diff).map((l) => `-${l}`).join('\n');
  }
  return diff;
}

export function statsBadge({ added, removed }) {
  return h('span', { class: 'diffstat', 'aria-label': `${added} lines added, ${removed} lines removed` },
    h('span', { class: 'add', text: `+${added}` }), ' ', h('span', { class: 'del', text: `−${removed}` }));
}

/** A <pre> with one span per line, classed add/del/hunk/meta. */
export function renderDiff(diff, { maxLines = 4000 } = {}) {
  const pre = h('pre', { class: 'diff', tabindex: '0', 'aria-label': 'Unified diff' });
  const all = lines(diff);
  const shown = all.slice(0, maxLines);
  for (const line of shown) {
    let cls = 'ctx';
    if (line.startsWith('@@')) cls = 'hunk';
    else if (line.startsWith('+++') || line.startsWith('---') || line.startsWith('diff ')
      || line.startsWith('index ') || line.startsWith('new file') || line.startsWith('deleted file')) cls = 'meta';
    else if (line.startsWith('+')) cls = 'add';
    else if (line.startsWith('-')) cls = 'del';
    pre.append(h('span', { class: `dl ${cls}`, text: `${line}\n` }));
  }
  if (all.length > shown.length) {
    pre.append(h('span', { class: 'dl meta', text: `… ${all.length - shown.length} more lines\n` }));
  }
  return pre;
}

/**
 * Splits an aggregated `git diff`-style text into files: [{path, diff, added, removed}].
 * Text before the first `diff --git` header (or a diff without such headers) becomes one entry.
 */
export function splitFiles(diff) {
  const files = [];
  let cur = null;
  for (const line of lines(diff)) {
    const m = /^diff --git a\/(.+?) b\/(.+)$/.exec(line);
    if (m) {
      cur = { path: m[2], lines: [line] };
      files.push(cur);
      continue;
    }
    if (!cur) {
      cur = { path: null, lines: [] };
      files.push(cur);
    }
    if (cur.path === null && line.startsWith('+++ ')) {
      const p = line.slice(4).replace(/^b\//, '');
      if (p !== '/dev/null') cur.path = p;
    }
    cur.lines.push(line);
  }
  return files.map((f) => {
    const text = f.lines.join('\n');
    return { path: f.path || '(diff)', diff: text, ...diffStats(text) };
  });
}
