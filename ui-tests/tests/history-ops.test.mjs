// Revert, fork and review in the browser (Debian's Chromium, a real `orbitdock serve`, the pinned
// Codex CLI, codexpc's scripted model): "Revert from here" on a message asks for confirmation,
// saying file changes are not undone, then the transcript shows only what Codex kept; "Fork from
// here" opens a new session holding the conversation up to that message, and the sidebar shows
// where it came from; "Review…" runs a review whose entering review mode and findings appear in
// the transcript. Screenshots at desktop and 390 px into artifacts/screenshots/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { startStack, screenshotPath, apiCall, eventually } from '../lib/harness.mjs';

const final = (t) => `<|channel|>final<|message|>${t}<|return|>`;
const FINDINGS = JSON.stringify({
  findings: [{
    title: '[P2] Debug line left in app.txt',
    body: 'The added line looks like leftover debugging output.',
    confidence_score: 0.8,
    priority: 2,
    code_location: { absolute_file_path: '/tmp/app.txt', line_range: { start: 2, end: 2 } },
  }],
  overall_correctness: 'patch is incorrect',
  overall_explanation: 'A leftover debug line was added.',
  overall_confidence_score: 0.7,
});
const SCRIPT = [
  { match: 'Kept question', completion: final('Kept answer.') },
  { match: 'Dropped question', completion: final('Dropped answer.') },
  { match: 'Question after the revert', completion: final('Answer after the revert.') },
  { match: 'Question in the fork', completion: final('Answer in the fork.') },
  { match: 'Review the current code changes', completion: final(FINDINGS) },
];
const T = 30000;

let stack;
let project;
let server;
let page;

before(async () => {
  stack = await startStack('historyops', SCRIPT);
  ({ project, server, page } = stack);
  // A git repository with an uncommitted change, for the review.
  const git = (...args) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.invalid', ...args], { cwd: project });
  git('init', '-q');
  writeFileSync(path.join(project, 'app.txt'), 'original\n');
  git('add', 'app.txt');
  git('commit', '-q', '-m', 'first');
  writeFileSync(path.join(project, 'app.txt'), 'original\nconsole.log("debug")\n');
});

after(async () => {
  if (stack) await stack.stop();
});

async function idle() {
  await page.locator('.status-slot .badge.status-waiting').waitFor({ timeout: T });
}

async function shoot(name, { drawer = false } = {}) {
  await page.screenshot({ path: screenshotPath(`${name}-desktop`) });
  await page.setViewportSize({ width: 390, height: 844 });
  if (drawer) {
    await page.getByRole('button', { name: 'Show sessions' }).click();
    await page.waitForFunction(() => {
      const r = document.getElementById('sidebar').getBoundingClientRect();
      return r.left >= 0 && getComputedStyle(document.getElementById('sidebar')).visibility === 'visible';
    }, null, { timeout: T, polling: 'raf' });
  }
  await page.screenshot({ path: screenshotPath(`${name}-390`) });
  if (drawer) await page.keyboard.press('Escape');
  await page.setViewportSize({ width: 1280, height: 820 });
}

let parent;

test('Revert from a message asks first, says files stay, and leaves only what Codex kept', async () => {
  parent = await apiCall(server, 'POST', '/api/sessions', {
    cwd: project, name: 'History parent', approval_policy: 'never', sandbox_mode: 'read-only',
    prompt: 'Kept question',
  });
  await page.goto(`${server.origin}/#/s/${encodeURIComponent(parent.id)}`);
  await page.locator('.msg.agent .msg-body', { hasText: 'Kept answer.' }).waitFor({ timeout: T });
  await idle();
  const input = page.getByLabel('Message (Enter sends, Shift+Enter for a new line)');
  await input.fill('Dropped question');
  await input.press('Enter');
  await page.locator('.msg.agent .msg-body', { hasText: 'Dropped answer.' }).waitFor({ timeout: T });
  await idle();

  const dropped = page.locator('.msg.user', { hasText: 'Dropped question' });
  await dropped.getByRole('button', { name: 'Revert from this message' }).click();
  const dialog = page.locator('#revert-sheet');
  await dialog.waitFor({ state: 'visible', timeout: T });
  assert.match(await dialog.textContent(), /File changes are not undone/);
  assert.match(await dialog.textContent(), /Drop this message, its answer and everything after it/);
  await shoot('revert-confirm');
  await dialog.getByRole('button', { name: 'Revert' }).click();
  await dialog.waitFor({ state: 'hidden', timeout: T });

  await page.locator('.item.notice', { hasText: 'Files they changed were not restored' }).waitFor({ timeout: T });
  await eventually(async () => (await page.locator('.msg', { hasText: 'Dropped' }).count()) === 0, T,
    'the dropped turn to leave the transcript');
  assert.equal(await page.locator('.msg.agent', { hasText: 'Kept answer.' }).count(), 1, stack.failureContext());
  await shoot('revert-done');

  // A new message works after the revert.
  await input.fill('Question after the revert');
  await input.press('Enter');
  await page.locator('.msg.agent .msg-body', { hasText: 'Answer after the revert.' }).waitFor({ timeout: T });
  await idle();
});

