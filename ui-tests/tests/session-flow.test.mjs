// One realistic session, driven through the web UI in Debian's Chromium, against a real
// `orbitdock serve`, the real pinned Codex CLI (app-server) and codexpc's scripted gpt-oss model:
// create a session, watch text stream in, approve a command and see its output, approve a file
// change and see its diff in the card and in the "Changes" sidebar, rename, reload, survive a
// WebSocket blip and a server kill + restart, and check the phone layout. Screenshots of the main
// views go to artifacts/screenshots/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import {
  tempDir, startScriptedModel, makeCodexHome, startOrbitdock, launchBrowser, screenshotPath,
  apiCall, withTimeout,
} from '../lib/harness.mjs';

// Harmony completions the scripted model plays back, each used once, chosen by a `match` on the
// last input item of Codex's request (the user's message, or a tool's output).
const analysis = (t) => `<|channel|>analysis<|message|>${t}<|end|><|start|>assistant`;
const final = (t) => `<|channel|>final<|message|>${t}<|return|>`;
const execCall = (cmd) => `<|channel|>commentary to=functions.exec_command <|constrain|>json<|message|>${JSON.stringify({ cmd })}<|call|>`;

const GREETING = 'Hello from the **scripted** model.\n\nHere is some code:\n\n```sh\necho hi\n```\n';
const SLOW_TEXT = Array.from({ length: 40 }, (_, i) => `word${i}`).join(' ');
const ENDLESS_TEXT = Array.from({ length: 300 }, (_, i) => `tick${i}`).join(' ');
const PATCH = [
  "apply_patch <<'EOF'",
  '*** Begin Patch',
  '*** Add File: notes.md',
  '+first line',
  '+second line',
  '+third line',
  '*** End Patch',
  'EOF',
].join('\n');

const SCRIPT = [
  { match: 'Say hello', token_delay_ms: 20, completion: analysis('The user wants a greeting.') + final(GREETING) },
  { match: 'Run the command', completion: execCall('mkdir -p made-by-test && echo approved-output-42') },
  { match: 'approved-output-42', completion: final('The command printed approved-output-42.') },
  { match: 'Write the notes file', completion: execCall(PATCH) },
  { match: 'notes.md', completion: final('Wrote notes.md.') },
  { match: 'Stream slowly', token_delay_ms: 60, completion: final(SLOW_TEXT) },
  { match: 'Stream forever', token_delay_ms: 60, completion: final(ENDLESS_TEXT) },
  { match: 'After the restart', completion: final('Still here after the restart.') },
];

const T = 30000; // default bound for a UI condition that involves a model turn

let dir;
let project;
let model;
let codexHome;
let server;
let browser;
let page;
let sessionId;

before(async () => {
  dir = tempDir('flow');
  project = path.join(dir, 'project');
  mkdirSync(project, { recursive: true });
  model = await startScriptedModel(SCRIPT, dir);
  codexHome = makeCodexHome(dir, model.baseUrl);
  server = await startOrbitdock({ dataDir: path.join(dir, 'data'), codexHome });
  browser = await launchBrowser();
  await browser.context.grantPermissions(['notifications'], { origin: server.origin });
  page = await browser.context.newPage();
  // Record the browser notifications the page raises (the real Notification still runs).
  await page.addInitScript(() => {
    window.notified = [];
    const Real = window.Notification;
    if (!Real) return;
    window.Notification = class extends Real {
      constructor(title, options) {
        window.notified.push(title);
        super(title, options);
      }
    };
  });
  page.on('pageerror', (err) => console.error('page error:', err));
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.child.kill();
  if (model) await model.child.kill();
});

function failureContext() {
  return `\n--- orbitdock output ---\n${server.child.log.slice(-3000)}\n--- codexpc output ---\n${model.child.log.slice(-1500)}`;
}

