// An MCP elicitation answered in the browser (Debian's Chromium, a real `orbitdock serve`, the
// pinned Codex CLI, test-support's fake Responses API as the model): the model calls a tool of a
// real stdio MCP server (the server crate's `elicit_mcp_server` example, rmcp); Codex first asks
// whether the tool may run (a yes/no card), then forwards the server's form (a card with one
// field per property); the name typed on the page is what the MCP server receives. Screenshots at
// desktop and 390 px into artifacts/screenshots/.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import {
  BIN, tempDir, startFakeResponses, makeCodexHome, startOrbitdock, launchBrowser,
  openLoggedInPage, apiCall, screenshotPath, eventually,
} from '../lib/harness.mjs';

const T = 30000;
let model;
let server;
let browser;

after(async () => {
  if (browser) await browser.close();
  if (server) await server.child.kill();
  if (model) await model.child.kill();
});

test('An MCP server\'s elicitation is approved and answered from its cards; the answer reaches the server', async () => {
  const dir = tempDir('elicit');
  const project = path.join(dir, 'project');
  mkdirSync(project, { recursive: true });
  const log = path.join(dir, 'elicit.log');
  model = await startFakeResponses([
    { mcp_tool_call: { server: 'elicit', tool: 'ask_name', arguments: {}, call_id: 'call-e1' } },
    { text: 'Greeted the name you gave.' },
  ], dir);
  const codexHome = makeCodexHome(dir, model.baseUrl, [
    '[mcp_servers.elicit]',
    `command = ${JSON.stringify(BIN.elicitMcpServer)}`,
    `env = { ELICIT_LOG = ${JSON.stringify(log)} }`,
  ].join('\n'));
  server = await startOrbitdock({ dataDir: path.join(dir, 'data'), codexHome });
  browser = await launchBrowser();
  const page = await openLoggedInPage(browser, server);
  const context = () => `\n--- orbitdock ---\n${server.child.log.slice(-3000)}`;

  const session = await apiCall(server, 'POST', '/api/sessions', {
    cwd: project, name: 'Elicitation', approval_policy: 'on-request', sandbox_mode: 'read-only',
    prompt: 'Greet someone',
  });
  await page.goto(`${server.origin}/#/s/${encodeURIComponent(session.id)}`);

  // Codex asks first whether the MCP tool may run: a yes/no card, no text box.
  const ask = page.locator('.approval-card.kind-elicitation', { hasText: 'wants to run its tool ask_name' });
  await ask.waitFor({ timeout: T });
  assert.match(await ask.textContent(), /A tool asks for your approval/);
  assert.match(await ask.textContent(), /Allow the elicit MCP server to run tool "ask_name"\?/);
  assert.equal(await ask.locator('input[type="text"]').count(), 0, context());
  await page.screenshot({ path: screenshotPath('mcp-elicitation-tool-approval-desktop') });
  await page.setViewportSize({ width: 390, height: 844 });
  await ask.scrollIntoViewIfNeeded();
  assert.ok(await ask.getByRole('button', { name: 'Approve', exact: true }).isVisible());
  await page.screenshot({ path: screenshotPath('mcp-elicitation-tool-approval-390') });
  await page.setViewportSize({ width: 1280, height: 820 });
  await ask.getByRole('button', { name: 'Approve', exact: true }).click();

  // Then the server's form: its field, filled in and sent from the page.
  const form = page.locator('.approval-card.kind-elicitation', { hasText: 'Which name should I greet?' });
  await form.waitFor({ timeout: T });
  const field = form.getByLabel('The name to greet.');
  await field.fill('Ada Lovelace');
  await page.screenshot({ path: screenshotPath('mcp-elicitation-form-desktop') });
  await page.setViewportSize({ width: 390, height: 844 });
  await form.scrollIntoViewIfNeeded();
  await page.screenshot({ path: screenshotPath('mcp-elicitation-form-390') });
  await page.setViewportSize({ width: 1280, height: 820 });
  await form.getByRole('button', { name: 'Send answers' }).click();

  await page.locator('.msg.agent .msg-body', { hasText: 'Greeted the name you gave.' }).waitFor({ timeout: T });
  const line = await eventually(() => existsSync(log) && readFileSync(log, 'utf8').trim(), T,
    'the MCP server to record the answer');
  assert.deepEqual(JSON.parse(line), { action: 'accept', content: { name: 'Ada Lovelace' } }, context());
  assert.equal(await page.locator('.approval-card').count(), 0);
});
