"""Every error the app shows a person, in one place. Each carries the sentence the user reads.

    AppError                      str(exc) is one plain sentence (or two), safe to show and store
    ├── StorageError              the database cannot be used right now (locked, read-only, full)
    ├── ConfigError               a setting has a value the app cannot use
    ├── NotFound                  a conversation, message, preset or endpoint that does not exist
    ├── InvalidInput              a value the user gave that cannot be stored
    │   ├── ImportProblem         a file to import that cannot be read; nothing was imported
    │   └── TurnError             a message or answer that cannot be sent now; nothing was sent
    │       ├── EmptyMessage
    │       ├── MessageTooLong
    │       ├── ConversationBusy  an answer is still being written in that conversation
    │       └── AlreadyClaimed    another caller (another tab) already started this answer
    └── ProviderError             the model's endpoint failed; `kind` says how

Pages catch `AppError` and show `str(exc)`; nothing below it is a bug. Anything else that
escapes is one, and is logged with its traceback.
"""

from __future__ import annotations

from assistant.clean_text import repaired


class AppError(Exception):
    """A failure the user can understand; the message says what happened and what to do.

    The message often quotes what the user or a file gave (a title, a name); a lone surrogate
    in it would make the page that shows it fail, so it is replaced here, once for all.
    """

    def __init__(self, *args: object) -> None:
        super().__init__(*(repaired(a) if isinstance(a, str) else a for a in args))


class StorageError(AppError, RuntimeError):
    """The database cannot be used; the message says why in plain words."""


class ConfigError(AppError, ValueError):
    """A setting that cannot be used; the message names it and says what is allowed."""


class NotFound(AppError, LookupError):
    """A conversation, message or setting that does not exist (any more)."""


class InvalidInput(AppError, ValueError):
    """A value the user gave that cannot be stored; the message says why."""


class ImportProblem(InvalidInput):
    """A file that cannot be imported; the message says where and why. Nothing was imported."""


class TurnError(InvalidInput):
    """A request the user can fix; the message says how. Nothing was sent or lost."""


class EmptyMessage(TurnError):
    pass


class MessageTooLong(TurnError):
    pass


class ConversationBusy(TurnError):
    """One live answer per conversation: another one is pending or streaming."""


class AlreadyClaimed(TurnError):
    """Another caller (another tab) already started this answer."""


class ProviderError(AppError):
    """A failure of the model's endpoint. `kind` is one of KINDS; `user_message` is the text."""

    KINDS = (
        "auth",
        "no_key",
        "not_found",
        "rate_limit",
        "timeout",
        "connection",
        "bad_request",
        "server",
        "stream_cut",
        "model_load",
        "unknown",
    )

    def __init__(self, kind: str, user_message: str) -> None:
        super().__init__(user_message)
        self.kind = kind if kind in self.KINDS else "unknown"
        self.user_message = str(self)
