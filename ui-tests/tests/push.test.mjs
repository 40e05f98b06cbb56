// The installable app and push notifications in Chromium (Debian's, headless), against a real
// `orbitdock serve`, the pinned Codex CLI and codexpc's scripted model: the manifest is valid and
// the app installable; the service worker registers; the server's push for a pending command
// approval (sent to a loopback push service, decrypted as the browser's push client would) is
// delivered to the service worker through the DevTools protocol and shows a notification with
// Accept / Decline; its Accept answers the approval through the API with the push's one-use
// token (no API token in the worker) and the command runs; a webhook channel added from the
// devices sheet gets its test delivery. Screenshots of the devices sheet,
// the notification as shown, and the 390 px layout into artifacts/screenshots/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { startStack, screenshotPath, apiCall, eventually } from '../lib/harness.mjs';
import { PushService, BrowserKeys } from '../lib/push.mjs';

const final = (t) => `<|channel|>final<|message|>${t}<|return|>`;
const execCall = (cmd) => `<|channel|>commentary to=functions.exec_command <|constrain|>json<|message|>${JSON.stringify({ cmd })}<|call|>`;
const SCRIPT = [
  { match: 'Write the pushed file', completion: execCall('printf approved-from-phone > pushed.txt && echo push-ok-7') },
  { match: 'push-ok-7', completion: final('Wrote pushed.txt.') },
];
const T = 30000;

let stack;
let server;
let page;
let push;

before(async () => {
  stack = await startStack('push', SCRIPT);
  ({ server, page } = stack);
  push = await PushService.start();
  await stack.browser.context.grantPermissions(['notifications'], { origin: server.origin });
});

after(async () => {
  if (push) push.close();
  if (stack) await stack.stop();
});

function pngSize(buf) {
  assert.equal(buf.subarray(1, 4).toString(), 'PNG');
  return [buf.readUInt32BE(16), buf.readUInt32BE(20)];
}

test('the manifest is valid, its icons load without a login, and the app is installable', async () => {
  // Browsers fetch the manifest and icons without cookies.
  const res = await fetch(`${server.origin}/manifest.webmanifest`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /manifest\+json/);
  const m = await res.json();
  assert.equal(m.display, 'standalone');
  assert.equal(m.start_url, '/');
  for (const size of [192, 512]) {
    const icon = m.icons.find((i) => i.sizes === `${size}x${size}`);
    assert.ok(icon, `icon ${size}`);
    const r = await fetch(`${server.origin}${icon.src}`);
    assert.equal(r.status, 200);
    assert.deepEqual(pngSize(Buffer.from(await r.arrayBuffer())), [size, size]);
  }
  // Everything else still needs the token.
  assert.equal((await fetch(`${server.origin}/js/main.js`)).status, 401);
  const cdp = await stack.browser.context.newCDPSession(page);
  const parsed = await cdp.send('Page.getAppManifest');
  assert.deepEqual(parsed.errors, [], JSON.stringify(parsed.errors));
  assert.match(parsed.url, /manifest\.webmanifest$/);
  await eventually(async () => {
    const { installabilityErrors } = await cdp.send('Page.getInstallabilityErrors');
    return installabilityErrors.length === 0 || (console.log(JSON.stringify(installabilityErrors)), false);
  }, T, 'no installability errors');
  await cdp.detach();
});

