"""A stand-in model API on 127.0.0.1 that plays a scripted model, for the real agent CLIs.

It speaks the wire formats the tools use, each with and without streaming (SSE):
Anthropic Messages (`POST /v1/messages`), OpenAI Chat Completions (`POST
.../chat/completions`), OpenAI Responses (`POST .../responses`) and Gemini
(`POST .../models/M:generateContent` and `:streamGenerateContent`).

The scripted model reads the conversation, not a fixed turn counter, so a tool's side
requests (a title, a quota probe, a token count) do not derail it:
- a request that offers no tools gets a short text, or for an implementer (aider, which
  edits from the model's reply) a listing of STANDIN.md in aider's "whole" format;
- an implementer's conversation (the prompt says "You are the implementer") with no tool
  result yet gets a call of the tool's file-writing tool (or its shell) that creates
  `STANDIN.md` in the working folder;
- a reviewer's conversation with no tool result yet gets a shell call that writes an
  approving verdict into `$AINARRES_JOB_DIR/result.json`;
- once a tool result is in the conversation, the model says it is done.

Where the tool offers the claim's MCP server (`ainarres`: its tools named `approve`,
`mcp__ainarres__approve`, `ainarres_approve`, ... as each tool names them), the model uses
it as the prompt says: a reviewer annotates STANDIN.md (MCP_ANNOTATION) and approves
(MCP_REASON) through it instead of the shell, and an implementer, once its file is
written, adds a note through it (MCP_NOTE).

Every answer carries a usage figure of its own (the `sent` log), so a test can compare
what the tool reports, and what the board records, with what was sent. With `fail` set,
every model call is answered with that HTTP status (529: overloaded), as a model API that
is down while the tool works.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FILE_NAME = "STANDIN.md"
FILE_TEXT = "written by the tool, as the stand-in model asked\n"
VERDICT = {"verdict": "approve", "reason": "the stand-in model approves"}
SHELL_VERDICT = f"printf '%s' '{json.dumps(VERDICT)}' > \"$AINARRES_JOB_DIR/result.json\""
SHELL_WRITE = f"printf '%s\\n' '{FILE_TEXT.strip()}' > {FILE_NAME}"

MCP_REASON = "the stand-in model approves through the claim's MCP server"
MCP_NOTE = "the stand-in model wrote STANDIN.md (a note through the claim's MCP server)"
MCP_ANNOTATION = {"file": FILE_NAME, "line": 1, "side": "new", "severity": "nit",
                  "body": "an annotation through the claim's MCP server"}  # fmt: skip

# how a tool of a Responses namespace is named here: NAMESPACE::NAME
NAMESPACED = "::"

# tool names, by kind, as the CLIs call them (first match wins)
WRITE_TOOLS = ("Write", "write_file", "write", "create_file")
SHELL_TOOLS = ("Bash", "run_shell_command", "bash", "shell", "exec_command", "local_shell")


@dataclass
class Sent:
    """One answer the stand-in gave, with the usage it reported."""

    api: str
    model: str
    input_tokens: int
    output_tokens: int
    action: str  # "text", or the tool called


@dataclass
class Step:
    """What the scripted model does next: call `tool` with `args`, or say `text`."""

    text: str = ""
    tool: str | None = None
    args: dict[str, Any] = field(default_factory=dict)


def claim_tool(tools: list[str], verb: str) -> str | None:
    """The claim's MCP tool for `verb`, as this tool names it, if it offers one."""
    return next((t for t in tools if t == verb or ("ainarres" in t and (
        t.endswith(f"_{verb}") or t.endswith(f"{NAMESPACED}{verb}")))), None)  # fmt: skip


