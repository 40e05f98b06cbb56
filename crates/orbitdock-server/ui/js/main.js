// OrbitDock web UI entry point: wires the store, the live WebSocket connection, the sidebar, the
// session view and the sheets together, and routes `#/s/ID` to a session.
//
// Why no framework and no build step: the UI is embedded in the `orbitdock` binary and must work
// offline with nothing fetched from a CDN; plain ES modules are served as they are. Views keep
// references to the nodes they update, so streaming a token touches one text node.

import { h, isTyping } from './dom.js';
import { onUnauthorized } from './api.js';
import * as store from './store.js';
import { Live } from './live.js';
import { Sidebar } from './sidebar.js';
import { SessionView } from './session_view.js';
import { NewSessionSheet, RenameSheet } from './sheets.js';
import { Attention } from './attention.js';
import { ThreadBrowser } from './thread_browser.js';
import { CodexPanel } from './codex_panel.js';
import { DevicesSheet, registerServiceWorker } from './devices.js';
import { ImportProgress } from './import_progress.js';
import { HostsSheet, refreshHosts } from './hosts.js';

const $ = (id) => document.getElementById(id);

const app = $('app');
const main = $('main');
const welcome = $('welcome');
const conn = $('conn');
const toasts = $('toasts');
const drawerToggle = $('drawer-toggle');

let view = null;

function toast(message, isError = false) {
  const t = h('div', { class: `toast${isError ? ' error' : ''}`, role: isError ? 'alert' : 'status', text: message });
  toasts.append(t);
  setTimeout(() => t.remove(), isError ? 8000 : 4000);
}

const live = new Live();
const sidebar = new Sidebar({
  list: $('session-list'),
  empty: $('session-list-empty'),
  search: $('search'),
  status: $('filter-status'),
  provider: $('filter-provider'),
  archived: $('show-archived'),
  onQuery: (query) => live.setListQuery(query),
  onNeedMore: () => live.listMore(),
});
live.listQuery = sidebar.query();
new ImportProgress($('import-progress'));
const attention = new Attention($('notify-enable'));
const newSheet = new NewSessionSheet($('new-session-sheet'), {
  toast,
  onCreated: (state) => {
    location.hash = `#/s/${encodeURIComponent(state.id)}`;
  },
});
const renameSheet = new RenameSheet($('rename-sheet'), { toast });
// Panels around the threads, built on first use.
let threadBrowser = null;
let codexPanel = null;
const devicesSheet = new DevicesSheet($('devices-sheet'), { toast });
let hostsSheet = null;
registerServiceWorker();

// ------------------------------------------------------------------ routing

/** The item a search hit asked to open (`#/s/ID/i/SEQ`), until it is shown. */
let focusSeq = null;

function route() {
  const m = /^#\/s\/([^/]+)(?:\/i\/(\d+))?$/.exec(location.hash);
  const id = m ? decodeURIComponent(m[1]) : null;
  focusSeq = m && m[2] ? Number(m[2]) : null;
  if (id && store.current && store.current.id === id) {
    showFocus();
    return;
  }
  if (view) {
    view.destroy();
    view = null;
  }
  if (!id) {
    store.closeSession();
    live.watch(null);
    main.replaceChildren(welcome);
    sidebar.select(null);
    return;
  }
  const model = store.openSession(id);
  view = new SessionView(model, { toast, openRename: (mdl) => renameSheet.open(mdl) });
  main.replaceChildren(view.el);
  view.el.classList.add('loading');
  sidebar.select(id);
  setDrawer(false);
  live.watch(id);
}

window.addEventListener('hashchange', route);

// ------------------------------------------------------------------ store events

store.events.addEventListener('list', (ev) => {
  if (ev.detail.reset || ev.detail.appended || !ev.detail.id) sidebar.render();
  else sidebar.update(ev.detail.id);
  attention.update();
});

store.events.addEventListener('session-state', (ev) => {
  if (!view || !store.current || ev.detail.id !== store.current.id) return;
  view.el.classList.remove('loading');
  view.renderState();
  if (ev.detail.what === 'turn' || ev.detail.what === 'approvals') view.transcript.refreshInProgress();
});

store.events.addEventListener('session-items', (ev) => {
  if (!view || !store.current || ev.detail.id !== store.current.id) return;
  const d = ev.detail;
  if (d.reset) view.transcript.reset();
  else if (d.prepended) view.transcript.prepend(d.prepended);
  else if (d.seqs) view.transcript.upsert(d.seqs);
  showFocus();
});

