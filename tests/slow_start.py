"""A server that starts only when the test says so: waits until its FIFO (argv[1]) is opened
for writing, then becomes the real server (argv[2:]), like a first `npx -y` that downloads the
package before the server answers. A blocking open, not a sleep: the test decides when."""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    with open(sys.argv[1], "rb"):  # blocks until the test opens the FIFO for writing
        pass
    os.execv(sys.argv[2], sys.argv[2:])