async function send(text) {
  // Send between turns, as a user would: a message sent while a turn is still finishing would
  // steer that turn instead of starting a new one.
  await page.locator('.status-slot .badge.status-waiting').waitFor({ timeout: T });
  const input = page.getByLabel('Message (Enter sends, Shift+Enter for a new line)');
  await input.fill(text);
  await input.press('Enter');
  await page.locator('.msg.user .msg-body', { hasText: text }).first().waitFor({ timeout: T });
}

/** Item ids shown in the transcript, in order. */
async function shownItemIds() {
  return page.$$eval('.transcript .items > [data-item-id]', (els) => els.map((e) => e.dataset.itemId));
}

async function serverItemIds() {
  const page1 = await apiCall(server, 'GET', `/api/sessions/${encodeURIComponent(sessionId)}/items?limit=1000`);
  return page1.items.map((it) => it.id);
}

test('the one-time link `orbitdock serve` printed signs this browser in and opens the UI', async () => {
  await page.goto(server.signInLink);
  await page.waitForURL(`${server.origin}/`);
  await page.locator('#conn[data-state="live"]').waitFor({ timeout: 15000 });
  assert.equal(await page.title(), 'OrbitDock');
});

test('create a session from the new-session sheet and see streamed text', async () => {
  await page.getByRole('button', { name: 'New session' }).click();
  const sheet = page.locator('#new-session-sheet');
  await sheet.getByLabel('Project directory').fill(project);
  await sheet.getByLabel('Approval policy').selectOption('untrusted');
  await sheet.getByLabel('Sandbox mode').selectOption('danger-full-access');
  await sheet.getByLabel('First message').fill('Say hello');
  await page.screenshot({ path: screenshotPath('new-session-sheet') });
  await sheet.getByRole('button', { name: 'Create session' }).click();

  await page.waitForURL(/#\/s\/.+/, { timeout: T });
  sessionId = decodeURIComponent(new URL(page.url()).hash.slice('#/s/'.length));
  assert.ok(sessionId);

  // Streaming: the agent message is seen in progress (plain text, growing) before it completes.
  // (Read in the page at the moment it is seen, so a fast finish cannot race the check.)
  const partial = await page.waitForFunction(() => {
    const el = document.querySelector('.msg.agent[data-status="in_progress"] .msg-body');
    return el && el.textContent.includes('Hello') ? el.textContent : null;
  }, null, { timeout: T, polling: 'raf' }).then((h) => h.jsonValue()).catch((e) => {
    throw new Error(`${e.message}${failureContext()}`);
  });
  // Completed: markdown rendered by the server (bold + a labelled code block).
  const done = page.locator('.msg.agent[data-status="completed"] .msg-body.md');
  await done.locator('strong', { hasText: 'scripted' }).waitFor({ timeout: T });
  assert.equal(await done.locator('pre > code').textContent(), 'echo hi\n');
  assert.ok(partial.length > 0 && partial.length <= GREETING.length, `partial text seen: ${JSON.stringify(partial)}`);
  // Reasoning is there, collapsed.
  const reasoning = page.locator('details.item.reasoning').first();
  await reasoning.waitFor();
  assert.equal(await reasoning.evaluate((d) => d.open), false);

  // The sidebar lists it with provider, project and a status badge.
  const row = page.locator(`a.session-row[data-id="${sessionId}"]`);
  await row.waitFor();
  assert.match(await row.textContent(), /codex/);
  assert.match(await row.textContent(), /project/);
  await row.locator('.badge', { hasText: 'Waiting' }).waitFor({ timeout: T });
  await page.screenshot({ path: screenshotPath('session-streamed') });
});

test('approve a command (keyboard shortcut) and see its output and exit code', async () => {
  await send('Run the command');
  const card = page.locator('.approval-card[data-kind="command"]');
  await card.waitFor({ timeout: T }).catch((e) => {
    throw new Error(`${e.message}${failureContext()}`);
  });
  assert.match(await card.textContent(), /approved-output-42/);
  // Attention signals: title badge and sidebar status.
  await page.waitForFunction(() => document.title === '(1) OrbitDock', null, { timeout: 10000 });
  assert.deepEqual(await page.evaluate(() => window.notified), ['Say hello needs approval']);
  await page.locator(`a.session-row[data-id="${sessionId}"] .badge`, { hasText: 'Needs approval' }).waitFor();
  await page.screenshot({ path: screenshotPath('approval-command') });

  await page.locator('.transcript').focus();
  await page.keyboard.press('a');
  await card.waitFor({ state: 'detached', timeout: T });

  const cmd = page.locator('.item.cmd', { hasText: 'approved-output-42' }).last();
  await cmd.locator('pre.output', { hasText: 'approved-output-42' }).waitFor({ timeout: T });
  await cmd.locator('.chip', { hasText: 'exit 0' }).waitFor({ timeout: T });
  await page.locator('.msg.agent .msg-body', { hasText: 'The command printed approved-output-42.' }).waitFor({ timeout: T });
  await page.waitForFunction(() => document.title === 'OrbitDock', null, { timeout: 10000 });
  assert.ok(existsSync(path.join(project, 'made-by-test')), 'the approved command really ran');
  // The token badge shows the usage the model reported.
  const badge = page.locator('.token-badge');
  assert.match(await badge.getAttribute('aria-label'), /^Tokens: [1-9]\d* input, [1-9]\d* output, \d+ cached/);
});

test('approve a file change and see its diff in the card and in the Changes sidebar', async () => {
  await send('Write the notes file');
  const card = page.locator('.approval-card[data-kind="file_change"]');
  await card.waitFor({ timeout: T }).catch((e) => {
    throw new Error(`${e.message}${failureContext()}`);
  });
  await card.locator('.dl.add', { hasText: 'second line' }).waitFor();
  // The transcript's card for the same change says it waits for the decision.
  await page.locator('.item.filechange .chip', { hasText: 'awaiting approval' }).waitFor();
  await page.screenshot({ path: screenshotPath('approval-file-change') });
  await card.getByRole('button', { name: 'Approve', exact: true }).click();
  await card.waitFor({ state: 'detached', timeout: T });

  const fc = page.locator('.item.filechange').last();
  await fc.locator('.dl.add', { hasText: 'third line' }).waitFor({ timeout: T });
  assert.match(await fc.locator('.card-head .diffstat').textContent(), /\+3/);
  await page.locator('.msg.agent .msg-body', { hasText: 'Wrote notes.md.' }).waitFor({ timeout: T });
  assert.equal(readFileSync(path.join(project, 'notes.md'), 'utf8'), 'first line\nsecond line\nthird line\n');

  const toggle = page.locator('.side-toggle');
  await toggle.filter({ hasText: 'Changes' }).waitFor({ timeout: T });
  await toggle.click();
  const side = page.locator('#side-panel');
  await side.locator('code.path', { hasText: 'notes.md' }).waitFor();
  await side.locator('.dl.add', { hasText: 'first line' }).waitFor();
  assert.equal(await toggle.getAttribute('aria-pressed'), 'true');
  await page.screenshot({ path: screenshotPath('diff-sidebar') });
  await side.getByRole('button', { name: 'Close sidebar' }).click();
});

test('the autonomy picker changes approval policy and sandbox mid-session', async () => {
  const picker = page.getByLabel('Autonomy: approval policy and sandbox');
  const patched = page.waitForResponse((r) => r.url().endsWith('/config') && r.request().method() === 'PATCH');
  await picker.selectOption('auto');
  assert.equal((await patched).status(), 200);
  const state = await apiCall(server, 'GET', `/api/sessions/${encodeURIComponent(sessionId)}`);
  assert.equal(state.approval_policy, 'never');
  assert.equal(state.sandbox_mode, 'workspace-write');
  assert.equal(await picker.inputValue(), 'auto');
});

test('rename the session', async () => {
  await page.getByRole('button', { name: 'Rename session' }).click();
  const sheet = page.locator('#rename-sheet');
  await sheet.getByLabel('New session name').fill('Renamed by the browser test');
  await sheet.getByRole('button', { name: 'Save name' }).click();
  await page.locator('.session-name', { hasText: 'Renamed by the browser test' }).waitFor({ timeout: T });
  await page.locator(`a.session-row[data-id="${sessionId}"] .row-name`, { hasText: 'Renamed by the browser test' }).waitFor();
  const state = await apiCall(server, 'GET', `/api/sessions/${encodeURIComponent(sessionId)}`);
  assert.equal(state.name, 'Renamed by the browser test');
});

test('reload the page and find everything intact', async () => {
  const before = await shownItemIds();
  await page.reload();
  await page.locator('#conn[data-state="live"]').waitFor({ timeout: 15000 });
  await page.locator('.session-name', { hasText: 'Renamed by the browser test' }).waitFor();
  await page.waitForFunction((n) => document.querySelectorAll('.transcript .items > [data-item-id]').length >= n,
    before.length, { timeout: 10000 });
  const afterIds = await shownItemIds();
  assert.deepEqual(afterIds, before);
  assert.deepEqual(afterIds, await serverItemIds());
  assert.equal(new Set(afterIds).size, afterIds.length, 'no item shown twice');
  await page.locator('.item.cmd pre.output', { hasText: 'approved-output-42' }).waitFor();
  await page.locator('.item.filechange .dl.add', { hasText: 'second line' }).waitFor();
  await page.locator('.msg.agent .msg-body.md strong', { hasText: 'scripted' }).waitFor();
});

test('a WebSocket blip mid-stream loses and doubles nothing', async () => {
  await send('Stream slowly');
  const streaming = page.locator('.msg.agent[data-status="in_progress"] .msg-body');
  await streaming.filter({ hasText: 'word3' }).waitFor({ timeout: T });
  // Cut the socket from the page side while the server keeps streaming.
  await page.evaluate(() => {
    window.connStates = [];
    const conn = document.getElementById('conn');
    new MutationObserver(() => window.connStates.push(conn.dataset.state))
      .observe(conn, { attributes: true, attributeFilter: ['data-state'] });
    window.orbitdock.live.ws.close();
  });
  await page.waitForFunction(() => window.connStates.includes('offline') && window.connStates.at(-1) === 'live',
    null, { timeout: 15000, polling: 'raf' });
  const done = page.locator('.msg.agent[data-status="completed"] .msg-body', { hasText: 'word39' });
  await done.waitFor({ timeout: T });
  assert.equal((await done.textContent()).trim(), SLOW_TEXT);
  const ids = await shownItemIds();
  assert.deepEqual(ids, await serverItemIds());
});

test('interrupt a running turn from the input bar', async () => {
  await send('Stream forever');
  const streaming = page.locator('.msg.agent[data-status="in_progress"] .msg-body');
  await streaming.filter({ hasText: 'tick5' }).waitFor({ timeout: T });
  const interrupt = page.getByRole('button', { name: 'Interrupt the running turn' });
  await interrupt.click();
  await interrupt.waitFor({ state: 'hidden', timeout: T });
  await page.locator(`a.session-row[data-id="${sessionId}"] .badge`, { hasText: 'Waiting' }).waitFor({ timeout: T });
  const state = await apiCall(server, 'GET', `/api/sessions/${encodeURIComponent(sessionId)}`);
  assert.equal(state.current_turn ?? null, null);
  const items = (await apiCall(server, 'GET', `/api/sessions/${encodeURIComponent(sessionId)}/items?limit=1000`)).items;
  const last = items.filter((it) => it.type === 'agent_message').pop();
  assert.ok(!last.text.includes('tick299'), 'the reply was cut short');
  // Whatever the agent reported for the cut message, the page no longer shows it as streaming.
  const cut = page.locator(`.msg.agent[data-item-id="${last.id}"]`);
  assert.notEqual(await cut.getAttribute('data-status'), 'in_progress');
  assert.equal(await cut.locator('.typing').count(), 0);
});

test('kill and restart the server: the page reconnects and the session goes on', async () => {
  const before = await shownItemIds();
  const { port } = server;
  await server.child.kill('SIGKILL');
  await page.locator('#conn[data-state="offline"]').waitFor({ timeout: 10000 });
  await page.screenshot({ path: screenshotPath('server-down') });

  server = await startOrbitdock({ dataDir: path.join(dir, 'data'), codexHome, port });
  await page.locator('#conn[data-state="live"]').waitFor({ timeout: 20000 });
  await page.locator('.session-name', { hasText: 'Renamed by the browser test' }).waitFor();
  const afterIds = await shownItemIds();
  assert.deepEqual(afterIds, before, 'transcript unchanged across the restart');

  await send('After the restart');
  await page.locator('.msg.agent .msg-body', { hasText: 'Still here after the restart.' }).waitFor({ timeout: 45000 })
    .catch((e) => {
      throw new Error(`${e.message}${failureContext()}`);
    });
  const ids = await shownItemIds();
  assert.equal(new Set(ids).size, ids.length, 'no item shown twice');
  assert.deepEqual(ids, await serverItemIds());
  await page.screenshot({ path: screenshotPath('after-restart') });
});

test('end and resume; search and filter the sidebar', async () => {
  const row = page.locator(`a.session-row[data-id="${sessionId}"]`);
  await page.getByRole('button', { name: 'End session' }).click();
  await row.locator('.badge', { hasText: 'Ended' }).waitFor({ timeout: T });
  await page.locator('.status-slot .badge', { hasText: 'Ended' }).waitFor();
  await page.getByLabel('Filter by status').selectOption('active');
  await row.waitFor({ state: 'detached' });
  await page.getByLabel('Filter by status').selectOption('ended');
  await row.waitFor();
  await page.getByLabel('Filter by status').selectOption('all');
  await page.getByLabel('Search sessions').fill('no such session anywhere');
  await row.waitFor({ state: 'detached' });
  assert.equal(await page.locator('#session-list-empty').textContent(), 'No sessions match.');
  await page.getByLabel('Search sessions').fill('renamed browser');
  await row.waitFor();
  await page.getByLabel('Search sessions').fill('');

  await page.getByRole('button', { name: 'Resume session' }).click();
  await page.locator('.status-slot .badge:not(.status-ended)').waitFor({ timeout: T });
  await page.getByRole('button', { name: 'End session' }).waitFor();
});

test('phone width (390 px): no horizontal scroll, drawer, labelled controls', async () => {
  const phone = await browser.context.newPage();
  try {
    await phone.setViewportSize({ width: 390, height: 844 });
    await phone.goto(`${server.origin}/#/s/${encodeURIComponent(sessionId)}`);
    await phone.locator('#conn[data-state="live"]').waitFor({ timeout: 15000 });
    await phone.locator('.msg.agent .msg-body', { hasText: 'Still here after the restart.' }).waitFor();
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `page scrolls sideways by ${overflow}px`);
    await phone.screenshot({ path: screenshotPath('phone-session') });
    await phone.getByRole('button', { name: 'Show sessions' }).click();
    await phone.locator(`a.session-row[data-id="${sessionId}"]`).waitFor({ state: 'visible' });
    await phone.waitForFunction(() => getComputedStyle(document.getElementById('sidebar')).transform === 'none');
    await phone.screenshot({ path: screenshotPath('phone-sidebar') });
    await phone.emulateMedia({ colorScheme: 'dark' });
    await phone.getByRole('button', { name: 'Hide sessions' }).click();
    await phone.waitForFunction(() => getComputedStyle(document.getElementById('sidebar')).visibility === 'hidden');
    await phone.screenshot({ path: screenshotPath('phone-session-dark') });
    // Every button, input and select has an accessible name.
    const unnamed = await phone.evaluate(() => [...document.querySelectorAll('button, input, select, textarea')]
      .filter((el) => el.offsetParent !== null)
      .filter((el) => !(el.getAttribute('aria-label') || el.labels?.length || el.textContent.trim() || el.title))
      .map((el) => el.outerHTML.slice(0, 120)));
    assert.deepEqual(unnamed, []);
  } finally {
    await withTimeout(phone.close(), 10000, 'closing the phone page');
  }
});
