// The Codex panel in the top bar: the agent's effective config for this hub's CODEX_HOME (read
// from the agent, edited one key at a time so comments and the rest of `config.toml` survive,
// and read back after each write), and the account with its rate limits and token usage.

import { h, setChildren, compactNumber } from './dom.js';
import { api } from './api.js';
import { sheet, tabList } from './sheet.js';
import { rateLimitGauge } from './badges.js';

const TABS = [['config', 'Config'], ['usage', 'Account & usage']];

/** A typed value as JSON when it parses (numbers, booleans, arrays, null), else a plain string. */
function parseValue(text) {
  const t = text.trim();
  try {
    return JSON.parse(t);
  } catch {
    return text;
  }
}

/**
 * The agent's refusal without the JSON-RPC framing ("request account/usage/read failed with
 * -32600: codex account authentication required…" -> "Codex account authentication required…").
 */
function agentReason(message) {
  const m = String(message).replace(/^request \S+ failed with -?\d+: /, '');
  return m.charAt(0).toUpperCase() + m.slice(1);
}

export class CodexPanel {
  constructor({ toast }) {
    this.toast = toast;
    this.s = sheet('Codex', 'codex-sheet');
    this.s.dialog.classList.add('wide');
    this.body = h('div', { class: 'tools-body', id: 'codex-body', role: 'tabpanel' });
    this.tabs = tabList('codex', TABS, this.body, 'Codex panel', (id) => this.show(id));
    const close = h('button', { type: 'button', class: 'btn ghost', 'aria-label': 'Close Codex panel', on: { click: () => this.s.dialog.close() } }, 'Close');
    setChildren(this.s.form, this.s.heading,
      this.tabs.el,
      this.body, this.s.error, h('div', { class: 'sheet-actions' }, close));
    this.s.form.addEventListener('submit', (ev) => ev.preventDefault());
  }

  open(tab = 'config') {
    if (!this.s.dialog.open) this.s.dialog.showModal();
    this.tabs.select(tab);
  }

  show(tab) {
    this.tab = tab;
    this.s.fail('');
    if (tab === 'config') this.showConfig();
    else this.showUsage();
  }

  async showConfig(prefill) {
    setChildren(this.body, h('p', { class: 'muted', text: 'Reading the config…' }));
    let res;
    try {
      res = await api.agentConfig();
    } catch (err) {
      setChildren(this.body);
      this.s.fail(`Could not read the config: ${err.message}`);
      return;
    }
    if (this.tab !== 'config') return;
    const config = (res && res.config) || {};
    const key = h('input', { autocomplete: 'off', spellcheck: 'false', placeholder: 'e.g. model or mcp_servers.docs.enabled', 'aria-label': 'Config key', value: prefill || '' });
    const value = h('input', { autocomplete: 'off', spellcheck: 'false', placeholder: 'value (JSON, or text)', 'aria-label': 'Config value' });
    const save = h('button', { type: 'button', class: 'btn primary small', 'aria-label': 'Save config value' }, 'Save');
    const fill = () => {
      const k = key.value.trim();
      if (!k) return;
      const v = k.split('.').reduce((o, part) => (o && typeof o === 'object' ? o[part] : undefined), config);
      if (v !== undefined) value.value = typeof v === 'string' ? v : JSON.stringify(v);
    };
    // While the key is typed, not on blur: a change on blur would land while the value is edited.
    key.addEventListener('input', fill);
    save.addEventListener('click', async () => {
      const k = key.value.trim();
      if (!k) {
        this.s.fail('Name the key to set.');
        return;
      }
      save.disabled = true;
      this.s.fail('');
      try {
        await api.writeAgentConfig(k, value.value.trim() === '' ? null : parseValue(value.value));
        this.toast(`Saved ${k}; new sessions use it`);
        // Read back what the agent now has, so the view shows the effective value.
        if (this.tab === 'config') await this.showConfig(k);
      } catch (err) {
        this.s.fail(`Could not save ${k}: ${err.message}`);
        save.disabled = false;
      }
    });
    const quick = ['model', 'model_reasoning_effort', 'approval_policy', 'sandbox_mode']
      .map((k) => h('tr', {}, h('th', { scope: 'row' }, h('code', { text: k })),
        h('td', { class: 'config-value', dataset: { key: k }, text: config[k] === undefined || config[k] === null ? '—' : (typeof config[k] === 'string' ? config[k] : JSON.stringify(config[k])) })));
    setChildren(this.body,
      h('table', { class: 'config-table', 'aria-label': 'Main settings' }, h('tbody', {}, quick)),
      h('div', { class: 'config-edit', role: 'group', 'aria-label': 'Edit one value' },
        h('div', { class: 'inline-form' }, key, value, save),
        h('p', { class: 'muted small', text: 'An empty value removes the key. Sessions started from now on use the new config.' })),
      h('details', { class: 'config-raw' }, h('summary', { text: 'Effective config (all keys)' }),
        h('pre', { class: 'output', tabindex: '0', 'aria-label': 'Effective config', text: JSON.stringify(config, null, 2) })));
    if (prefill) fill();
  }

