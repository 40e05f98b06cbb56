// The session pane: action bar (name, status, token badge, rate-limit gauge, autonomy picker,
// Plan/Changes toggle, end/resume), the live transcript, pending approvals, the plan/diff
// sidebar and the input bar. It renders from store.current and re-renders the parts a delta
// touches; streamed text goes straight to the transcript view.

import { h, setChildren, basename, isTyping } from './dom.js';
import { api } from './api.js';
import * as store from './store.js';
import { TranscriptView } from './transcript.js';
import { approvalCard } from './approvals.js';
import { statusBadge, tokenBadge, rateLimitGauge } from './badges.js';
import { renderDiff, splitFiles, statsBadge, diffStats } from './diff.js';
import { providerLabel } from './providers.js';
import { hostChip, hosts } from './hosts.js';
import { RevertDialog, ForkDialog, ReviewDialog } from './history_ops.js';
import { TurnConfigRow } from './turn_config.js';
import { McpPill } from './mcp_panel.js';
import { ToolsDialog, DeleteDialog } from './session_tools.js';

// One of each history dialog for the page, created on first use.
let historyDialogs = null;
function dialogs(toast) {
  if (!historyDialogs) {
    historyDialogs = {
      revert: new RevertDialog({ toast }),
      fork: new ForkDialog({ toast }),
      review: new ReviewDialog({ toast }),
      tools: new ToolsDialog({ toast }),
      delete: new DeleteDialog({ toast }),
    };
  }
  return historyDialogs;
}

/** Autonomy presets: the useful pairs of approval policy x sandbox mode, named by what they allow. */
export const AUTONOMY = [
  { id: 'suggest', label: 'Suggest: ask for everything, read-only', approval_policy: 'untrusted', sandbox_mode: 'read-only' },
  { id: 'ask', label: 'Ask when needed, workspace write', approval_policy: 'on-request', sandbox_mode: 'workspace-write' },
  { id: 'auto', label: 'Full auto: never ask, workspace write', approval_policy: 'never', sandbox_mode: 'workspace-write' },
  { id: 'full', label: 'Full access: never ask, no sandbox', approval_policy: 'never', sandbox_mode: 'danger-full-access' },
];

const POLICY_TEXT = { untrusted: 'Ask for everything', 'on-request': 'Ask when needed', never: 'Never ask' };
const SANDBOX_TEXT = { 'read-only': 'read-only', 'workspace-write': 'workspace write', 'danger-full-access': 'no sandbox' };

export function displayName(s) {
  if (!s) return '';
  if (s.name) return s.name;
  if (s.first_prompt) return s.first_prompt.split('\n')[0].slice(0, 80);
  return basename(s.cwd) || s.id;
}

