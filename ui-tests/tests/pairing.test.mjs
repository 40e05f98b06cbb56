// Pairing a phone, in Chromium against a real `orbitdock serve`: "Pair a device" in the desktop's
// Devices sheet shows a one-time link with its QR code; a second browser at 390 px opens the link
// and lands on the app signed in with its own device cookie (never the API token); the desktop
// lists it, and revoking it there sends the phone to the sign-in screen at once (its WebSocket is
// closed) and makes its next page load a 401. The used link does not pair anyone again.
// Screenshots: the desktop's Devices sheet with the QR code, then with the paired device; the phone's
// app after pairing and its Devices sheet, into artifacts/screenshots/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  tempDir, startOrbitdock, launchBrowser, makeCodexHome, openLoggedInPage, screenshotPath, eventually,
} from '../lib/harness.mjs';

const T = 20000;

let server;
let desktop;
let phone;
let desktopPage;

before(async () => {
  const dir = tempDir('pairing');
  // No session runs here: the model URL is never called.
  const codexHome = makeCodexHome(dir, 'http://127.0.0.1:9/v1');
  server = await startOrbitdock({ dataDir: path.join(dir, 'data'), codexHome });
  desktop = await launchBrowser();
  desktopPage = await openLoggedInPage(desktop, server);
  phone = await launchBrowser({ viewport: { width: 390, height: 844 } });
});

after(async () => {
  if (phone) await phone.close();
  if (desktop) await desktop.close();
  if (server) await server.child.kill();
});

test('a phone pairs from the Devices sheet, is listed, and is signed out when revoked', async () => {
  const p = desktopPage;
  await p.locator('#devices-open').click();
  const sheet = p.locator('#devices-sheet');
  await sheet.waitFor({ state: 'visible' });
  await sheet.getByRole('textbox', { name: 'Name of the device to pair' }).fill('Test phone');
  await sheet.getByRole('button', { name: 'Pair a device' }).click();
  const link = sheet.locator('#pairing-url');
  await link.waitFor({ state: 'visible', timeout: T });
  const url = await link.getAttribute('href');
  assert.match(url, new RegExp(`^${server.origin}/pair#[A-Za-z0-9_-]{22,}$`));
  assert.ok(!url.includes(server.token), 'the API token is in the pairing link');
  // The QR code is drawn (a server-rendered SVG) and the countdown runs.
  await eventually(() => p.locator('#pairing-qr').evaluate((img) => img.complete && img.naturalWidth > 0),
    T, 'the QR code to load');
  assert.match(await sheet.locator('#pairing-expiry').textContent(), /Works once, for [45]:\d\d more/);
  await p.screenshot({ path: screenshotPath('devices-pairing-desktop') });

  // The phone opens the link: it lands on the app, signed in with a device cookie only.
  const phonePage = await phone.context.newPage();
  phonePage.on('pageerror', (err) => console.error('phone page error:', err));
  await phonePage.goto(url);
  await phonePage.waitForURL(`${server.origin}/`, { timeout: T });
  await phonePage.locator('#conn[data-state="live"]').waitFor({ timeout: T });
  const cookies = await phone.context.cookies(server.origin);
  const names = cookies.map((c) => c.name).sort();
  assert.deepEqual(names, ['orbitdock_device']);
  const device = cookies[0];
  assert.equal(device.httpOnly, true);
  assert.equal(device.sameSite, 'Strict');
  assert.notEqual(device.value, server.token);
  await phonePage.screenshot({ path: screenshotPath('pairing-phone-390') });
  // On the phone the Devices sheet marks it as this device.
  await phonePage.locator('#devices-open').click();
  const phoneRow = phonePage.locator('#paired-list li.paired', { hasText: 'Test phone' });
  await phoneRow.locator('.device-current').waitFor({ timeout: T });
  await phonePage.screenshot({ path: screenshotPath('pairing-phone-devices-390') });
  await phonePage.locator('#devices-sheet [data-close]').click();

  // The desktop lists it (reopened sheet: fresh list), not as itself.
  await sheet.locator('[data-close]').click();
  await p.locator('#devices-open').click();
  const row = sheet.locator('#paired-list li.paired', { hasText: 'Test phone' });
  await row.waitFor({ timeout: T });
  assert.equal(await row.locator('.device-current').count(), 0);
  assert.match(await row.textContent(), /Paired .* · last seen /);
  await p.screenshot({ path: screenshotPath('devices-desktop') });

  // Revoked from the desktop: the phone shows the sign-in screen without any action of its own
  // (its WebSocket was closed), and its next page load is the 401 sign-in page.
  await row.getByRole('button', { name: 'Revoke Test phone' }).click();
  await row.waitFor({ state: 'detached', timeout: T });
  await phonePage.getByRole('heading', { name: 'Not signed in' }).waitFor({ timeout: T });
  assert.match(await phonePage.locator('main').textContent(), /orbitdock pair/);
  const res = await phonePage.reload();
  assert.equal(res.status(), 401);
  assert.match(await phonePage.content(), /pair it instead/);
  await phonePage.screenshot({ path: screenshotPath('pairing-phone-revoked-390') });

  // The link was used up: opening it again pairs nobody.
  await phonePage.goto(url);
  await phonePage.getByRole('heading', { name: 'This device is not paired' }).waitFor({ timeout: T });
  assert.match(await phonePage.locator('#pair-status').textContent(), /not valid/);
  assert.equal(await phonePage.evaluate(() => location.hash), '', 'the code stays in the address bar');
});