def decide(prompt: str, tools: list[str], tool_results: int) -> Step:
    """The scripted model: see the module docstring."""
    approve, note = claim_tool(tools, "approve"), claim_tool(tools, "note")
    annotate = claim_tool(tools, "annotate")
    if "You review task" in prompt and approve is not None and annotate is not None:
        if tool_results == 0:
            return Step(tool=annotate, args=MCP_ANNOTATION)
        if tool_results == 1:
            return Step(tool=approve, args={"reason": MCP_REASON})
        return Step(text="Done: the review is given.")
    if "You are the implementer" in prompt and note is not None and tool_results == 1:
        return Step(tool=note, args={"body": MCP_NOTE})
    if tool_results > 0:
        return Step(text="Done: the change is made.")
    if not tools:
        # aider offers no tools: it edits from a file listing in the reply ("whole" format)
        if "You are the implementer" in prompt:
            return Step(text=f"{FILE_NAME}\n```\n{FILE_TEXT}```\n")
        return Step(text="ok")
    shell = next((t for t in SHELL_TOOLS if t in tools), None)
    if "You are the implementer" in prompt:
        write = next((t for t in WRITE_TOOLS if t in tools), None)
        if write is not None:
            return Step(tool=write, args={"file": FILE_NAME, "content": FILE_TEXT})
        if shell is not None:
            return Step(tool=shell, args={"command": SHELL_WRITE})
    if "You review task" in prompt and shell is not None:
        return Step(tool=shell, args={"command": SHELL_VERDICT})
    return Step(text="I cannot do this with the tools offered.")


def tool_input(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """The arguments in the shape the named tool takes (paths relative to its cwd)."""
    if name not in (*WRITE_TOOLS, *SHELL_TOOLS):  # an MCP tool: as the server declared them
        return dict(args)
    if "command" in args:
        cmd = args["command"]
        if name in ("shell", "local_shell"):
            return {"command": ["bash", "-lc", cmd]}
        if name == "exec_command":
            return {"cmd": cmd}
        if name == "Bash":
            return {"command": cmd, "description": "stand-in shell step"}
        if name == "bash":
            return {"command": cmd, "description": "stand-in shell step"}
        return {"command": cmd}
    path = args["file"]
    content = args["content"]
    if name == "Write":
        return {"file_path": path, "content": content}
    if name == "write_file":
        return {"file_path": path, "content": content}
    if name == "write":
        return {"filePath": path, "content": content}
    return {"path": path, "content": content}


class StandIn:
    """The server: start() it, read `base_url`, `sent` and `requests`, stop() it."""

    def __init__(self, input_tokens: int = 1000, output_tokens: int = 50) -> None:
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.sent: list[Sent] = []
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()
        self.fail: int | None = None  # answer model calls with this HTTP status (529: busy)
        self.offered: set[str] = set()  # every tool name a request offered the model
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> StandIn:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def usage(self) -> tuple[int, int]:
        """(input, output) tokens of every answer sent so far."""
        with self.lock:
            return (sum(s.input_tokens for s in self.sent), sum(s.output_tokens for s in self.sent))

    def _next_usage(self, api: str, model: str, action: str) -> tuple[int, int]:
        with self.lock:
            n = len(self.sent)
            used = (self.input_tokens + 100 * n, self.output_tokens + 10 * n)
            self.sent.append(Sent(api, model, used[0], used[1], action))
            return used


# -- request parsing, per API ---------------------------------------------------------------


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            _text_of(c.get("text", c.get("content", ""))) if isinstance(c, dict) else str(c)
            for c in content
        )
    return ""


def _anthropic(body: dict[str, Any]) -> tuple[str, list[str], int]:
    tools = [t.get("name", "") for t in body.get("tools") or []]
    prompt, results = "", 0
    for msg in body.get("messages") or []:
        content = msg.get("content")
        if isinstance(content, list):
            results += sum(
                1 for c in content if isinstance(c, dict) and c.get("type") == "tool_result"
            )
        if msg.get("role") == "user":
            prompt += _text_of(content)
    return prompt, tools, results


def _chat(body: dict[str, Any]) -> tuple[str, list[str], int]:
    tools = [(t.get("function") or {}).get("name", "") for t in body.get("tools") or []]
    prompt, results = "", 0
    for msg in body.get("messages") or []:
        if msg.get("role") == "tool":
            results += 1
        if msg.get("role") in ("user", "system"):
            prompt += _text_of(msg.get("content"))
    return prompt, tools, results


def _responses(body: dict[str, Any]) -> tuple[str, list[str], int]:
    tools = []
    for t in body.get("tools") or []:
        if t.get("type") == "namespace":  # codex groups an MCP server's tools
            space = t.get("name")
            tools += [f"{space}{NAMESPACED}{sub.get('name')}" for sub in t.get("tools") or []]
        else:
            tools.append(t.get("name") or t.get("type", ""))
    prompt, results = "", 0
    items = body.get("input")
    for item in items if isinstance(items, list) else [{"role": "user", "content": items}]:
        kind = item.get("type")
        if kind in ("function_call_output", "custom_tool_call_output", "local_shell_call_output"):
            results += 1
        if item.get("role") == "user":
            prompt += _text_of(item.get("content"))
    return prompt, tools, results