export class SessionView {
  constructor(model, { toast, openRename }) {
    this.model = model;
    this.toast = toast;
    this.openRename = openRename;
    this.sideOpen = false;
    this.sideTab = null; // 'plan' | 'changes' | null = automatic
    this.cards = new Map(); // request_id -> card element

    this.transcript = new TranscriptView(model, toast);

    // Action bar.
    this.nameBtn = h('button', {
      type: 'button', class: 'session-name', 'aria-label': 'Rename session',
      on: { click: () => this.openRename(this.model) },
    });
    this.meta = h('div', { class: 'session-meta' });
    this.statusSlot = h('span', { class: 'status-slot' });
    this.tokenSlot = h('span', { class: 'token-slot' });
    this.rateSlot = h('span', { class: 'rate-slot' });
    this.autonomy = h('select', {
      class: 'autonomy', 'aria-label': 'Autonomy: approval policy and sandbox',
      on: { change: () => this.changeAutonomy() },
    });
    this.sideToggle = h('button', {
      type: 'button', class: 'btn ghost side-toggle', 'aria-pressed': 'false',
      'aria-controls': 'side-panel', on: { click: () => this.toggleSide() },
    });
    this.endBtn = h('button', {
      type: 'button', class: 'btn ghost', on: { click: () => this.endOrResume() },
    });
    this.compactBtn = h('button', {
      type: 'button', class: 'btn ghost compact-btn', 'aria-label': 'Compact the context',
      title: 'Summarise the earlier turns so the model has room again',
      on: { click: () => this.compact() },
    }, 'Compact');
    this.archiveBtn = h('button', {
      type: 'button', class: 'btn ghost archive-btn', on: { click: () => this.toggleArchived() },
    });
    this.revertBtn = h('button', {
      type: 'button', class: 'btn ghost revert-btn', 'aria-label': 'Revert turns',
      title: 'Drop the latest turns from the conversation (files are not restored)',
      on: { click: () => dialogs(this.toast).revert.open(this.model.id) },
    }, 'Revert…');
    this.forkBtn = h('button', {
      type: 'button', class: 'btn ghost fork-btn', 'aria-label': 'Fork session',
      title: 'Continue a copy of this conversation in a new session',
      on: { click: () => dialogs(this.toast).fork.open(this.model.id) },
    }, 'Fork…');
    this.reviewBtn = h('button', {
      type: 'button', class: 'btn ghost review-btn', 'aria-label': 'Start a review',
      title: 'Have the agent review changes',
      on: { click: () => dialogs(this.toast).review.open(this.model.id) },
    }, 'Review…');
    this.mcp = new McpPill(model.id);
    this.toolsBtn = h('button', {
      type: 'button', class: 'btn ghost tools-btn', 'aria-label': 'Session tools: run a command, skills, goal',
      title: 'Run a one-off command, see the skills, set the thread goal',
      on: { click: () => dialogs(this.toast).tools.open(this.model.id) },
    }, 'Tools…');
    this.deleteBtn = h('button', {
      type: 'button', class: 'btn danger delete-btn', 'aria-label': 'Delete session',
      title: 'Delete the session and its agent thread (asks first)',
      on: { click: () => this.confirmDelete() },
    }, 'Delete…');
    this.actionBar = h('header', { class: 'action-bar', 'aria-label': 'Session actions' },
      h('div', { class: 'title-row' }, this.nameBtn, this.statusSlot),
      this.meta,
      h('div', { class: 'action-row' }, this.tokenSlot, this.rateSlot, this.mcp.el,
        h('label', { class: 'visually-hidden', text: 'Autonomy' }), this.autonomy,
        this.sideToggle, this.compactBtn, this.revertBtn, this.forkBtn, this.reviewBtn,
        this.toolsBtn, this.archiveBtn, this.deleteBtn, this.endBtn));

    // Side panel (plan / changes).
    this.tabPlan = h('button', {
      type: 'button', role: 'tab', id: 'tab-plan', 'aria-controls': 'side-body',
      on: { click: () => this.selectTab('plan') },
    }, 'Plan');
    this.tabChanges = h('button', {
      type: 'button', role: 'tab', id: 'tab-changes', 'aria-controls': 'side-body',
      on: { click: () => this.selectTab('changes') },
    }, 'Changes');
    this.sideBody = h('div', { class: 'side-body', id: 'side-body', role: 'tabpanel', tabindex: '0' });
    this.side = h('aside', { class: 'side-panel', id: 'side-panel', 'aria-label': 'Plan and changes', hidden: true },
      h('div', { class: 'side-head' },
        h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Sidebar view' }, this.tabPlan, this.tabChanges),
        h('button', {
          type: 'button', class: 'icon-btn', 'aria-label': 'Close sidebar',
          on: { click: () => this.toggleSide(false) },
        }, '×')),
      this.sideBody);

    // A session whose start failed: why, in one sentence, with retry and remove.
    this.failureText = h('p', { class: 'failure-text' });
    this.failureBar = h('div', { class: 'failure-banner', role: 'alert', hidden: true },
      this.failureText,
      h('button', { type: 'button', class: 'btn primary small', 'aria-label': 'Retry starting the session', text: 'Retry', on: { click: () => this.retryStart() } }),
      h('button', { type: 'button', class: 'btn ghost small', 'aria-label': 'Remove the failed session', title: 'Delete it (asks first)', text: 'Remove', on: { click: () => this.confirmDelete() } }));

    // Approvals + input bar.
    this.approvals = h('section', { class: 'approvals', 'aria-label': 'Pending approvals', 'aria-live': 'assertive' });
    this.input = h('textarea', {
      class: 'composer-input', rows: '1', placeholder: 'Message the agent',
      title: 'Enter sends, Shift+Enter starts a new line, Escape interrupts a running turn',
      'aria-label': 'Message (Enter sends, Shift+Enter for a new line)', on: { keydown: (ev) => this.onComposerKey(ev), input: () => this.autosize() },
    });
    this.sendBtn = h('button', { type: 'submit', class: 'btn primary', 'aria-label': 'Send message' }, 'Send');
    this.interruptBtn = h('button', {
      type: 'button', class: 'btn danger', 'aria-label': 'Interrupt the running turn', 'aria-keyshortcuts': 'Escape',
      hidden: true, on: { click: () => this.interrupt() },
    }, 'Interrupt');
    // Plan mode applies to the next message only: the agent plans, and may ask questions first
    // (they arrive as question cards above the composer).
    this.planMode = h('input', { type: 'checkbox', class: 'plan-mode', 'aria-label': 'Plan mode for the next message' });
    this.planToggle = h('label', {
      class: 'plan-toggle', title: 'The agent plans and may ask you questions before acting (this message only)',
    }, this.planMode, h('span', { text: 'Plan mode' }));
    this.turnConfig = new TurnConfigRow();
    this.composer = h('form', {
      class: 'composer', 'aria-label': 'Send a message',
      on: { submit: (ev) => { ev.preventDefault(); this.send(); } },
    }, this.planToggle, this.input, this.interruptBtn, this.sendBtn);
    // A passive session (started outside OrbitDock) is observed only: instead of a composer that
    // could only fail, offer to take it over; the server says why when it cannot yet.
    this.takeoverBtn = h('button', {
      type: 'button', class: 'btn primary', 'aria-label': 'Take over this session',
      on: { click: () => this.takeover() },
    }, 'Take over');
    this.takeoverReason = h('span', { class: 'takeover-reason muted', role: 'status', 'aria-live': 'polite' });
    this.takeoverBar = h('div', { class: 'composer takeover-bar', hidden: true, 'aria-label': 'Observed session' },
      h('span', { class: 'takeover-text', text: 'Observed: this session was started outside OrbitDock.' }),
      this.takeoverReason, this.takeoverBtn);

    this.el = h('section', { class: 'session', 'aria-label': 'Session' },
      this.actionBar,
      h('div', { class: 'session-body' },
        h('div', { class: 'session-main' }, this.transcript.el, this.failureBar, this.approvals, this.turnConfig.el, this.composer, this.takeoverBar),
        this.side));

    this.transcript.el.addEventListener('history-op', (ev) => {
      const d = dialogs(this.toast);
      if (ev.detail.op === 'revert') d.revert.open(this.model.id, ev.detail.turnId);
      else if (ev.detail.op === 'fork') d.fork.open(this.model.id, ev.detail.turnId);
    });

    this.onKey = (ev) => this.globalKey(ev);
    document.addEventListener('keydown', this.onKey);
    // A new MCP startup card means a server changed state: refresh the pill.
    this.onItems = (ev) => {
      const d = ev.detail;
      if (d.id !== this.model.id || !d.seqs || !this.model.state) return;
      if (d.seqs.some((q) => (this.model.items.get(q) || {}).type === 'mcp_server_status')) this.mcp.update(this.model.state, true);
    };
    store.events.addEventListener('session-items', this.onItems);
  }

