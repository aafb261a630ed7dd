"""A small OpenAI-compatible HTTP server for tests, on 127.0.0.1.

It speaks the real protocol: `POST /v1/chat/completions` with `stream=true` answers with
`chat.completion.chunk` server-sent events over chunked transfer encoding, ending with
`data: [DONE]`; `GET /v1/models` lists models. Each request takes the next queued `Scenario`
(or the default one), which can fail with any status, delay, hold mid-stream until the test
releases it, or cut the connection half-way. Every request is recorded.

A text chunk given as `bytes` is sent as it is, as the JSON value of the delta's `content`:
how a test sends what no JSON encoder writes (invalid UTF-8, raw control bytes). A lone UTF-16
surrogate or a control character needs no bytes: `json.dumps` sends "\\ud83d" and "\\u0007".
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Scenario:
    chunks: list[str | bytes] = field(default_factory=lambda: ["Hello", " from", " the", " fake."])
    status: int = 200
    error_message: str = "Something went wrong"
    error_code: str | None = None
    headers_delay: float = 0.0  # before the response starts (to trigger client timeouts)
    chunk_delay: float = 0.0
    hold_after: int | None = None  # send this many chunks, then wait for `release`
    release: threading.Event = field(default_factory=threading.Event)
    cut_after: int | None = None  # drop the connection after this many chunks
    finish_reason: str = "stop"
    reject_stream_options: bool = False
    prompt_tokens: int = 11
    send_usage: bool = True  # False: no usage chunk even when asked (llama.cpp's server)
    # Thinking before the answer, as servers stream it: "reasoning_content" deltas (vLLM,
    # DeepSeek, llama.cpp server) or "think" (inline <think>…</think> text: Ollama, llama.cpp
    # with Qwen3 or DeepSeek-R1).
    reasoning: list[str] = field(default_factory=list)
    reasoning_style: str = "reasoning_content"
    # Tool calls after the text: {"id", "name", "arguments"} each; arguments are sent split in
    # three pieces. `same_index`: every call at index 0 with distinct ids (as Ollama does).
    tool_calls: list[dict[str, str]] = field(default_factory=list)
    same_index: bool = False
    reject_tools: bool = False  # 400 when the request offers tools (a server without them)
    last_text_at: float | None = None  # time.monotonic() when the last text chunk was sent
    last_text_wall: float | None = None  # the same moment as time.time(), to compare with a browser


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None


class FakeOpenAIServer:
    def __init__(self, api_key: str | None = None, models: list[str] | None = None) -> None:
        self.api_key = api_key
        self.models = models or ["gpt-3.5-turbo", "fake-model"]
        self.windows: dict[str, int] = {}  # context windows /models reports (as vLLM does)
        self.requests: list[RecordedRequest] = []
        self.default = Scenario()
        self._queue: deque[Scenario] = deque()
        self._lock = threading.Lock()
        self.held = threading.Event()  # set when a scenario reaches its hold point
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        # A cut or stopped stream ends mid-write on purpose: not worth a traceback.
        self._server.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def enqueue(self, *scenarios: Scenario) -> None:
        with self._lock:
            self._queue.extend(scenarios)

    def clear(self) -> None:
        """Forget scenarios not used yet (a benchmark round that ended early)."""
        with self._lock:
            self._queue.clear()

    def next_scenario(self) -> Scenario:
        with self._lock:
            return self._queue.popleft() if self._queue else self.default

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def completions(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path.endswith("/chat/completions")]


def _handler_for(server: FakeOpenAIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
            pass

        def _headers(self) -> dict[str, str]:
            return {name.lower(): value for name, value in self.headers.items()}

        def _body(self) -> dict[str, Any] | None:
            length = int(self.headers.get("Content-Length") or 0)
            if not length:
                return None
            return json.loads(self.rfile.read(length))

        def _json(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if status == 429:
                self.send_header("retry-after-ms", "10")
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str, code: str | None) -> None:
            self._json(
                status,
                {"error": {"message": message, "type": "invalid_request_error", "code": code}},
            )

        def _authorized(self) -> bool:
            if server.api_key is None:
                return True
            if self.headers.get("Authorization") == f"Bearer {server.api_key}":
                return True
            self._error(401, "Incorrect API key provided.", "invalid_api_key")
            return False

        def do_GET(self) -> None:
            server.record(
                RecordedRequest(
                    "GET", self.path, {k.lower(): v for k, v in self.headers.items()}, None
                )
            )
            if not self._authorized():
                return
            if self.path.rstrip("/").endswith("/models"):
                data = [
                    {
                        "id": m,
                        "object": "model",
                        "created": 0,
                        "owned_by": "fake",
                        **({"max_model_len": server.windows[m]} if m in server.windows else {}),
                    }
                    for m in server.models
                ]
                self._json(200, {"object": "list", "data": data})
            else:
                self._error(404, f"No route {self.path}", None)

        def do_POST(self) -> None:
            body = self._body()
            server.record(
                RecordedRequest(
                    "POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body
                )
            )
            if not self.path.endswith("/chat/completions"):
                self._error(404, f"No route {self.path}", None)
                return
            if not self._authorized():
                return
            scenario = server.next_scenario()
            if scenario.headers_delay:
                time.sleep(scenario.headers_delay)
            if scenario.status != 200:
                self._error(scenario.status, scenario.error_message, scenario.error_code)
                return
            assert body is not None
            if body.get("model") not in server.models:
                self._error(404, f"The model `{body.get('model')}` does not exist", None)
                return
            if scenario.reject_tools and body.get("tools"):
                self._error(400, "tools is not supported by this model", None)
                return
            if scenario.reject_stream_options and "stream_options" in body:
                self._error(400, "Unrecognized request argument: stream_options", None)
                return
            # The client may go away mid-stream (Stop): nothing to do then.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self._stream(scenario, body)

        def _send_chunk(self, payload: dict[str, Any] | str) -> None:
            text = payload if isinstance(payload, str) else json.dumps(payload)
            data = f"data: {text}\n\n".encode()
            self._send_data(data)

        def _send_raw_content(self, head: dict[str, Any], raw: bytes) -> None:
            """A content delta whose JSON value is `raw`, byte for byte."""
            marker = "\u0000raw\u0000"
            head["choices"][0]["delta"]["content"] = marker
            before, after = json.dumps(head).encode().split(json.dumps(marker).encode())
            self._send_data(b"data: " + before + raw + after + b"\n\n")

        def _send_data(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        def _stream(self, scenario: Scenario, body: dict[str, Any]) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            model = body["model"]

            def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
                return {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion.chunk",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                }

            self._send_chunk(chunk({"role": "assistant", "content": ""}))
            if scenario.reasoning and scenario.reasoning_style == "think":
                pieces = ["<th", "ink>\n", *scenario.reasoning, "</thi", "nk>\n\n"]
                for piece in pieces:  # tags split over chunks, as tokenizers do
                    self._send_chunk(chunk({"content": piece}))
            else:
                for piece in scenario.reasoning:
                    self._send_chunk(chunk({"content": None, "reasoning_content": piece}))
            for index, text in enumerate(scenario.chunks):
                if scenario.cut_after is not None and index == scenario.cut_after:
                    self.close_connection = True
                    self.connection.shutdown(2)  # abrupt: no terminating chunk
                    return
                if scenario.hold_after is not None and index == scenario.hold_after:
                    server.held.set()
                    scenario.release.wait(timeout=30)
                if scenario.chunk_delay:
                    time.sleep(scenario.chunk_delay)
                if isinstance(text, bytes):
                    self._send_raw_content(chunk({"content": ""}), text)
                else:
                    self._send_chunk(chunk({"content": text}))
            scenario.last_text_at = time.monotonic()
            scenario.last_text_wall = time.time()
            for number, call in enumerate(scenario.tool_calls):
                index = 0 if scenario.same_index else number
                arguments = call["arguments"]
                third = max(1, len(arguments) // 3)
                pieces = [arguments[:third], arguments[third : 2 * third], arguments[2 * third :]]
                first = {"index": index, "id": call["id"], "type": "function",
                         "function": {"name": call["name"], "arguments": pieces[0]}}  # fmt: skip
                self._send_chunk(chunk({"tool_calls": [first]}))
                for piece in pieces[1:]:
                    more = {"index": index, "function": {"arguments": piece}}
                    if scenario.same_index:
                        more["id"] = call["id"]
                    self._send_chunk(chunk({"tool_calls": [more]}))
            finish = "tool_calls" if scenario.tool_calls else scenario.finish_reason
            self._send_chunk(chunk({}, finish))
            if scenario.send_usage and (body.get("stream_options") or {}).get("include_usage"):
                usage = {
                    "prompt_tokens": scenario.prompt_tokens,
                    "completion_tokens": len(scenario.chunks),
                    "total_tokens": scenario.prompt_tokens + len(scenario.chunks),
                }
                payload = chunk({})
                payload["choices"] = []
                payload["usage"] = usage
                self._send_chunk(payload)
            self._send_chunk("[DONE]")
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

    return Handler
