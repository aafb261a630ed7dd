"""Automatic titles: after a chat's first answer, its own model names the chat.

A conversation's `title_source` says where its title came from and whether it may change:

    first_words   made from the first message; the first answer may replace it (once)
    model         written here
    kept          the model's title was poor, so the first words stay
    user          renamed by the person: never replaced
    set           imported, forked, or from before titles were automatic: never replaced

The title is a small request of its own (a few tokens, low temperature) in a thread of its own
after the answer is saved, so it never delays or touches the answer. It is written only while
the title is still the first words (one UPDATE with that condition), so a rename made
meanwhile wins. A title that is empty, too long, in the other script than the question, or a
quote of the question, a single lowercase word (a code block's language) or a word in
capitals the question never used is poor: the first words stay. Markdown's marks (#, **,
backticks) are taken out of a title first.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable

from assistant.errors import AppError
from assistant.providers.base import GenerationRequest, TextDelta
from assistant.store import Snapshot, Store

log = logging.getLogger(__name__)

FIRST_WORDS, MODEL, KEPT, USER, SET = "first_words", "model", "kept", "user", "set"
TITLE_WORDS = 8  # at most, in a language with spaces
TITLE_CHARS = 40  # at most
QUESTION_CHARS = 1_500  # of the question, sent to the model
ANSWER_CHARS = 600  # of the answer, sent to the model
TITLE_PARAMS = {"max_tokens": 24, "temperature": 0.2, "top_p": 0.9}
# Sent to the model, not shown: English works best with every model, and it asks for the
# chat's own language.
TITLE_INSTRUCTION = (
    "Write a short title, at most six words, for the chat below. Use the same language as "
    "the user's message. Reply with the title only: no quotes, no punctuation at the end."
)

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")
_LATIN = re.compile(r"[A-Za-z]")
_LABEL = re.compile(r"^\s*(title|标题|題目|标题是)\s*[:：]\s*", re.IGNORECASE)
_WORDS = re.compile(r"[\u3400-\u9fff]|[^\W_]+", re.UNICODE)
_LATIN_WORD = re.compile(r"[A-Za-z]+")
_MARKDOWN_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MARKDOWN_LEAD = re.compile(r"^\s*(?:#{1,6}\s*|>\s*|[-*+]\s+|\d+\.\s+)+")
_MARKDOWN_MARKS = re.compile(r"\*\*|__|~~|`+|(?<!\w)[*_](?=\S)|(?<=\S)[*_](?!\w)")
SHOUTED_LETTERS = 5  # a word in capitals this long that the question never used is not a name


def _script(text: str) -> str | None:
    """'cjk', 'latin' or None: which script most of the letters are in."""
    cjk, latin = len(_CJK.findall(text)), len(_LATIN.findall(text))
    if not cjk and not latin:
        return None
    return "cjk" if cjk * 3 >= latin else "latin"


def clean_title(raw: str, question: str) -> str | None:
    """The model's title made tidy, or None when it is poor (the first words stay)."""
    lines = [line for line in raw.strip().splitlines() if line.strip()]
    if not lines:
        return None
    title = _LABEL.sub("", without_markdown(lines[0]))
    title = title.strip("\"'“”‘’「」『』《》").strip()
    title = re.sub(r"[.。!！?？:：;；,，]+$", "", title).strip()
    title = re.sub(r"\s+", " ", title)
    if not title or len(title) > TITLE_CHARS:
        return None
    words = _WORDS.findall(title.lower())
    if not words or (_script(title) == "latin" and len(title.split()) > TITLE_WORDS):
        return None
    if _script(question) and _script(title) and _script(question) != _script(title):
        return None  # not the chat's language
    asked = " ".join(_WORDS.findall(question.lower()))
    said = " ".join(words)
    if len(words) >= 3 and said in asked:
        return None  # a quote of the question, not a title
    if _not_a_title(title, question):
        return None
    return title


