#!/usr/bin/env bash
# Extra test steps run by scripts/test.sh after `cargo test` (the workspace's binaries are already
# built by then: the `cargo build` lines below only check that, in a second or two). Each step is
# a section below; other engineers append theirs in the marked place.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

step() { printf '\n\033[1;32m==>\033[0m %s\n' "$*" >&2; }

# ---------------------------------------------------------------- web UI: real-browser tests
# Debian's Chromium driven by playwright-core (ui-tests/, pinned in its package-lock.json) against a
# real `orbitdock serve`, the pinned Codex CLI and codexpc's scripted model. Screenshots land in
# artifacts/screenshots/ (git-ignored).
step "web UI browser tests (ui-tests/)"
# Exactly test.sh's build (same selection, and its clippy-driver environment when run from it),
# so this finds everything fresh; run alone, it builds what it needs.
cargo build --locked --workspace --all-targets
if [[ ! -d "$ROOT/ui-tests/node_modules/playwright-core" ]]; then
  (cd "$ROOT/ui-tests" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
(cd "$ROOT/ui-tests" && node --test --test-concurrency=1 tests/)

step "web UI benchmark: open a 10,000-item transcript (prints figures, asserts nothing on time)"
(cd "$ROOT/ui-tests" && node bench-transcript.mjs)

# ---------------------------------------------------------------- other extra steps
# >>> Append further extra test steps below this line (one clearly titled `step` each). <<<

step "codexpc session protocol from Python (crates/codexpc/clients/python, against serve --script)"
cargo build --locked --workspace --all-targets
# The build step honours CARGO_TARGET_DIR, so the binary is looked for where cargo put it.
bash "$ROOT/crates/codexpc/clients/python/run_smoke.sh" "${CARGO_TARGET_DIR:-$ROOT/target}/debug/codexpc"
