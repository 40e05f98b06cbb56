// The first start on a long history: while the server imports the rollouts it found on disk
// (in the background, newest first, the list usable meanwhile), a line under the sidebar's tools
// says how far it is ("Importing history: 12,345 / 50,000"), fed by `GET /api/status`. It polls
// only until the import is complete, and gives up quietly on a server that never starts one
// (rollout watching turned off).

import { api } from './api.js';

/** How often the status is asked for while an import runs. */
const POLL_MS = 1000;
/** Polls without any import started before concluding there is none. */
const MAX_IDLE_POLLS = 15;

const fmt = new Intl.NumberFormat();

export class ImportProgress {
  /** `el`: the banner (hidden until an import is seen running); `bar`: its `<progress>`. */
  constructor(el) {
    this.el = el;
    this.text = el.querySelector('.import-text');
    this.bar = el.querySelector('progress');
    this.idle = 0;
    this.timer = null;
    this.poll();
  }

  async poll() {
    this.timer = null;
    let st = null;
    try {
      st = await api.status();
    } catch {
      // Offline or restarting: try again, the connection line says what is wrong.
    }
    const imp = st && st.import;
    if (imp && imp.complete) {
      this.el.hidden = true;
      return;
    }
    if (imp && imp.started && imp.files_total > 0) {
      this.idle = 0;
      this.show(imp.files_done, imp.files_total);
    } else if (++this.idle > MAX_IDLE_POLLS) {
      this.el.hidden = true;
      return;
    }
    this.timer = setTimeout(() => this.poll(), POLL_MS);
  }

  show(done, total) {
    this.text.textContent = `Importing history: ${fmt.format(done)} / ${fmt.format(total)}`;
    this.bar.max = total;
    this.bar.value = done;
    this.el.hidden = false;
  }
}
