"""A tool server that starts and never answers, not even `initialize`, and has a child of its
own (as `npx` has `node`); it neither reads its stdin nor exits when the app does.

    python tests/mcp_stuck_server.py MARKER...

Every argument is passed on to the child, so a test finds both processes by a marker in
their command lines.
"""

from __future__ import annotations

import subprocess
import sys
import time

if __name__ == "__main__":
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)", *sys.argv[1:]])
    sys.stderr.write("stuck test server: never answering\n")
    sys.stderr.flush()
    time.sleep(3600)
