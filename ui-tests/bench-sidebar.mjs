#!/usr/bin/env node
// Benchmark: how long the web UI takes to show the sidebar's first rows with 50,000 sessions
// (goal: under 300 ms), in Debian's Chromium against a real `orbitdock serve`.
//
// Seeding: the server crate's `seed_sessions` example writes the sessions straight into the data
// dir's SQLite through the server's own store, with the server stopped (no seeding route exists
// in any build of the server).
//
// "Sidebar open" is measured in the page, from the start of the navigation that loads the UI
// (`performance.timeOrigin`) to the first animation frame after the first session row is in the
// list, over RUNS reloads. Baselines measured in the same run:
//   - the same UI on a server holding 10 sessions (paging makes the cost independent of size),
//   - fetching and parsing the whole unpaged list (`GET /api/sessions`), what every client did
//     before the list was paged, without rendering any of it.
// Prints medians and ratios. Exits non-zero only when something breaks, never on timings.
//
// `node bench-sidebar.mjs` (BENCH_SESSIONS, BENCH_RUNS tune it); needs
// `cargo build -p orbitdock -p orbitdock-server --example seed_sessions`. Measured figures, with
// the machine and commands: docs/history-scale.md.

import { rmSync } from 'node:fs';
import path from 'node:path';
import {
  tempDir, startOrbitdock, launchBrowser, screenshotPath, makeCodexHome, withTimeout, signIn,
} from './lib/harness.mjs';
import { seedSessions } from './lib/seed.mjs';

const BIG = Number(process.env.BENCH_SESSIONS || 50000);
const SMALL = 10;
const RUNS = Number(process.env.BENCH_RUNS || 7);
const GOAL_MS = 300;

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

// Installed before the UI's scripts: notes when the first session row is painted.
const OBSERVE_FIRST_ROW = () => {
  window.__firstRowMs = null;
  const seen = () => {
    if (window.__firstRowMs !== null) return true;
    if (!document.querySelector('#session-list a.session-row')) return false;
    requestAnimationFrame(() => { window.__firstRowMs = performance.now(); });
    return true;
  };
  const watch = () => {
    if (seen()) return;
    new MutationObserver((_, obs) => { if (seen()) obs.disconnect(); })
      .observe(document.documentElement, { childList: true, subtree: true });
  };
  if (document.documentElement) watch();
  else document.addEventListener('DOMContentLoaded', watch);
};

async function sidebarTimes(server, browser, n) {
  const page = await browser.context.newPage();
  await page.addInitScript(OBSERVE_FIRST_ROW);
  await signIn(page, server);
  await page.locator('#session-list a.session-row').first().waitFor({ timeout: 30000 });
  const times = [];
  // The first load (sign-in redirect, cold caches) is warm-up.
  for (let i = 0; i < RUNS; i += 1) {
    await page.reload();
    const ms = await withTimeout((async () => {
      for (;;) {
        const v = await page.evaluate(() => window.__firstRowMs);
        if (v !== null) return v;
        await new Promise((r) => setTimeout(r, 10));
      }
    })(), 30000, `the first row of ${n} sessions`);
    times.push(ms);
  }
  const held = await page.evaluate(() => [window.orbitdock.store.list.total,
    document.querySelectorAll('#session-list a.session-row').length]);
  if (held[0] !== n) throw new Error(`the list says ${held[0]} sessions, expected ${n}`);
  const unpaged = [];
  for (let i = 0; i < Math.min(RUNS, 3); i += 1) {
    unpaged.push(await page.evaluate(async () => {
      const t0 = performance.now();
      const r = await fetch('/api/sessions');
      const body = await r.json();
      if (!body.sessions) throw new Error('no sessions in the unpaged list');
      return performance.now() - t0;
    }));
  }
  if (n === BIG) await page.screenshot({ path: screenshotPath('bench-sidebar-50k') });
  await page.close();
  return { times, rows: held[1], unpaged };
}

async function run(n) {
  const dir = tempDir(`bench-sidebar-${n}`);
  const dataDir = path.join(dir, 'data');
  const t0 = Date.now();
  seedSessions(dataDir, n, { items: 2 });
  const seeded = Date.now() - t0;
  const server = await startOrbitdock({ dataDir, codexHome: makeCodexHome(dir, 'http://127.0.0.1:9/v1'),
    extraArgs: ['--no-watch'] });
  const browser = await launchBrowser();
  try {
    return { ...(await sidebarTimes(server, browser, n)), seeded };
  } finally {
    await browser.close();
    await server.child.kill();
    // 50,000 seeded sessions are ~110 MB: nothing reads them after the run.
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  const big = await run(BIG);
  const small = await run(SMALL);
  const mb = median(big.times);
  const ms = median(small.times);
  const mu = median(big.unpaged);
  console.log(`\nweb UI sidebar open (Chromium headless, ${RUNS} reloads, medians; navigation start to the first row painted)`);
  console.log(`  ${BIG} sessions : ${mb.toFixed(1)} ms  (min ${Math.min(...big.times).toFixed(1)}, max ${Math.max(...big.times).toFixed(1)}; ${big.rows} rows in the DOM; seeded in ${(big.seeded / 1000).toFixed(1)} s)`);
  console.log(`  ${SMALL} sessions    : ${ms.toFixed(1)} ms  -> ratio ${BIG}/${SMALL} = ${(mb / ms).toFixed(2)}x`);
  console.log(`  baseline: fetching + parsing the unpaged list of ${BIG}: ${mu.toFixed(1)} ms (no rendering) -> ratio ${(mb / mu).toFixed(2)}x`);
  console.log(`  goal: sidebar with ${BIG} sessions in < ${GOAL_MS} ms: ${mb < GOAL_MS ? 'MET' : 'NOT MET'}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
