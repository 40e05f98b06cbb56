// Providers and the first run in the browser (Debian's Chromium, a real `orbitdock serve
// --local-model` supervising the real codexpc with the tiny gpt-oss GGUF on llama.cpp, the pinned
// Codex CLI, and codexpc's scripted model standing in for the OpenAI endpoint): a newcomer's
// new-session sheet says nobody is logged in and shows the local model with its live state; a
// session on the account fails to start with one sentence, offering Retry and Remove; API-key
// login and logout from the sheet (after login, Retry runs the session); a session on the local
// model streams llama.cpp's reply through Codex; a frozen codexpc shows the provider down, and
// killed it is restarted and shown up again. Screenshots at desktop and 390 px into artifacts/screenshots/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import {
  tempDir, startScriptedModel, makeAccountCodexHome, startOrbitdock, launchBrowser, screenshotPath,
  apiCall, eventually, tinyGguf, childPid, BIN, openLoggedInPage,
} from '../lib/harness.mjs';

const final = (t) => `<|channel|>final<|message|>${t}<|return|>`;
const ACCOUNT_REPLY = 'Logged in and answering from the account.';
const LLAMA_TEXT = 'Hello from a tiny gpt-oss model on llama.cpp.';
const T = 60000;

let dir;
let project;
let account;
let server;
let browser;
let page;
let failedId;

function failureContext() {
  return `\n--- orbitdock output ---\n${server.child.log.slice(-3000)}`;
}

const option = (id) => page.locator(`.provider-option[data-provider="${id}"]`);

async function openSheet() {
  await page.locator('#new-session').click();
  await page.locator('#new-session-sheet[open]').waitFor();
  await option('openai').waitFor({ timeout: T });
}

async function closeSheet() {
  await page.locator('#new-session-sheet button[data-close]').click();
  await page.locator('#new-session-sheet[open]').waitFor({ state: 'detached' });
}

async function shoot(name) {
  await page.screenshot({ path: screenshotPath(`${name}-desktop`) });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: screenshotPath(`${name}-390`) });
  await page.setViewportSize({ width: 1280, height: 820 });
}

before(async () => {
  dir = tempDir('providers');
  project = path.join(dir, 'project');
  mkdirSync(project, { recursive: true });
  // Codex on the account also asks the model for a thread title (a request that quotes the
  // message), so the line is there more than once.
  const line = { match: 'After login', completion: final(ACCOUNT_REPLY) };
  account = await startScriptedModel([line, line, line], dir);
  const codexHome = makeAccountCodexHome(dir, account.baseUrl);
  server = await startOrbitdock({
    dataDir: path.join(dir, 'data'),
    codexHome,
    extraArgs: ['--no-watch', '--local-model', tinyGguf(), '--codexpc-bin', BIN.codexpc,
      '--codexpc-socket', path.join(dir, 'codexpc.sock'),
      '--codexpc-arg=--ctx=32768', '--codexpc-arg=--slots=1', '--codexpc-arg=--temperature=0',
      '--codexpc-arg=--max-output-tokens=24'],
  });
  browser = await launchBrowser();
  page = await openLoggedInPage(browser, server);
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.child.kill();
  if (account) await account.child.kill();
});

test('a newcomer is told nobody is logged in, sees the local model live, and a failed start says why', async () => {
  await openSheet();
  await option('openai').locator('.newcomer', { hasText: 'Nobody is logged in to OpenAI' }).waitFor();
  assert.equal((await option('openai').locator('.provider-state').textContent()).trim(), 'not logged in');
  await option('codexpc').locator('.provider-state.state-up').waitFor({ timeout: T });
  const facts = await option('codexpc').locator('.provider-facts').textContent();
  assert.match(facts, /^tiny-gpt-oss\S* · 32,768-token context · .*0 busy · 0 sessions$/, failureContext());
  // With nobody logged in and the local model up, the sheet preselects the local model.
  assert.equal(await page.locator('#provider-codexpc').isChecked(), true);
  await shoot('providers-newcomer');

  // A session on the account: the start fails with one sentence.
  await page.locator('label[for="provider-openai"]').click();
  await page.getByLabel('Project directory').fill(project);
  await page.getByLabel('First message').fill('After login, say so.');
  await page.getByRole('button', { name: 'Create session' }).click();
  const err = page.locator('#new-session-form .form-error', { hasText: 'Could not create the session' });
  await err.waitFor({ timeout: T });
  assert.match(await err.textContent(), /nobody is logged in to OpenAI/);
  await closeSheet();
  const row = page.locator('.session-row[data-status="failed"]');
  await row.waitFor({ timeout: T });
  assert.match(await row.locator('.badge').textContent(), /Failed to start/);
  await row.click();
  const banner = page.locator('.failure-banner');
  await banner.waitFor({ timeout: T });
  assert.equal((await banner.locator('.failure-text').textContent()).trim(),
    'Failed to start: Nobody is logged in to OpenAI; log in (API key or ChatGPT) or choose the local model');
  assert.ok(await banner.getByRole('button', { name: 'Retry starting the session' }).isVisible());
  assert.ok(await banner.getByRole('button', { name: 'Remove the failed session' }).isVisible());
  const transcript = await page.locator('.session').textContent();
  assert.doesNotMatch(transcript, /Reconnecting|backtrace|panicked/);
  failedId = (await row.getAttribute('data-id'));
  await shoot('failed-start');
});