  destroy() {
    document.removeEventListener('keydown', this.onKey);
    store.events.removeEventListener('session-items', this.onItems);
    this.transcript.destroy();
  }

  // ------------------------------------------------------------------ rendering

  renderState() {
    const st = this.model.state;
    if (!st) return;
    this.nameBtn.textContent = displayName(st);
    this.nameBtn.title = 'Rename';
    setChildren(this.statusSlot, statusBadge(st.status));
    const chips = [
      h('span', { class: `chip provider-${st.provider}`, text: st.provider || 'agent' }),
      hostChip(st.host, { always: hosts.size > 0 }),
      // On another host the model provider comes from that host's Codex config, which the hub
      // does not read: no chip rather than a guess.
      st.provider === 'codex' && st.origin !== 'passive' && !st.host
        ? h('span', { class: 'chip model-provider', title: 'Model provider', text: providerLabel(st.model_provider) }) : null,
      st.origin === 'passive' ? h('span', { class: 'chip', title: 'Started outside OrbitDock', text: 'passive' }) : null,
      st.model ? h('span', { class: 'chip', title: 'Model', text: st.model + (st.effort ? ` · ${st.effort}` : '') }) : null,
      h('span', { class: 'chip project', title: st.cwd || '', text: basename(st.cwd) || '—' }),
      st.git_branch ? h('span', { class: 'chip branch', title: 'Git branch', text: st.git_branch }) : null,
      st.tool_count
        ? h('span', { class: 'chip tools', title: st.last_tool ? `Last tool: ${st.last_tool}` : 'Tool calls', text: `${st.tool_count} tool${st.tool_count === 1 ? '' : 's'}${st.last_tool ? ` · ${st.last_tool}` : ''}` })
        : null,
      st.forked_from ? forkChip(st.forked_from) : null,
      st.attached === false && st.status !== 'ended' && st.status !== 'failed'
        ? h('span', { class: 'chip warn', title: 'The agent is not connected; sending resumes it', text: 'detached' }) : null,
    ];
    setChildren(this.meta, chips);
    setChildren(this.tokenSlot, tokenBadge(st.token_usage));
    setChildren(this.rateSlot, rateLimitGauge(st.rate_limits));
    this.renderAutonomy(st);
    this.turnConfig.render(st);
    this.mcp.update(st);
    this.renderSideToggle();
    if (this.sideOpen) this.renderSide();
    this.renderApprovals();
    this.renderComposer();
  }

