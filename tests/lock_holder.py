"""Another program holding the database's write lock until its standard input closes.

    python tests/lock_holder.py DB_PATH      (prints "locked" once it holds the lock)

Tests use `HeldLock`, which runs this file as a separate process.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path
from types import TracebackType


class HeldLock:
    """`with HeldLock(path) as lock:` the lock is held from here until `lock.release()`."""

    def __init__(self, db_path: Path) -> None:
        self._proc: subprocess.Popen[str] | None = subprocess.Popen(
            [sys.executable, __file__, str(db_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._proc.stdout is not None
        assert self._proc.stdout.readline().strip() == "locked"

    def release(self) -> None:
        if self._proc is not None:
            self._proc.communicate("", timeout=10)
            self._proc = None

    def __enter__(self) -> HeldLock:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()


if __name__ == "__main__":
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    print("locked", flush=True)
    sys.stdin.read()  # until the test closes our stdin
    conn.execute("ROLLBACK")