/**
 * Scrolls to the item a search hit named and marks it; loads older pages until it is held (the
 * session opens on the tail of its transcript).
 */
function showFocus() {
  if (focusSeq === null || !view || !store.current) return;
  const el = main.querySelector(`[data-seq="${focusSeq}"]`);
  if (el) {
    // Reading an older item: stop following the end of the transcript.
    view.transcript.stuck = false;
    el.scrollIntoView({ block: 'center' });
    el.classList.add('search-target');
    el.setAttribute('tabindex', '-1');
    el.focus({ preventScroll: true });
    focusSeq = null;
  } else if (store.current.hasOlder) {
    view.transcript.loadOlder();
  } else if (store.current.revision !== null) {
    focusSeq = null;
  }
}

store.events.addEventListener('session-text', (ev) => {
  if (!view || !store.current || ev.detail.id !== store.current.id) return;
  view.transcript.text(ev.detail.seq, ev.detail.field, ev.detail.delta);
});

store.events.addEventListener('connection', (ev) => {
  const d = ev.detail;
  conn.dataset.state = d.state;
  if (d.state === 'live') conn.textContent = 'live';
  else if (d.state === 'offline') {
    conn.textContent = `offline · retry ${Math.max(1, Math.round(d.retryInMs / 1000))}s`;
  } else conn.textContent = d.state === 'reconnecting' ? 'reconnecting…' : 'connecting…';
  if (d.sessionMissing && view && store.current && store.current.id === d.sessionMissing) {
    view.el.classList.remove('loading');
    main.replaceChildren(h('section', { class: 'welcome' },
      h('h2', { text: 'Session not found' }),
      h('p', { class: 'muted', text: `No session with id ${d.sessionMissing}.` })));
  }
});

onUnauthorized(() => {
  live.stop();
  main.replaceChildren(h('section', { class: 'welcome', role: 'alert' },
    h('h2', { text: 'Not signed in' }),
    h('p', {}, 'Open the login URL that ', h('code', { text: 'orbitdock serve' }),
      ' printed (or run ', h('code', { text: 'orbitdock token' }), ') to sign in.'),
    h('p', {}, 'On a phone or another computer, pair it again: run ', h('code', { text: 'orbitdock pair' }),
      ' or use "Pair a device" in the Devices sheet of a signed-in browser.')));
  conn.dataset.state = 'offline';
  conn.textContent = 'signed out';
});

// ------------------------------------------------------------------ chrome

function setDrawer(open) {
  app.dataset.drawer = open ? 'open' : 'closed';
  drawerToggle.setAttribute('aria-expanded', String(open));
  drawerToggle.setAttribute('aria-label', open ? 'Hide sessions' : 'Show sessions');
}

drawerToggle.addEventListener('click', () => setDrawer(app.dataset.drawer !== 'open'));
$('new-session').addEventListener('click', () => newSheet.open());
$('open-threads').addEventListener('click', () => {
  threadBrowser = threadBrowser || new ThreadBrowser({ toast });
  threadBrowser.open();
});
$('open-codex').addEventListener('click', () => {
  codexPanel = codexPanel || new CodexPanel({ toast });
  codexPanel.open();
});
$('devices-open').addEventListener('click', () => devicesSheet.open());
$('hosts-open').addEventListener('click', () => {
  hostsSheet = hostsSheet || new HostsSheet({ toast });
  hostsSheet.open();
});

document.addEventListener('keydown', (ev) => {
  if (document.querySelector('dialog[open]')) return;
  if (ev.altKey && (ev.key === 'n' || ev.key === 'N')) {
    ev.preventDefault();
    newSheet.open();
  } else if (ev.key === '/' && !isTyping(ev.target) && !ev.ctrlKey && !ev.metaKey) {
    ev.preventDefault();
    setDrawer(true);
    $('search').focus();
  } else if (ev.key === 'Escape' && app.dataset.drawer === 'open') {
    setDrawer(false);
  }
});

// A read-only handle for diagnostics from the devtools console (and the browser tests, which use
// it to cut the WebSocket and watch the reconnect): nothing in it is needed by the page itself.
Object.defineProperty(window, 'orbitdock', { value: Object.freeze({ store, live }) });

live.start();
refreshHosts();
route();
