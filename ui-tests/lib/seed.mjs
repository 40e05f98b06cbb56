// Seeding a data dir with many sessions through the server crate's `seed_sessions` example (the
// server's own store, with the server stopped; no route of any build fabricates sessions).

import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { ROOT } from './harness.mjs';

const TARGET = process.env.CARGO_TARGET_DIR
  ? path.resolve(ROOT, process.env.CARGO_TARGET_DIR) : path.join(ROOT, 'target');

/** Builds the seeding example (and the server) when asked to (`build`), then seeds `n` sessions. */
export function seedSessions(dataDir, n, { items = 2, build = false } = {}) {
  if (build) {
    const b = spawnSync('cargo', ['build', '--quiet', '--locked', '-p', 'orbitdock', '-p', 'orbitdock-server',
      '--example', 'seed_sessions'], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
    if (b.status !== 0) throw new Error(`building seed_sessions failed (${b.status})`);
  }
  const bin = path.join(TARGET, 'debug', 'examples', 'seed_sessions');
  const r = spawnSync(bin, ['--data-dir', dataDir, '--sessions', String(n), '--items', String(items)], {
    cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (r.status !== 0) throw new Error(`seed_sessions failed (${r.status}): ${r.stdout} ${r.error || ''}`);
}

/** Session `i`'s id, as `seed_sessions` names it. */
export const seededId = (i) => `seed-${String(i).padStart(7, '0')}`;

/** Writes `n` generated Codex rollouts under `codexHome/sessions` (test-support's
 * `write_rollouts` example: Codex's own file format, for the server to import as history). */
export function writeRollouts(codexHome, n, { turns = 1, pad = 50 } = {}) {
  const bin = path.join(TARGET, 'debug', 'examples', 'write_rollouts');
  const r = spawnSync(bin, ['--codex-home', codexHome, '--sessions', String(n), '--turns', String(turns),
    '--pad', String(pad)], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error(`write_rollouts failed (${r.status}): ${r.stdout} ${r.error || ''}`);
}
