// Thread operations in the browser (Debian's Chromium, a real `orbitdock serve`, the pinned Codex
// CLI, codexpc's scripted model): while a turn works the composer offers "Add to current turn"
// and a message typed then is steered into that turn (the model answers it in the same turn);
// Archive hides a session from the sidebar, "Show archived" brings it back dimmed, Unarchive
// restores it; Compact shows the compaction in progress, then the compacted card. Screenshots at desktop and 390 px into artifacts/screenshots/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, screenshotPath, apiCall, eventually } from '../lib/harness.mjs';

const final = (t) => `<|channel|>final<|message|>${t}<|return|>`;
const SLOW_TEXT = Array.from({ length: 60 }, (_, i) => `beat${i}`).join(' ');
const SCRIPT = [
  { match: 'Stream slowly', token_delay_ms: 60, completion: final(SLOW_TEXT) },
  { match: 'steered from the browser', completion: final('Heard the steer.') },
  { match: 'Archive me', completion: final('Ready to be archived.') },
  { match: 'Before compaction', completion: final('A long answer that compaction will fold away.') },
  // Codex's compaction request (its own prompt): the one line without `match`, so it must stay
  // last (lines are taken first-unused-first).
  { token_delay_ms: 60, completion: final(Array.from({ length: 25 }, (_, i) => `summary${i}`).join(' ')) },
];
const T = 30000;

let stack;
let server;
let page;
const failureContext = () => stack.failureContext();

before(async () => {
  stack = await startStack('threadops', SCRIPT);
  ({ server, page } = stack);
});

after(async () => {
  if (stack) await stack.stop();
});

async function openSession(name, prompt) {
  const st = await apiCall(server, 'POST', '/api/sessions', {
    cwd: stack.project, name, approval_policy: 'never', sandbox_mode: 'read-only', prompt,
  });
  await page.goto(`${server.origin}/#/s/${encodeURIComponent(st.id)}`);
  await page.locator('.session-name', { hasText: name }).waitFor({ timeout: T });
  return st;
}

test('while a turn works the composer adds to it, and the steer is answered in that turn', async () => {
  const st = await openSession('Steer from the browser', 'Stream slowly');
  const input = page.getByLabel('Message (Enter sends, Shift+Enter for a new line)');
  const button = page.locator('form.composer button[type="submit"]');
  await page.locator('.msg.agent[data-status="in_progress"] .msg-body', { hasText: 'beat2' })
    .waitFor({ timeout: T });
  assert.equal(await input.getAttribute('placeholder'), 'Add to current turn', failureContext());
  assert.equal((await button.textContent()).trim(), 'Add to turn');
  assert.equal(await button.getAttribute('aria-label'), 'Add to current turn');
  await page.screenshot({ path: screenshotPath('steer-composer-desktop') });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: screenshotPath('steer-composer-390') });
  await page.setViewportSize({ width: 1280, height: 820 });

  await input.fill('Please also note this, steered from the browser');
  await input.press('Enter');
  await page.locator('.msg.agent .msg-body', { hasText: 'Heard the steer.' }).waitFor({ timeout: T });
  assert.equal(await page.locator('.toast.error').count(), 0, 'no error toast for a message sent mid-turn');
  // One turn only: the steer went into the running turn.
  const items = await apiCall(server, 'GET', `/api/sessions/${encodeURIComponent(st.id)}/items?limit=1000`);
  const turns = new Set(items.items.filter((i) => i.turn_id).map((i) => i.turn_id));
  assert.equal(turns.size, 1, `one turn: ${JSON.stringify([...turns])}${failureContext()}`);
  await page.locator('.status-slot .badge.status-waiting').waitFor({ timeout: T });
  assert.equal(await input.getAttribute('placeholder'), 'Message the agent');
  assert.equal((await button.textContent()).trim(), 'Send');
});

test('Archive hides a session; Show archived brings it back dimmed; Unarchive restores it', async () => {
  const st = await openSession('Archive candidate', 'Archive me');
  await page.locator('.msg.agent .msg-body', { hasText: 'Ready to be archived.' }).waitFor({ timeout: T });
  await page.locator('.status-slot .badge.status-waiting').waitFor({ timeout: T });
  const row = page.locator(`#session-list a[data-id="${st.id}"]`);
  await row.waitFor({ timeout: T });

  await page.getByRole('button', { name: 'Archive session' }).click();
  await row.waitFor({ state: 'detached', timeout: T });
  const server1 = await apiCall(server, 'GET', `/api/sessions/${encodeURIComponent(st.id)}`);
  assert.equal(server1.archived, true);

  await page.getByLabel('Show archived sessions').check();
  await row.waitFor({ timeout: T });
  assert.match(await row.getAttribute('class'), /\barchived\b/);
  const opacity = await row.evaluate((el) => Number(getComputedStyle(el).opacity));
  assert.ok(opacity < 1, `archived rows are dimmed (opacity ${opacity})`);
  await page.screenshot({ path: screenshotPath('archive-show-archived-desktop') });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.getByRole('button', { name: 'Show sessions' }).click();
  // The drawer slides in: shoot once it is in place.
  await page.waitForFunction(() => {
    const r = document.getElementById('sidebar').getBoundingClientRect();
    return r.left >= 0 && getComputedStyle(document.getElementById('sidebar')).visibility === 'visible';
  }, null, { timeout: T, polling: 'raf' });
  await row.waitFor({ state: 'visible', timeout: T });
  await page.screenshot({ path: screenshotPath('archive-show-archived-390') });
  await page.keyboard.press('Escape');
  await page.setViewportSize({ width: 1280, height: 820 });

  await page.getByRole('button', { name: 'Unarchive session' }).click();
  await eventually(async () => !/\barchived\b/.test(await row.getAttribute('class')), T,
    'the row to lose its archived look');
  await page.getByLabel('Show archived sessions').uncheck();
  await row.waitFor({ timeout: T });
  const server2 = await apiCall(server, 'GET', `/api/sessions/${encodeURIComponent(st.id)}`);
  assert.equal(server2.archived, false);
});

test('Compact shows the compaction in progress, then a compacted card', async () => {
  await openSession('Compaction from the browser', 'Before compaction');
  await page.locator('.msg.agent .msg-body', { hasText: 'fold away' }).waitFor({ timeout: T });
  await page.locator('.status-slot .badge.status-waiting').waitFor({ timeout: T });
  const compact = page.getByRole('button', { name: 'Compact the context' });
  assert.equal(await compact.isEnabled(), true);
  await compact.click();
  const card = page.locator('.item.compaction');
  await page.locator('.item.compaction.in-progress[aria-busy="true"]').waitFor({ timeout: T });
  assert.match(await card.textContent(), /Compacting the context/);
  assert.equal(await compact.isDisabled(), true, 'no second compaction while one runs');
  await page.screenshot({ path: screenshotPath('compaction-in-progress-desktop') });
  await page.locator('.item.compaction[data-status="completed"]').waitFor({ timeout: T });
  assert.match(await card.textContent(), /Context compacted/);
  await page.locator('.status-slot .badge.status-waiting').waitFor({ timeout: T });
  assert.equal(await compact.isEnabled(), true);
  await page.screenshot({ path: screenshotPath('compaction-done-desktop') });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: screenshotPath('compaction-done-390') });
  await page.setViewportSize({ width: 1280, height: 820 });
});
