// Approval and question cards (protocol `PendingApproval`). Nothing is ever answered without a
// click or a key press by the user: the server never auto-accepts, and neither does the page.
// Shortcuts (when focus is not in a text field): A = approve, S = approve for this session,
// D = decline; they act on the oldest pending request.

import { h } from './dom.js';
import { api } from './api.js';
import { diffStats, normaliseFileDiff, renderDiff, statsBadge } from './diff.js';
import { displayPath } from './items.js';

const TITLES = {
  command: 'Run this command?',
  file_change: 'Apply these changes?',
  permissions: 'Grant these permissions?',
  question: 'The agent asks',
  elicitation: 'A tool asks for input',
};

/**
 * Renders the card for one pending approval. `onError(message)` reports failures; the card
 * disappears when the server publishes `approval_resolved`.
 */
export function approvalCard(sessionId, approval, onError, cwd = null, { declineMessage = false } = {}) {
  const kind = approval.kind || 'unknown';
  const buttons = [];
  const disableAll = (on) => {
    for (const b of buttons) b.disabled = on;
  };
  // Agents that pass a refusal's reason to the model (Claude) get an optional message box.
  let why = null;
  const decide = async (decision, answers) => {
    disableAll(true);
    const message = why && (decision === 'decline' || decision === 'cancel') ? why.value.trim() : '';
    try {
      await api.answer(sessionId, approval.request_id, decision, answers, message || undefined);
      card.dataset.answered = decision;
    } catch (err) {
      disableAll(false);
      onError(`Could not send the decision: ${err.message}`);
    }
  };

  const body = [];
  if (approval.reason) body.push(h('p', { class: 'reason', text: approval.reason }));
  if (kind === 'command' || approval.command) {
    body.push(h('pre', { class: 'approval-cmd', tabindex: '0', 'aria-label': 'Command to run' },
      h('code', { text: approval.command || '' })));
    if (approval.cwd) body.push(h('div', { class: 'muted small', text: `in ${approval.cwd}` }));
  }
  if (approval.changes && approval.changes.length) {
    for (const c of approval.changes) {
      const diff = normaliseFileDiff(c);
      body.push(h('details', { class: 'file', open: true },
        h('summary', {}, h('span', { class: `kind kind-${c.kind}`, text: c.kind }), ' ',
          h('code', { class: 'path', title: c.path, text: displayPath(c.path, cwd) }), ' ', statsBadge(diffStats(diff))),
        renderDiff(diff)));
    }
  }

  // An elicitation with an empty form (e.g. Codex asking whether an MCP tool may run) is a
  // yes/no: its message and Approve / Decline, not a text box nobody needs to fill.
  const plainElicitation = kind === 'elicitation' && Array.isArray(approval.questions)
    && approval.questions.length === 0;
  // An elicitation's message is the MCP server's own words; its fields only name the values.
  if (kind === 'elicitation' && approval.question) {
    body.push(h('p', { class: 'elicitation-message', text: approval.question }));
  }
  let questionFields = null;
  if (plainElicitation) {
    // Nothing to fill in: the message and the buttons say it all.
  } else if (kind === 'question' || kind === 'elicitation') {
    const questions = approval.questions && approval.questions.length
      ? approval.questions
      : [{ id: 'answer', header: '', question: approval.question || '', options: [], is_secret: false }];
    questionFields = questions.map((q, qi) => questionField(approval.request_id, q, qi));
    body.push(...questionFields.map((f) => f.el));
  } else if (kind === 'permissions' || kind === 'unknown') {
    if (approval.question) body.push(h('p', { text: approval.question }));
    if (approval.raw && Object.keys(approval.raw).length) {
      body.push(h('details', {}, h('summary', { text: 'Request details' }),
        h('pre', { class: 'output', text: JSON.stringify(approval.raw, null, 2) })));
    }
  }

  if (declineMessage && !questionFields) {
    const whyId = `why-${cssId(approval.request_id)}`;
    why = h('input', {
      id: whyId, type: 'text', class: 'decline-message', autocomplete: 'off',
      placeholder: 'Tell the agent why (optional, sent with Decline)',
      'aria-label': 'Message for the agent if you decline',
    });
    body.push(h('div', { class: 'decline-why' }, why));
  }

  const actions = h('div', { class: 'approval-actions' });
  if (questionFields) {
    const submit = h('button', {
      type: 'submit', class: 'btn primary', 'aria-label': 'Send answers', 'aria-keyshortcuts': 'Control+Enter',
    }, 'Send answers');
    const decline = h('button', {
      type: 'button', class: 'btn danger', 'aria-label': 'Decline to answer', 'aria-keyshortcuts': 'D',
      dataset: { decision: 'decline' }, on: { click: () => decide('decline') },
    }, 'Decline');
    buttons.push(submit, decline);
    actions.append(submit, decline);
  } else {
    const mk = (decision, label, cls, key, aria) => {
      const b = h('button', {
        type: 'button', class: `btn ${cls}`, 'aria-label': aria, 'aria-keyshortcuts': key,
        dataset: { decision }, on: { click: () => decide(decision) },
      }, label, h('kbd', { 'aria-hidden': 'true', text: key }));
      buttons.push(b);
      actions.append(b);
    };
    mk('accept', 'Approve', 'primary', 'A', 'Approve');
    mk('accept_for_session', 'Approve for session', 'secondary', 'S', 'Approve for this session');
    mk('decline', 'Decline', 'danger', 'D', 'Decline');
  }

  const title = plainElicitation ? 'A tool asks for your approval' : TITLES[kind] || `Request: ${kind}`;
  const titleId = `approval-title-${cssId(approval.request_id)}`;
  const card = h('form', {
    class: `approval-card kind-${kind}`, role: 'group', 'aria-labelledby': titleId,
    dataset: { requestId: approval.request_id, kind },
    on: {
      submit: (ev) => {
        ev.preventDefault();
        if (!questionFields) return;
        const answers = {};
        for (const f of questionFields) answers[f.id] = f.values();
        decide('accept', answers);
      },
    },
  },
  h('h3', { id: titleId, class: 'approval-title' }, h('span', { class: 'attn', 'aria-hidden': 'true', text: '!' }), title),
  body, actions);
  card.decide = decide;
  card.isQuestion = Boolean(questionFields);
  return card;
}

function questionField(requestId, q, index) {
  const id = q.id || `q${index}`;
  const inputId = `answer-${cssId(requestId)}-${index}`;
  const parts = [];
  if (q.header) parts.push(h('div', { class: 'q-header', text: q.header }));
  parts.push(h('label', { for: inputId, class: 'q-text', text: q.question || 'Answer' }));
  const options = q.options || [];
  let radios = [];
  if (options.length) {
    radios = options.map((opt, oi) => {
      const r = h('input', { type: 'radio', name: inputId, value: opt, id: `${inputId}-o${oi}`, checked: oi === 0 });
      parts.push(h('label', { class: 'q-option', for: `${inputId}-o${oi}` }, r, ` ${opt}`));
      return r;
    });
  }
  const free = h('input', {
    id: inputId, type: q.is_secret ? 'password' : 'text', autocomplete: 'off',
    placeholder: options.length ? 'Or type another answer' : 'Your answer',
    'aria-label': q.question || 'Answer',
  });
  parts.push(free);
  return {
    id,
    el: h('div', { class: 'question' }, parts),
    values: () => {
      if (free.value.trim()) return [free.value];
      const chosen = radios.find((r) => r.checked);
      return chosen ? [chosen.value] : [''];
    },
  };
}

function cssId(s) {
  return String(s).replace(/[^A-Za-z0-9_-]/g, '_');
}