def _gemini(body: dict[str, Any]) -> tuple[str, list[str], int]:
    tools = [
        d.get("name", "")
        for t in body.get("tools") or []
        for d in t.get("functionDeclarations") or []
    ]
    prompt, results = "", 0
    for msg in body.get("contents") or []:
        for part in msg.get("parts") or []:
            if "functionResponse" in part:
                results += 1
            if msg.get("role") == "user" and "text" in part:
                prompt += part["text"]
    return prompt, tools, results


# -- answers, per API -----------------------------------------------------------------------


def _sse(events: list[tuple[str | None, dict[str, Any]]], done: bool = False) -> Iterator[bytes]:
    for name, data in events:
        head = f"event: {name}\n" if name else ""
        yield f"{head}data: {json.dumps(data)}\n\n".encode()
    if done:
        yield b"data: [DONE]\n\n"


def _anthropic_answer(
    step: Step, model: str, used: tuple[int, int], stream: bool
) -> tuple[dict[str, Any] | None, Iterator[bytes] | None]:
    mid = f"msg_{uuid.uuid4().hex[:20]}"
    if step.tool:
        block: dict[str, Any] = {
            "type": "tool_use",
            "id": f"toolu_{uuid.uuid4().hex[:20]}",
            "name": step.tool,
            "input": tool_input(step.tool, step.args),
        }
        stop = "tool_use"
    else:
        block, stop = {"type": "text", "text": step.text}, "end_turn"
    usage = {
        "input_tokens": used[0],
        "output_tokens": used[1],
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }
    message = {
        "id": mid,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [block],
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage,
    }
    if not stream:
        return message, None
    start_block = (
        {**block, "input": {}} if block["type"] == "tool_use" else {"type": "text", "text": ""}
    )
    delta = (
        {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
        if block["type"] == "tool_use"
        else {"type": "text_delta", "text": block["text"]}
    )
    events: list[tuple[str | None, dict[str, Any]]] = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    **message,
                    "content": [],
                    "stop_reason": None,
                    "usage": {**usage, "output_tokens": 1},
                },
            },
        ),
        (
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": start_block},
        ),
        ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"output_tokens": used[1]},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return None, _sse(events)


def _chat_answer(
    step: Step, model: str, used: tuple[int, int], stream: bool
) -> tuple[dict[str, Any] | None, Iterator[bytes] | None]:
    cid, now = f"chatcmpl-{uuid.uuid4().hex[:20]}", int(time.time())
    usage = {
        "prompt_tokens": used[0],
        "completion_tokens": used[1],
        "total_tokens": used[0] + used[1],
    }
    message: dict[str, Any] = {"role": "assistant", "content": step.text or None}
    finish = "stop"
    if step.tool:
        args = json.dumps(tool_input(step.tool, step.args))
        message["tool_calls"] = [
            {
                "id": f"call_{uuid.uuid4().hex[:20]}",
                "type": "function",
                "function": {"name": step.tool, "arguments": args},
            }
        ]
        finish = "tool_calls"
    head = {"id": cid, "created": now, "model": model}
    if not stream:
        return {
            **head,
            "object": "chat.completion",
            "usage": usage,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        }, None
    delta: dict[str, Any] = {"role": "assistant", "content": step.text or None}
    if step.tool:
        delta["tool_calls"] = [{"index": 0, **message["tool_calls"][0]}]
    chunk = {**head, "object": "chat.completion.chunk"}
    events: list[tuple[str | None, dict[str, Any]]] = [
        (None, {**chunk, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}),
        (None, {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}),
        (None, {**chunk, "choices": [], "usage": usage}),
    ]
    return None, _sse(events, done=True)


