// A Codex session started in a terminal (`codex exec` in the watched CODEX_HOME, real pinned CLI,
// codexpc's scripted model) appears as a passive session; its page shows "Take over" where the
// composer would be, with the server's reason when it cannot yet; once taken over, the composer
// is back and a message is answered on the same thread. Screenshots at desktop and 390 px.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import {
  tempDir, startScriptedModel, makeCodexHome, startOrbitdock, openLoggedIn, stopAll, screenshotPath,
  apiCall, eventually, Child, BIN,
} from '../lib/harness.mjs';

const final = (t) => `<|channel|>final<|message|>${t}<|return|>`;
const SCRIPT = [
  { match: 'terminal task', completion: final('Done in the terminal.') },
  { match: 'from the browser', completion: final('Answered after the takeover.') },
];
const T = 30000;

let dir;
let model;
let server;
let browser;
let page;

before(async () => {
  dir = tempDir('takeover');
  const project = path.join(dir, 'project');
  mkdirSync(project, { recursive: true });
  model = await startScriptedModel(SCRIPT, dir);
  const codexHome = makeCodexHome(dir, model.baseUrl);
  server = await startOrbitdock({ dataDir: path.join(dir, 'data'), codexHome });
  // The terminal session: a real `codex exec` in the watched home.
  const exec = new Child('codex exec', BIN.codex,
    ['exec', '--json', '--skip-git-repo-check', '-C', project, 'terminal task'],
    { env: { CODEX_HOME: codexHome } });
  const code = await exec.exitPromise;
  assert.equal(code, 0, `codex exec failed:\n${exec.log}`);
  ({ browser, page } = await openLoggedIn(server));
});

after(() => stopAll(browser, server, model));

test('a passive session offers Take over instead of a composer, then is driven from the browser', async () => {
  const passive = await eventually(async () => {
    const list = await apiCall(server, 'GET', '/api/sessions');
    return list.sessions.find((s) => s.origin === 'passive' && s.first_prompt === 'terminal task');
  }, T, 'the terminal session to appear as passive');
  await page.locator(`a[data-id="${passive.id}"]`).click();
  const bar = page.getByLabel('Observed session');
  await bar.waitFor({ timeout: T });
  assert.equal(await page.locator('form.composer').isHidden(), true, 'no composer on a passive session');
  await page.screenshot({ path: screenshotPath('takeover-passive-desktop') });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: screenshotPath('takeover-passive-390') });
  await page.setViewportSize({ width: 1280, height: 820 });

  // Until the terminal has been quiet long enough the server refuses, and the page says why;
  // a later click succeeds.
  const button = page.getByRole('button', { name: 'Take over this session' });
  await eventually(async () => {
    if (await bar.isHidden()) return true;
    await button.click();
    await page.waitForFunction(() => {
      const b = document.querySelector('.takeover-bar');
      const r = document.querySelector('.takeover-reason');
      return (b && b.hidden) || (r && r.textContent.length > 0);
    }, null, { timeout: T });
    return bar.isHidden();
  }, T, 'the takeover to succeed', 500);
  const reasons = await page.locator('.takeover-reason').textContent();
  assert.equal(reasons, '', 'the reason is cleared once taken over');

  const input = page.getByLabel('Message (Enter sends, Shift+Enter for a new line)');
  await input.fill('Continue from the browser');
  await input.press('Enter');
  await page.locator('.msg-body', { hasText: 'Answered after the takeover.' }).waitFor({ timeout: T });
  const st = await apiCall(server, 'GET', `/api/sessions/${encodeURIComponent(passive.id)}`);
  assert.equal(st.origin, 'direct');
  assert.equal(st.thread_id, passive.thread_id, 'the same Codex thread continues');
  await page.screenshot({ path: screenshotPath('takeover-driven-desktop') });
});
