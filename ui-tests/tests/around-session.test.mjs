// The controls around a session in the browser (Debian's Chromium, a real `orbitdock serve`, the
// pinned Codex CLI, test-support's recording fake of the Responses API as the model, codexpc's
// `mcp_test_server` as a real MCP server): the config row above the composer and a per-turn
// model/effort override that reaches the model's request; the MCP pill with each server's state,
// tools, auth and error, and the startup cards in the transcript; the one-off command runner
// (output streaming in, stdin, terminate); skills; the thread goal and its transcript cards; the
// generic card for an item kind the UI does not know; delete with its confirmation.
// Screenshots at desktop and 390 px into artifacts/screenshots/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startStack, screenshotBoth, apiCall, eventually, BIN } from '../lib/harness.mjs';

const T = 30000;
const MCP_CONFIG = [
  '[mcp_servers.calc]',
  `command = ${JSON.stringify(BIN.mcpTestServer)}`,
  'startup_timeout_sec = 20',
  '',
  '[mcp_servers.broken]',
  'command = "/nonexistent/orbitdock-missing-mcp-server"',
  '',
].join('\n');
const SCRIPT = [
  { text: 'First answer.' },
  { text: 'Answer with the override.' },
];

let stack;
let server;
let page;
let session;

before(async () => {
  stack = await startStack('around', SCRIPT, { recordRequests: true, sandboxed: true, extraConfig: MCP_CONFIG });
  ({ server, page } = stack);
  const skill = path.join(stack.codexHome, 'skills', 'release-notes');
  mkdirSync(skill, { recursive: true });
  writeFileSync(path.join(skill, 'SKILL.md'),
    '---\nname: release-notes\ndescription: Draft release notes from the git log\n---\n\nRead the log and write notes.\n');
});

after(async () => {
  if (stack) await stack.stop();
});

const composer = () => page.getByLabel('Message (Enter sends, Shift+Enter for a new line)');

async function idle() {
  await page.locator('.status-slot .badge.status-waiting').waitFor({ timeout: T });
}

/** Desktop and 390 px screenshots of the page as it is. */
const shoot = (name) => screenshotBoth(page, name);

test('the config row shows the defaults, and a per-turn override reaches the model request', async () => {
  session = await apiCall(server, 'POST', '/api/sessions', {
    cwd: stack.project, name: 'Around the thread', approval_policy: 'never', sandbox_mode: 'read-only',
    prompt: 'First question',
  });
  await page.goto(`${server.origin}/#/s/${encodeURIComponent(session.id)}`);
  await page.locator('.msg.agent .msg-body', { hasText: 'First answer.' }).waitFor({ timeout: T });
  await idle();

  const row = page.locator('details.turn-config');
  assert.equal(await row.getAttribute('open'), null, 'collapsed by default');
  await eventually(async () => /gpt-oss-20b · read-only · never asks/.test(await row.locator('.turn-defaults').textContent()),
    T, 'the defaults in the collapsed row');
  await row.locator('summary').click();
  await row.getByLabel('Model for the next message').fill('override-model-7');
  await row.getByLabel('Reasoning effort for the next message').selectOption('high');
  assert.match(await row.locator('.turn-overrides').textContent(), /2 overrides for the next message/);
  await shoot('turn-config');

  await composer().fill('Question with the override');
  await composer().press('Enter');
  await page.locator('.msg.agent .msg-body', { hasText: 'Answer with the override.' }).waitFor({ timeout: T });
  await idle();

  // The fake reports each request on its output; the page can be faster than that pipe.
  const reqs = await eventually(() => (stack.model.requests().length >= 2 ? stack.model.requests() : null),
    T, 'the fake to report both model requests');
  const first = reqs.find((r) => r.last_user_text && r.last_user_text.includes('First question'));
  const second = reqs.find((r) => r.last_user_text && r.last_user_text.includes('Question with the override'));
  assert.ok(first && second, `both requests recorded: ${JSON.stringify(reqs)}${stack.failureContext()}`);
  assert.equal(first.model, 'gpt-oss-20b');
  assert.equal(second.model, 'override-model-7', JSON.stringify(reqs));
  assert.equal(second.effort, 'high', JSON.stringify(reqs));
  // Sent once: the fields are cleared, and the row now shows what Codex keeps as the defaults.
  assert.equal(await row.getByLabel('Model for the next message').inputValue(), '');
  assert.ok(await row.locator('.turn-overrides').isHidden());
  await eventually(async () => /override-model-7 · effort high/.test(await row.locator('.turn-defaults').textContent()),
    T, 'the new defaults in the row');
});

