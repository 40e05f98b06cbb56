#!/usr/bin/env node
// Benchmark: how long the web UI takes to open a session with 10,000 transcript items (goal:
// under 300 ms), in Debian's Chromium against a real `orbitdock serve`.
//
// Seeding: the server crate's `seed_transcript` example writes the sessions straight into the
// data dir's SQLite through the server's own store, with the server stopped (no seeding route
// exists in any build of the server).
//
// "Open" is measured in the page: from the hash change that selects the session (what a click in
// the sidebar does) to the first animation frame after the transcript shows its last item.
// Baselines measured in the same run:
//   - the same UI opening a 10-item session (paging makes the open cost independent of length),
//   - a naive renderer that fetches all 10,000 items and puts them all in the DOM at once (what
//     the UI would cost without paging / lazy layout).
// Prints medians and ratios. Exits non-zero only when something breaks, never on timings.

import { spawnSync } from 'node:child_process';
import path from 'node:path';
import {
  ROOT, tempDir, startOrbitdock, launchBrowser, screenshotPath, makeCodexHome, withTimeout, signIn,
} from './lib/harness.mjs';

const BIG = Number(process.env.BENCH_ITEMS || 10000);
const SMALL = 10;
const RUNS = Number(process.env.BENCH_RUNS || 7);
const GOAL_MS = 300;

function cargo(args) {
  const r = spawnSync('cargo', args, { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`cargo ${args.join(' ')} failed (${r.status})`);
}

function seed(dataDir, items, name) {
  const bin = path.join(process.env.CARGO_TARGET_DIR ? path.resolve(ROOT, process.env.CARGO_TARGET_DIR) : path.join(ROOT, 'target'),
    'debug', 'examples', 'seed_transcript');
  const r = spawnSync(bin, ['--data-dir', dataDir, '--items', String(items), '--name', name], {
    cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (r.status !== 0) throw new Error(`seed_transcript failed (${r.status}): ${r.stdout}`);
  const id = r.stdout.trim().split('\n').pop().trim();
  if (!id) throw new Error('seed_transcript printed no session id');
  return id;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

async function openTimes(page, id, lastSeq) {
  const times = [];
  for (let i = 0; i < RUNS; i += 1) {
    await page.evaluate(() => { location.hash = '#/'; });
    await page.locator('#welcome').waitFor();
    const ms = await withTimeout(page.evaluate(async ({ id: sid, last }) => {
      const t0 = performance.now();
      location.hash = `#/s/${encodeURIComponent(sid)}`;
      await new Promise((resolve) => {
        const check = () => {
          const el = document.querySelector(`.transcript[data-last-seq="${last}"]`);
          if (el) requestAnimationFrame(() => requestAnimationFrame(resolve));
          else requestAnimationFrame(check);
        };
        check();
      });
      return performance.now() - t0;
    }, { id, last: lastSeq }), 20000, `opening session ${id}`);
    times.push(ms);
  }
  return times;
}

async function naiveFullRender(page, id) {
  const times = [];
  for (let i = 0; i < Math.min(RUNS, 3); i += 1) {
    await page.evaluate(() => { location.hash = '#/'; });
    await page.locator('#welcome').waitFor();
    const ms = await withTimeout(page.evaluate(async (sid) => {
      const { renderItem } = await import('/js/items.js');
      const t0 = performance.now();
      const all = [];
      let after = 0;
      for (;;) {
        const res = await fetch(`/api/sessions/${encodeURIComponent(sid)}/items?after=${after}&limit=1000`);
        const page1 = await res.json();
        all.push(...page1.items);
        if (!page1.has_more || !page1.items.length) break;
        after = page1.items[page1.items.length - 1].seq;
      }
      const box = document.createElement('div');
      box.style.cssText = 'position:fixed;inset:0;overflow:auto;z-index:99;background:var(--bg)';
      const list = document.createElement('div');
      list.className = 'items naive';
      for (const it of all) {
        const el = renderItem(it);
        el.style.contentVisibility = 'visible';
        list.append(el);
      }
      box.append(list);
      document.body.append(box);
      box.scrollTop = box.scrollHeight;
      await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
      const ms1 = performance.now() - t0;
      box.remove();
      return { ms: ms1, count: all.length };
    }, id), 120000, 'naive full render');
    if (ms.count !== BIG) throw new Error(`naive render got ${ms.count} items, expected ${BIG}`);
    times.push(ms.ms);
  }
  return times;
}

async function main() {
  cargo(['build', '--quiet', '--locked', '-p', 'orbitdock', '-p', 'orbitdock-server', '--example', 'seed_transcript']);
  const dir = tempDir('bench');
  const dataDir = path.join(dir, 'data');
  const bigId = seed(dataDir, BIG, `Benchmark: ${BIG} items`);
  const smallId = seed(dataDir, SMALL, `Benchmark: ${SMALL} items`);
  // No model is needed to view transcripts; Codex is never started for ended sessions.
  const codexHome = makeCodexHome(dir, 'http://127.0.0.1:9/v1');
  const server = await startOrbitdock({ dataDir, codexHome });
  const browser = await launchBrowser();
  try {
    const page = await browser.context.newPage();
    await signIn(page, server);
    await page.locator('#conn[data-state="live"]').waitFor({ timeout: 15000 });
    // Warm-up (module loading, first WebSocket round trip) is not what we measure.
    await openTimes(page, smallId, SMALL);

    const small = await openTimes(page, smallId, SMALL);
    const big = await openTimes(page, bigId, BIG);
    await page.screenshot({ path: screenshotPath('bench-10k-session') });
    // Scrolling up pages older items in; check it works on the big session.
    const rendered = await page.evaluate(() => Number(document.querySelector('.transcript').dataset.renderedCount));
    const naive = await naiveFullRender(page, bigId);

    const mb = median(big);
    const ms = median(small);
    const mn = median(naive);
    console.log(`\nweb UI transcript open (Chromium headless, ${RUNS} runs, medians)`);
    console.log(`  session with ${BIG} items : ${mb.toFixed(1)} ms  (min ${Math.min(...big).toFixed(1)}, max ${Math.max(...big).toFixed(1)}; ${rendered} items rendered at open)`);
    console.log(`  session with ${SMALL} items    : ${ms.toFixed(1)} ms  -> ratio ${BIG}/${SMALL} = ${(mb / ms).toFixed(2)}x`);
    console.log(`  naive full render of ${BIG}: ${mn.toFixed(1)} ms  -> the UI is ${(mn / mb).toFixed(1)}x faster`);
    console.log(`  goal: open ${BIG} items in < ${GOAL_MS} ms: ${mb < GOAL_MS ? 'MET' : 'NOT MET'}`);
  } finally {
    await browser.close();
    await server.child.kill();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