def without_markdown(line: str) -> str:
    """A line with Markdown's syntax taken away: a heading's #, a quote's >, emphasis and
    code marks, a link's target. Models like to answer with `# **Title**`; the sidebar
    shows titles as text, so the marks would show."""
    line = _MARKDOWN_LINK.sub(r"\1", line)
    line = _MARKDOWN_LEAD.sub("", line)
    line = _MARKDOWN_MARKS.sub("", line)
    return line.strip().strip("*_`>#").strip()


def _not_a_title(title: str, question: str) -> bool:
    """A single lowercase word ("python": the language of a code block the model began) or a
    word in capitals that the question never used ("LONDINION"): the model said something,
    but not a name for the chat. Chinese titles have no case and pass."""
    latin = _LATIN_WORD.findall(title)
    if not latin or _script(title) != "latin":
        return False
    if len(title.split()) == 1 and title.islower():
        return True
    asked = {word.lower() for word in _LATIN_WORD.findall(question)}
    return any(
        len(word) >= SHOUTED_LETTERS and word.isupper() and word.lower() not in asked
        for word in latin
    )


def title_messages(question: str, answer: str) -> list[dict[str, str]]:
    chat = f"User: {question[:QUESTION_CHARS]}\n\nAssistant: {answer[:ANSWER_CHARS]}"
    return [
        {"role": "system", "content": TITLE_INSTRUCTION},
        {"role": "user", "content": chat},
    ]


class Titler:
    """Names a chat after its first answer, in the background."""

    def __init__(
        self,
        store: Store,
        providers: Callable[[Snapshot], object],
        enabled: Callable[[], bool],
    ) -> None:
        self.store = store
        self._providers = providers
        self._enabled = enabled
        self._lock = threading.Lock()
        self._pending: set[int] = set()

    def pending(self, conversation_id: int) -> bool:
        """A title is being written for this chat now (the page can wait for it)."""
        with self._lock:
            return conversation_id in self._pending

    def after_answer(self, answer_id: int) -> threading.Thread | None:
        """Start naming the answer's chat when it may be named; returns the thread."""
        try:
            if not self._enabled():
                return None
            question = self.store.first_question_to_title(answer_id)
            if question is None:
                return None  # a later exchange, or a title that is not the first words
            answer = self.store.get_message(answer_id)
        except AppError as exc:  # the database is busy or the chat is gone: no title, no harm
            log.info("no automatic title for answer %d: %s", answer_id, exc)
            return None
        conversation_id = answer.conversation_id
        with self._lock:
            if conversation_id in self._pending:
                return None
            self._pending.add(conversation_id)
        thread = threading.Thread(
            target=self._name,
            args=(conversation_id, answer.snapshot, question.content, answer.content),
            name=f"title-{conversation_id}",
            daemon=True,
        )
        thread.start()
        return thread

    def _name(self, conversation_id: int, snapshot: Snapshot, question: str, answer: str) -> None:
        try:
            raw = self._ask(snapshot, question, answer)
            title = clean_title(raw, question)
            self.store.set_automatic_title(conversation_id, title)
            log.info(
                "conversation %d: automatic title %s",
                conversation_id,
                "written" if title else "poor; first words kept",
            )
        except Exception as exc:  # an endpoint that fails or a busy database: the title stays
            log.info("conversation %d: no automatic title (%s)", conversation_id, exc)
        finally:
            with self._lock:
                self._pending.discard(conversation_id)

    def _ask(self, snapshot: Snapshot, question: str, answer: str) -> str:
        provider = self._providers(snapshot)
        request = GenerationRequest(
            snapshot.model, title_messages(question, answer), dict(TITLE_PARAMS)
        )
        stream = provider.stream(request)  # type: ignore[attr-defined]
        text: list[str] = []
        try:
            for event in stream:
                if isinstance(event, TextDelta):
                    text.append(event.text)
                    if sum(len(t) for t in text) > TITLE_CHARS * 4:
                        break  # rambling: it will be judged poor anyway
        finally:
            stream.close()
        return "".join(text)