test('the MCP pill opens each server\'s state, tools, auth and error; startup cards are in the transcript', async () => {
  const pill = page.locator('.mcp-pill');
  await eventually(async () => /2 MCP servers/.test((await pill.textContent()) || ''), T, 'the MCP pill');
  assert.match(await pill.textContent(), /1 failed/);
  // The startup outcomes are cards, not raw JSON.
  await page.locator('.item.mcp-status', { hasText: 'MCP server “calc”: ready' }).waitFor({ timeout: T });
  const brokenCard = page.locator('.item.mcp-status.failed', { hasText: 'MCP server “broken”: failed' });
  await brokenCard.waitFor({ timeout: T });
  assert.ok((await brokenCard.locator('.error-text').textContent()).length > 3);

  await pill.click();
  const dialog = page.locator('#mcp-sheet');
  await dialog.waitFor({ state: 'visible', timeout: T });
  const calc = dialog.locator('.mcp-server[data-name="calc"]');
  await calc.waitFor({ timeout: T });
  assert.equal(await calc.locator('.mcp-state').textContent(), 'connected');
  assert.equal(await calc.locator('.mcp-tools').textContent(), '5 tools');
  assert.ok((await calc.locator('.mcp-auth').textContent()).length > 0);
  await calc.locator('summary', { hasText: 'Tools' }).click();
  await calc.locator('.mcp-tool-names code', { hasText: 'add' }).first().waitFor({ timeout: T });
  const broken = dialog.locator('.mcp-server[data-name="broken"]');
  assert.notEqual(await broken.locator('.mcp-state').textContent(), 'connected');
  assert.equal(await broken.locator('.mcp-tools').textContent(), '0 tools');
  const api = await apiCall(server, 'GET', `/api/sessions/${encodeURIComponent(session.id)}/mcp-servers`);
  const apiBroken = api.servers.find((s) => s.name === 'broken');
  if (apiBroken.error) assert.equal(await broken.locator('.mcp-error').textContent(), apiBroken.error);
  await shoot('mcp-servers');
  await dialog.getByRole('button', { name: 'Close' }).click();
  await dialog.waitFor({ state: 'hidden', timeout: T });
});

