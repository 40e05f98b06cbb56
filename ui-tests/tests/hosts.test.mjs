// Codex hosts in the browser: a second "machine" on loopback (the REAL pinned `codex app-server
// --listen ws://127.0.0.1:PORT --ws-auth capability-token --ws-token-file F` in its own
// CODEX_HOME) is added in the Hosts sheet (the token typed once, never shown back), tested,
// picked in the new-session sheet, and a session there answers through it (the rollout lands in
// the host's CODEX_HOME, not the hub's). Killing the host's app-server turns its chip and its
// Hosts row "unreachable"; starting it again on the same port turns them "connected" and the
// session takes another turn. A host that cannot be reached is added and removed from the sheet.
// Screenshots of the sheet, the picker and the session at desktop and 390 px.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, readdirSync, existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import {
  BIN, Child, tempDir, startFakeResponses, makeCodexHome, startOrbitdock, launchBrowser,
  openLoggedInPage, screenshotBoth, apiCall, eventually,
} from '../lib/harness.mjs';

const T = 60000;
const SCRIPT = [
  { text: 'Hello from the remote host.' },
  { text: 'Back after the restart.' },
];

let dir;
let project;
let model;
let server;
let browser;
let page;
let remoteHome;
let tokenFile;
let token;
let remote;
let remoteUrl;

/** The host's app-server: Codex's own WebSocket listener with a capability token. */
async function startRemote(listen) {
  const child = new Child('remote-codex', BIN.codex, [
    'app-server', '--listen', listen, '--ws-auth', 'capability-token', '--ws-token-file', tokenFile,
  ], { env: { CODEX_HOME: remoteHome, RUST_LOG: 'warn' } });
  const m = await child.waitFor(/listening on: (ws:\/\/127\.0\.0\.1:\d+)/, T, 'the remote app-server to listen');
  return { child, url: m[1] };
}

function rollouts(home) {
  const root = path.join(home, 'sessions');
  if (!existsSync(root)) return [];
  return readdirSync(root, { recursive: true }).filter((f) => String(f).endsWith('.jsonl'));
}

before(async () => {
  dir = tempDir('hosts');
  project = path.join(dir, 'project');
  mkdirSync(project, { recursive: true });
  model = await startFakeResponses(SCRIPT, dir);
  const hubHome = makeCodexHome(dir, model.baseUrl);
  const remoteDir = path.join(dir, 'remote');
  mkdirSync(remoteDir, { recursive: true });
  remoteHome = makeCodexHome(remoteDir, model.baseUrl);
  token = randomBytes(24).toString('hex');
  tokenFile = path.join(remoteDir, 'ws-token');
  writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  remote = await startRemote('ws://127.0.0.1:0');
  remoteUrl = remote.url;
  server = await startOrbitdock({ dataDir: path.join(dir, 'data'), codexHome: hubHome });
  browser = await launchBrowser();
  page = await openLoggedInPage(browser, server);
});

after(async () => {
  if (browser) await browser.close();
  for (const c of [server && server.child, remote && remote.child, model && model.child]) if (c) await c.kill();
});

function failureContext() {
  return `\n--- orbitdock ---\n${server.child.log.slice(-3000)}\n--- remote ---\n${remote.child.log.slice(-1500)}`;
}

test('a host is added in the Hosts sheet with its token never shown back, tested, and an unreachable one removed', async () => {
  await page.getByRole('button', { name: 'Codex hosts' }).click();
  const sheet = page.locator('#hosts-sheet');
  await sheet.locator('.empty', { hasText: 'No hosts yet' }).waitFor({ timeout: T });

  // One that cannot be reached: added, shown unreachable with its error, removed (two clicks).
  await sheet.getByLabel('Host name').fill('nowhere');
  await sheet.getByLabel('Host address').fill(`unix://${path.join(dir, 'no-such.sock')}`);
  await sheet.getByRole('button', { name: 'Add host' }).click();
  const nowhere = sheet.locator('.host-row[data-host="nowhere"]');
  await nowhere.locator('.host-state', { hasText: 'unreachable' }).waitFor({ timeout: T });
  await nowhere.locator('.host-error').waitFor({ timeout: T });
  await nowhere.getByRole('button', { name: 'Remove nowhere' }).click();
  await nowhere.getByRole('button', { name: 'Confirm removing nowhere' }).click();
  await nowhere.waitFor({ state: 'detached', timeout: T });
  const afterRemove = await apiCall(server, 'GET', '/api/hosts');
  assert.deepEqual(afterRemove.hosts.map((x) => x.name), [], 'removed on the server too');

  // The real one, with its token.
  await sheet.getByLabel('Host name').fill('box');
  await sheet.getByLabel('Host address').fill(remoteUrl);
  await sheet.getByLabel('Host token').fill(token);
  await sheet.getByRole('button', { name: 'Add host' }).click();
  const box = sheet.locator('.host-row[data-host="box"]');
  await box.locator('.host-state', { hasText: 'connected' }).waitFor({ timeout: T });
  await box.locator('.host-version', { hasText: 'Codex 0.' }).waitFor({ timeout: T });
  assert.equal(await sheet.getByLabel('Host token').inputValue(), '', 'the token field is cleared');
  assert.ok(!(await page.content()).includes(token), 'the token is nowhere in the page');
  const listed = await apiCall(server, 'GET', '/api/hosts');
  assert.ok(!JSON.stringify(listed).includes(token), 'the API never sends the token back');
  assert.equal(listed.hosts[0].state, 'connected');

  await box.getByRole('button', { name: 'Test box' }).click();
  await box.locator('.host-test.ok', { hasText: 'Reached: Codex 0.' }).waitFor({ timeout: T });
  await screenshotBoth(page, 'hosts-sheet');
  await sheet.getByRole('button', { name: 'Close hosts' }).click();
});

