// OrbitDock's service worker: shows Web Push notifications, answers approval notifications'
// Accept / Decline through the API with the one-use token the push carried (never the API
// token), opens the session on a click, and serves an offline page when the server is out of
// reach. Pages are not cached: OrbitDock is live state, and a stale copy would mislead.

const CACHE = 'orbitdock-shell-v1';
const SHELL = ['/offline.html', '/icons/icon-192.png'];

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) if (key !== CACHE) await caches.delete(key);
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', (event) => {
  if (event.request.mode !== 'navigate') return;
  event.respondWith(fetch(event.request).catch(async () => {
    const offline = await caches.match('/offline.html');
    return offline || new Response('OrbitDock is offline', { status: 503 });
  }));
});

/** The notification a push payload becomes (see orbitdock-protocol's `PushPayload`). */
function notificationFor(p) {
  const options = {
    body: p.body,
    tag: p.tag,
    icon: '/icons/icon-192.png',
    badge: '/icons/icon-192.png',
    data: { url: p.url, session_id: p.session_id, kind: p.kind, action: p.action || null },
  };
  if (p.action) {
    options.actions = [{ action: 'accept', title: 'Accept' }, { action: 'decline', title: 'Decline' }];
    options.requireInteraction = true;
  }
  return options;
}

self.addEventListener('push', (event) => {
  let payload;
  try {
    payload = event.data ? event.data.json() : null;
  } catch {
    payload = null;
  }
  if (!payload || !payload.title) {
    payload = { title: 'OrbitDock', body: 'A session needs you', url: '/', tag: 'orbitdock' };
  }
  event.waitUntil(self.registration.showNotification(payload.title, notificationFor(payload)));
});

/** Answers an approval with the notification's token; tells the outcome in a notification. */
async function answer(data, decision) {
  let message;
  try {
    const res = await fetch('/api/approval-actions', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ token: data.action.token, decision }),
    });
    if (res.ok) {
      message = decision === 'accept' ? 'Approved' : 'Declined';
    } else {
      const body = await res.json().catch(() => ({}));
      message = (body.error && body.error.message) || `The server answered ${res.status}`;
    }
  } catch {
    message = 'The server is out of reach; open OrbitDock to answer';
  }
  await self.registration.showNotification('OrbitDock', {
    body: message, tag: `answered-${data.session_id}`, icon: '/icons/icon-192.png', data: { url: data.url },
  });
}

/** Focuses an open OrbitDock window on `url`, or opens one. */
async function open(url) {
  const target = new URL(url || '/', self.location.origin).href;
  const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  for (const w of windows) {
    if (new URL(w.url).origin === self.location.origin) {
      await w.focus();
      return w.navigate(target).catch(() => w);
    }
  }
  return self.clients.openWindow(target);
}

/** What a click on a notification (or one of its buttons) does. */
self.onNotificationClick = async (notification, action) => {
  const data = notification.data || {};
  notification.close();
  if ((action === 'accept' || action === 'decline') && data.action) return answer(data, action);
  return open(data.url);
};

self.addEventListener('notificationclick', (event) => {
  const work = self.onNotificationClick(event.notification, event.action);
  // Events the browser dispatches keep the worker alive until the answer is sent; a synthetic
  // event (dispatched by a script) cannot extend its lifetime, and `work` runs anyway.
  if (event.isTrusted) event.waitUntil(work);
});
