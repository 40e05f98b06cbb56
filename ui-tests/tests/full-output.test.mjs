// "Show full output" in the browser (Debian's Chromium, a real `orbitdock serve` keeping at most
// 8 KiB of a command's output, the pinned Codex CLI, codexpc's scripted model): a command printing
// about 43 KiB shows its start and end with "N KiB omitted — Show full output"; the button loads
// the whole output, read back from Codex's rollout file, into the card. A 2 MB output, of which
// Codex itself keeps only 64 KiB in its rollout, loads what there is under a note saying so.
// Screenshots at desktop and 390 px into artifacts/screenshots/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, screenshotBoth, apiCall } from '../lib/harness.mjs';

const final = (t) => `<|channel|>final<|message|>${t}<|return|>`;
const execCall = (cmd) => `<|channel|>commentary to=functions.exec_command <|constrain|>json<|message|>${JSON.stringify({ cmd })}<|call|>`;
const N = 9000;
const SCRIPT = [
  { match: 'Count the numbers', completion: execCall(`seq 1 ${N}`) },
  { match: `${N - 1}`, completion: final('Counted them all.') },
  { match: 'Count much further', completion: execCall('seq 1 300000') },
  { match: '299999', completion: final('Counted very far.') },
];
const T = 30000;
const FULL = Array.from({ length: N }, (_, i) => `${i + 1}\n`).join('');

let stack;
let server;
let page;

before(async () => {
  stack = await startStack('fulloutput', SCRIPT, { sandboxed: true, serveArgs: ['--max-item-output-kib', '8'] });
  ({ server, page } = stack);
});

after(async () => {
  if (stack) await stack.stop();
});

test('a long command output shows its start and end, and "Show full output" loads all of it', async () => {
  const session = await apiCall(server, 'POST', '/api/sessions', {
    cwd: stack.project, name: 'Long output', approval_policy: 'never', sandbox_mode: 'read-only',
    prompt: 'Count the numbers',
  });
  await page.goto(`${server.origin}/#/s/${encodeURIComponent(session.id)}`);
  await page.locator('.msg.agent .msg-body', { hasText: 'Counted them all.' }).waitFor({ timeout: T }).catch((e) => {
    throw new Error(`${e.message}${stack.failureContext()}`);
  });

  const card = page.locator('.item.cmd', { hasText: `seq 1 ${N}` });
  const marker = card.locator('.output-omitted');
  await marker.waitFor({ timeout: T });
  // 43,893 bytes of numbers (after whatever the shell itself prints first), 8 KiB kept.
  const said = (await marker.textContent()).match(/^(\d+) KiB omitted — Show full output$/);
  assert.ok(said && Number(said[1]) >= 34, await marker.textContent());
  const start = await card.getByLabel('Command output (start)').textContent();
  const end = await card.getByLabel('Command output (end)').textContent();
  assert.ok(start.includes('\n1\n2\n3\n') || start.startsWith('1\n2\n3\n'), `the start: ${JSON.stringify(start.slice(0, 120))}`);
  assert.ok(FULL.endsWith(end) && end.endsWith(`${N - 1}\n${N}\n`), 'the end is the end');
  assert.equal(start.length + end.length, 8 * 1024);
  await card.scrollIntoViewIfNeeded();
  await screenshotBoth(page, 'full-output-truncated');

  await card.getByRole('button', { name: 'Show full output' }).click();
  const full = card.getByLabel('Full command output');
  await full.waitFor({ timeout: T });
  const whole = await full.textContent();
  assert.ok(whole.startsWith(start) && whole.endsWith(FULL), `${whole.length} characters loaded`);
  // Every byte the server said it left out is back (the output is ASCII: characters are bytes).
  const page1 = await apiCall(server, 'GET', `/api/sessions/${encodeURIComponent(session.id)}/items?limit=100`);
  const item = page1.items.find((i) => i.type === 'command_execution');
  assert.equal(whole.length, item.output.length + item.output_omitted.omitted_bytes);
  assert.equal(await marker.count(), 0, 'the notice is gone');
  assert.equal(await card.locator('pre.output').count(), 1, 'one output block, the whole one');
  await screenshotBoth(page, 'full-output-loaded');
});

test('an output Codex kept only in part loads what there is, under a note saying so', async () => {
  const composer = page.getByLabel('Message (Enter sends, Shift+Enter for a new line)');
  await composer.fill('Count much further');
  await composer.press('Enter');
  await page.locator('.msg.agent .msg-body', { hasText: 'Counted very far.' }).waitFor({ timeout: T }).catch((e) => {
    throw new Error(`${e.message}${stack.failureContext()}`);
  });
  const card = page.locator('.item.cmd', { hasText: 'seq 1 300000' });
  await card.getByRole('button', { name: 'Show full output' }).click();
  const kept = card.getByLabel('Command output (all that was kept)');
  await kept.waitFor({ timeout: T });
  const note = await card.locator('.output-omitted[role="note"]').textContent();
  assert.match(note, /^Codex kept only 64 KiB of this output \(1\.0 MiB as the hub received it\) in .*rollout-.*\.jsonl; its start and end are shown, the middle is lost$/);
  const text = await kept.textContent();
  assert.ok(text.includes('... command output truncated for persistence ...'), 'Codex\'s own marker is visible');
  assert.ok(text.endsWith('299999\n300000\n'));
  await card.scrollIntoViewIfNeeded();
  await screenshotBoth(page, 'full-output-partial');
});
