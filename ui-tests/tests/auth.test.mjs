// Signing in without the API token in a URL, in Chromium against a real `orbitdock serve`:
// the one-time link the server prints signs this machine's browser in once (as a device of its
// own, listed and revocable) and is refused the second time; `orbitdock open --print` mints a
// fresh one; the sign-in form takes the pasted token (a wrong one gets a 401 page and no cookie);
// the old `/login?token=` link is refused with a page that says what to do, sets no cookie and
// leaves no trace in the logs. When the token is rotated (`orbitdock token --rotate`) and the
// server restarted, an open page stops retrying in the dark and tells the user how to sign in
// again, and the form signs it back in.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import {
  BIN, tempDir, startOrbitdock, launchBrowser, makeCodexHome, screenshotPath, apiCall,
} from '../lib/harness.mjs';

const T = 15000;

let dir;
let dataDir;
let codexHome;
let server;
const browsers = [];

/** A fresh browser (its own profile: no cookie from another test). */
async function freshBrowser() {
  const b = await launchBrowser();
  browsers.push(b);
  return b;
}

async function cookieNames(browser) {
  return (await browser.context.cookies(server.origin)).map((c) => c.name).sort();
}

before(async () => {
  dir = tempDir('auth');
  dataDir = path.join(dir, 'data');
  codexHome = makeCodexHome(dir, 'http://127.0.0.1:9/v1');
  server = await startOrbitdock({ dataDir, codexHome });
});

after(async () => {
  for (const b of browsers) await b.close();
  if (server) await server.child.kill();
});

test('the printed one-time link signs this browser in once, as a device of its own', async () => {
  assert.ok(!server.child.log.includes(server.token), 'serve printed the API token');
  assert.match(server.signInLink, new RegExp(`^${server.origin}/pair#[A-Za-z0-9_-]{22,}$`));
  const first = await freshBrowser();
  const page = await first.context.newPage();
  await page.goto(server.signInLink);
  await page.waitForURL(`${server.origin}/`, { timeout: T });
  await page.locator('#conn[data-state="live"]').waitFor({ timeout: T });
  assert.deepEqual(await cookieNames(first), ['orbitdock_device']);
  // It is listed (and so revocable) as this machine's browser, marked as the current device.
  await page.locator('#devices-open').click();
  await page.locator('#paired-list li.paired', { hasText: 'Browser on this machine' })
    .locator('.device-current').waitFor({ timeout: T });
  const { devices } = await apiCall(server, 'GET', '/api/devices');
  assert.deepEqual(devices.map((d) => d.name), ['Browser on this machine']);

  // The same link again, in another browser: refused, nobody signed in.
  const second = await freshBrowser();
  const again = await second.context.newPage();
  await again.goto(server.signInLink);
  await again.getByRole('heading', { name: 'This device is not paired' }).waitFor({ timeout: T });
  assert.match(await again.locator('#pair-status').textContent(), /not valid/);
  assert.deepEqual(await cookieNames(second), []);
});

test('`orbitdock open --print` mints a fresh link that signs a browser in', async () => {
  const open = spawnSync(BIN.orbitdock, ['open', '--print', '--data-dir', dataDir], { encoding: 'utf8' });
  assert.equal(open.status, 0, open.stderr);
  assert.ok(!open.stdout.includes(server.token), 'the API token is in the output');
  const link = open.stdout.split('\n').find((l) => l.startsWith('http'));
  assert.match(link, new RegExp(`^${server.origin}/pair#[A-Za-z0-9_-]{22,}$`));
  const b = await freshBrowser();
  const page = await b.context.newPage();
  await page.goto(link);
  await page.waitForURL(`${server.origin}/`, { timeout: T });
  await page.locator('#conn[data-state="live"]').waitFor({ timeout: T });
  assert.deepEqual(await cookieNames(b), ['orbitdock_device']);
});

test('the sign-in form takes the pasted token; a wrong one gets a 401 page and no cookie', async () => {
  const b = await freshBrowser();
  const page = await b.context.newPage();
  // Opening the app without a cookie shows the form.
  const bare = await page.goto(`${server.origin}/`);
  assert.equal(bare.status(), 401);
  await page.getByRole('heading', { name: 'Sign in to OrbitDock' }).waitFor();
  await page.getByLabel('API token').fill('not-the-token');
  const [wrong] = await Promise.all([
    page.waitForResponse((r) => r.url() === `${server.origin}/login` && r.request().method() === 'POST'),
    page.getByRole('button', { name: 'Sign in' }).click(),
  ]);
  assert.equal(wrong.status(), 401);
  await page.getByRole('alert').filter({ hasText: "not this server's API token" }).waitFor();
  assert.deepEqual(await cookieNames(b), []);
  await page.screenshot({ path: screenshotPath('sign-in-form') });

  await page.getByLabel('API token').fill(server.token);
  await Promise.all([
    page.waitForURL(`${server.origin}/`),
    page.getByRole('button', { name: 'Sign in' }).click(),
  ]);
  await page.locator('#conn[data-state="live"]').waitFor({ timeout: T });
  const cookies = await b.context.cookies(server.origin);
  assert.deepEqual(cookies.map((c) => c.name), ['orbitdock_token']);
  assert.equal(cookies[0].httpOnly, true);
  assert.equal(cookies[0].sameSite, 'Strict');
  assert.ok(!page.url().includes(server.token));
});

test('the old sign-in link with the token in it is refused, sets no cookie and is not logged', async () => {
  const b = await freshBrowser();
  const page = await b.context.newPage();
  const res = await page.goto(`${server.origin}/login?token=${encodeURIComponent(server.token)}`);
  assert.equal(res.status(), 400);
  await page.getByRole('alert').filter({ hasText: 'no longer accepted' }).waitFor();
  await page.getByLabel('API token').waitFor();
  assert.deepEqual(await cookieNames(b), []);
  assert.ok(!server.child.log.includes(server.token), 'the token reached the logs');
});

test('after a token rotation and restart, the open page says how to sign in again', async () => {
  const b = await freshBrowser();
  const page = await b.context.newPage();
  await page.goto(`${server.origin}/login`);
  await page.getByLabel('API token').fill(server.token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#conn[data-state="live"]').waitFor({ timeout: T });
  const { port } = server;
  await server.child.kill('SIGKILL');
  const rotate = spawnSync(BIN.orbitdock, ['token', '--rotate', '--data-dir', dataDir], { encoding: 'utf8' });
  assert.equal(rotate.status, 0, rotate.stderr);
  const old = server.token;
  server = await startOrbitdock({ dataDir, codexHome, port });
  assert.notEqual(server.token, old, 'a new token');
  await page.getByRole('heading', { name: 'Not signed in' }).waitFor({ timeout: 20000 });
  assert.equal(await page.locator('#conn').textContent(), 'signed out');
  await page.screenshot({ path: screenshotPath('signed-out') });
  // The sign-in page it links to takes the new token in the same browser.
  await page.getByRole('link', { name: 'the sign-in page' }).click();
  await page.getByLabel('API token').fill(server.token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#conn[data-state="live"]').waitFor({ timeout: T });
});