test('the command runner streams output in, takes stdin and terminates', async () => {
  await page.getByRole('button', { name: 'Session tools: run a command, skills, goal' }).click();
  const dialog = page.locator('#tools-sheet');
  await dialog.waitFor({ state: 'visible', timeout: T });
  const runner = dialog.locator('form.runner');
  const output = runner.locator('.runner-output');
  const status = runner.locator('.runner-status');

  // Streamed: the first line shows while the command still runs.
  await runner.getByLabel('Command to run').fill('echo first-line; sleep 2; echo second-line');
  await runner.getByRole('button', { name: 'Run command' }).click();
  await output.filter({ hasText: 'first-line' }).waitFor({ timeout: T }).catch(async (e) => {
    throw new Error(`${e.message}\nrunner: ${await runner.textContent()}\n${stack.failureContext()}`);
  });
  assert.equal(await status.textContent(), 'running', 'first-line arrived before the command ended');
  assert.doesNotMatch(await output.textContent(), /second-line/);
  await shoot('command-runner-streaming');
  await status.filter({ hasText: 'exit 0' }).waitFor({ timeout: T });
  assert.match(await output.textContent(), /first-line\s+second-line/);
  // The same run is a command card in the transcript.
  const cid = await runner.getAttribute('data-command-id');
  await page.locator(`.item.cmd[data-item-id="${cid}"] pre.output`, { hasText: 'second-line' }).waitFor({ timeout: T });

  // stdin reaches the command; closing it ends `cat`.
  await runner.getByLabel('Command to run').fill('cat');
  await runner.getByRole('button', { name: 'Run command' }).click();
  await runner.getByLabel('Input for the command').waitFor({ state: 'visible', timeout: T });
  await runner.getByLabel('Input for the command').fill('piped-in-77');
  await runner.getByLabel('Close input after sending').check();
  await runner.getByRole('button', { name: 'Send input' }).click();
  await status.filter({ hasText: 'exit 0' }).waitFor({ timeout: T });
  assert.match(await output.textContent(), /piped-in-77/);

  // Terminate stops a long command well before it would end.
  await runner.getByLabel('Command to run').fill('echo long-started; sleep 60');
  await runner.getByRole('button', { name: 'Run command' }).click();
  await output.filter({ hasText: 'long-started' }).waitFor({ timeout: T });
  const started = Date.now();
  await runner.getByRole('button', { name: 'Terminate command' }).click();
  await status.filter({ hasText: 'failed' }).waitFor({ timeout: T });
  assert.ok(Date.now() - started < 30000);
  await shoot('command-runner-done');
});

test('skills are listed and the goal is set and cleared, with transcript cards', async () => {
  const dialog = page.locator('#tools-sheet');
  await dialog.getByRole('tab', { name: 'Skills' }).click();
  const skill = dialog.locator('.skill[data-name="release-notes"]');
  await skill.waitFor({ timeout: T });
  assert.equal(await skill.locator('.skill-description').textContent(), 'Draft release notes from the git log');
  await shoot('skills');

  await dialog.getByRole('tab', { name: 'Goal' }).click();
  await dialog.getByLabel('Goal objective').waitFor({ timeout: T });
  await dialog.getByLabel('Goal objective').fill('ship the release notes');
  await dialog.getByRole('button', { name: 'Set goal' }).click();
  await dialog.locator('.goal-objective', { hasText: 'ship the release notes' }).waitFor({ timeout: T });
  const read = await apiCall(server, 'GET', `/api/sessions/${encodeURIComponent(session.id)}/goal`);
  assert.equal(read.goal.objective, 'ship the release notes');
  await shoot('goal');
  await dialog.getByRole('button', { name: 'Clear goal' }).click();
  await dialog.locator('.goal-current', { hasText: 'No goal set.' }).waitFor({ timeout: T });
  await dialog.getByRole('button', { name: 'Close tools' }).click();
  // Codex reports each change of the goal (set, then its progress), each a card.
  await page.locator('.item.goal', { hasText: 'ship the release notes' }).first().waitFor({ timeout: T });
  await page.locator('.item.goal', { hasText: 'Goal cleared' }).first().waitFor({ timeout: T });
  await page.locator('.item.goal').last().scrollIntoViewIfNeeded();
  await shoot('goal-cards');
});

test('an item kind the UI does not know renders as a generic card, not raw JSON', async () => {
  const card = await page.evaluate(async () => {
    const { renderItem } = await import('/js/items.js');
    const el = renderItem({
      seq: 1, id: 'x1', type: 'other', status: 'completed', original_type: 'imageView',
      raw: { type: 'imageView', id: 'x1', path: '/tmp/diagram.png', nested: { a: 1 } },
    });
    const unknown = renderItem({ seq: 2, id: 'x2', type: 'brand_new_kind', status: 'completed', note: 'hello' });
    return {
      title: el.querySelector('.card-title').textContent,
      fields: [...el.querySelectorAll('.generic-fields dt')].map((d) => d.textContent),
      detailsOpen: el.querySelector('details').open,
      unknownTitle: unknown.querySelector('.card-title').textContent,
      unknownFields: unknown.querySelector('.generic-fields').textContent,
    };
  });
  assert.deepEqual(card, {
    title: 'Image View', fields: ['path'], detailsOpen: false,
    unknownTitle: 'Brand new kind', unknownFields: 'notehello',
  });
});