  renderAutonomy(st) {
    const match = AUTONOMY.find((a) => a.approval_policy === st.approval_policy && a.sandbox_mode === st.sandbox_mode);
    const opts = AUTONOMY.map((a) => h('option', { value: a.id, text: a.label }));
    if (!match) {
      const label = st.approval_policy || st.sandbox_mode
        ? `${POLICY_TEXT[st.approval_policy] || st.approval_policy || 'default'}, ${SANDBOX_TEXT[st.sandbox_mode] || st.sandbox_mode || 'default'}`
        : 'Server default';
      opts.unshift(h('option', { value: '', text: label, disabled: true }));
    }
    setChildren(this.autonomy, opts);
    this.autonomy.value = match ? match.id : '';
    this.autonomy.disabled = st.status === 'ended' || st.provider === 'claude';
  }

  renderSideToggle() {
    const st = this.model.state;
    const hasDiff = Boolean(st.diff && st.diff.trim());
    const label = hasDiff ? 'Changes' : 'Plan';
    this.sideToggle.replaceChildren(label);
    if (hasDiff) this.sideToggle.append(' ', statsBadge(diffStats(st.diff)));
    this.sideToggle.setAttribute('aria-label', `${this.sideOpen ? 'Hide' : 'Show'} ${label.toLowerCase()} sidebar`);
    this.sideToggle.setAttribute('aria-pressed', String(this.sideOpen));
  }

