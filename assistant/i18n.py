"""The app's languages: gettext catalogs, the current language, and dates and numbers.

Every string a person reads is written in English in the code and marked: `_("…")` where it is
shown, `N_("…")` where it is defined ahead of time (module constants, translated when shown),
`ngettext(singular, plural, n)` for counts. Placeholders are `{name}` fields filled with
`.format()` after translation, so a translator can move them. The catalogs are
`assistant/locale/<language>/LC_MESSAGES/assistant.po`; they are compiled in memory with Babel
on first use (no build step), and `make messages` re-extracts the English strings into them.

Which language is current:
- inside `using(language)` (a worker thread, the CLI, a test), or after `pin(language)` (a page
  run, at its start), that language;
- otherwise what the registered resolver says (the UI registers one that reads the browser
  session's choice, so fragments and page runs agree);
- otherwise English.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import functools
import gettext
import io
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

ENGLISH = "en"
CHINESE = "zh_CN"
LANGUAGES: dict[str, str] = {ENGLISH: "English", CHINESE: "简体中文"}  # each in its own words
DOMAIN = "assistant"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"

_override: contextvars.ContextVar[str | None] = contextvars.ContextVar("language", default=None)
_resolver: Callable[[], str | None] | None = None


def N_(message: str) -> str:
    """Mark a string for translation where it is defined; `_()` translates it where shown."""
    return message


def normalize(tag: str | None) -> str | None:
    """A browser or system language tag ("zh-CN", "zh_Hans", "en-US.UTF-8") as one of ours."""
    if not tag:
        return None
    tag = tag.split(".")[0].replace("-", "_").lower()
    if tag.startswith("zh"):
        return CHINESE  # Traditional Chinese readers get Simplified rather than English
    if tag.startswith("en"):
        return ENGLISH
    return None


def set_resolver(resolver: Callable[[], str | None] | None) -> None:
    """Register how to find the language when no `using()` is active (the UI's session)."""
    global _resolver
    _resolver = resolver


def current() -> str:
    language = _override.get()
    if language is None and _resolver is not None:
        language = _resolver()
    return language if language in LANGUAGES else ENGLISH


def pin(language: str | None) -> None:
    """The language of this thread (and what it starts with a copied context) until changed:
    a page run pins its session's language once instead of asking for it at every string."""
    _override.set(language if language in LANGUAGES else ENGLISH)


@contextlib.contextmanager
def using(language: str | None) -> Iterator[None]:
    token = _override.set(language if language in LANGUAGES else ENGLISH)
    try:
        yield
    finally:
        _override.reset(token)


def system_language(environ: dict[str, str] | None = None) -> str:
    """The language of a terminal: LANGUAGE, LC_ALL, LC_MESSAGES or LANG (gettext's order)."""
    environ = dict(os.environ) if environ is None else environ
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        for tag in (environ.get(name) or "").split(":"):
            found = normalize(tag)
            if found:
                return found
    return ENGLISH


def catalog_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def translations(language: str) -> gettext.NullTranslations:
    """The compiled catalog for a language (English: the strings as written)."""
    if language == ENGLISH:
        return gettext.NullTranslations()
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with catalog_path(language).open("rb") as handle:
        catalog = read_po(handle, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def _(message: str) -> str:
    return translations(current()).gettext(message)


def ngettext(singular: str, plural: str, count: int) -> str:
    return translations(current()).ngettext(singular, plural, count)


# -- sentences stored in another language ---------------------------------------------------

_FIELD = re.compile(r"\{(\w+)(?:[:!][^{}]*)?\}")
MIN_LITERAL = 8  # characters of fixed text a sentence needs before it is recognized


@functools.cache
def _known_sentences() -> tuple[dict[str, str], list[tuple[re.Pattern[str], str]]]:
    """Every sentence of every catalog, English and translated, -> its msgid: exact ones in a
    dict, those with {fields} as patterns (most fixed text first, so the most specific wins)."""
    exact: dict[str, str] = {}
    patterns: list[tuple[int, re.Pattern[str], str]] = []
    for language in LANGUAGES:
        if language == ENGLISH:
            continue
        catalog = translations(language)
        for msgid, msgstr in getattr(catalog, "_catalog", {}).items():
            if not isinstance(msgid, str) or not msgid:
                continue  # the header, and plural forms (counts are not stored as reasons)
            for text in (msgid, msgstr):
                if not _FIELD.search(text):
                    exact.setdefault(text, msgid)
                    continue
                literal = _FIELD.sub("", text)
                if len(literal.strip()) < MIN_LITERAL or "{" in literal:
                    continue
                pieces, names = [], set()
                last = 0
                for field in _FIELD.finditer(text):
                    pieces.append(re.escape(text[last : field.start()]))
                    name = field.group(1)
                    pieces.append(f"(?P={name})" if name in names else f"(?P<{name}>.+?)")
                    names.add(name)
                    last = field.end()
                pieces.append(re.escape(text[last:]))
                patterns.append((len(literal), re.compile("".join(pieces), re.S), msgid))
    patterns.sort(key=lambda item: -item[0])
    return exact, [(pattern, msgid) for _length, pattern, msgid in patterns]


def retranslate(text: str) -> str:
    """A sentence of ours stored in the language of the page that wrote it (an answer's error
    reason), said again in the current language; its fields (a provider's own message, a
    number) are data and stay as they were. Text we never wrote comes back unchanged."""
    exact, patterns = _known_sentences()
    if text in exact:
        return _(exact[text])
    for pattern, msgid in patterns:
        found = pattern.fullmatch(text)
        if found:
            return _refill(_(msgid), found.groupdict())
    return text


def _refill(template: str, values: dict[str, str]) -> str:
    """A template with its {fields} replaced by text already formatted once."""
    return _FIELD.sub(lambda m: values.get(m.group(1), m.group(0)), template)


# -- dates and numbers -----------------------------------------------------------------------


def _babel_locale() -> str:
    return "zh_Hans_CN" if current() == CHINESE else "en_US"


def number(value: float, digits: int = 0) -> str:
    """A number grouped the language's way (1,234 / 1,234.5)."""
    from babel.numbers import format_decimal

    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(value, format=pattern, locale=_babel_locale())


def date(value: dt.date, style: str = "medium") -> str:
    """A date the language's way: "Nov 30, 2026" / "2026年11月30日"."""
    from babel.dates import format_date

    return format_date(value, format=style, locale=_babel_locale())


def preload() -> None:
    """Load every catalog and the locale data for numbers and dates now.

    The UI calls this before `gc.freeze()`: loaded lazily by the first page that shows a
    number, Babel's locale tables would stay in the collector's young generations, and
    Streamlit's full collection after every page run would walk them each time."""
    for language in LANGUAGES:
        translations(language)
        with using(language):
            number(1234.5, 1)
            date(dt.date(2026, 1, 1))
    _known_sentences()  # the first failed answer shown would build it otherwise