test('Remove on a session that failed to start deletes it, after the confirmation', async () => {
  // Nobody is logged in to OpenAI in this CODEX_HOME, so a session on that provider cannot start.
  await apiCall(server, 'POST', '/api/sessions', {
    cwd: stack.project, name: 'Failed start probe', model_provider: 'openai', prompt: 'never answered',
  }).catch(() => null);
  const failed = await eventually(async () => {
    const list = await apiCall(server, 'GET', '/api/sessions');
    const all = Array.isArray(list) ? list : list.sessions;
    return all.find((x) => x.name === 'Failed start probe' && x.status === 'failed');
  }, T, 'the failed session');
  await page.goto(`${server.origin}/#/s/${encodeURIComponent(failed.id)}`);
  const banner = page.locator('.failure-banner');
  await banner.waitFor({ timeout: T });
  await banner.getByRole('button', { name: 'Remove the failed session' }).click();
  const dialog = page.locator('#delete-sheet');
  await dialog.waitFor({ state: 'visible', timeout: T });
  assert.match(await dialog.textContent(), /Failed start probe/);
  await dialog.getByRole('button', { name: 'Delete permanently' }).click();
  await dialog.waitFor({ state: 'hidden', timeout: T });
  await page.locator('#welcome').waitFor({ timeout: T });
  const res = await fetch(`${server.origin}/api/sessions/${encodeURIComponent(failed.id)}`,
    { headers: { Authorization: `Bearer ${server.token}` } });
  assert.equal(res.status, 404, 'deleted, not archived');
  await page.goto(`${server.origin}/#/s/${encodeURIComponent(session.id)}`);
  await page.locator('.session-name', { hasText: 'Around the thread' }).waitFor({ timeout: T });
});

test('delete asks first, then removes the session and its Codex thread', async () => {
  const st = await apiCall(server, 'GET', `/api/sessions/${encodeURIComponent(session.id)}`);
  assert.ok(st.thread_id);
  await page.getByRole('button', { name: 'Delete session' }).click();
  const dialog = page.locator('#delete-sheet');
  await dialog.waitFor({ state: 'visible', timeout: T });
  assert.match(await dialog.textContent(), /This cannot be undone/);
  assert.match(await dialog.textContent(), /Around the thread/);
  await shoot('delete-confirm');
  // Cancel keeps it.
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await dialog.waitFor({ state: 'hidden', timeout: T });
  await apiCall(server, 'GET', `/api/sessions/${encodeURIComponent(session.id)}`);

  await page.getByRole('button', { name: 'Delete session' }).click();
  await dialog.getByRole('button', { name: 'Delete permanently' }).click();
  await dialog.waitFor({ state: 'hidden', timeout: T });
  await page.locator('#welcome').waitFor({ timeout: T });
  await eventually(async () => (await page.locator(`#session-list a[data-id="${session.id}"]`).count()) === 0,
    T, 'the session to leave the sidebar');
  const res = await fetch(`${server.origin}/api/sessions/${encodeURIComponent(session.id)}`,
    { headers: { Authorization: `Bearer ${server.token}` } });
  assert.equal(res.status, 404);
  const threads = await apiCall(server, 'GET', '/api/codex/threads');
  assert.ok(!threads.threads.some((t) => t.thread_id === st.thread_id), 'the Codex thread is deleted too');
});
