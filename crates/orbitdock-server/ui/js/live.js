// The live connection: one WebSocket to `/ws`, subscribed to the session list and to the open
// session. On any drop (network blip, server restart) it reconnects with exponential backoff and
// resubscribes with the last applied revisions, so the server replays exactly what was missed
// (or sends a fresh snapshot when its replay log no longer covers the gap, e.g. after a restart).
// Deltas are applied in revision order; duplicates are dropped; a gap triggers a resubscribe.

import * as store from './store.js';
import { api } from './api.js';
import { applyHostChanged, applyHostRemoved, refreshHosts } from './hosts.js';

const BACKOFF_START_MS = 250;
const BACKOFF_MAX_MS = 8000;
const PING_EVERY_MS = 20000;
const PONG_TIMEOUT_MS = 8000;
/** Rows per list page: a few screens, so scrolling rarely waits for the next one. */
const LIST_PAGE = 200;

export class Live {
  constructor() {
    this.ws = null;
    this.attempt = 0;
    this.timer = null;
    this.pingTimer = null;
    this.pongDeadline = null;
    this.sessionId = null;
    this.listResync = false;
    this.sessionResync = false;
    this.stopped = false;
    this.connected = false;
    this.listQuery = {};
    this.listMorePending = false;
  }

  start() {
    this.connect();
    // A browser that wakes up or regains the network reconnects at once instead of waiting out
    // the backoff.
    window.addEventListener('online', () => this.reconnectNow());
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible' && !this.connected) this.reconnectNow();
    });
  }

  /** Stops reconnecting (signed out: retrying cannot succeed until the user logs in again). */
  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.pingTimer);
    if (this.ws) this.ws.close();
  }

  reconnectNow() {
    if (this.connected || this.stopped) return;
    clearTimeout(this.timer);
    this.attempt = 0;
    this.connect();
  }

  connect() {
    clearTimeout(this.timer);
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    let ws;
    try {
      ws = new WebSocket(`${scheme}://${location.host}/ws`);
    } catch (err) {
      this.scheduleReconnect(String(err));
      return;
    }
    this.ws = ws;
    store.emitConnection(this.attempt === 0 ? 'connecting' : 'reconnecting', { attempt: this.attempt });
    ws.addEventListener('message', (ev) => this.onMessage(ev));
    ws.addEventListener('close', (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.connected = false;
      clearInterval(this.pingTimer);
      // 4401: this paired device was revoked; the REST answer (401) shows the sign-in screen.
      if (ev.code === 4401) api.sessions({ limit: 1 }).catch(() => {});
      this.scheduleReconnect('closed');
    });
    ws.addEventListener('error', () => {
      // 'close' follows; nothing else to do here.
    });
  }

  scheduleReconnect(reason) {
    if (this.stopped) return;
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_START_MS * 2 ** this.attempt);
    const delay = Math.round(base * (0.5 + Math.random() / 2));
    this.attempt += 1;
    store.emitConnection('offline', { retryInMs: delay, reason, attempt: this.attempt });
    // After a few failed attempts, ask over REST why: a 401 (token rotated, cookie gone) shows
    // the login screen through api.onUnauthorized instead of retrying forever.
    if (this.attempt >= 3) api.sessions({ limit: 1 }).catch(() => {});
    this.timer = setTimeout(() => this.connect(), delay);
  }

  send(msg) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(msg));
      return true;
    }
    return false;
  }

  /**
   * Follows the paged list: the first page of rows matching the sidebar's filters, then only
   * the changes of rows in view; `listMore` loads the next page as the sidebar scrolls. A
   * reconnect starts from a fresh first page (which rows were held is per connection).
   */
  subscribeList() {
    this.listMorePending = false;
    this.send({ type: 'subscribe_list', limit: LIST_PAGE, query: this.listQuery || {} });
  }

  /** New filters: a fresh first page. */
  setListQuery(query) {
    this.listQuery = query;
    this.subscribeList();
  }

  /** Asks for the next page once (until it arrives). */
  listMore() {
    if (this.listMorePending || !store.list.nextCursor) return;
    this.listMorePending = this.send({ type: 'list_more' });
  }

  subscribeSession() {
    const model = store.current;
    if (!model) return;
    this.send({
      type: 'subscribe_session',
      session_id: model.id,
      since_revision: model.revision ?? undefined,
    });
  }

  /** Follows `id` (or nothing with null), unsubscribing from the previous session. */
  watch(id) {
    if (this.sessionId && this.sessionId !== id) {
      this.send({ type: 'unsubscribe_session', session_id: this.sessionId });
    }
    this.sessionId = id;
    this.sessionResync = false;
    if (id) this.subscribeSession();
  }

  onMessage(ev) {
    let msg;
    try {
      msg = JSON.parse(ev.data);
    } catch {
      console.warn('orbitdock: unreadable WebSocket frame ignored', String(ev.data).slice(0, 200));
      return;
    }
    this.pongDeadline = null;
    switch (msg.type) {
      case 'hello':
        this.connected = true;
        this.attempt = 0;
        store.emitConnection('live', { version: msg.version });
        this.subscribeList();
        if (this.sessionId) this.subscribeSession();
        this.startPings();
        // Host changes sent while we were away are not replayed: read them all again.
        if (this.hadHello) refreshHosts();
        this.hadHello = true;
        break;
      case 'host_changed':
        applyHostChanged(msg.host);
        break;
      case 'host_removed':
        applyHostRemoved(msg.name);
        break;
      case 'sessions_page':
        this.listResync = false;
        this.listMorePending = false;
        store.applyListPage(msg, Boolean(msg.append));
        break;
      case 'sessions_snapshot':
        this.listResync = false;
        store.applyListSnapshot(msg.revision, msg.sessions || []);
        break;
      case 'sessions_delta': {
        const r = store.applyListDelta(msg.revision, msg.delta || {});
        if (r === 'applied') this.listResync = false;
        else if (r === 'gap' && !this.listResync) {
          this.listResync = true;
          this.subscribeList();
        }
        break;
      }
      case 'session_snapshot': {
        const model = store.current;
        if (!model || model.id !== msg.session_id) break;
        this.sessionResync = false;
        store.applySessionSnapshot(model, msg.revision, msg.state || {}, msg.items || []);
        break;
      }
      case 'session_delta': {
        const model = store.current;
        if (!model || model.id !== msg.session_id) break;
        const r = store.applySessionDelta(model, msg.revision, msg.delta || {});
        if (r === 'applied') this.sessionResync = false;
        else if (r === 'gap' && !this.sessionResync && model.revision !== null) {
          this.sessionResync = true;
          this.subscribeSession();
        }
        break;
      }
      case 'error':
        console.warn('orbitdock: server error', msg.code, msg.message);
        if (msg.session_id && store.current && msg.session_id === store.current.id
            && msg.code === 'not_found') {
          store.emitConnection('live', { sessionMissing: msg.session_id });
        }
        break;
      default:
        // ack, pong and message types this client does not know.
        break;
    }
  }

  startPings() {
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => {
      if (this.pongDeadline && Date.now() > this.pongDeadline) {
        // The socket looks open but nothing comes back: treat it as dead.
        if (this.ws) this.ws.close();
        return;
      }
      if (this.send({ type: 'ping' })) this.pongDeadline = this.pongDeadline || Date.now() + PONG_TIMEOUT_MS;
    }, PING_EVERY_MS);
  }
}
