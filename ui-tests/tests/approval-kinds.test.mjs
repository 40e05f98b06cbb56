// Approval kinds answered in the browser (Debian's Chromium, a real `orbitdock serve`, the pinned
// Codex CLI, codexpc's scripted model): "Plan mode" on the composer sends the next message in
// Codex's plan collaboration mode, the model asks a question (`request_user_input`), the question
// card is answered from the page, and the answer is what the model reads next; a permissions
// request (`request_permissions`, behind a Codex feature flag) is granted from its card and the
// grant is what the tool answers. (Command and file-change cards: session-flow.test.mjs.)
// Screenshots at desktop and 390 px into artifacts/screenshots/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, screenshotPath, apiCall } from '../lib/harness.mjs';

const final = (t) => `<|channel|>final<|message|>${t}<|return|>`;
const call = (tool, args) => `<|channel|>commentary to=functions.${tool} <|constrain|>json<|message|>${JSON.stringify(args)}<|call|>`;
const QUESTION = {
  questions: [{
    id: 'color', header: 'Color', question: 'Which color should the button be?',
    options: [{ label: 'Blue', description: 'calm' }, { label: 'Green', description: 'fresh' }],
  }],
};
const SCRIPT = [
  { match: 'Plan the signup button', completion: call('request_user_input', QUESTION) },
  // The tool's output (the answers) is the last input item of the next request.
  { match: 'Green', completion: final('Plan: make the signup button Green.') },
  { match: 'Download the release notes', completion: call('request_permissions', {
    reason: 'download the release notes', permissions: { network: { enabled: true } },
  }) },
  // The grant, as the tool's output.
  { match: 'network', completion: final('Network access granted; downloading.') },
];
const T = 30000;

let stack;
let server;
let page;

before(async () => {
  stack = await startStack('approvalkinds', SCRIPT, {
    extraConfig: '[features]\nrequest_permissions_tool = true\n',
  });
  ({ server, page } = stack);
});

after(async () => {
  if (stack) await stack.stop();
});

test('a question asked in plan mode is answered from its card and reaches the model', async () => {
  const st = await apiCall(server, 'POST', '/api/sessions', {
    cwd: stack.project, name: 'Plan mode question', approval_policy: 'on-request', sandbox_mode: 'read-only',
  });
  await page.goto(`${server.origin}/#/s/${encodeURIComponent(st.id)}`);
  await page.locator('.session-name', { hasText: 'Plan mode question' }).waitFor({ timeout: T });
  const plan = page.getByLabel('Plan mode for the next message');
  await plan.check();
  const input = page.getByLabel('Message (Enter sends, Shift+Enter for a new line)');
  await input.fill('Plan the signup button');
  await input.press('Enter');

  const card = page.locator('.approval-card[data-kind="question"]');
  await card.waitFor({ timeout: T }).catch((e) => {
    throw new Error(`${e.message}${stack.failureContext()}`);
  });
  assert.equal(await plan.isChecked(), false, 'plan mode applies to one message');
  assert.match(await card.textContent(), /Which color should the button be\?/);
  await page.locator('.status-slot .badge', { hasText: 'Needs answer' }).waitFor({ timeout: T });
  await card.locator('.q-option', { hasText: 'Green' }).click();
  await page.screenshot({ path: screenshotPath('plan-question-desktop') });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: screenshotPath('plan-question-390') });
  await page.setViewportSize({ width: 1280, height: 820 });
  await card.getByRole('button', { name: 'Send answers' }).click();
  await card.waitFor({ state: 'detached', timeout: T });
  await page.locator('.msg.agent .msg-body', { hasText: 'Plan: make the signup button Green.' })
    .waitFor({ timeout: T }).catch((e) => {
      throw new Error(`${e.message}${stack.failureContext()}`);
    });
  const history = await apiCall(server, 'GET', `/api/sessions/${encodeURIComponent(st.id)}/approvals/history`);
  const answered = history.approvals.find((a) => a.approval && a.approval.kind === 'question');
  assert.ok(answered, JSON.stringify(history));
  assert.equal(answered.decision, 'accept');
});

test('a permissions request is granted from its card and the grant reaches Codex', async () => {
  const st = await apiCall(server, 'POST', '/api/sessions', {
    cwd: stack.project, name: 'Permissions request', approval_policy: 'on-request', sandbox_mode: 'workspace-write',
  });
  await page.goto(`${server.origin}/#/s/${encodeURIComponent(st.id)}`);
  await page.locator('.session-name', { hasText: 'Permissions request' }).waitFor({ timeout: T });
  const input = page.getByLabel('Message (Enter sends, Shift+Enter for a new line)');
  await input.fill('Download the release notes');
  await input.press('Enter');
  const card = page.locator('.approval-card[data-kind="permissions"]');
  await card.waitFor({ timeout: T }).catch((e) => {
    throw new Error(`${e.message}${stack.failureContext()}`);
  });
  assert.match(await card.textContent(), /Grant these permissions\?/);
  assert.match(await card.textContent(), /download the release notes/);
  await page.screenshot({ path: screenshotPath('approval-permissions-desktop') });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: screenshotPath('approval-permissions-390') });
  await page.setViewportSize({ width: 1280, height: 820 });
  await card.getByRole('button', { name: 'Approve', exact: true }).click();
  await card.waitFor({ state: 'detached', timeout: T });
  await page.locator('.msg.agent .msg-body', { hasText: 'Network access granted; downloading.' })
    .waitFor({ timeout: T }).catch((e) => {
      throw new Error(`${e.message}${stack.failureContext()}`);
    });
});
