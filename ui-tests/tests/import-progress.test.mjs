// A first start on a long Codex history: the server imports the rollouts it finds in
// CODEX_HOME/sessions in the background (newest first), the sidebar lists sessions from the
// first second, and a line above the list says how far the import is ("Importing history:
// 1,234 / 5,000"), fed by `GET /api/status`; it goes away when the import is complete. The
// rollouts are written in Codex's format by test-support's `write_rollouts` example, and a real
// `orbitdock serve` imports them through the same path as any rollout.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  tempDir, startOrbitdock, openLoggedIn, makeCodexHome, screenshotPath, eventually, stopAll,
} from '../lib/harness.mjs';
import { writeRollouts } from '../lib/seed.mjs';

const N = 5000;
let server;
let browser;
let page;

before(async () => {
  const dir = tempDir('import-progress');
  const codexHome = makeCodexHome(dir, 'http://127.0.0.1:9/v1');
  writeRollouts(codexHome, N, { turns: 1, pad: 50 });
  server = await startOrbitdock({ dataDir: path.join(dir, 'data'), codexHome });
  ({ browser, page } = await openLoggedIn(server));
});

after(async () => {
  await stopAll(browser, server);
});

test('the import of the history on disk is shown while it runs, with the list usable', async () => {
  const banner = page.locator('#import-progress');
  const text = await eventually(async () => {
    const t = await banner.isVisible() && await banner.locator('.import-text').textContent();
    return t && /^Importing history: [\d,]+ \/ 5,000$/.test(t) && t;
  }, 30000, 'the import progress line');
  const done = Number(text.split(':')[1].split('/')[0].replace(/,/g, ''));
  assert.ok(done < N, `shown while importing (${text})`);
  const bar = await banner.locator('progress').evaluate((p) => [p.value, p.max]);
  assert.equal(bar[1], N);
  // Usable meanwhile: the newest sessions (imported first) are listed.
  await page.locator('#session-list a.session-row').first().waitFor({ timeout: 20000 });
  await page.screenshot({ path: screenshotPath('import-progress') });
  // It counts up and goes away once everything is imported.
  await banner.waitFor({ state: 'hidden', timeout: 240000 });
  const st = await page.evaluate(() => fetch('/api/status').then((r) => r.json()));
  assert.equal(st.import.complete, true);
  assert.equal(st.import.files_done, N);
  assert.equal(st.sessions, N);
});