test('API-key login from the sheet, Retry runs the failed session, logout brings the newcomer state back', async () => {
  await openSheet();
  await page.getByLabel('OpenAI API key').fill('sk-orbitdock-browser-test-0123');
  await page.getByRole('button', { name: 'Log in with API key' }).click();
  await option('openai').locator('.provider-facts', { hasText: 'Logged in with an API key' }).waitFor({ timeout: T });
  await option('openai').getByRole('button', { name: 'Log out of OpenAI' }).waitFor();
  assert.equal((await option('openai').locator('.provider-state').textContent()).trim(), 'ready');
  await shoot('account-logged-in');
  await closeSheet();

  await page.goto(`${server.origin}/#/s/${encodeURIComponent(failedId)}`);
  await page.locator('.failure-banner').getByRole('button', { name: 'Retry starting the session' }).click();
  await page.locator('.msg.agent .msg-body', { hasText: ACCOUNT_REPLY }).waitFor({ timeout: T });
  assert.equal(await page.locator('.failure-banner').isVisible(), false);
  assert.match(await page.locator('.session-meta .model-provider').textContent(), /OpenAI/);

  await openSheet();
  await option('openai').getByRole('button', { name: 'Log out of OpenAI' }).click();
  await option('openai').locator('.newcomer', { hasText: 'Nobody is logged in to OpenAI' }).waitFor({ timeout: T });
  const acct = await apiCall(server, 'GET', '/api/account');
  assert.equal(acct.logged_in, false);
  await closeSheet();
});

test('a session on the local model streams llama.cpp\'s reply; a killed codexpc shows down, then comes back', async () => {
  await openSheet();
  await option('codexpc').locator('.provider-state.state-up').waitFor({ timeout: T });
  await page.locator('label[for="provider-codexpc"]').click();
  assert.equal(await page.getByLabel('Model', { exact: true }).isDisabled(), true);
  await page.getByLabel('Project directory').fill(project);
  await page.getByLabel('Session name', { exact: true }).fill('On the local model');
  await page.getByLabel('First message').fill('Say hello.');
  await page.getByRole('button', { name: 'Create session' }).click();
  await page.locator('.session-name', { hasText: 'On the local model' }).waitFor({ timeout: T });
  await page.locator('.msg.agent .msg-body', { hasText: LLAMA_TEXT }).waitFor({ timeout: T });
  assert.match(await page.locator('.session-meta .model-provider').textContent(), /Local gpt-oss/);
  await page.locator('.session-row .model-provider', { hasText: 'local' }).first().waitFor();
  await shoot('local-session');

  const pid = childPid(server.child.proc.pid, 'codexpc');
  assert.ok(pid, 'the hub runs codexpc as its child');
  await openSheet();
  await option('codexpc').locator('.provider-state.state-up').waitFor({ timeout: T });
  // Frozen first (it stops answering, so the sheet shows it down for as long as the test looks),
  // then killed: the hub restarts it.
  process.kill(pid, 'SIGSTOP');
  await option('codexpc').locator('.provider-state.state-down').waitFor({ timeout: T });
  assert.match(await option('codexpc').locator('.provider-facts').textContent(), /does not answer/);
  await shoot('local-provider-down');
  process.kill(pid, 'SIGKILL');
  await option('codexpc').locator('.provider-state.state-up').waitFor({ timeout: T });
  await eventually(() => {
    const again = childPid(server.child.proc.pid, 'codexpc');
    return again && again !== pid;
  }, T, 'a new codexpc child');
  await closeSheet();
});