test('a pushed approval shows a notification whose Accept runs the command', async () => {
  const cdp = await stack.browser.context.newCDPSession(page);
  const registrations = new Map();
  cdp.on('ServiceWorker.workerRegistrationUpdated', ({ registrations: rs }) => {
    for (const r of rs) if (!r.isDeleted) registrations.set(r.scopeURL, r.registrationId);
  });
  await cdp.send('ServiceWorker.enable');
  const state = await page.evaluate(async () => {
    const reg = await navigator.serviceWorker.ready;
    return reg.active && reg.active.state;
  });
  assert.equal(state, 'activated');
  const registrationId = await eventually(() => registrations.get(`${server.origin}/`), T, 'registration id');
  const sw = stack.browser.context.serviceWorkers().find((w) => w.url() === `${server.origin}/sw.js`)
    || await stack.browser.context.waitForEvent('serviceworker');

  // This browser's subscription, as the devices sheet would register it.
  const keys = new BrowserKeys();
  await apiCall(server, 'POST', '/api/push/subscriptions', { name: 'Test phone', subscription: keys.subscription(push.endpoint('phone')) });

  const st = await apiCall(server, 'POST', '/api/sessions', {
    cwd: stack.project, name: 'Pushed approval', approval_policy: 'untrusted', sandbox_mode: 'danger-full-access',
  });
  await apiCall(server, 'POST', `/api/sessions/${st.id}/messages`, { text: 'Write the pushed file' });
  const received = await push.nth('phone', 1, T);
  assert.match(received.headers.authorization, /^vapid t=[\w-]+\.[\w-]+\.[\w-]+, k=[\w-]+$/);
  const payload = keys.decrypt(received.body);
  assert.ok(!payload.includes(server.token), 'no API token in the push');
  const p = JSON.parse(payload);
  assert.equal(p.kind, 'approval');
  assert.equal(p.title, 'Pushed approval');
  assert.ok(p.action && p.action.token);

  // The push service hands the message to the browser. A worker that is just starting may not
  // take it yet; delivering again is harmless (a notification with the same tag replaces the
  // previous one).
  const shown = await eventually(async () => {
    const found = await sw.evaluate(async (tag) => {
      const ns = await self.registration.getNotifications({ tag });
      return ns.map((n) => ({ title: n.title, body: n.body, tag: n.tag, actions: n.actions.map((a) => a.title) }))[0];
    }, p.tag);
    if (!found) await cdp.send('ServiceWorker.deliverPushMessage', { origin: server.origin, registrationId, data: payload });
    return found;
  }, T, 'the notification', 500);
  assert.deepEqual(shown, { title: 'Pushed approval', body: 'Approve running a command?', tag: p.tag, actions: ['Accept', 'Decline'] });

  // Picture of the notification as shown (headless Chromium has no notification centre to
  // screenshot, so its title, body and buttons are drawn in a page).
  const shot = await stack.browser.context.newPage();
  await shot.setViewportSize({ width: 420, height: 200 });
  await shot.setContent(`<body style="margin:0;background:#1f2937;font-family:system-ui,sans-serif">
    <div style="margin:16px;background:#f9fafb;border-radius:14px;padding:14px 16px;box-shadow:0 4px 18px #0006;color:#111">
    <div style="display:flex;gap:10px;align-items:center"><img src="${server.origin}/icons/icon-192.png" width="28" height="28" style="border-radius:6px">
    <div><div style="font-size:12px;color:#555">OrbitDock · ${new URL(server.origin).host}</div><b>${shown.title}</b></div></div>
    <div style="margin:8px 0 10px">${shown.body}</div>
    <div style="display:flex;gap:8px">${shown.actions.map((a) => `<span style="padding:6px 14px;border-radius:8px;background:#e5e7eb;font-weight:600">${a}</span>`).join('')}</div></div></body>`);
  await shot.screenshot({ path: screenshotPath('push-approval-notification') });
  await shot.close();

  // Accept, as a click on the notification's button: the worker posts the one-use token.
  const workerSource = readFileSync(path.join(import.meta.dirname, '../../crates/orbitdock-server/ui/sw.js'), 'utf8');
  assert.ok(!workerSource.includes('Authorization'), 'the worker never sends an API token');
  await sw.evaluate(async (tag) => {
    const [n] = await self.registration.getNotifications({ tag });
    self.dispatchEvent(new NotificationEvent('notificationclick', { notification: n, action: 'accept' }));
  }, p.tag);
  const file = path.join(stack.project, 'pushed.txt');
  await eventually(() => existsSync(file), T, `pushed.txt written${stack.failureContext()}`);
  assert.equal(readFileSync(file, 'utf8'), 'approved-from-phone');
  const history = await apiCall(server, 'GET', `/api/sessions/${st.id}/approvals/history`);
  assert.equal(history.approvals[0].resolution, 'decided');
  const answered = await eventually(() => sw.evaluate(async (id) => {
    const [n] = await self.registration.getNotifications({ tag: `answered-${id}` });
    return n && n.body;
  }, st.id), T, 'the "Approved" notification');
  assert.equal(answered, 'Approved');
  // The token was used up: a second Accept is refused.
  const again = await fetch(`${server.origin}/api/approval-actions`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ token: p.action.token, decision: 'accept' }),
  });
  assert.equal(again.status, 401);
  assert.ok(!server.child.log.includes(p.action.token), 'the action token is not logged');

  // The transcript says it was approved through a notification.
  const items = await apiCall(server, 'GET', `/api/sessions/${st.id}/items`);
  assert.ok(items.items.some((i) => i.type === 'notice' && i.via === 'notification'
    && i.message === 'From a notification: accepted request ' + p.action.request_id), JSON.stringify(items.items));
  await page.goto(`${server.origin}/#/s/${encodeURIComponent(st.id)}`);
  await page.locator('.session-name', { hasText: 'Pushed approval' }).waitFor({ timeout: T });
  await cdp.detach();
});

test('the devices sheet lists the device with its delivery record, at desktop and 390 px', async () => {
  await page.setViewportSize({ width: 1280, height: 820 });
  await page.goto(`${server.origin}/`);
  await page.getByRole('button', { name: 'Devices and push notifications' }).click();
  const row = page.locator('.device', { hasText: 'Test phone' });
  await row.waitFor({ timeout: T });
  await assert.doesNotReject(row.locator('text=last delivered').waitFor({ timeout: T }));
  assert.ok(!(await row.textContent()).includes('last delivered never'));
  // A webhook channel added from the sheet, and its test delivery.
  await page.getByLabel('Channel kind').selectOption('webhook');
  await page.getByLabel('Channel name').fill('Team hook');
  await page.getByLabel('Channel URL').fill(push.endpoint('hook'));
  await page.getByRole('button', { name: 'Add channel' }).click();
  const hook = page.locator('.channel', { hasText: 'Team hook' });
  await hook.waitFor({ timeout: T });
  await hook.getByRole('button', { name: 'Send a test notification to Team hook' }).click();
  const delivered = await push.nth('hook', 1, T);
  assert.equal(delivered.headers['content-type'], 'application/json');
  assert.equal(JSON.parse(delivered.body.toString()).title, 'OrbitDock');
  await eventually(async () => !(await hook.textContent()).includes('last delivered never'), T, 'test delivery shown');
  await page.screenshot({ path: screenshotPath('devices-sheet') });
  await page.setViewportSize({ width: 390, height: 844 });
  const box = await page.locator('#devices-sheet').boundingBox();
  assert.ok(box.width <= 390, `sheet fits the phone: ${box.width}`);
  await page.screenshot({ path: screenshotPath('devices-sheet-390') });
  // Turn completed kind switched off from the sheet, and saved.
  await row.getByLabel('Turn completed on Test phone').uncheck();
  await eventually(async () => {
    const r = await apiCall(server, 'GET', '/api/push/subscriptions');
    return !r.devices[0].kinds.includes('turn_completed');
  }, T, 'kind saved');
  await page.keyboard.press('Escape');
  await page.setViewportSize({ width: 1280, height: 820 });
});