  async showUsage() {
    setChildren(this.body, h('p', { class: 'muted', text: 'Reading the account…' }));
    let account;
    let usage;
    try {
      [account, usage] = await Promise.all([api.account(), api.usage()]);
    } catch (err) {
      setChildren(this.body);
      this.s.fail(`Could not read the account: ${err.message}`);
      return;
    }
    if (this.tab !== 'usage') return;
    const who = account.error ? h('p', { class: 'error-text', text: account.error })
      : account.logged_in
        ? h('p', { class: 'account-who' }, 'Logged in',
          account.kind === 'api_key' ? ' with an API key' : account.kind ? ` (${account.kind})` : '',
          account.email ? [' as ', h('strong', { text: account.email })] : '',
          account.plan ? [' · plan ', h('span', { class: 'chip', text: account.plan })] : '')
        : h('p', { class: 'account-who' }, account.requires_openai_auth
          ? 'Nobody is logged in to OpenAI.'
          : 'Nobody is logged in; the configured model provider does not need an OpenAI login.');
    const days = usage.days || [];
    const peak = Math.max(1, ...days.map((d) => d.tokens));
    setChildren(this.body,
      h('section', { class: 'usage-section', 'aria-label': 'Account' }, h('h3', { text: 'Account' }), who,
        account.codex_home ? h('p', { class: 'muted small' }, 'CODEX_HOME ', h('code', { text: account.codex_home })) : null),
      h('section', { class: 'usage-section', 'aria-label': 'Rate limits' }, h('h3', { text: 'Rate limits' }),
        rateLimitGauge(usage.rate_limits)
          || h('p', { class: 'muted usage-note', text: usage.rate_limits_error ? agentReason(usage.rate_limits_error) : 'No rate limits for this account.' })),
      h('section', { class: 'usage-section', 'aria-label': 'Token usage' }, h('h3', { text: 'Token usage' }),
        usage.usage_error ? h('p', { class: 'muted usage-note', text: agentReason(usage.usage_error) }) : null,
        usage.lifetime_tokens !== null && usage.lifetime_tokens !== undefined
          ? h('p', {}, `Lifetime: ${compactNumber(usage.lifetime_tokens)} tokens`,
            usage.peak_daily_tokens ? ` · busiest day ${compactNumber(usage.peak_daily_tokens)}` : '') : null,
        days.length ? h('ul', { class: 'usage-days', 'aria-label': 'Tokens per day' }, days.map((d) => h('li', {},
          h('span', { class: 'usage-date', text: d.date }),
          h('meter', { min: '0', max: String(peak), value: String(d.tokens) }),
          h('span', { class: 'usage-tokens', text: compactNumber(d.tokens) })))) : null));
  }
}
