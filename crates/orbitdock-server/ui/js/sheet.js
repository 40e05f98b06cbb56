// A modal <dialog> built in script (focus trapped, Escape closes) with a heading, an error line
// that keeps what was typed when the server refuses, and a Cancel button. The history dialogs
// and the panels around a thread share it so every sheet looks and behaves the same.

import { h } from './dom.js';

export function sheet(title, id) {
  const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const form = h('form', { method: 'dialog' });
  const dialog = h('dialog', { class: 'sheet', id, 'aria-labelledby': `${id}-title` }, form);
  document.body.append(dialog);
  const fail = (msg) => {
    error.textContent = msg || '';
    error.hidden = !msg;
  };
  const cancel = h('button', {
    type: 'button', class: 'btn ghost', 'aria-label': 'Cancel', on: { click: () => dialog.close() },
  }, 'Cancel');
  return { dialog, form, error, fail, cancel, heading: h('h2', { id: `${id}-title`, text: title }) };
}

/** Runs `fn` with the submit button disabled; a failure is shown in the dialog. */
export async function submitting(s, button, fn) {
  button.disabled = true;
  s.fail('');
  try {
    await fn();
    s.dialog.close();
  } catch (err) {
    s.fail(err.message);
  } finally {
    button.disabled = false;
  }
}

/**
 * A row of tabs inside a sheet (`tabs`: [id, label] pairs) controlling `body`: `select(id)`
 * marks the tab and calls `onSelect(id)`; `el` is the tab list to place in the sheet.
 */
export function tabList(prefix, tabs, body, label, onSelect) {
  const buttons = new Map(tabs.map(([id, text]) => [id, h('button', {
    type: 'button', role: 'tab', id: `${prefix}-tab-${id}`, 'aria-controls': body.id,
    on: { click: () => select(id) },
  }, text)]));
  function select(id) {
    for (const [k, el] of buttons) el.setAttribute('aria-selected', String(k === id));
    body.setAttribute('aria-labelledby', `${prefix}-tab-${id}`);
    onSelect(id);
  }
  return { el: h('div', { class: 'tabs', role: 'tablist', 'aria-label': label }, [...buttons.values()]), select };
}
