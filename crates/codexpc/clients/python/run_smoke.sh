#!/usr/bin/env bash
# Start `codexpc serve --script` on a temp socket, run smoke.py against it, stop the daemon.
# usage: run_smoke.sh PATH/TO/codexpc
set -euo pipefail
BIN="$1"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TMP="$(mktemp -d)"
PID=""
cleanup() { [[ -n "$PID" ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT
cat >"$TMP/script.jsonl" <<'JSONL'
{"completion": "<|channel|>analysis<|message|>Reply.<|end|><|start|>assistant<|channel|>final<|message|>Hello from Python!<|return|>", "match": "python smoke"}
{"completion": "<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{\"city\":\"Oslo\"}<|call|>", "match": "python tools"}
{"completion": "<|channel|>final<|message|>It is sunny.<|return|>", "match": "sunny, 21 C"}
JSONL
"$BIN" serve --http 127.0.0.1:0 --script "$TMP/script.jsonl" --socket "$TMP/codexpc.sock" \
  >"$TMP/out" 2>"$TMP/err" &
PID=$!
for _ in $(seq 1 300); do
  grep -q '^codexpc socket at ' "$TMP/out" 2>/dev/null && break
  kill -0 "$PID" 2>/dev/null || { cat "$TMP/err" >&2; exit 1; }
  sleep 0.1
done
grep -q '^codexpc socket at ' "$TMP/out" || { echo "daemon did not start" >&2; cat "$TMP/err" >&2; exit 1; }
python3 "$HERE/smoke.py" "$TMP/codexpc.sock" "Hello from Python!"
