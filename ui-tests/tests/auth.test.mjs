// Signing in and losing the sign-in: the login URL sets the cookie; when the token is rotated
// (`orbitdock token --rotate`) and the server restarted, an open page stops retrying in the dark
// and tells the user how to sign in again. A wrong login token gets a 401 and no cookie.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import {
  BIN, tempDir, startOrbitdock, launchBrowser, makeCodexHome, screenshotPath,
} from '../lib/harness.mjs';

let dir;
let dataDir;
let codexHome;
let server;
let browser;

before(async () => {
  dir = tempDir('auth');
  dataDir = path.join(dir, 'data');
  codexHome = makeCodexHome(dir, 'http://127.0.0.1:9/v1');
  server = await startOrbitdock({ dataDir, codexHome });
  browser = await launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.child.kill();
});

test('a wrong login token is refused and sets no cookie', async () => {
  const page = await browser.context.newPage();
  const res = await page.goto(`${server.origin}/login?token=not-the-token`);
  assert.equal(res.status(), 401);
  const cookies = await browser.context.cookies(server.origin);
  assert.deepEqual(cookies.filter((c) => c.name === 'orbitdock_token'), []);
  await page.close();
});

test('after a token rotation and restart, the open page says how to sign in again', async () => {
  const page = await browser.context.newPage();
  await page.goto(server.loginUrl);
  await page.locator('#conn[data-state="live"]').waitFor({ timeout: 15000 });
  const { port } = server;
  await server.child.kill('SIGKILL');
  const rotate = spawnSync(BIN.orbitdock, ['token', '--rotate', '--data-dir', dataDir], { encoding: 'utf8' });
  assert.equal(rotate.status, 0, rotate.stderr);
  server = await startOrbitdock({ dataDir, codexHome, port });
  assert.notEqual(server.token, '', 'a new token');
  await page.getByRole('heading', { name: 'Not signed in' }).waitFor({ timeout: 20000 });
  assert.equal(await page.locator('#conn').textContent(), 'signed out');
  await page.screenshot({ path: screenshotPath('signed-out') });
  // The new login URL works in the same browser.
  await page.goto(server.loginUrl);
  await page.locator('#conn[data-state="live"]').waitFor({ timeout: 15000 });
  await page.close();
});
