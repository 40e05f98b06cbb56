// The sidebar with thousands of sessions: only the rows in view are in the DOM, scrolling pages
// through the whole list (the server pages; the sidebar asks for more near the end), filters
// are applied by the server, and full-text search shows snippets and opens the matching item.
// The sessions are seeded through the server's own store (`seed_sessions`), then a real
// `orbitdock serve` and Debian's Chromium.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  tempDir, startOrbitdock, openLoggedIn, makeCodexHome, screenshotPath, eventually, stopAll,
} from '../lib/harness.mjs';
import { seedSessions, seededId } from '../lib/seed.mjs';

const N = 1500;
const T = 20000;
let server;
let browser;
let page;

before(async () => {
  const dir = tempDir('sidebar-scale');
  const dataDir = path.join(dir, 'data');
  seedSessions(dataDir, N, { items: 3 });
  server = await startOrbitdock({ dataDir, codexHome: makeCodexHome(dir, 'http://127.0.0.1:9/v1') });
  ({ browser, page } = await openLoggedIn(server));
});

after(async () => {
  await stopAll(browser, server);
});

const rowsInDom = () => page.locator('#session-list a.session-row').count();

test('the list is virtualized and pages through every session as it scrolls', async () => {
  await page.locator(`#session-list a[data-id="${seededId(0)}"]`).waitFor({ timeout: T });
  const first = await rowsInDom();
  assert.ok(first > 5 && first < 80, `only the rows in view are rendered (${first})`);
  // Scroll to the end repeatedly: each time near the end, the next page is asked for.
  const last = seededId(N - 1);
  await eventually(async () => {
    await page.locator('#session-list').evaluate((el) => { el.scrollTop = el.scrollHeight; });
    return page.locator(`#session-list a[data-id="${last}"]`).count();
  }, T, 'the oldest session to be reachable by scrolling', 200);
  const held = await page.evaluate(() => window.orbitdock.store.list.sessions.size);
  assert.equal(held, N, 'every page was loaded once, none twice');
  assert.ok(await rowsInDom() < 80, 'still only the rows in view');
  await page.screenshot({ path: screenshotPath('sidebar-scrolled-to-end') });
  await page.locator('#session-list').evaluate((el) => { el.scrollTop = 0; });
  await page.locator(`#session-list a[data-id="${seededId(0)}"]`).waitFor();
});

test('the provider filter is applied by the server', async () => {
  await page.getByLabel('Filter by provider').selectOption('claude');
  // Every fifth seeded session is Claude's (4, 9, ...). Session 4 is also in the unfiltered
  // list, so its row alone does not say the filtered page is shown: wait until the server's
  // filtered total is held and every rendered row (painted a frame later) is a Claude one.
  const claudeOnly = (id) => Number(id.slice(5)) % 5 === 4;
  const ids = await eventually(async () => {
    const total = await page.evaluate(() => window.orbitdock.store.list.total);
    const shown = await page.locator('#session-list a.session-row')
      .evaluateAll((as) => as.map((a) => a.dataset.id));
    return total === N / 5 && shown.includes(seededId(4)) && shown.every(claudeOnly) && shown;
  }, T, 'only Claude sessions listed, with the filtered total');
  assert.ok(ids.length > 0);
  for (const id of ids) assert.ok(claudeOnly(id), id);
  await page.getByLabel('Filter by provider').selectOption('all');
  await page.locator(`#session-list a[data-id="${seededId(0)}"]`).waitFor({ timeout: T });
});

test('search shows the matching snippet and opens the session at that item', async () => {
  const target = 1234;
  await page.getByLabel('Search sessions').fill(`needle-${target}`);
  const row = page.locator(`#session-list a.session-row.hit[data-id="${seededId(target)}"]`);
  await row.waitFor({ timeout: T });
  assert.equal(await page.locator('#session-list a.session-row').count(), 1);
  const marks = await row.locator('.row-snippet mark').allTextContents();
  assert.ok(marks.includes('needle') && marks.includes(String(target)), `highlighted: ${marks}`);
  await page.screenshot({ path: screenshotPath('sidebar-search-hit') });
  await row.click();
  await page.waitForURL(new RegExp(`#/s/${seededId(target)}/i/\\d+$`));
  const focused = page.locator('.search-target');
  await focused.waitFor({ timeout: T });
  assert.match(await focused.textContent(), new RegExp(`needle-${target}`));
  // Nothing found: the list says so.
  await page.getByLabel('Search sessions').fill('no such words anywhere at all');
  await page.locator('#session-list-empty', { hasText: 'No sessions match.' }).waitFor({ timeout: T });
  await page.getByLabel('Search sessions').fill('');
  await page.locator(`#session-list a[data-id="${seededId(0)}"]`).waitFor({ timeout: T });
});
