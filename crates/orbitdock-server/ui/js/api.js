// REST client for OrbitDock's API (crates/orbitdock-protocol/README.md). Auth is an HttpOnly
// cookie: `orbitdock_device`, set when a one-time sign-in or pairing link is redeemed, or
// `orbitdock_token`, set by the sign-in form (`POST /login`); requests are plain same-origin
// fetches; mutations use POST/PATCH only, as the server requires.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.code = code || 'http_error';
  }
}

/** Listeners told when the server answers 401 (not logged in / token rotated). */
const unauthorizedListeners = new Set();
export function onUnauthorized(fn) {
  unauthorizedListeners.add(fn);
}

export async function request(method, path, body, { signal } = {}) {
  const init = {
    method,
    credentials: 'same-origin',
    headers: { Accept: 'application/json' },
    signal,
  };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    if (err && err.name === 'AbortError') throw err;
    throw new ApiError(0, 'network', `cannot reach the server (${err && err.message ? err.message : err})`);
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      if (!res.ok) throw new ApiError(res.status, 'http_error', text.slice(0, 300));
      throw new ApiError(res.status, 'bad_response', `unreadable JSON from ${path}`);
    }
  }
  if (!res.ok) {
    if (res.status === 401) for (const fn of unauthorizedListeners) fn();
    const info = data && data.error ? data.error : {};
    throw new ApiError(res.status, info.code, info.message || `${method} ${path}: HTTP ${res.status}`);
  }
  return data;
}

const enc = encodeURIComponent;

function query(params) {
  const parts = Object.entries(params)
    .filter(([, v]) => v !== undefined && v !== null && v !== '')
    .map(([k, v]) => `${enc(k)}=${enc(Array.isArray(v) ? v.join(',') : String(v))}`);
  return parts.length ? `?${parts.join('&')}` : '';
}

export const api = {
  sessions: (params = {}) => request('GET', `/api/sessions${query(params)}`),
  search: (q, limit = 50, { signal } = {}) =>
    request('GET', `/api/search?q=${enc(q)}&limit=${limit}`, undefined, { signal }),
  status: () => request('GET', '/api/status'),
  session: (id) => request('GET', `/api/sessions/${enc(id)}`),
  itemsBefore: (id, beforeSeq, limit = 200) =>
    request('GET', `/api/sessions/${enc(id)}/items?before=${beforeSeq}&limit=${limit}`),
  itemsAfter: (id, afterSeq, limit = 1000) =>
    request('GET', `/api/sessions/${enc(id)}/items?after=${afterSeq}&limit=${limit}`),
  createSession: (body) => request('POST', '/api/sessions', body),
  send: (id, body) => request('POST', `/api/sessions/${enc(id)}/messages`, body),
  interrupt: (id) => request('POST', `/api/sessions/${enc(id)}/interrupt`),
  end: (id) => request('POST', `/api/sessions/${enc(id)}/end`),
  resume: (id) => request('POST', `/api/sessions/${enc(id)}/resume`),
  takeover: (id) => request('POST', `/api/sessions/${enc(id)}/takeover`),
  compact: (id) => request('POST', `/api/sessions/${enc(id)}/compact`),
  revert: (id, body) => request('POST', `/api/sessions/${enc(id)}/revert`, body),
  fork: (id, body) => request('POST', `/api/sessions/${enc(id)}/fork`, body),
  review: (id, body) => request('POST', `/api/sessions/${enc(id)}/review`, body),
  archive: (id) => request('POST', `/api/sessions/${enc(id)}/archive`),
  unarchive: (id) => request('POST', `/api/sessions/${enc(id)}/unarchive`),
  rename: (id, name) => request('POST', `/api/sessions/${enc(id)}/name`, { name }),
  patchConfig: (id, patch) => request('PATCH', `/api/sessions/${enc(id)}/config`, patch),
  answer: (id, requestId, decision, answers, message) =>
    request('POST', `/api/sessions/${enc(id)}/approvals/${enc(requestId)}`,
      { decision, ...(answers ? { answers } : {}), ...(message ? { message } : {}) }),
  models: (agent = 'codex') => request('GET', `/api/models?provider=${enc(agent)}`),
  agents: () => request('GET', '/api/agents'),
  account: () => request('GET', '/api/account'),
  login: (body) => request('POST', '/api/account/login', body),
  logout: () => request('POST', '/api/account/logout'),
  providers: () => request('GET', '/api/providers'),
  setLocalModel: (modelPath) => request('POST', '/api/providers/local', { model_path: modelPath }),
  markdown: (texts) => request('POST', '/api/markdown', { texts }),
  // Around the thread: the agent's MCP servers, threads, config, one-off commands, usage,
  // skills and goal.
  deleteSession: (id) => request('POST', `/api/sessions/${enc(id)}/delete`),
  mcpServers: (id) => request('GET', `/api/sessions/${enc(id)}/mcp-servers`),
  agentThreads: ({ search, cursor, limit } = {}) => {
    const q = new URLSearchParams();
    if (search) q.set('search', search);
    if (cursor) q.set('cursor', cursor);
    if (limit) q.set('limit', String(limit));
    const qs = q.toString();
    return request('GET', `/api/codex/threads${qs ? `?${qs}` : ''}`);
  },
  importThread: (threadId) => request('POST', '/api/codex/threads/import', { thread_id: threadId }),
  agentConfig: () => request('GET', '/api/codex/config'),
  writeAgentConfig: (keyPath, value) => request('POST', '/api/codex/config', { key_path: keyPath, value }),
  usage: () => request('GET', '/api/codex/usage'),
  runCommand: (id, body) => request('POST', `/api/sessions/${enc(id)}/commands`, body),
  commandStdin: (id, commandId, text, close) =>
    request('POST', `/api/sessions/${enc(id)}/commands/${enc(commandId)}/stdin`, { text, close }),
  terminateCommand: (id, commandId) =>
    request('POST', `/api/sessions/${enc(id)}/commands/${enc(commandId)}/terminate`),
  skills: (id) => request('GET', `/api/sessions/${enc(id)}/skills`),
  goal: (id) => request('GET', `/api/sessions/${enc(id)}/goal`),
  setGoal: (id, objective) => request('POST', `/api/sessions/${enc(id)}/goal`, { objective }),
};