  currentTab() {
    if (this.sideTab) return this.sideTab;
    const st = this.model.state;
    return st.diff && st.diff.trim() ? 'changes' : 'plan';
  }

  renderSide() {
    const st = this.model.state;
    const tab = this.currentTab();
    this.tabPlan.setAttribute('aria-selected', String(tab === 'plan'));
    this.tabChanges.setAttribute('aria-selected', String(tab === 'changes'));
    this.sideBody.setAttribute('aria-labelledby', tab === 'plan' ? 'tab-plan' : 'tab-changes');
    if (tab === 'plan') {
      const plan = st.plan;
      if (!plan || !(plan.steps || []).length) {
        setChildren(this.sideBody, h('p', { class: 'muted', text: 'No plan yet.' }));
        return;
      }
      setChildren(this.sideBody,
        plan.explanation ? h('p', { class: 'plan-explanation', text: plan.explanation }) : null,
        h('ol', { class: 'plan-steps' }, plan.steps.map((s) => h('li', {
          class: `step step-${s.status}`, 'aria-label': `${s.step} (${stepStatus(s.status)})`,
        }, h('span', { class: 'step-icon', 'aria-hidden': 'true', text: stepIcon(s.status) }), h('span', { text: s.step })))));
    } else {
      const diff = st.diff || '';
      if (!diff.trim()) {
        setChildren(this.sideBody, h('p', { class: 'muted', text: 'No changes in this turn yet.' }));
        return;
      }
      const files = splitFiles(diff);
      const total = diffStats(diff);
      setChildren(this.sideBody,
        h('p', { class: 'changes-total' }, `${files.length} file${files.length === 1 ? '' : 's'} `, statsBadge(total)),
        files.map((f) => h('details', { class: 'file', open: files.length <= 5 },
          h('summary', {}, h('code', { class: 'path', text: f.path }), ' ', statsBadge(f)),
          renderDiff(f.diff))));
    }
  }

  renderApprovals() {
    const pending = this.model.state.pending_approvals || [];
    const ids = new Set(pending.map((a) => a.request_id));
    for (const [id, card] of this.cards) {
      if (!ids.has(id)) {
        card.remove();
        this.cards.delete(id);
      }
    }
    for (const a of pending) {
      const key = a.request_id;
      const existing = this.cards.get(key);
      if (existing && existing.dataset.version === String(a.version)) continue;
      const card = approvalCard(this.model.id, a, this.toast, this.model.state.cwd,
        { declineMessage: this.model.state.provider === 'claude' });
      card.dataset.version = String(a.version);
      if (existing) existing.replaceWith(card);
      else this.approvals.append(card);
      this.cards.set(key, card);
    }
    this.approvals.hidden = this.cards.size === 0;
  }

