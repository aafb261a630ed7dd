"""Another program holding the database's write lock until its standard input closes.

python tests/lock_holder.py DB_PATH      (prints "locked" once it holds the lock)
"""

from __future__ import annotations

import sqlite3
import sys

conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.read()  # until the test closes our stdin
conn.execute("ROLLBACK")
