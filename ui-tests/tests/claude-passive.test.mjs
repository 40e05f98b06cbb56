// A Claude Code session seen through its hooks: the hooks name its transcript (lines shaped like
// the pinned Claude Code 2.1's), the server renders the conversation from it, and the session
// page shows the prompt, the Bash call as a command with its output, the answer, and the git
// branch and tool count chips. Screenshots at desktop and 390 px.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  tempDir, makeCodexHome, startOrbitdock, openLoggedIn, stopAll, screenshotPath, apiCall, eventually,
} from '../lib/harness.mjs';

const T = 30000;
const SID = '5b0c7a52-8f0e-4c57-9d0e-6a3f2f7c1d11';

let dir;
let server;
let browser;
let page;

/** A transcript line: Claude Code's envelope around `fields`. */
function line(fields) {
  return JSON.stringify({
    parentUuid: null, isSidechain: false, userType: 'external', entrypoint: 'cli',
    cwd: '/work/project', sessionId: SID, version: '2.1.332', gitBranch: 'feature/chips',
    timestamp: '2026-11-27T19:55:14.179Z', ...fields,
  });
}

before(async () => {
  dir = tempDir('claude-passive');
  const codexHome = makeCodexHome(dir, 'http://127.0.0.1:9/v1');
  server = await startOrbitdock({ dataDir: path.join(dir, 'data'), codexHome });
  ({ browser, page } = await openLoggedIn(server));
});

after(() => stopAll(browser, server));

test('a hook-discovered Claude session renders its transcript with branch and tool chips', async () => {
  const projects = path.join(dir, 'terminal-config', 'projects', '-work-project');
  mkdirSync(projects, { recursive: true });
  const transcript = path.join(projects, `${SID}.jsonl`);
  const usage = { input_tokens: 10, output_tokens: 5, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
  writeFileSync(transcript, [
    line({ type: 'user', uuid: 'u-1', message: { role: 'user', content: 'show me the disk usage' } }),
    line({ type: 'attachment', uuid: 'a-1', attachment: { type: 'session_context', context: {} } }),
    line({
      type: 'assistant', uuid: 'x-1', apiBlockIndex: 0,
      message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-sonnet-5-5', stop_reason: 'tool_use', usage,
        content: [{ type: 'tool_use', id: 'toolu_du', name: 'Bash', input: { command: 'du -sh .', description: 'Disk usage' } }] },
    }),
    line({
      type: 'user', uuid: 'r-1', sourceToolAssistantUUID: 'x-1',
      message: { role: 'user', content: [{ tool_use_id: 'toolu_du', type: 'tool_result', content: '42K\t.', is_error: false }] },
      toolUseResult: { stdout: '42K\t.', stderr: '', interrupted: false, isImage: false },
    }),
    line({
      type: 'assistant', uuid: 'x-2', apiBlockIndex: 0,
      message: { id: 'msg_2', type: 'message', role: 'assistant', model: 'claude-sonnet-5-5', stop_reason: 'end_turn', usage,
        content: [{ type: 'text', text: 'The project uses 42K.' }] },
    }),
  ].join('\n') + '\n');
  const hook = (event, extra = {}) => apiCall(server, 'POST', '/api/hooks/claude', {
    session_id: SID, transcript_path: transcript, cwd: '/work/project', hook_event_name: event, ...extra,
  });
  const { session_id: id } = await hook('SessionStart', { source: 'startup' });
  await hook('UserPromptSubmit', { prompt: 'show me the disk usage' });
  await hook('Stop');
  await eventually(async () => {
    const st = await apiCall(server, 'GET', `/api/sessions/${encodeURIComponent(id)}`);
    return st.tool_count === 1 && st.git_branch === 'feature/chips';
  }, T, 'the transcript to be read');

  await page.locator(`a[data-id="${id}"]`).click();
  await page.locator('.msg-body', { hasText: 'The project uses 42K.' }).waitFor({ timeout: T });
  await page.getByText('show me the disk usage').first().waitFor({ timeout: T });
  await page.getByText('du -sh .').first().waitFor({ timeout: T });
  assert.equal(await page.locator('.chip.branch').textContent(), 'feature/chips');
  assert.equal(await page.locator('.chip.tools').textContent(), '1 tool · Bash');
  await page.screenshot({ path: screenshotPath('claude-passive-desktop') });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: screenshotPath('claude-passive-390') });
});
