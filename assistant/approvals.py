"""Tool calls waiting for the user's decision, in the database so that any tab decides.

A worker that must ask writes the call (`request`), then waits without holding a connection:
it looks at the row when the page in its process tells it a decision was made, and every
second for a decision made through another process. The page shows the waiting call of a live
answer (`waiting`) and writes the decision (`decide`); a decision is written once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from assistant.db import Database
from assistant.errors import InvalidInput
from assistant.i18n import _
from assistant.store import now_iso

APPROVE, DENY = "approve", "deny"


@dataclass(frozen=True)
class Approval:
    answer_id: int
    call_id: str
    server: str
    tool: str
    arguments: dict[str, Any]
    decision: str | None = None
    always: bool = False


class Approvals:
    def __init__(self, db: Database) -> None:
        self.db = db

    def request(
        self, answer_id: int, call_id: str, server: str, tool: str, arguments: dict[str, Any]
    ) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO tool_approvals (answer_id, call_id, server, tool, arguments,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (answer_id, call_id) DO NOTHING",
                (answer_id, call_id, server, tool, json.dumps(arguments), now_iso()),
            )

    def decide(self, answer_id: int, call_id: str, decision: str, always: bool = False) -> bool:
        """Record the user's decision; False when the call was decided already (another tab)."""
        if decision not in (APPROVE, DENY):
            raise InvalidInput(_("Unknown decision {decision!r}.").format(decision=decision))
        with self.db.transaction() as conn:
            changed = conn.execute(
                "UPDATE tool_approvals SET decision = ?, always = ?, decided_at = ?"
                " WHERE answer_id = ? AND call_id = ? AND decision IS NULL",
                (decision, int(always), now_iso(), answer_id, call_id),
            ).rowcount
        return changed == 1

    def get(self, answer_id: int, call_id: str) -> Approval | None:
        with self.db.connect() as conn:
            row = conn.execute(
                "SELECT answer_id, call_id, server, tool, arguments, decision, always"
                " FROM tool_approvals WHERE answer_id = ? AND call_id = ?",
                (answer_id, call_id),
            ).fetchone()
        return _approval(row) if row else None

    def waiting(self, answer_id: int) -> Approval | None:
        """The call of this answer that waits for a decision, if any."""
        with self.db.connect() as conn:
            row = conn.execute(
                "SELECT answer_id, call_id, server, tool, arguments, decision, always"
                " FROM tool_approvals WHERE answer_id = ? AND decision IS NULL"
                " ORDER BY created_at LIMIT 1",
                (answer_id,),
            ).fetchone()
        return _approval(row) if row else None


def _approval(row: Any) -> Approval:
    return Approval(
        row["answer_id"],
        row["call_id"],
        row["server"],
        row["tool"],
        json.loads(row["arguments"]),
        row["decision"],
        bool(row["always"]),
    )
