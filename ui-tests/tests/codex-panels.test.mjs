// The Codex panels of the top bar in the browser (Debian's Chromium, a real `orbitdock serve`, the
// pinned Codex CLI, test-support's recording fake of the Responses API as the model): the thread
// browser finds a thread that `codex exec` made outside the hub, imports it with its history, and
// the imported session continues the thread; the config view shows the CODEX_HOME's settings and
// an edit is read back from Codex (and lands in config.toml); the account and usage panel says
// what the server knows. Screenshots at desktop and 390 px into artifacts/screenshots/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { startStack, screenshotBoth, apiCall, eventually, BIN } from '../lib/harness.mjs';

const T = 30000;
const SCRIPT = [
  { text: 'IMPORTED-ANSWER-5d2: teal, noted.' },
  { text: 'It was teal.' },
];

let stack;
let server;
let page;

before(async () => {
  stack = await startStack('codexpanels', SCRIPT, { recordRequests: true });
  ({ server, page } = stack);
  // A thread Codex knows but the hub does not: `codex exec` in the same CODEX_HOME.
  // stdin closed, or `codex exec` waits for more prompt on it.
  execFileSync(BIN.codex, ['exec', '--skip-git-repo-check', '-C', stack.project,
    'import-probe-88 remember the colour teal'], {
    env: { ...process.env, CODEX_HOME: stack.codexHome, RUST_LOG: 'error' },
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 60000,
  });
});

after(async () => {
  if (stack) await stack.stop();
});

const shoot = (name) => screenshotBoth(page, name);

test('the thread browser finds a thread Codex knows, imports it with its history, and it continues', async () => {
  await page.getByRole('button', { name: 'Browse Codex threads' }).click();
  const dialog = page.locator('#threads-sheet');
  await dialog.waitFor({ state: 'visible', timeout: T });
  await dialog.getByLabel('Search Codex threads').fill('no-such-title-zz');
  await dialog.getByRole('button', { name: 'Search', exact: true }).click();
  await dialog.locator('.thread-list .empty', { hasText: 'No thread matches' }).waitFor({ timeout: T });
  await dialog.getByLabel('Search Codex threads').fill('import-probe');
  await dialog.getByRole('button', { name: 'Search', exact: true }).click();
  const row = dialog.locator('.thread-row', { hasText: 'import-probe-88' });
  await row.waitFor({ timeout: T });
  await shoot('thread-browser');
  await row.getByRole('button', { name: /^Import / }).click();
  await dialog.waitFor({ state: 'hidden', timeout: T });

  // The imported session shows the thread's history.
  await page.locator('.msg.user .msg-body', { hasText: 'import-probe-88 remember the colour teal' }).waitFor({ timeout: T });
  await page.locator('.msg.agent .msg-body', { hasText: 'IMPORTED-ANSWER-5d2' }).waitFor({ timeout: T });
  const id = decodeURIComponent(new URL(page.url()).hash.replace('#/s/', ''));
  const st = await apiCall(server, 'GET', `/api/sessions/${encodeURIComponent(id)}`);
  const threadId = await row.getAttribute('data-thread-id');
  assert.equal(st.thread_id, threadId);
  await shoot('thread-imported');

  // The browser now offers to open it rather than import it again.
  await page.getByRole('button', { name: 'Browse Codex threads' }).click();
  await dialog.getByLabel('Search Codex threads').fill('import-probe');
  await dialog.getByRole('button', { name: 'Search', exact: true }).click();
  await dialog.locator(`.thread-row[data-thread-id="${threadId}"] .chip`, { hasText: 'in OrbitDock' }).waitFor({ timeout: T });
  await dialog.getByRole('button', { name: 'Close threads' }).click();

  // A message continues the same thread: the model gets it after the imported turn.
  const input = page.getByLabel('Message (Enter sends, Shift+Enter for a new line)');
  await input.fill('which colour?');
  await input.press('Enter');
  await page.locator('.msg.agent .msg-body', { hasText: 'It was teal.' }).waitFor({ timeout: T });
  // The fake reports each request on its output; the page can be faster than that pipe.
  const reqs = await eventually(() => (stack.model.requests().length >= 2 ? stack.model.requests() : null),
    T, 'the fake to report the second model request');
  assert.equal(reqs.length, 2, JSON.stringify(reqs) + stack.failureContext());
  assert.equal(reqs[1].last_user_text, 'which colour?');
});

test('the config view shows CODEX_HOME\'s settings and an edit is read back from Codex', async () => {
  await page.getByRole('button', { name: 'Codex config, account and usage' }).click();
  const dialog = page.locator('#codex-sheet');
  await dialog.waitFor({ state: 'visible', timeout: T });
  const model = dialog.locator('.config-value[data-key="model"]');
  await model.waitFor({ timeout: T });
  assert.equal(await model.textContent(), 'gpt-oss-20b');
  await dialog.getByLabel('Config key', { exact: true }).fill('model');
  await dialog.getByLabel('Config value', { exact: true }).fill('edited-model-ui');
  await shoot('codex-config');
  await dialog.getByRole('button', { name: 'Save config value' }).click();
  await dialog.locator('.config-value[data-key="model"]', { hasText: 'edited-model-ui' }).waitFor({ timeout: T });
  const cfg = await apiCall(server, 'GET', '/api/codex/config');
  assert.equal(cfg.config.model, 'edited-model-ui');
  assert.match(readFileSync(path.join(stack.codexHome, 'config.toml'), 'utf8'), /^model = "edited-model-ui"$/m);
  await shoot('codex-config-saved');
});

test('the account and usage panel shows what the server reads', async () => {
  const dialog = page.locator('#codex-sheet');
  await dialog.getByRole('tab', { name: 'Account & usage' }).click();
  const who = dialog.locator('.account-who');
  await who.waitFor({ timeout: T });
  const account = await apiCall(server, 'GET', '/api/account');
  const usage = await apiCall(server, 'GET', '/api/codex/usage');
  assert.equal(account.logged_in, false);
  assert.match(await who.textContent(), /Nobody is logged in/);
  const notes = await dialog.locator('.usage-note').allTextContents();
  // Each reason the server gives is shown, without its JSON-RPC framing.
  for (const e of [usage.rate_limits_error, usage.usage_error].filter(Boolean)) {
    assert.ok(notes.some((n) => n.length > 10 && e.toLowerCase().endsWith(n.toLowerCase())), `${JSON.stringify(notes)} shows ${e}`);
  }
  for (const n of notes) assert.doesNotMatch(n, /failed with -\d+/);
  await eventually(async () => (await dialog.locator('.usage-section').count()) === 3, T, 'three sections');
  await shoot('codex-usage');
});