  renderComposer() {
    const st = this.model.state;
    const failed = st.status === 'failed';
    this.failureBar.hidden = !failed;
    if (failed) this.failureText.textContent = `Failed to start: ${st.failure || 'the agent did not say why'}`;
    const passive = st.origin === 'passive';
    this.composer.hidden = passive;
    this.takeoverBar.hidden = !passive;
    if (!passive) this.takeoverReason.textContent = '';
    const working = Boolean(st.current_turn) || st.status === 'working';
    this.interruptBtn.hidden = !working;
    const ended = st.status === 'ended';
    // A message sent while a turn works is added to that turn (the server steers it, or starts
    // a new turn if this one has just ended), so say so instead of "send".
    const steer = working && !ended;
    this.input.placeholder = st.archived ? 'Archived: unarchive it to continue'
      : ended ? 'Session ended: resume it to continue'
        : steer ? 'Add to current turn' : 'Message the agent';
    this.sendBtn.textContent = steer ? 'Add to turn' : 'Send';
    // A message added to a running turn cannot change that turn's mode.
    this.planToggle.hidden = steer;
    this.sendBtn.setAttribute('aria-label', steer ? 'Add to current turn' : 'Send message');
    // Compaction runs as a turn of its own, so it is offered only when no turn runs; while it
    // runs, its transcript card says "Compacting the context…".
    this.compactBtn.textContent = this.compacting ? 'Compacting…' : 'Compact';
    this.compactBtn.setAttribute('aria-busy', String(Boolean(this.compacting)));
    this.compactBtn.disabled = Boolean(this.compacting) || working || passive || !st.thread_id;
    // Revert and review change the thread's history or run a turn: not while one runs. A fork
    // copies what Codex has stored, so it only needs a thread.
    this.revertBtn.disabled = working || passive || Boolean(st.archived) || !st.thread_id;
    this.reviewBtn.disabled = working || passive || Boolean(st.archived) || !st.thread_id;
    this.forkBtn.disabled = !st.thread_id || st.provider !== 'codex';
    this.toolsBtn.disabled = passive;
    // Deleting under a running turn is refused by the server; say so by disabling.
    this.deleteBtn.disabled = working && !ended;
    this.archiveBtn.textContent = st.archived ? 'Unarchive' : 'Archive';
    this.archiveBtn.setAttribute('aria-label', st.archived ? 'Unarchive session' : 'Archive session');
    this.archiveBtn.setAttribute('aria-pressed', String(Boolean(st.archived)));
    this.endBtn.hidden = failed;
    this.endBtn.textContent = ended ? 'Resume' : 'End';
    this.endBtn.setAttribute('aria-label', ended ? 'Resume session' : 'End session');
    this.endBtn.classList.toggle('primary', ended);
  }

  // ------------------------------------------------------------------ actions

  toggleSide(force) {
    this.sideOpen = typeof force === 'boolean' ? force : !this.sideOpen;
    this.side.hidden = !this.sideOpen;
    this.el.classList.toggle('side-open', this.sideOpen);
    this.renderSideToggle();
    if (this.sideOpen) this.renderSide();
  }

  selectTab(tab) {
    this.sideTab = tab;
    this.renderSide();
  }

  async changeAutonomy() {
    const preset = AUTONOMY.find((a) => a.id === this.autonomy.value);
    if (!preset) return;
    try {
      const state = await api.patchConfig(this.model.id, {
        approval_policy: preset.approval_policy, sandbox_mode: preset.sandbox_mode,
      });
      if (state && store.current === this.model && this.model.state) {
        // The summary delta follows on the WebSocket; show the answer at once meanwhile.
        this.model.state.approval_policy = state.approval_policy;
        this.model.state.sandbox_mode = state.sandbox_mode;
      }
      this.toast(`Autonomy: ${preset.label} (from the next turn)`);
    } catch (err) {
      this.toast(`Could not change autonomy: ${err.message}`, true);
    }
    this.renderAutonomy(this.model.state);
  }

  async endOrResume() {
    const ended = this.model.state.status === 'ended';
    this.endBtn.disabled = true;
    try {
      if (ended) await api.resume(this.model.id);
      else await api.end(this.model.id);
    } catch (err) {
      this.toast(`Could not ${ended ? 'resume' : 'end'} the session: ${err.message}`, true);
    } finally {
      this.endBtn.disabled = false;
    }
  }

  async retryStart() {
    try {
      await api.resume(this.model.id);
    } catch (err) {
      this.toast(`Could not start the session: ${err.message}`, true);
    }
  }

  confirmDelete() {
    dialogs(this.toast).delete.open(this.model.id, displayName(this.model.state) || this.model.id);
  }

  async compact() {
    this.compacting = true;
    this.renderComposer();
    try {
      await api.compact(this.model.id);
    } catch (err) {
      this.toast(`Could not compact: ${err.message}`, true);
    } finally {
      this.compacting = false;
    }
    this.renderComposer();
  }

