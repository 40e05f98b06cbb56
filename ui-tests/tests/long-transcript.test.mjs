// A long transcript in the browser: the page opens on the tail (one page of items, not the whole
// session), pages older items in when the reader scrolls up (or presses "Load earlier
// messages"), keeps them in order without duplicates, and keeps the reader's place.
// The session is written into a real data dir by the server crate's `seed_transcript` example
// (server stopped), then served by a real `orbitdock serve`.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import {
  ROOT, tempDir, startOrbitdock, launchBrowser, makeCodexHome, screenshotPath, signIn,
} from '../lib/harness.mjs';

const ITEMS = 1000;
const PAGE = 200;

let server;
let browser;
let page;
let sessionId;

before(async () => {
  const build = spawnSync('cargo', ['build', '--quiet', '--locked', '-p', 'orbitdock-server', '--example', 'seed_transcript'],
    { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  assert.equal(build.status, 0, 'building the seed_transcript example');
  const dir = tempDir('long');
  const dataDir = path.join(dir, 'data');
  const target = process.env.CARGO_TARGET_DIR ? path.resolve(ROOT, process.env.CARGO_TARGET_DIR) : path.join(ROOT, 'target');
  const seed = spawnSync(path.join(target, 'debug', 'examples', 'seed_transcript'),
    ['--data-dir', dataDir, '--items', String(ITEMS), '--name', 'Long transcript'], { encoding: 'utf8' });
  assert.equal(seed.status, 0, seed.stderr);
  sessionId = seed.stdout.trim();
  // Viewing needs no model: the session is ended and Codex is never asked anything.
  server = await startOrbitdock({ dataDir, codexHome: makeCodexHome(dir, 'http://127.0.0.1:9/v1') });
  browser = await launchBrowser();
  page = await browser.context.newPage();
  await signIn(page, server);
  await page.locator('#conn[data-state="live"]').waitFor({ timeout: 15000 });
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.child.kill();
});

const shownSeqs = () => page.$$eval('.transcript .items > [data-seq]', (els) => els.map((e) => Number(e.dataset.seq)));
const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

test('opens on the last page of items, rendered and scrolled to the end', async () => {
  await page.locator(`a.session-row[data-id="${sessionId}"]`).click();
  await page.locator(`.transcript[data-last-seq="${ITEMS}"]`).waitFor();
  assert.deepEqual(await shownSeqs(), range(ITEMS - PAGE + 1, ITEMS));
  const gap = await page.$eval('.transcript', (t) => t.scrollHeight - t.scrollTop - t.clientHeight);
  assert.ok(gap < 80, `scrolled to the end (gap ${gap}px)`);
  // Rendered: markdown of the last agent message and its code block.
  await page.locator(`.msg.agent[data-seq="${ITEMS}"] .msg-body.md pre > code`).waitFor();
});

test('scrolling to the top pages older items in, in order, keeping the reader in place', async () => {
  const anchor = page.locator(`.transcript .items > [data-seq="${ITEMS - PAGE + 1}"]`);
  await page.$eval('.transcript', (t) => { t.scrollTop = 0; });
  await page.locator('.transcript[data-rendered-count]').waitFor();
  await page.waitForFunction((n) => document.querySelectorAll('.transcript .items > [data-seq]').length >= n, 2 * PAGE);
  const seqs = await shownSeqs();
  assert.ok(seqs[0] <= ITEMS - 2 * PAGE + 1, `older page loaded (first shown: ${seqs[0]})`);
  assert.deepEqual(seqs, range(seqs[0], ITEMS), 'contiguous, ascending, no item twice');
  // The item that was at the top is still in view-ish: the page did not jump to the new top.
  const top = await anchor.evaluate((el) => el.getBoundingClientRect().top);
  assert.ok(top > -2000, `anchor stayed near the viewport (top=${top})`);
});

test('"Load earlier messages" works from the keyboard, down to the first item', async () => {
  const button = page.getByRole('button', { name: 'Load earlier messages' });
  for (let i = 0; i < ITEMS / PAGE + 2; i += 1) {
    const count = (await shownSeqs()).length;
    if (count >= ITEMS) break;
    if (!(await button.isVisible())) {
      await page.waitForFunction((n) => document.querySelectorAll('.transcript .items > [data-seq]').length > n, count);
      continue;
    }
    await button.focus();
    await page.keyboard.press('Enter');
    await page.waitForFunction((n) => document.querySelectorAll('.transcript .items > [data-seq]').length > n, count);
  }
  assert.deepEqual(await shownSeqs(), range(1, ITEMS));
  await page.locator('.transcript-top').waitFor({ state: 'hidden' });
  await page.screenshot({ path: screenshotPath('long-transcript-top') });
});
