#!/usr/bin/env python3
"""CI smoke test of the session protocol from a second language.

usage: smoke.py SOCKET EXPECTED_TEXT

Against a daemon started with a script (scripts/test-extra.sh does it): handshake, health, bad
input answered (unsupported version, malformed JSON) with the connection still usable, one
`create` streamed to `completed` with EXPECTED_TEXT as its final text, and a session with a
client-declared tool that this client executes (tool_call -> tool_result -> the model's answer
using it). Exits non-zero on any mismatch.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from codexpc_client import CodexpcClient, ProtocolError  # noqa: E402


def check(cond, what):
    if not cond:
        print(f"FAIL: {what}", file=sys.stderr)
        sys.exit(1)


def main():
    path, expected = sys.argv[1], sys.argv[2]
    with CodexpcClient(path, timeout=30) as c:
        hs = c.handshake()
        check(hs["encoding_name"], f"handshake: {hs}")
        check(isinstance(hs["special_tokens"].get("<|start|>"), int), f"special tokens: {hs}")
        check(hs["stop_tokens_for_assistant_actions"], f"stop tokens: {hs}")
        h = c.health()
        check(h["status"] == "ok", f"health: {h}")

        c.send_raw(b'{"proto_version":9,"service":"codexpc","req_id":"v9","type":"health"}\n')
        reply = c.recv_for("v9")
        check(reply.get("code") == "unsupported_protocol", f"proto 9: {reply}")
        c.send_raw(b"{oops\n")
        bad = c.recv()
        check(bad["type"] == "error" and bad["code"] == "bad_request", f"malformed: {bad}")
        try:
            c.call("create", input=5)
            check(False, "create with input=5 accepted")
        except ProtocolError as e:
            check(e.code == "bad_request" and "input" in str(e), f"bad create: {e}")

        events = list(c.create({"input": [{"type": "message", "role": "user", "content": "python smoke"}]}))
        kinds = [e["type"] for e in events]
        check(kinds[0] == "created" and kinds[-1] == "completed", f"order: {kinds}")
        text = "".join(e["text"] for e in events if e["type"] == "output_text.delta")
        check(text == expected, f"text {text!r} != {expected!r}")
        usage = events[-1]["token_usage"]
        check(usage["input"] > 0 and usage["output"] > 0, f"usage: {usage}")
        check(c.health()["status"] == "ok", "health after the session")

        weather = {
            "type": "function",
            "name": "get_weather",
            "description": "Weather for a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        }
        calls = []
        tool_events = []
        for e in c.create({"input": "python tools", "tools": [weather]}):
            tool_events.append(e)
            item = e.get("item", {})
            if item.get("type") == "tool_call" and item.get("executor") == "client":
                check(item["status"] == "in_progress", f"tool call: {item}")
                calls.append(item)
                ok = c.tool_result(e["req_id"], item["call_id"], "sunny, 21 C")
                check(ok["type"] == "tool_result.ok", f"tool_result reply: {ok}")
        check(len(calls) == 1 and calls[0]["name"] == "get_weather", f"calls: {calls}")
        outputs = [e["item"] for e in tool_events if e.get("item", {}).get("type") == "tool_call.output"]
        check(
            len(outputs) == 1 and outputs[0]["output"] == "sunny, 21 C" and outputs[0]["executor"] == "client",
            f"tool outputs: {outputs}",
        )
        tool_text = "".join(e["text"] for e in tool_events if e["type"] == "output_text.delta")
        check(tool_text == "It is sunny.", f"tool session text {tool_text!r}")
    print(f"python smoke ok: {text!r} ({len(events)} events, usage {usage}); client tool round trip ok")


if __name__ == "__main__":
    main()