  async toggleArchived() {
    const archived = Boolean(this.model.state.archived);
    this.archiveBtn.disabled = true;
    try {
      if (archived) await api.unarchive(this.model.id);
      else await api.archive(this.model.id);
      this.toast(archived ? 'Session unarchived' : 'Session archived: hidden from the list unless "Show archived" is on');
    } catch (err) {
      this.toast(`Could not ${archived ? 'unarchive' : 'archive'} the session: ${err.message}`, true);
    } finally {
      this.archiveBtn.disabled = false;
    }
  }

  async takeover() {
    this.takeoverBtn.disabled = true;
    this.takeoverReason.textContent = '';
    try {
      await api.takeover(this.model.id);
      this.toast('Taken over: OrbitDock drives this session now');
    } catch (err) {
      // 409 carries the server's reason (still working, active moments ago, not a Codex thread).
      this.takeoverReason.textContent = `Cannot take over yet: ${err.message}`;
    } finally {
      this.takeoverBtn.disabled = false;
    }
  }

  async send() {
    const text = this.input.value;
    if (!text.trim()) return;
    this.sendBtn.disabled = true;
    try {
      const body = { text };
      // A message added to a running turn keeps that turn's mode.
      const steer = Boolean(this.model.state.current_turn);
      if (this.planMode.checked && !steer) body.collaboration_mode = 'plan';
      // Per-turn settings start a turn; a message added to a running one cannot carry them.
      if (!steer) Object.assign(body, this.turnConfig.overrides());
      await api.send(this.model.id, body);
      this.planMode.checked = false;
      if (!steer) this.turnConfig.clear();
      this.input.value = '';
      this.autosize();
      this.transcript.scrollToBottom();
    } catch (err) {
      this.toast(`Message not sent: ${err.message}`, true);
    } finally {
      this.sendBtn.disabled = false;
    }
  }

  async interrupt() {
    this.interruptBtn.disabled = true;
    try {
      await api.interrupt(this.model.id);
    } catch (err) {
      this.toast(`Could not interrupt: ${err.message}`, true);
    } finally {
      this.interruptBtn.disabled = false;
    }
  }

  onComposerKey(ev) {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      this.send();
    } else if (ev.key === 'Escape' && !this.interruptBtn.hidden) {
      ev.preventDefault();
      this.interrupt();
    }
  }

  autosize() {
    this.input.style.height = 'auto';
    this.input.style.height = `${Math.min(this.input.scrollHeight, 240)}px`;
  }

  globalKey(ev) {
    if (ev.defaultPrevented || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (isTyping(ev.target) || document.querySelector('dialog[open]')) return;
    const first = [...this.cards.values()].find((c) => !c.isQuestion && !c.dataset.answered);
    const key = ev.key.toLowerCase();
    if (first && (key === 'a' || key === 's' || key === 'd')) {
      ev.preventDefault();
      first.decide(key === 'a' ? 'accept' : key === 's' ? 'accept_for_session' : 'decline');
    } else if (ev.key === 'Escape' && !this.interruptBtn.hidden) {
      ev.preventDefault();
      this.interrupt();
    }
  }
}

/** "fork of <parent>": a link to the session this one was forked from. */
export function forkChip(parentId) {
  const parent = store.list.sessions.get(parentId);
  return h('a', {
    class: 'chip fork-chip', href: `#/s/${encodeURIComponent(parentId)}`,
    title: 'Open the session this one was forked from',
    text: `↳ fork of ${parent ? displayName(parent) : parentId.slice(0, 8)}`,
  });
}

function stepIcon(status) {
  if (status === 'completed') return '●';
  if (status === 'in_progress' || status === 'inProgress') return '◐';
  return '○';
}

function stepStatus(status) {
  if (status === 'completed') return 'done';
  if (status === 'in_progress' || status === 'inProgress') return 'in progress';
  if (status === 'pending' || !status) return 'pending';
  // A status this UI does not know yet: show it as the server sent it.
  return String(status);
}
