from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fake_openai import FakeOpenAIServer  # noqa: E402
from fakes import FakeProvider  # noqa: E402

from assistant.db import Database  # noqa: E402
from assistant.store import Snapshot, Store  # noqa: E402
from assistant.turns import TurnManager  # noqa: E402

pytest_plugins = ("browser_support",)  # the `browser` and `page` fixtures

# Settings the developer's shell may have must not leak into tests.
for _name in list(os.environ):
    if _name.startswith(("OPENAI_", "ASSISTANT_")) or _name in ("SYSTEM_PROMPT", "SQLITE_DB_PATH"):
        del os.environ[_name]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "app.db"


@pytest.fixture
def store(db_path: Path) -> Store:
    return Store(Database(db_path))


@pytest.fixture
def fake_provider() -> FakeProvider:
    return FakeProvider()


@pytest.fixture
def manager(store: Store, fake_provider: FakeProvider) -> Iterator[TurnManager]:
    turns = TurnManager(
        store,
        lambda _provider_id: fake_provider,
        max_input_chars=1000,
        workers=2,
        checkpoint_interval=0.0,
        coalesce_interval=0.0,
        heartbeat_interval=0.2,
    )
    yield turns
    turns.shutdown(wait=2)


@pytest.fixture
def snapshot() -> Snapshot:
    return Snapshot("fake", "fake-model", {"temperature": 0.5}, "Be brief.")


@pytest.fixture
def fake_server() -> Iterator[FakeOpenAIServer]:
    server = FakeOpenAIServer().start()
    yield server
    server.stop()


REMOTE_KEY = "sk-apptest-secret-0987654321"


@pytest.fixture(scope="module")
def remote_server() -> Iterator[FakeOpenAIServer]:
    """One fake OpenAI-compatible server for a module's browser tests."""
    server = FakeOpenAIServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def remote_app(remote_server, tmp_path_factory):
    """A real `streamlit run` on its own database, answering from `remote_server`: (the
    running app, its database path)."""
    from browser_support import StreamlitServer, remote_env  # it imports this module

    folder = tmp_path_factory.mktemp("e2e-remote")
    db_path = folder / "app.db"
    app = StreamlitServer(remote_env(remote_server, db_path), folder / "streamlit.log")
    yield app, db_path
    app.stop()


@pytest.fixture
def remote(monkeypatch, fake_server, db_path):
    """The app's environment pointing at the fake server (AppTest reads it at each run)."""
    monkeypatch.setenv("OPENAI_BASE_URL", fake_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", REMOTE_KEY)
    monkeypatch.setenv("OPENAI_MAX_RETRIES", "0")
    monkeypatch.setenv("SQLITE_DB_PATH", str(db_path))
    return fake_server


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 with nothing listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path]:
    """A 2 MB file system of its own (tmpfs), to fill up or make read-only; needs root."""
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(folder)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.02):
    """Poll `predicate` until it returns something truthy or the deadline passes."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


def without_auto_titles(db_path: Path) -> None:
    """For tests about something else: no title request after the first answer (it would
    take a scripted reply of the fake server and change the title they look at)."""
    from assistant.app_settings import Preferences

    Preferences(Database(db_path)).set_auto_titles(False)
