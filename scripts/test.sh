#!/usr/bin/env bash
# The whole test suite: set-up (idempotent), lints, every Rust test (driving the real pinned Codex
# CLI, real SQLite, real sockets), the protocol's second-language client and the browser tests.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
"$ROOT/scripts/setup.sh" test

step() { printf '\n\033[1;32m==>\033[0m %s\n' "$*" >&2; }

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo build (binaries used by the integration tests)"
cargo build --workspace --bins --locked

step "cargo test"
if command -v cargo-nextest >/dev/null; then
  cargo nextest run --workspace --locked --no-fail-fast
  # nextest does not run doctests
  cargo test --workspace --doc --locked
else
  cargo test --workspace --locked --no-fail-fast
fi

if [[ -x "$ROOT/scripts/test-extra.sh" ]]; then
  "$ROOT/scripts/test-extra.sh"
fi
