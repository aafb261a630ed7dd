"""Starts a stdio tool server so that it dies with the app, and repairs what it writes.

    python -I -S assistant/tool_guard.py APP_PID COMMAND [ARGS...]
    (or python -m assistant.tool_guard APP_PID COMMAND [ARGS...])

Why a process between the app and the server: a server that waits on something other than
its stdin (one stuck starting, a launcher such as `npx` whose `node` holds the pipe) outlives
an app that is killed (`kill -9`) or that exits without closing it. The guard
- asks Linux for SIGTERM when its parent dies (PR_SET_PDEATHSIG; elsewhere it polls its
  parent), then checks the parent is still the app, closing the race with an app that died
  while the guard started. The signal comes when the *thread* that started the guard ends:
  the MCP hub starts servers from its loop thread, which lives as long as the hub;
- runs the server in a process group of its own and, when it is terminated or its parent
  dies, sends the group SIGTERM and SIGKILL after `GRACE_S` (less than the SDK's 2 s before
  it kills the guard itself), so the server's children go with it;
- forwards the server's stdout line by line through `repaired_json`: a bad character in a
  tool's result (a lone surrogate, bytes that are not UTF-8, a raw control character) would
  make the SDK refuse the whole message and the call would never end.
The server's stdin and stderr are the guard's own (the SDK's pipe, the hub's log file).

Standard library only, started with `-I -S`: it costs one small interpreter start (about
20 ms) when a server starts.
"""

from __future__ import annotations

import os
import signal
import sys

if __package__ in (None, ""):  # started by path (`python -I -S assistant/tool_guard.py`)
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from assistant.clean_text import JsonLineRepair

GRACE_S = 1.5  # SIGTERM to SIGKILL for the server's group
PR_SET_PDEATHSIG = 1
EXIT_CANNOT_START = 127
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class Guard:
    def __init__(self) -> None:
        self.child: int | None = None
        self.stopping = False
        self.killed = False

    def start(self, command: list[str]) -> int:
        """Start the server (its own process group, stdout into our pipe); the pipe's end."""
        reading, writing = os.pipe()
        # The guard ignores SIGPIPE (Python does); the server gets the default back.
        defaults = [signal.SIGPIPE, *([signal.SIGXFSZ] if hasattr(signal, "SIGXFSZ") else [])]
        spawn = os.posix_spawn if os.path.dirname(command[0]) else os.posix_spawnp
        try:
            self.child = spawn(
                command[0],
                command,
                os.environ,
                file_actions=[(os.POSIX_SPAWN_DUP2, writing, 1)],
                setpgroup=0,
                setsigdef=defaults,
                setsigmask=[],
            )
        finally:
            os.close(writing)
        if self.stopping:  # asked to stop while it started
            self.signal_group(signal.SIGTERM)
        return reading

    def stop(self, signum: int = signal.SIGTERM, frame: object = None) -> None:
        """Terminated, or the app died: the server's group goes, by force after GRACE_S."""
        if self.stopping:
            return
        self.stopping = True
        self.signal_group(signal.SIGTERM)
        signal.signal(signal.SIGALRM, self.kill)
        signal.setitimer(signal.ITIMER_REAL, GRACE_S)

    def kill(self, signum: int = signal.SIGALRM, frame: object = None) -> None:
        if self.killed:  # a member left the group and holds the pipe: give up on it
            os._exit(1)
        self.killed = True
        self.signal_group(signal.SIGKILL)
        signal.setitimer(signal.ITIMER_REAL, 1.0)

    def signal_group(self, signum: int) -> None:
        if self.child is None:
            return
        # Not contextlib.suppress: importing contextlib adds to every server's start.
        try:  # noqa: SIM105
            os.killpg(self.child, signum)
        except (ProcessLookupError, PermissionError):  # gone already
            pass

    def forward(self, reading: int) -> None:
        """The server's stdout to ours, repaired line by line, until it closes."""
        repair = JsonLineRepair()
        while data := os.read(reading, 65536):
            if not _write(repair.feed(data)):
                self.stop()
                break
        _write(repair.flush())

    def finish(self) -> int:
        """Wait for the server, sweep what it left in its group, and say how it ended."""
        if self.child is None:
            return EXIT_CANNOT_START
        if hasattr(os, "waitid"):
            # Exited but not reaped: its pid, the group's id, cannot be reused yet.
            os.waitid(os.P_PID, self.child, os.WEXITED | os.WNOWAIT)
        self.signal_group(signal.SIGKILL)
        _, status = os.waitpid(self.child, 0)
        code = os.waitstatus_to_exitcode(status)
        return code if code >= 0 else 128 - code


def _write(data: bytes) -> bool:
    """All of `data` to stdout; False once nobody reads it (the app is gone)."""
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(1, view) :]
    except OSError:
        return False
    return True


def die_with(parent: int) -> bool:
    """Ask to be signalled when the parent dies; False when it is gone already."""
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    else:  # no parent-death signal: look at the parent twice a second
        import threading

        def watch() -> None:
            while os.getppid() == parent:
                threading.Event().wait(0.5)
            os.kill(os.getpid(), signal.SIGTERM)

        threading.Thread(target=watch, daemon=True).start()
    return os.getppid() == parent


def main(argv: list[str]) -> int:
    if len(argv) < 2 or not argv[0].isdigit():
        sys.stderr.write("usage: tool_guard.py APP_PID COMMAND [ARGS...]\n")
        return 2
    guard = Guard()
    for signum in _STOP_SIGNALS:
        signal.signal(signum, guard.stop)
    if not die_with(int(argv[0])):
        return 1
    try:
        reading = guard.start(argv[1:])
    except OSError as exc:
        sys.stderr.write(f"{argv[1]}: cannot start: {exc.strerror or exc}\n")
        return EXIT_CANNOT_START
    guard.forward(reading)
    return guard.finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
