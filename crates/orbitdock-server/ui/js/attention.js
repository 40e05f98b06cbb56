// "Needs attention" signals: the page title carries a count ("(2) OrbitDock") of sessions waiting
// for an approval or an answer, and a browser notification fires when a session newly needs
// attention (after the user allowed notifications with the "Notify me" button; browsers only
// ask for that permission on a user gesture).

import * as store from './store.js';
import { displayName } from './session_view.js';

const BASE_TITLE = 'OrbitDock';

export class Attention {
  constructor(enableButton) {
    this.enableButton = enableButton;
    this.waiting = new Set(); // ids needing attention at the last look
    this.primed = false; // no notifications for what was already pending at page load
    if ('Notification' in window && Notification.permission === 'default') {
      enableButton.hidden = false;
      enableButton.addEventListener('click', async () => {
        try {
          await Notification.requestPermission();
        } finally {
          enableButton.hidden = Notification.permission !== 'default';
        }
      });
    }
  }

  update() {
    const now = new Set();
    for (const s of store.list.sessions.values()) if (store.needsAttention(s)) now.add(s.id);
    const fresh = [...now].filter((id) => !this.waiting.has(id));
    this.waiting = now;
    document.title = now.size ? `(${now.size}) ${BASE_TITLE}` : BASE_TITLE;
    if (this.primed) for (const id of fresh) this.notify(store.list.sessions.get(id));
    this.primed = true;
  }

  notify(s) {
    if (!s || !('Notification' in window) || Notification.permission !== 'granted') return;
    const what = s.status === 'needs_answer' ? 'has a question' : 'needs approval';
    try {
      const n = new Notification(`${displayName(s)} ${what}`, {
        body: `${s.provider || 'agent'} · ${s.cwd || ''}`,
        tag: `orbitdock-${s.id}`,
      });
      n.onclick = () => {
        window.focus();
        location.hash = `#/s/${encodeURIComponent(s.id)}`;
        n.close();
      };
    } catch (err) {
      // Some browsers only allow notifications from a service worker; the title badge remains.
      console.warn('orbitdock: notification failed', err);
    }
  }
}
