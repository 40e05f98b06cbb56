#!/usr/bin/env bash
# The whole test suite: set-up (idempotent), lints, every Rust test (driving the real pinned Codex
# CLI, real SQLite, real sockets), the protocol's second-language client and the browser tests.
#
# One build serves every step. The workspace is compiled once, with `--workspace --all-targets`
# (so dev-dependencies' features are always unified the same way and llama.cpp's C++ and every
# other dependency is compiled exactly once), and with clippy as the compiler of the workspace's
# own crates (RUSTC_WORKSPACE_WRAPPER=clippy-driver, what `cargo clippy` itself sets): the lints
# run while the crates are compiled, instead of in a separate `cargo check` pass that would
# compile every dependency a second time in metadata-only mode. nextest, the doctests and
# scripts/test-extra.sh then find everything fresh, because they inherit the same environment.
# The wall time of each step is printed at the end.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

step() { printf '\n\033[1;32m==>\033[0m %s\n' "$*" >&2; }

STEP_NAMES=()
STEP_SECS=()
# timed NAME CMD...: run CMD, record its wall time under NAME.
timed() {
  local name=$1 start=$SECONDS
  shift
  local rc=0
  "$@" || rc=$?
  STEP_NAMES+=("$name")
  STEP_SECS+=($((SECONDS - start)))
  return "$rc"
}
summary() {
  local rc=$?
  stop_lock_watch
  printf '\n%-44s %8s\n' "step" "wall"
  local i total=0
  for i in "${!STEP_NAMES[@]}"; do
    printf '%-44s %6dm%02ds\n' "${STEP_NAMES[$i]}" $((STEP_SECS[i] / 60)) $((STEP_SECS[i] % 60))
    total=$((total + STEP_SECS[i]))
  done
  printf '%-44s %6dm%02ds%s\n' "total" $((total / 60)) $((total % 60)) \
    "$( ((rc == 0)) || echo "  (failed: exit $rc)")"
}
# The stale pyenv lock watcher (see below), stopped with the run.
LOCK_WATCH=""
stop_lock_watch() {
  if [[ -n "$LOCK_WATCH" ]]; then kill "$LOCK_WATCH" 2>/dev/null || true; fi
}
trap summary EXIT

timed "set-up" "$ROOT/scripts/setup.sh" test

# Codex runs the model's commands in login shells. Where shell start-up runs `pyenv init` (this CI
# host's does), every such shell runs `pyenv rehash`, and a test that kills Codex mid-command can
# leave the rehash lock behind: every later login shell would wait 60 s for it and the commands of
# the following tests time out. A short timeout still lets concurrent shells take turns (a rehash
# takes well under a second; with 0 a shell that finds the lock busy prints an error into the
# command's output), while a stale lock costs seconds, not a minute.
export PYENV_REHASH_TIMEOUT=5
# The timeout alone still fails the commands after a stale lock: each prints "pyenv: cannot
# rehash ..." into its output, and nextest's retries see the same lock. A rehash holds the lock
# for well under a second, so a lock older than 5 s is one a killed shell left: while the tests
# run it is removed, as set-up removes one left before the run.
PYENV_LOCK="${PYENV_ROOT:-$HOME/.pyenv}/shims/.pyenv-shim"
if [[ -d "$(dirname "$PYENV_LOCK")" ]]; then
  (
    while sleep 2; do
      if [[ -n "$(find "$PYENV_LOCK" ! -newermt '-5 seconds' 2>/dev/null)" ]]; then
        rm -f "$PYENV_LOCK"
        printf '[test] removed a stale pyenv rehash lock (%s)\n' "$PYENV_LOCK" >&2
      fi
    done
  ) &
  LOCK_WATCH=$!
fi

step "cargo fmt --check"
timed "fmt" cargo fmt --all --check

if CLIPPY_DRIVER="$(rustup which clippy-driver 2>/dev/null || command -v clippy-driver)"; then
  export RUSTC_WORKSPACE_WRAPPER="$CLIPPY_DRIVER"
  # `cargo clippy -- -D warnings` passes its lint arguments to the driver this way.
  export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
  step "cargo build --workspace --all-targets, linted by clippy -D warnings"
  timed "build + clippy (all targets)" cargo build --workspace --all-targets --locked
else
  step "cargo clippy (no clippy-driver found: separate lint pass)"
  timed "clippy" cargo clippy --workspace --all-targets --locked -- -D warnings
  step "cargo build --workspace --all-targets"
  timed "build (all targets)" cargo build --workspace --all-targets --locked
fi

step "cargo test"
if command -v cargo-nextest >/dev/null; then
  timed "tests (nextest)" cargo nextest run --workspace --locked --no-fail-fast
  # nextest does not run doctests
  timed "doctests" cargo test --workspace --doc --locked
else
  timed "tests (cargo test)" cargo test --workspace --locked --no-fail-fast
fi

if [[ -x "$ROOT/scripts/test-extra.sh" ]]; then
  timed "extra steps (scripts/test-extra.sh)" "$ROOT/scripts/test-extra.sh"
fi
