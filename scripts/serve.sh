#!/usr/bin/env bash
# The main job: set-up (idempotent), build, then run the OrbitDock server with its web UI on the
# embedded SQLite default. Extra arguments go to `orbitdock serve` (try --help).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
"$ROOT/scripts/setup.sh" serve
cargo build --release --locked -p orbitdock
# Use the pinned Codex that set-up installed (unless the caller chose one).
if [[ -z "${CODEX_BIN:-}" ]]; then
  for c in "$ROOT"/tools/codex/node_modules/@openai/codex-*/vendor/*/bin/codex; do
    if [[ -x "$c" ]]; then
      export CODEX_BIN="$c"
      break
    fi
  done
fi
# And the pinned Claude Code, for Claude sessions (the server offers Codex only without one).
if [[ -z "${CLAUDE_BIN:-}" && -x "$ROOT/tools/claude/node_modules/@anthropic-ai/claude-code/bin/claude.exe" ]]; then
  export CLAUDE_BIN="$ROOT/tools/claude/node_modules/@anthropic-ai/claude-code/bin/claude.exe"
fi
exec "$ROOT/target/release/orbitdock" serve "$@"
