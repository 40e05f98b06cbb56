// Claude sessions from the browser: the new-session sheet offers Codex or Claude (with the
// server's word on Claude's account state), a Claude session created there runs the REAL pinned
// Claude Code CLI against test-support's fake Anthropic API, and its Bash permission request
// is the same approval card as Codex's; approving it runs the command. Screenshots of the sheet
// and the card at desktop and 390 px.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import {
  tempDir, startFakeAnthropic, claudeEnv, makeCodexHome, startOrbitdock, openLoggedIn, stopAll,
  screenshotPath, apiCall, eventually,
} from '../lib/harness.mjs';

const T = 45000;
const SCRIPT = [
  { bash: { id: 'toolu_browser', command: 'echo from-the-browser && touch approved.txt' } },
  { deltas: ['Ran it ', 'for you.'] },
];

let dir;
let project;
let api;
let server;
let browser;
let page;

before(async () => {
  dir = tempDir('claude');
  project = path.join(dir, 'project');
  mkdirSync(project, { recursive: true });
  api = await startFakeAnthropic(SCRIPT, dir);
  // No Codex session runs here; the server still needs a CODEX_HOME.
  const codexHome = makeCodexHome(dir, 'http://127.0.0.1:9/v1');
  server = await startOrbitdock({
    dataDir: path.join(dir, 'data'), codexHome, env: claudeEnv(dir, api.baseUrl),
  });
  ({ browser, page } = await openLoggedIn(server));
});

after(() => stopAll(browser, server, api));

test('the new-session sheet starts a Claude session whose Bash request is an approval card', async () => {
  await page.getByRole('button', { name: 'New session' }).click();
  const sheet = page.locator('#new-session-sheet');
  await sheet.getByRole('radio', { name: 'Claude' }).check();
  await sheet.locator('#new-session-title', { hasText: 'New Claude session' }).waitFor({ timeout: T });
  // The account state: a key is in the server's environment.
  await sheet.locator('.agent-status', { hasText: 'ANTHROPIC_API_KEY' }).waitFor({ timeout: T });
  assert.equal(await sheet.getByLabel('Sandbox mode').isVisible(), false, 'Codex settings hidden');
  assert.equal(await sheet.getByLabel('Permission mode').isVisible(), true);
  await sheet.getByLabel('Project directory').fill(project);
  await sheet.getByLabel('First message').fill('Run the echo please');
  await page.screenshot({ path: screenshotPath('claude-new-session-sheet-desktop') });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: screenshotPath('claude-new-session-sheet-390') });
  await page.setViewportSize({ width: 1280, height: 820 });
  await sheet.getByRole('button', { name: 'Create session' }).click();

  const card = page.locator('.approval-card[data-kind="command"]');
  await card.waitFor({ timeout: T });
  assert.match(await card.locator('.approval-cmd').textContent(), /echo from-the-browser/);
  assert.equal(existsSync(path.join(project, 'approved.txt')), false, 'nothing ran before approval');
  const s = await eventually(async () => {
    const list = await apiCall(server, 'GET', '/api/sessions');
    return list.sessions.find((x) => x.cwd === project && x.status === 'needs_approval');
  }, T, 'the Claude session to need approval');
  assert.equal(s.provider, 'claude');
  await page.screenshot({ path: screenshotPath('claude-approval-card-desktop') });
  await page.setViewportSize({ width: 390, height: 844 });
  await card.scrollIntoViewIfNeeded();
  await page.screenshot({ path: screenshotPath('claude-approval-card-390') });
  await page.setViewportSize({ width: 1280, height: 820 });

  await card.getByRole('button', { name: 'Approve', exact: true }).click();
  await page.locator('.msg-body', { hasText: 'Ran it for you.' }).waitFor({ timeout: T });
  assert.equal(existsSync(path.join(project, 'approved.txt')), true, 'the approved command ran');
  await eventually(async () => {
    const st = await apiCall(server, 'GET', `/api/sessions/${encodeURIComponent(s.id)}`);
    return st.status === 'waiting';
  }, T, 'the session to be waiting again');
  await page.locator('text=from-the-browser').first().waitFor({ timeout: T });
  await page.screenshot({ path: screenshotPath('claude-session-after-approval-desktop') });
});