test('Fork from a message opens a new session with the conversation up to it', async () => {
  const first = page.locator('.msg.user', { hasText: 'Kept question' });
  await first.getByRole('button', { name: 'Fork from this message' }).click();
  const dialog = page.locator('#fork-sheet');
  await dialog.waitFor({ state: 'visible', timeout: T });
  assert.match(await dialog.textContent(), /up to and including this message/);
  await dialog.getByLabel('Fork name').fill('Forked in the browser');
  await dialog.getByLabel('Fork sandbox mode').selectOption('workspace-write');
  await shoot('fork-dialog');
  await dialog.getByRole('button', { name: 'Create fork' }).click();
  await dialog.waitFor({ state: 'hidden', timeout: T });

  await page.locator('.session-name', { hasText: 'Forked in the browser' }).waitFor({ timeout: T });
  await page.locator('.msg.agent', { hasText: 'Kept answer.' }).waitFor({ timeout: T });
  assert.equal(await page.locator('.msg', { hasText: 'Answer after the revert.' }).count(), 0,
    'the fork stops at the chosen message');
  await page.locator('.session-meta .fork-chip', { hasText: 'fork of History parent' }).waitFor({ timeout: T });
  const forkId = decodeURIComponent(new URL(page.url()).hash.replace('#/s/', ''));
  const row = page.locator(`#session-list a[data-id="${forkId}"]`);
  await row.locator('.fork-chip', { hasText: 'History parent' }).waitFor({ timeout: T });
  const st = await apiCall(server, 'GET', `/api/sessions/${encodeURIComponent(forkId)}`);
  assert.equal(st.forked_from, parent.id);
  assert.equal(st.sandbox_mode, 'workspace-write');
  await shoot('fork-sidebar', { drawer: true });

  const input = page.getByLabel('Message (Enter sends, Shift+Enter for a new line)');
  await input.fill('Question in the fork');
  await input.press('Enter');
  await page.locator('.msg.agent .msg-body', { hasText: 'Answer in the fork.' }).waitFor({ timeout: T });
  const parentItems = await apiCall(server, 'GET', `/api/sessions/${encodeURIComponent(parent.id)}/items?limit=1000`);
  assert.ok(!JSON.stringify(parentItems).includes('Question in the fork'), 'the parent never sees the fork');
});

test('Review shows review mode and the findings in the transcript', async () => {
  await page.goto(`${server.origin}/#/s/${encodeURIComponent(parent.id)}`);
  await page.locator('.session-name', { hasText: 'History parent' }).waitFor({ timeout: T });
  await idle();
  await page.getByRole('button', { name: 'Start a review' }).click();
  const dialog = page.locator('#review-sheet');
  await dialog.waitFor({ state: 'visible', timeout: T });
  assert.equal(await dialog.getByLabel('What to review').inputValue(), 'uncommitted_changes');
  await shoot('review-dialog');
  await dialog.getByRole('button', { name: 'Start review' }).click();
  await dialog.waitFor({ state: 'hidden', timeout: T });
  await page.locator('.item.review-enter', { hasText: 'Review mode' }).waitFor({ timeout: T });
  const findings = page.locator('.msg.review.review-exit');
  await findings.locator('.msg-body', { hasText: 'Debug line left in app.txt' }).waitFor({ timeout: T });
  await idle();
  await findings.scrollIntoViewIfNeeded();
  await shoot('review-findings');
});