test('a session created on the host from the picker answers through it; the host going away and coming back shows', async () => {
  await page.getByRole('button', { name: 'New session' }).click();
  const sheet = page.locator('#new-session-sheet');
  const picker = sheet.getByLabel('Host', { exact: true });
  await picker.waitFor({ timeout: T });
  await eventually(async () => (await picker.locator('option').allTextContents())
    .some((t) => t.startsWith('box') && t.includes('connected')), T, 'box in the picker, connected');
  await picker.selectOption('box');
  await sheet.locator('.host-hint', { hasText: 'a path on box' }).waitFor({ timeout: T });
  await sheet.getByLabel('Project directory').fill(project);
  await sheet.getByLabel('Approval policy').selectOption('never');
  await sheet.getByLabel('Sandbox mode').selectOption('read-only');
  await sheet.getByLabel('First message').fill('Say hello from over there');
  await screenshotBoth(page, 'hosts-new-session-picker');
  await sheet.getByRole('button', { name: 'Create session' }).click();

  await page.locator('.msg.agent .msg-body', { hasText: 'Hello from the remote host.' })
    .waitFor({ timeout: T }).catch((e) => { throw new Error(`${e.message}${failureContext()}`); });
  const list = await apiCall(server, 'GET', '/api/sessions');
  const s = list.sessions.find((x) => x.cwd === project);
  assert.equal(s.host, 'box', 'the session belongs to the host');
  assert.equal(rollouts(remoteHome).length, 1, 'the thread lives in the host\u2019s CODEX_HOME');
  const header = page.locator('.session-meta .chip.host[data-host="box"]');
  const row = page.locator(`.session-list li[data-id="${s.id}"] .chip.host[data-host="box"]`);
  await header.and(page.locator('[data-state="connected"]')).waitFor({ timeout: T });
  await row.and(page.locator('[data-state="connected"]')).waitFor({ timeout: T });
  await screenshotBoth(page, 'hosts-session');

  // The host's app-server dies: the host is unreachable everywhere it is shown.
  await remote.child.kill();
  await header.and(page.locator('[data-state="unreachable"]')).waitFor({ timeout: T });
  await row.and(page.locator('[data-state="unreachable"]')).waitFor({ timeout: T });
  // The session itself says why it cannot take a message, in its header and its sidebar row.
  await page.locator('.status-slot .badge.status-host_unreachable', { hasText: 'Host unreachable' })
    .waitFor({ timeout: T });
  await page.locator(`.session-list li[data-id="${s.id}"] .badge.status-host_unreachable`)
    .waitFor({ timeout: T });
  assert.equal((await apiCall(server, 'GET', `/api/sessions/${s.id}`)).status, 'host_unreachable');
  await screenshotBoth(page, 'hosts-session-unreachable');
  await page.getByRole('button', { name: 'Codex hosts' }).click();
  const hostsSheet = page.locator('#hosts-sheet');
  const box = hostsSheet.locator('.host-row[data-host="box"]');
  await box.locator('.host-state', { hasText: 'unreachable' }).waitFor({ timeout: T });
  await box.locator('.host-error', { hasText: 'Connection refused' }).waitFor({ timeout: T });
  // The "Reached" line of the test run while it was connected is gone: it would contradict
  // the state next to it.
  assert.equal(await box.locator('.host-test').count(), 0);
  await screenshotBoth(page, 'hosts-unreachable');

  // Back on the same port: connected again, and the session takes a turn.
  remote = await startRemote(remoteUrl);
  await box.locator('.host-state', { hasText: 'connected' }).waitFor({ timeout: T })
    .catch((e) => { throw new Error(`${e.message}${failureContext()}`); });
  await hostsSheet.getByRole('button', { name: 'Close hosts' }).click();
  await header.and(page.locator('[data-state="connected"]')).waitFor({ timeout: T });
  const composer = page.getByLabel('Message (Enter sends, Shift+Enter for a new line)');
  await composer.fill('Are you back?');
  await composer.press('Enter');
  await page.locator('.msg.agent .msg-body', { hasText: 'Back after the restart.' })
    .waitFor({ timeout: T }).catch((e) => { throw new Error(`${e.message}${failureContext()}`); });
  await page.locator('.status-slot .badge.status-waiting').waitFor({ timeout: T });
  await screenshotBoth(page, 'hosts-reconnected');
  assert.ok(!(await page.content()).includes(token), 'the token is nowhere in the page');
});
