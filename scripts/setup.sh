#!/usr/bin/env bash
# Idempotent set-up shared by `scripts/serve.sh` and `scripts/test.sh`.
#
# Installs, only when missing:
#   - Debian packages the build and the test suite need (cmake/clang for llama.cpp, bubblewrap for
#     Codex's Linux sandbox, chromium for the browser tests, python3 for the protocol sample client,
#     openssh-server for the SSH-host test, which starts its own sshd on loopback);
#   - the pinned Codex CLI (npm) into the git-ignored, project-local folder tools/codex, and the
#     newest release beside it in tools/codex-<version> (for codex-client's compatibility tests);
#   - the pinned Claude Code CLI (npm) into the git-ignored, project-local folder tools/claude;
#   - the browser-test driver (playwright-core, npm) into tools/node when $1 == test.
# Safe to run any number of times; every step checks before it acts.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODE="${1:-serve}"
CODEX_VERSION="0.169.0"
TOOLS="$ROOT/tools"

log() { printf '\033[1;34m[setup]\033[0m %s\n' "$*" >&2; }

# ---------------------------------------------------------------- Debian packages
need_pkgs=(cmake clang libclang-dev pkg-config bubblewrap git)
if [[ "$MODE" == "test" ]]; then
  # libssl-dev: the tests decrypt Web Push payloads with Mozilla's `ece` (OpenSSL backend).
  # openssh-server: the SSH-host test starts its own sshd on loopback.
  need_pkgs+=(chromium python3 libssl-dev openssh-server)
fi
missing=()
for p in "${need_pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  if ! command -v apt-get >/dev/null; then
    log "missing system packages: ${missing[*]} (no apt-get here: install them with your package manager)"
    exit 1
  fi
  SUDO=""
  if [[ "$(id -u)" != 0 ]]; then SUDO="sudo"; fi
  log "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# ---------------------------------------------------------------- pinned Codex CLI
# codex_bin [DIR]: the native binary of an npm install in DIR (default: tools/codex).
codex_bin() {
  local dir="${1:-$TOOLS/codex}" arch
  arch="$(uname -m)"
  case "$(uname -s)-$arch" in
    Linux-x86_64) echo "$dir/node_modules/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex" ;;
    Linux-aarch64) echo "$dir/node_modules/@openai/codex-linux-arm64/vendor/aarch64-unknown-linux-musl/bin/codex" ;;
    Darwin-arm64) echo "$dir/node_modules/@openai/codex-darwin-arm64/vendor/aarch64-apple-darwin/bin/codex" ;;
    Darwin-x86_64) echo "$dir/node_modules/@openai/codex-darwin-x64/vendor/x86_64-apple-darwin/bin/codex" ;;
    *) echo "$dir/node_modules/.bin/codex" ;;
  esac
}
CODEX="$(codex_bin)"
if [[ ! -x "$CODEX" ]] || [[ "$("$CODEX" --version 2>/dev/null)" != "codex-cli $CODEX_VERSION" ]]; then
  log "installing @openai/codex@$CODEX_VERSION into tools/codex"
  mkdir -p "$TOOLS/codex"
  npm install --prefix "$TOOLS/codex" --no-audit --no-fund --save-exact --loglevel=error \
    "@openai/codex@$CODEX_VERSION" >/dev/null
fi
"$CODEX" --version >/dev/null

# ---------------------------------------------------------------- newest Codex CLI (compat matrix)
# Installed side by side (never on PATH, never replacing the pinned one): codex-client's drift
# test and compatibility report run against both versions.
CODEX_NEWEST_VERSION="0.171.0"
CODEX_NEWEST="$(codex_bin "$TOOLS/codex-$CODEX_NEWEST_VERSION")"
if [[ ! -x "$CODEX_NEWEST" ]] || [[ "$("$CODEX_NEWEST" --version 2>/dev/null)" != "codex-cli $CODEX_NEWEST_VERSION" ]]; then
  log "installing @openai/codex@$CODEX_NEWEST_VERSION into tools/codex-$CODEX_NEWEST_VERSION"
  mkdir -p "$TOOLS/codex-$CODEX_NEWEST_VERSION"
  npm install --prefix "$TOOLS/codex-$CODEX_NEWEST_VERSION" --no-audit --no-fund --save-exact --loglevel=error \
    "@openai/codex@$CODEX_NEWEST_VERSION" >/dev/null
fi
"$CODEX_NEWEST" --version >/dev/null

# ---------------------------------------------------------------- pinned Claude Code CLI
# The package's postinstall replaces bin/claude.exe with the native binary of the platform package,
# so this path is the same on every platform (crates/claude-code resolves it the same way).
CLAUDE_VERSION="2.1.332"
CLAUDE="$TOOLS/claude/node_modules/@anthropic-ai/claude-code/bin/claude.exe"
if [[ ! -x "$CLAUDE" ]] || [[ "$("$CLAUDE" --version 2>/dev/null)" != "$CLAUDE_VERSION (Claude Code)" ]]; then
  log "installing @anthropic-ai/claude-code@$CLAUDE_VERSION into tools/claude"
  mkdir -p "$TOOLS/claude"
  npm install --prefix "$TOOLS/claude" --no-audit --no-fund --save-exact --loglevel=error \
    "@anthropic-ai/claude-code@$CLAUDE_VERSION" >/dev/null
fi
"$CLAUDE" --version >/dev/null

# ---------------------------------------------------------------- browser-test driver
if [[ "$MODE" == "test" ]]; then
  if [[ -f "$ROOT/ui-tests/package.json" && ! -d "$ROOT/ui-tests/node_modules/playwright-core" ]]; then
    log "installing browser-test dependencies (npm ci in ui-tests/)"
    (cd "$ROOT/ui-tests" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  fi
fi
# ---------------------------------------------------------------- stale pyenv lock (test hosts)
# Codex runs the model's commands in login shells. On hosts whose shell start-up runs
# `pyenv init` (as this CI host's does), a `pyenv rehash` killed mid-way leaves its lock file
# behind and every later login shell then waits 60 s for it, so tests that run commands time out.
# A rehash holds its lock for well under a second, so a lock older than a minute is stale (shells
# still running `pyenv-rehash` are then waiting for it, not holding it): remove it.
if [[ "$MODE" == "test" ]]; then
  pyenv_lock="${PYENV_ROOT:-$HOME/.pyenv}/shims/.pyenv-shim"
  if [[ -f "$pyenv_lock" ]] && [[ -n "$(find "$pyenv_lock" -mmin +1 2>/dev/null)" ]]; then
    log "removing a stale pyenv rehash lock ($pyenv_lock)"
    rm -f "$pyenv_lock"
  fi
fi
log "set-up complete (codex: $("$CODEX" --version))"
