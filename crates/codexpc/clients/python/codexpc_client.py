"""A minimal client for the codexpc session protocol (PROTOCOL.md), Python stdlib only.

    with CodexpcClient("/run/user/1000/codexpc.sock") as c:
        print(c.handshake()["encoding_name"])
        for event in c.create({"input": "Say hi"}):
            if event["type"] == "output_text.delta":
                print(event["text"], end="")

Tools the client declares in `create` (`tools`, Responses function tools) are executed by the
client: the session emits `output_item.done` with `item.type == "tool_call"`,
`item.executor == "client"` and `item.status == "in_progress"`; answer it with
`c.tool_result(event["req_id"], item["call_id"], output)` while iterating, and the session goes on.
"""

import itertools
import json
import socket

PROTO_VERSION = 1
SERVICE = "codexpc"
TERMINAL = {"completed", "error", "handshake.ok", "health.ok"}


class ProtocolError(Exception):
    """The daemon answered with error{code, message}, or broke the protocol."""

    def __init__(self, message, code=None):
        super().__init__(f"{code}: {message}" if code else message)
        self.code = code


class CodexpcClient:
    def __init__(self, path, timeout=30.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.file = self.sock.makefile("rb")
        self.ids = (f"py{n}" for n in itertools.count(1))
        self.backlog = []

    def close(self):
        self.file.close()
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, req_id, kind, **fields):
        msg = {"proto_version": PROTO_VERSION, "service": SERVICE, "req_id": req_id, "type": kind}
        msg.update(fields)
        self.sock.sendall(json.dumps(msg).encode() + b"\n")

    def send_raw(self, data):
        self.sock.sendall(data)

    def recv(self):
        if self.backlog:
            return self.backlog.pop(0)
        line = self.file.readline()
        if not line:
            raise ProtocolError("daemon closed the connection")
        msg = json.loads(line)
        if msg.get("proto_version") != PROTO_VERSION or msg.get("service") != SERVICE:
            raise ProtocolError(f"message without the envelope: {msg}")
        return msg

    def recv_for(self, req_id):
        for i, m in enumerate(self.backlog):
            if m.get("req_id") == req_id:
                return self.backlog.pop(i)
        while True:
            line = self.file.readline()
            if not line:
                raise ProtocolError(f"connection closed before {req_id} finished")
            msg = json.loads(line)
            if msg.get("req_id") == req_id:
                return msg
            self.backlog.append(msg)

    def call(self, kind, **fields):
        req_id = next(self.ids)
        self.send(req_id, kind, **fields)
        reply = self.recv_for(req_id)
        if reply["type"] == "error":
            raise ProtocolError(reply.get("message"), reply.get("code"))
        return reply

    def handshake(self):
        return self.call("handshake")

    def health(self):
        return self.call("health")

    def tool_result(self, session, call_id, output, status="completed"):
        """Answer a client-executed tool call of session `session` (its req_id)."""
        return self.call(
            "tool_result", session=session, call_id=call_id, output=output, status=status
        )

    def create(self, params, kind="create"):
        """Start a session; yields its events up to and including completed (an error raises)."""
        req_id = next(self.ids)
        self.send(req_id, kind, **params)
        while True:
            msg = self.recv_for(req_id)
            if msg["type"] == "error":
                raise ProtocolError(msg.get("message"), msg.get("code"))
            yield msg
            if msg["type"] in TERMINAL:
                return
