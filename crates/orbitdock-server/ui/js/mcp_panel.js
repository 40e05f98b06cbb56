// The MCP pill in the session's action bar ("3 MCP servers", with how many failed) and the
// dialog it opens: per server its connection state, tool count (and names), auth state and
// error, as the agent reports them now. The list is fetched when the session opens, when its
// thread attaches, when a startup card arrives, and every time the dialog opens.

import { h, setChildren } from './dom.js';
import { api } from './api.js';
import { sheet } from './sheet.js';

const STATE_TEXT = {
  connected: 'connected', starting: 'starting', not_started: 'not started', failed: 'failed',
  cancelled: 'cancelled', disabled: 'disabled', authentication_required: 'needs login',
};
const AUTH_TEXT = {
  unknown: 'auth unknown', unsupported: 'no auth', not_logged_in: 'not logged in',
  bearer_token: 'bearer token', oauth: 'OAuth',
};

function stateClass(state) {
  if (state === 'connected') return 'ok';
  if (state === 'failed' || state === 'authentication_required') return 'failed';
  if (state === 'starting') return 'running';
  return '';
}

let dialog = null;

/** One dialog for the page, created on first use. */
function mcpDialog() {
  if (dialog) return dialog;
  const s = sheet('MCP servers', 'mcp-sheet');
  const body = h('div', { class: 'mcp-list', 'aria-live': 'polite' });
  const close = h('button', { type: 'button', class: 'btn primary', 'aria-label': 'Close', on: { click: () => s.dialog.close() } }, 'Close');
  setChildren(s.form, s.heading, body, s.error, h('div', { class: 'sheet-actions' }, close));
  dialog = { s, body };
  return dialog;
}

function serverCard(srv) {
  const state = srv.state || 'unknown';
  return h('article', { class: 'card mcp-server', 'aria-label': `MCP server ${srv.name}`, dataset: { name: srv.name } },
    h('header', { class: 'card-head' },
      h('span', { class: 'prompt', 'aria-hidden': 'true', text: '⚙' }),
      h('span', { class: 'card-title', text: srv.name }),
      h('span', { class: `chip mcp-state ${stateClass(state)}`, text: STATE_TEXT[state] || state })),
    h('div', { class: 'card-meta muted' },
      h('span', { class: 'mcp-tools', text: `${srv.tool_count} tool${srv.tool_count === 1 ? '' : 's'}` }),
      ' · ', h('span', { class: 'mcp-auth', text: AUTH_TEXT[srv.auth] || srv.auth || 'auth unknown' })),
    srv.tools && srv.tools.length
      ? h('details', {}, h('summary', { text: 'Tools' }),
        h('ul', { class: 'mcp-tool-names' }, srv.tools.map((t) => h('li', {}, h('code', { text: t })))))
      : null,
    srv.error ? h('div', { class: 'error-text mcp-error', role: 'alert', text: srv.error }) : null);
}

export class McpPill {
  constructor(sessionId) {
    this.sessionId = sessionId;
    this.servers = [];
    this.key = null;
    this.el = h('button', {
      type: 'button', class: 'btn ghost small mcp-pill', hidden: true,
      'aria-haspopup': 'dialog', on: { click: () => this.open() },
    });
  }

  /** Refetches when what the list depends on changed (thread attached, new startup card). */
  update(st, force = false) {
    if (st.provider !== 'codex') {
      this.el.hidden = true;
      return;
    }
    const key = `${st.thread_id || ''}|${st.attached}`;
    if (!force && key === this.key) return;
    this.key = key;
    this.refresh();
  }

  async refresh() {
    try {
      const res = await api.mcpServers(this.sessionId);
      this.servers = (res && res.servers) || [];
    } catch {
      // The pill just stays as it was; opening it shows the error.
      return this.servers;
    }
    this.render();
    return this.servers;
  }

  render() {
    const n = this.servers.length;
    this.el.hidden = n === 0;
    const failed = this.servers.filter((s) => s.state === 'failed' || s.error).length;
    this.el.replaceChildren(`${n} MCP server${n === 1 ? '' : 's'}`);
    if (failed) this.el.append(' ', h('span', { class: 'chip failed', text: `${failed} failed` }));
    this.el.setAttribute('aria-label', `${n} MCP server${n === 1 ? '' : 's'}${failed ? `, ${failed} failed` : ''}: show their state`);
  }

  async open() {
    const d = mcpDialog();
    d.s.fail('');
    setChildren(d.body, h('p', { class: 'muted', text: 'Loading…' }));
    d.s.dialog.showModal();
    try {
      const res = await api.mcpServers(this.sessionId);
      this.servers = (res && res.servers) || [];
      this.render();
      setChildren(d.body, this.servers.length
        ? this.servers.map(serverCard)
        : h('p', { class: 'muted', text: 'No MCP servers are configured for this agent.' }));
    } catch (err) {
      setChildren(d.body);
      d.s.fail(`Could not read the MCP servers: ${err.message}`);
    }
  }
}
