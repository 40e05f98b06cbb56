// Status badge, token badge and rate-limit gauge: what a session is doing and what it costs, at a glance.

import { h, compactNumber } from './dom.js';

const STATUS_TEXT = {
  working: 'Working',
  waiting: 'Waiting',
  needs_approval: 'Needs approval',
  needs_answer: 'Needs answer',
  ended: 'Ended',
  failed: 'Failed to start',
  host_unreachable: 'Host unreachable',
};

export function statusText(status) {
  return STATUS_TEXT[status] || (status ? String(status) : 'Unknown');
}

export function statusBadge(status) {
  const cls = STATUS_TEXT[status] ? status : 'unknown';
  return h('span', { class: `badge status-${cls}`, 'aria-label': `Status: ${statusText(status)}` },
    h('span', { class: 'dot', 'aria-hidden': 'true' }), statusText(status));
}

/** Context-window fill in percent (0-100) or null when the window is unknown. */
export function contextFill(usage) {
  if (!usage || !usage.context_window) return null;
  const used = usage.last_input_tokens || 0;
  return Math.max(0, Math.min(100, Math.round((used / usage.context_window) * 100)));
}

export function tokenBadge(usage) {
  const u = usage || {};
  const fill = contextFill(u);
  const label = `Tokens: ${u.input_tokens || 0} input, ${u.output_tokens || 0} output, `
    + `${u.cached_input_tokens || 0} cached`
    + (fill === null ? '' : `, context window ${fill}% full`);
  return h('span', { class: 'token-badge', role: 'group', 'aria-label': label, title: label },
    h('span', { class: 'tk' }, h('abbr', { title: 'input tokens', text: 'in' }), ` ${compactNumber(u.input_tokens || 0)}`),
    h('span', { class: 'tk' }, h('abbr', { title: 'output tokens', text: 'out' }), ` ${compactNumber(u.output_tokens || 0)}`),
    h('span', { class: 'tk' }, h('abbr', { title: 'cached input tokens', text: 'cached' }), ` ${compactNumber(u.cached_input_tokens || 0)}`),
    fill === null ? null : h('span', { class: 'tk ctx' },
      h('meter', { min: '0', max: '100', low: '60', high: '85', optimum: '0', value: String(fill), 'aria-hidden': 'true' }),
      ` ${fill}%`));
}

export function rateLimitGauge(limits) {
  if (!limits || (!limits.primary && !limits.secondary)) return null;
  const parts = [];
  for (const [name, w] of [['primary', limits.primary], ['secondary', limits.secondary]]) {
    if (!w) continue;
    const pct = Math.max(0, Math.min(100, Math.round(w.used_percent || 0)));
    const window = w.window_minutes ? windowName(w.window_minutes) : name;
    const resets = w.resets_at ? `, resets ${untilText(w.resets_at)}` : '';
    const label = `Rate limit (${window}): ${pct}% used${resets}`;
    parts.push(h('span', { class: 'rl', title: label, 'aria-label': label, role: 'img' },
      h('span', { class: 'rl-name', text: window }),
      h('meter', { min: '0', max: '100', low: '70', high: '90', optimum: '0', value: String(pct) }),
      h('span', { class: 'rl-pct', text: `${pct}%` })));
  }
  return h('span', { class: 'rate-gauge' }, parts);
}

function windowName(minutes) {
  if (minutes % 10080 === 0) return `${minutes / 10080}w`;
  if (minutes % 1440 === 0) return `${minutes / 1440}d`;
  if (minutes % 60 === 0) return `${minutes / 60}h`;
  return `${minutes}m`;
}

/** "in 25m" / "in 3h" for a reset time given in Unix seconds or milliseconds. */
function untilText(at) {
  const ms = at > 1e12 ? at : at * 1000;
  const min = Math.max(0, Math.round((ms - Date.now()) / 60000));
  if (min < 60) return `in ${min}m`;
  if (min < 2880) return `in ${Math.round(min / 60)}h`;
  return `in ${Math.round(min / 1440)}d`;
}
