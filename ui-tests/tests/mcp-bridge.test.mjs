// An action taken through the MCP bridge shows who did it: `orbitdock mcp --allow-actions` (the
// real binary, spoken to over stdio by a minimal MCP client here) sends a message into a direct
// session; the session's model (codexpc, scripted) answers it in the browser, and the transcript
// carries the action's record with a "via MCP" badge. Screenshots at desktop and 390 px into
// artifacts/screenshots/.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import path from 'node:path';
import {
  BIN, startStack, screenshotPath, apiCall, withTimeout,
} from '../lib/harness.mjs';

const final = (t) => `<|channel|>final<|message|>${t}<|return|>`;
const SCRIPT = [{ match: 'Hello through the bridge', completion: final('Answer to the bridge.') }];
const T = 30000;

/**
 * `orbitdock --data-dir DIR mcp [--allow-actions]` as a child speaking MCP (newline-delimited
 * JSON-RPC) on its stdio: `request(method, params)` answers the result or throws the error.
 */
function startBridge(dataDir, allowActions) {
  const args = ['--data-dir', dataDir, 'mcp', ...(allowActions ? ['--allow-actions'] : [])];
  const proc = spawn(BIN.orbitdock, args, { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr = (stderr + d).slice(-4000); });
  const pending = new Map();
  let next = 1;
  createInterface({ input: proc.stdout }).on('line', (line) => {
    let msg;
    try { msg = JSON.parse(line); } catch { return; }
    const waiter = msg.id !== undefined && pending.get(msg.id);
    if (!waiter) return;
    pending.delete(msg.id);
    if (msg.error) waiter.reject(new Error(`${JSON.stringify(msg.error)}\n${stderr}`));
    else waiter.resolve(msg.result);
  });
  const send = (msg) => proc.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', ...msg })}\n`);
  return {
    request(method, params) {
      const id = next++;
      const answer = new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
      send({ id, method, params });
      return withTimeout(answer, T, `the bridge's answer to ${method}`);
    },
    notify(method, params) { send({ method, params }); },
    close() {
      try { process.kill(-proc.pid, 'SIGKILL'); } catch { /* already gone */ }
    },
  };
}

let stack;
let bridge;

after(async () => {
  if (bridge) bridge.close();
  if (stack) await stack.stop();
});

test('A message sent through the MCP bridge is answered and shows "via MCP" in the transcript', async () => {
  stack = await startStack('mcpbridge', SCRIPT);
  const { server, page, project } = stack;
  const session = await apiCall(server, 'POST', '/api/sessions', { cwd: project, name: 'Worker' });
  await page.goto(`${server.origin}/#/s/${encodeURIComponent(session.id)}`);
  await page.locator('.status-slot .badge.status-waiting').waitFor({ timeout: T });

  bridge = startBridge(path.join(stack.dir, 'data'), true);
  const init = await bridge.request('initialize', {
    protocolVersion: '2025-06-18',
    capabilities: {},
    clientInfo: { name: 'ui-test', version: '0' },
  });
  assert.equal(init.serverInfo.name, 'orbitdock');
  bridge.notify('notifications/initialized', {});
  const sent = await bridge.request('tools/call', {
    name: 'send_message',
    arguments: { session_id: session.id, message: 'Hello through the bridge' },
  });
  assert.notEqual(sent.isError, true, JSON.stringify(sent));
  assert.equal(sent.structuredContent.session_id, session.id);

  // The message, the model's answer, and the record of who sent it.
  await page.locator('.msg.user', { hasText: 'Hello through the bridge' }).waitFor({ timeout: T });
  await page.locator('.msg.agent .msg-body', { hasText: 'Answer to the bridge.' })
    .waitFor({ timeout: T });
  const record = page.getByRole('article', { name: 'Action via MCP' });
  await record.waitFor({ timeout: T });
  assert.equal(await record.locator('.via-badge').textContent(), 'via MCP');
  assert.match(await record.textContent(), /sent the message “Hello through the bridge”/,
    stack.failureContext());
  // A person's own message carries no such record.
  assert.equal(await page.getByRole('article', { name: 'Action via MCP' }).count(), 1);

  await record.scrollIntoViewIfNeeded();
  await page.screenshot({ path: screenshotPath('mcp-via-badge-desktop') });
  await page.setViewportSize({ width: 390, height: 844 });
  await record.scrollIntoViewIfNeeded();
  assert.ok(await record.locator('.via-badge').isVisible());
  await page.screenshot({ path: screenshotPath('mcp-via-badge-390') });
});