def _responses_answer(
    step: Step, model: str, used: tuple[int, int], stream: bool
) -> tuple[dict[str, Any] | None, Iterator[bytes] | None]:
    rid = f"resp_{uuid.uuid4().hex[:20]}"
    if step.tool:
        item: dict[str, Any] = {
            "type": "function_call",
            "id": f"fc_{uuid.uuid4().hex[:20]}",
            "call_id": f"call_{uuid.uuid4().hex[:20]}",
            "name": step.tool,
            "arguments": json.dumps(tool_input(step.tool, step.args)),
            "status": "completed",
        }
        space, _, name = step.tool.rpartition(NAMESPACED)
        if space:  # a tool of a namespace (`_responses`): called by its name in it
            item.update(name=name, namespace=space)
    else:
        item = {
            "type": "message",
            "id": f"msg_{uuid.uuid4().hex[:20]}",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": step.text, "annotations": []}],
        }
    usage = {
        "input_tokens": used[0],
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": used[1],
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": used[0] + used[1],
    }
    response = {
        "id": rid,
        "object": "response",
        "created_at": int(time.time()),
        "model": model,
        "status": "completed",
        "output": [item],
        "usage": usage,
    }
    if not stream:
        return response, None
    events: list[tuple[str | None, dict[str, Any]]] = [
        (
            "response.created",
            {
                "type": "response.created",
                "sequence_number": 0,
                "response": {**response, "status": "in_progress", "output": [], "usage": None},
            },
        ),
        (
            "response.output_item.added",
            {
                "type": "response.output_item.added",
                "sequence_number": 1,
                "output_index": 0,
                "item": item,
            },
        ),
        (
            "response.output_item.done",
            {
                "type": "response.output_item.done",
                "sequence_number": 2,
                "output_index": 0,
                "item": item,
            },
        ),
        (
            "response.completed",
            {"type": "response.completed", "sequence_number": 3, "response": response},
        ),
    ]
    return None, _sse(events)


def _gemini_answer(
    step: Step, model: str, used: tuple[int, int], stream: bool
) -> tuple[dict[str, Any] | None, Iterator[bytes] | None]:
    if step.tool:
        part: dict[str, Any] = {
            "functionCall": {"name": step.tool, "args": tool_input(step.tool, step.args)}
        }
    else:
        part = {"text": step.text}
    answer = {
        "candidates": [
            {"content": {"role": "model", "parts": [part]}, "finishReason": "STOP", "index": 0}
        ],
        "usageMetadata": {
            "promptTokenCount": used[0],
            "candidatesTokenCount": used[1],
            "totalTokenCount": used[0] + used[1],
        },
        "modelVersion": model,
    }
    if not stream:
        return answer, None
    return None, _sse([(None, answer)])


# -- the HTTP handler -----------------------------------------------------------------------


def _handler(standin: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            del format, args

        def _reply(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _stream(self, chunks: Iterator[bytes]) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            for chunk in chunks:
                self.wfile.write(chunk)
                self.wfile.flush()
            self.close_connection = True

        def do_GET(self) -> None:  # noqa: N802
            with standin.lock:
                standin.requests.append((f"GET {self.path}", {}))
            if self.path.rstrip("/").endswith("/models"):
                self._reply(200, {"object": "list", "data": [], "models": []})
                return
            self._reply(404, {"error": {"message": f"stand-in: no GET {self.path}"}})

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b"{}"
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = {}
            with standin.lock:
                standin.requests.append((f"POST {self.path}", body))
            if standin.fail is not None:
                error = {"type": "overloaded_error", "message": "the stand-in is busy"}
                self._reply(standin.fail, {"type": "error", "error": error})
                return
            path = self.path.split("?")[0]
            model = str(body.get("model") or "")
            if path.endswith("/messages/count_tokens") or path.endswith(":countTokens"):
                self._reply(200, {"input_tokens": 10, "totalTokens": 10})
                return
            if path.endswith("/messages"):
                api, parse, answer = "anthropic", _anthropic, _anthropic_answer
            elif path.endswith("/chat/completions"):
                api, parse, answer = "chat", _chat, _chat_answer
            elif path.endswith("/responses"):
                api, parse, answer = "responses", _responses, _responses_answer
            elif ":generateContent" in path or ":streamGenerateContent" in path:
                api, parse, answer = "gemini", _gemini, _gemini_answer
                model = path.rsplit("/", 1)[-1].split(":")[0]
            else:
                self._reply(404, {"error": {"message": f"stand-in: no POST {path}"}})
                return
            prompt, tools, results = parse(body)
            with standin.lock:
                standin.offered.update(tools)
            step = decide(prompt, tools, results)
            used = standin._next_usage(api, model, step.tool or "text")
            stream = bool(body.get("stream")) or ":streamGenerateContent" in path
            whole, chunks = answer(step, model, used, stream)
            if chunks is not None:
                self._stream(chunks)
            else:
                assert whole is not None
                self._reply(200, whole)

    return Handler
