// Markdown is rendered by the server (pulldown-cmark + ammonia, `POST /api/markdown`), never by a
// parser in the page. Requests made in the same tick are batched into one call; results are
// cached by item id + text so a re-render or a reconnect never asks twice for the same text.

import { api } from './api.js';

const MAX_BATCH = 100;
const cache = new Map(); // key -> html
const inflight = new Map(); // key -> Promise<string>
let queue = [];
let scheduled = false;

function keyOf(id, text) {
  return `${id}\u0000${text.length}\u0000${text}`;
}

/** Rendered HTML if already known (synchronous, for first paint), else undefined. */
export function cached(id, text) {
  return cache.get(keyOf(id, text));
}

/** Resolves to sanitised HTML for `text` (cached by item id). Rejects when the server fails. */
export function render(id, text) {
  const key = keyOf(id, text);
  if (cache.has(key)) return Promise.resolve(cache.get(key));
  if (inflight.has(key)) return inflight.get(key);
  const p = new Promise((resolve, reject) => {
    queue.push({ key, text, resolve, reject });
  });
  inflight.set(key, p);
  if (!scheduled) {
    scheduled = true;
    queueMicrotask(flush);
  }
  return p;
}

async function flush() {
  scheduled = false;
  const batch = queue;
  queue = [];
  for (let i = 0; i < batch.length; i += MAX_BATCH) {
    const part = batch.slice(i, i + MAX_BATCH);
    try {
      const res = await api.markdown(part.map((q) => q.text));
      const htmls = (res && res.htmls) || [];
      part.forEach((q, j) => {
        inflight.delete(q.key);
        if (typeof htmls[j] === 'string') {
          cache.set(q.key, htmls[j]);
          q.resolve(htmls[j]);
        } else {
          q.reject(new Error('markdown: missing result'));
        }
      });
    } catch (err) {
      for (const q of part) {
        inflight.delete(q.key);
        q.reject(err);
      }
    }
  }
}
