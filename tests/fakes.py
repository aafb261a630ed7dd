"""A fake provider for lifecycle tests: enqueue chunks, record calls, fail or hold on demand."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from assistant.errors import ProviderError
from assistant.providers.base import Finish, GenerationRequest, StreamEvent, TextDelta, Usage


@dataclass
class Script:
    chunks: list[str]
    fail: BaseException | None = None  # raised after `fail_after` chunks
    fail_after: int = 0
    hold_after: int | None = None  # yield this many chunks, then wait for `release`
    release: threading.Event = field(default_factory=threading.Event)
    held: threading.Event = field(default_factory=threading.Event)
    finish_reason: str = "stop"
    deaf: bool = False  # close() does not wake a held stream (a socket blocked in a read)


class FakeProvider:
    name = "fake"

    def __init__(self) -> None:
        self.calls: list[GenerationRequest] = []
        self._scripts: deque[Script] = deque()
        self._lock = threading.Lock()

    def enqueue(self, chunks: list[str], **options: object) -> Script:
        script = Script(list(chunks), **options)  # type: ignore[arg-type]
        with self._lock:
            self._scripts.append(script)
        return script

    def stream(self, request: GenerationRequest) -> FakeStream:
        with self._lock:
            self.calls.append(request)
            script = self._scripts.popleft() if self._scripts else Script(["ok"])
        return FakeStream(script)


class FakeStream:
    def __init__(self, script: Script) -> None:
        self.script = script
        self.closed = threading.Event()

    def close(self) -> None:
        self.closed.set()
        if not self.script.deaf:
            self.script.release.set()  # a held stream wakes up and sees it was closed

    def __iter__(self) -> Iterator[StreamEvent]:
        script = self.script
        for index, text in enumerate(script.chunks):
            if script.fail is not None and index == script.fail_after:
                raise script.fail
            if script.hold_after is not None and index == script.hold_after:
                script.held.set()
                script.release.wait(timeout=30)
            if self.closed.is_set():
                return
            yield TextDelta(text)
        if script.fail is not None and script.fail_after >= len(script.chunks):
            raise script.fail
        yield Usage(5, len(script.chunks))
        yield Finish(script.finish_reason)


def provider_error(
    kind: str = "stream_cut", message: str = "The connection broke off."
) -> ProviderError:
    return ProviderError(kind, message)
