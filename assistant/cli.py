"""`python -m assistant`: health check, history (list, show, search, trash), export and import.

Exit codes: 0 ok; 1 the command could not do what was asked (provider unreachable, model
missing, no such conversation, a file that cannot be imported); 2 bad settings, bad arguments
or an unusable database. Errors are one line on stderr. `--json` prints machine-readable output.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Any, NoReturn, TextIO

from assistant import connection, export, i18n, importing, textsearch, transcript
from assistant.config import Settings, load_settings, read_secrets_files
from assistant.db import Database
from assistant.errors import AppError, ConfigError, InvalidInput, NotFound, StorageError
from assistant.i18n import N_, _, ngettext
from assistant.lifecycle import STALE_AFTER_S, Lifecycle
from assistant.mcp_hub import ToolServerError
from assistant.migrations import LATEST_VERSION
from assistant.profiles import endpoint_label, shown_name
from assistant.services import Services
from assistant.store import SearchHit, Store
from assistant.tool_servers import read_mcp_servers_json, tools_on_hint
from assistant.usage import Usage, money

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE = 0, 1, 2


class CliError(Exception):
    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def _settings() -> Settings:
    try:
        return load_settings(secrets=read_secrets_files())
    except ConfigError as exc:
        raise CliError(str(exc)) from exc


def _store(settings: Settings) -> Store:
    """The history, with answers whose process died marked interrupted (so `show` and `export`
    never report an answer as still being written when nobody writes it)."""
    try:
        db = Database(settings.db_path, settings.db_busy_timeout)
        store = Store(db)
        Lifecycle(db, store).recover(time.time() - STALE_AFTER_S)
        return store
    except StorageError as exc:
        raise CliError(str(exc)) from exc


def _services(settings: Settings) -> Services:
    try:
        return Services.build(settings, secrets=read_secrets_files)
    except StorageError as exc:
        raise CliError(str(exc)) from exc


def cmd_doctor(args: argparse.Namespace, out: TextIO) -> int:
    settings = _settings()
    services = _services(settings)
    summary = settings.summary()
    # New chats use the default preset (SYSTEM_PROMPT only seeds it once): say which.
    default = services.presets.default()
    summary["system prompt"] = (
        _("preset “{name}” (the default for new chats)").format(name=default.name)
        if default
        else _("(none)")
    )
    for name, value in summary.items():
        _line(_(DOCTOR_LABELS.get(name, name)), value, out)
    try:
        version = _("{version} (app {latest})").format(
            version=services.db.schema_version(), latest=LATEST_VERSION
        )
        _line(_("schema version"), version, out)
        if args.profile:
            try:
                profile = services.profiles.by_name(args.profile)
            except NotFound as exc:
                raise CliError(str(exc)) from exc
        else:
            profile = services.profiles.default(settings)
        report = services.endpoints.check_connection(profile, args.model)
    finally:
        services.turns.shutdown(wait=1)
    effective = services.endpoints.effective(profile)
    where = f"{shown_name(profile.name)} ({endpoint_label(effective)})"
    _line(_("endpoint profile"), where, out)
    _line(_("model"), report.model or _("(none chosen)"), out)
    for step in report.steps:
        _line(step.name, f"{_(connection.MARKS[step.ok])}: {step.detail}", out)
    return EXIT_OK if report.ok else EXIT_PROBLEM


# The settings' names as `doctor` shows them (Settings.summary's keys stay English: logs).
DOCTOR_LABELS = {
    "provider": N_("provider"),
    "model": N_("model"),
    "endpoint": N_("endpoint"),
    "api key": N_("api key"),
    "database": N_("database"),
    "system prompt": N_("system prompt"),
    "local model file": N_("local model file"),
    "max input characters": N_("max input characters"),
}


def _line(label: str, value: object, out: TextIO) -> None:
    """`label: value` with the labels right-aligned in 22 terminal columns."""
    print(f"{' ' * max(0, 22 - _display_width(label))}{label}: {value}", file=out)


def _print_json(data: Any, out: TextIO) -> None:
    json.dump(data, out, ensure_ascii=False, indent=2)
    out.write("\n")


def _local(iso: str) -> str:
    return transcript.readable_time(iso)


def cmd_list(args: argparse.Namespace, out: TextIO) -> int:
    store = _store(_settings())
    # The same fields as the library's records; `has_problem` is the table's "needs attention".
    source = store.list_trash() if args.trash else store.summaries()
    rows = [asdict(item) for item in source]
    rows = rows[: args.limit] if args.limit else rows
    if args.json:
        _print_json(rows, out)
        return EXIT_OK
    if not rows:
        print(_("The trash is empty.") if args.trash else _("No conversations yet."), file=out)
        return EXIT_OK
    width = max(len(str(r["id"])) for r in [*rows, {"id": "ID"}])
    when = "deleted_at" if args.trash else "updated_at"
    # The page's Messages column counts the branch on screen; so does this one.
    counted = "path_messages" in rows[0]
    when_heading = _("Deleted") if args.trash else _("Last activity")
    heading = [" " + "ID".rjust(width), _pad(when_heading, 20)]
    if counted:
        heading.append(_("Messages (branch on screen)"))
    print("  ".join([*heading, _("Title")]), file=out)
    message_width = _display_width(_("Messages (branch on screen)"))
    for row in rows:
        mark = "*" if row.get("pinned") else " "
        cells = [f"{mark}{row['id']:>{width}}", _pad(_local(row[when]), 20)]
        if counted:
            cells.append(str(row["path_messages"]).rjust(message_width))
        print("  ".join([*cells, row["title"]]), file=out)
    return EXIT_OK


def _display_width(text: str) -> int:
    """Columns a terminal gives the text: Chinese characters take two."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def _pad(text: str, width: int) -> str:
    """Text padded with spaces to `width` terminal columns (for headings over numbers)."""
    return text + " " * max(0, width - _display_width(text))


def _conversation_id(store: Store, conversation_id: int) -> None:
    try:
        store.get_conversation(conversation_id)
    except NotFound as exc:
        raise CliError(str(exc), EXIT_PROBLEM) from exc


def cmd_show(args: argparse.Namespace, out: TextIO) -> int:
    store = _store(_settings())
    _conversation_id(store, args.id)
    conversation = store.get_conversation(args.id)
    if args.json:
        _print_json(export.conversation_record(store, conversation), out)
        return EXIT_OK
    flags = _(" (pinned)") if conversation.pinned else ""
    flags += _(" (in the trash)") if conversation.in_trash else ""
    print(f"# {conversation.title}{flags}", file=out)
    print(_("started {when}").format(when=_local(conversation.created_at)), file=out)
    branches = transcript.branches_to_export(store, conversation.id, args.all_branches)
    for number, branch in enumerate(branches, start=1):
        heading = transcript.branch_heading(branch, number, len(branches), args.all_branches)
        if heading:
            print(f"\n=== {heading}", file=out)
        for exchange in branch.exchanges:
            _print_exchange(exchange, out)
    return EXIT_OK


def _print_exchange(exchange: transcript.Exchange, out: TextIO) -> None:
    question = exchange.question
    if question is not None:  # None: the conversation starts with this answer
        label = transcript.question_label(exchange.edit_index, len(exchange.edits))
        print(f"\n--- {label} · {_local(question.created_at)}", file=out)
        print(question.content, file=out)
    answer = exchange.answer
    if answer is None:
        return
    label = transcript.answer_label(exchange.version_index, len(exchange.versions))
    print(f"\n--- {label} · {transcript.caption(answer)}", file=out)
    for part in answer.parts:
        if part.kind != "text":
            print(f"[{transcript.part_heading(part)}]", file=out)
        print(part.text, file=out)
    note = transcript.answer_note(answer)
    if note:
        print(f"[{note}]", file=out)


def cmd_tools(args: argparse.Namespace, out: TextIO) -> int:
    """Each enabled tool server's tools, or why it cannot be reached."""
    services = _services(_settings())
    try:
        servers = (
            [services.tool_servers.by_name(args.server)]
            if args.server
            else services.tool_servers.enabled()
        )
        if not servers:
            print(_(
    "No tool servers yet: add one in Settings › Tools, or import an "
    "mcpServers file with `python -m assistant tools import FILE`."
), file=out)  # fmt: skip
            return EXIT_OK
        report, failed = [], False
        for server in servers:
            try:
                tools = services.hub.tools(server)
                report.append({"server": server.name, "where": server.where, "tools": [
                    {"name": t.name, "description": t.description, "input_schema": t.input_schema,
                     "needs_tasks": t.needs_tasks} for t in tools], "problem": None})  # fmt: skip
            except ToolServerError as exc:
                failed = True
                report.append({"server": server.name, "where": server.where, "tools": [],
                               "problem": str(exc)})  # fmt: skip
    finally:
        services.hub.close()
    if args.json:
        _print_json(report, out)
    else:
        for entry in report:
            print(f"{entry['server']}  ({entry['where']})", file=out)
            if entry["problem"]:
                print(_("  cannot be used: {entry}").format(entry=entry["problem"]), file=out)
            for tool in entry["tools"]:
                summary = (tool["description"] or "").strip().split("\n")[0]
                if tool["needs_tasks"]:
                    summary = _("(runs only as an MCP task: not offered to the model) ") + summary
                print(f"  {tool['name']}: {summary}", file=out)
                schema = json.dumps(tool["input_schema"], ensure_ascii=False)
                print("    " + _("input: {schema}").format(schema=schema), file=out)
    return EXIT_PROBLEM if failed else EXIT_OK


def cmd_tools_import(args: argparse.Namespace, out: TextIO) -> int:
    """Servers from the mcpServers JSON of Claude Desktop, Cursor or VS Code."""
    try:
        data = Path(args.file).read_bytes()
    except OSError as exc:
        raise CliError(
            _("{file} cannot be read: {reason}.").format(file=args.file, reason=exc.strerror or exc)
        ) from exc
    # InvalidInput: one sentence, exit 1; an envFile is read relative to the file's folder.
    parsed = read_mcp_servers_json(data, Path(args.file).resolve().parent)
    services = _services(_settings())
    try:
        saved, skipped = services.tool_servers.import_file(parsed)
    finally:
        services.hub.close()
    if args.json:
        _print_json({"imported": [s.name for s in saved], "skipped": skipped,
                     "set": parsed.to_set, "notes": parsed.notes}, out)  # fmt: skip
        return EXIT_OK
    for server in saved:
        print(_("Imported {name} ({where})").format(name=server.name, where=server.where), file=out)
    for name in skipped:
        print(
            _("Skipped {name}: a tool server of that name exists already.").format(name=name),
            file=out,
        )
    if parsed.to_set:
        print(_(
    "Secrets were not stored. Set these in the environment or "
    ".streamlit/secrets.toml: "
)
              + ", ".join(parsed.to_set), file=out)  # fmt: skip
    for note in parsed.notes:
        print(note, file=out)
    if any(server.enabled for server in saved):
        print(tools_on_hint(), file=out)
    return EXIT_OK


def cmd_usage(args: argparse.Namespace, out: TextIO) -> int:
    """Answers, tokens and cost, by model, endpoint or day, from the daily rollup. Each
    generation counts once (a fork's copies do not); answers whose endpoint reported no tokens
    are counted apart ("unreported"), never as 0 tokens."""
    store = _store(_settings())
    rows = [r for r in Usage(store.db).daily() if not args.since or r["day"] >= args.since]
    key = {"model": "model", "endpoint": "endpoint", "day": "day"}[args.by]
    totals: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = totals.setdefault(
            row[key] or _("(none)"),
            {args.by: row[key] or _("(none)"), "answers": 0, "tokens_in": 0, "tokens_out": 0,
             "unreported": 0, "cost": 0.0, "priced": True},
        )  # fmt: skip
        entry["answers"] += row["answers"]
        entry["tokens_in"] += row["tokens_in"]
        entry["tokens_out"] += row["tokens_out"]
        entry["unreported"] += row["unreported"]
        if row["cost"] is None:
            entry["priced"] = entry["priced"] and not (row["tokens_in"] or row["tokens_out"])
        else:
            entry["cost"] += row["cost"]
    report = []
    for _key, entry in sorted(totals.items()):
        priced = entry.pop("priced")
        report.append({**entry, "cost": entry["cost"] if priced else None})
    if args.json:
        _print_json(report, out)
        return EXIT_OK
    if not report:
        print(
            _("No finished answers since {since}.").format(since=args.since)
            if args.since
            else _("No finished answers."),
            file=out,
        )
        return EXIT_OK
    for e in report:  # the built-in endpoint's name in the terminal's language (not in --json)
        e[args.by] = shown_name(str(e[args.by])) if args.by == "endpoint" else e[args.by]
    _print_usage(report, args.by, out)
    return EXIT_OK


USAGE_GROUPS = {"model": N_("Model"), "endpoint": N_("Endpoint"), "day": N_("Day")}
ROLES = {"user": N_("user"), "assistant": N_("assistant")}


def _print_usage(report: list[dict[str, Any]], key: str, out: TextIO) -> None:
    """The usage table in the terminal's language; a group with answers that reported no
    tokens shows its totals as "≥" (at least) and says how many such answers there were."""
    by = _(USAGE_GROUPS[key])
    width = max(_display_width(str(e[key])) for e in [*report, {key: by}])
    unreported = sum(e["unreported"] for e in report)
    numbers = [_("Answers"), _("Tokens in"), _("Tokens out")]
    if unreported:
        numbers.append(_("not reported"))
    heading = [_pad(by, width), *(" " * max(0, 12 - _display_width(n)) + n for n in numbers)]
    print("  ".join([*heading, _("Cost")]), file=out)
    for e in report:
        at_least = "≥" if e["unreported"] else ""
        tokens_in, tokens_out = f"{at_least}{e['tokens_in']:,}", f"{at_least}{e['tokens_out']:,}"
        extra = f"  {e['unreported']:>12,}" if unreported else ""
        print(f"{_pad(str(e[key]), width)}  {e['answers']:>12,}  {tokens_in:>12}  "
              f"{tokens_out:>12}{extra}  {money(e['cost'])}", file=out)  # fmt: skip
    if unreported:
        print(
            ngettext(
                "Tokens not reported for {count} answer (an endpoint that sends no usage, or an "
                "import): the totals leave it out, so they are at least what is shown.",
                "Tokens not reported for {count} answers (an endpoint that sends no usage, or an "
                "import): the totals leave them out, so they are at least what is shown.",
                unreported,
            ).format(count=f"{unreported:,}"),
            file=out,
        )


def _hit_record(hit: SearchHit) -> dict[str, Any]:
    return {
        "conversation_id": hit.conversation_id,
        "conversation_title": hit.conversation_title,
        "message_id": hit.message_id,
        "role": hit.role,
        "created_at": hit.created_at,
        "snippet": textsearch.snippet_plain(hit.snippet, "", ""),
        "snippet_html": textsearch.snippet_html(hit.snippet),
        "rank": hit.rank,
    }


def cmd_search(args: argparse.Namespace, out: TextIO) -> int:
    store = _store(_settings())
    hits = store.search(args.query, limit=args.limit)
    if args.json:
        _print_json([_hit_record(h) for h in hits], out)
        return EXIT_OK
    if not hits:
        print(_("No matches for “{query}”.").format(query=args.query), file=out)
        return EXIT_OK
    bold, plain = ("\033[1m", "\033[0m") if out.isatty() else ("[", "]")
    for hit in hits:
        where = (
            _("title")
            if hit.message_id is None
            else _("{role}, message {message_id}").format(
                role=_(ROLES.get(hit.role, hit.role)), message_id=hit.message_id
            )
        )
        where += f", {_local(hit.created_at)}"
        print(f"{hit.conversation_id:>5}  {hit.conversation_title}  ({where})", file=out)
        print(f"       {textsearch.snippet_plain(hit.snippet, bold, plain)}", file=out)
    return EXIT_OK


def _write_atomically(path: Path, pieces: Iterable[str]) -> None:
    """Write beside the target and rename, so a failed export never leaves half a file."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".export-", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.writelines(pieces)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def cmd_export(args: argparse.Namespace, out: TextIO) -> int:
    store = _store(_settings())
    try:
        conversations = export.select_conversations(store, args.conversation)
    except NotFound as exc:
        raise CliError(str(exc), EXIT_PROBLEM) from exc
    pieces = export.chunks(store, args.format, conversations, args.all_branches)
    if args.output is None:
        out.writelines(pieces)
        return EXIT_OK
    target = Path(args.output)
    try:
        if target.is_dir():
            target = target / export.export_filename(conversations, args.format)
        _write_atomically(target, pieces)
    except (OSError, ValueError) as exc:  # ValueError: a name with a NUL byte
        reason = getattr(exc, "strerror", None) or _("not a file name")
        raise CliError(
            _("Cannot write {target}: {reason}.").format(target=target, reason=reason)
        ) from exc
    print(
        _("Wrote {count} conversation(s) to {target}").format(
            count=len(conversations), target=target
        ),
        file=sys.stderr,
    )
    return EXIT_OK


def cmd_import(args: argparse.Namespace, out: TextIO) -> int:
    try:
        held = [Path(args.file).read_bytes()]  # popped below: the bytes go once decoded
    except (OSError, ValueError) as exc:  # ValueError: a name with a NUL byte
        reason = getattr(exc, "strerror", None) or _("not a file name")
        raise CliError(
            _("Cannot read {file}: {reason}.").format(file=args.file, reason=reason)
        ) from exc
    store = _store(_settings())
    try:
        result = importing.import_file(store, held.pop())  # what the page calls too
    except importing.ImportProblem as exc:
        raise CliError(
            _("{file}: {exc} Nothing was imported.").format(file=args.file, exc=exc), EXIT_PROBLEM
        ) from exc
    if args.json:
        _print_json(
            {
                "imported": result.imported,
                "skipped": result.skipped,
                "messages": result.messages,
                "left_out": list(result.left_out),
            },
            out,
        )
        return EXIT_OK
    print(importing.describe(result), file=out)
    return EXIT_OK


def cmd_rm(args: argparse.Namespace, out: TextIO) -> int:
    store = _store(_settings())
    _conversation_id(store, args.id)
    store.trash(args.id)
    title = store.get_conversation(args.id).title
    print(
        _("Moved “{title}” to the trash. Undo with: python -m assistant restore {id}").format(
            title=title, id=args.id
        ),
        file=out,
    )
    return EXIT_OK


def cmd_restore(args: argparse.Namespace, out: TextIO) -> int:
    store = _store(_settings())
    _conversation_id(store, args.id)
    try:
        store.restore(args.id)
    except InvalidInput as exc:
        raise CliError(str(exc), EXIT_PROBLEM) from exc
    print(_("Restored “{title}”.").format(title=store.get_conversation(args.id).title), file=out)
    return EXIT_OK


SQLITE_MAX_ID = 2**63 - 1


def _whole_number(low: int, what: str) -> Callable[[str], int]:
    """An argparse type: a whole number from `low` to what SQLite can hold."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                _("{text!r} is not a number").format(text=terminal_safe(text))
            ) from None
        if not low <= value <= SQLITE_MAX_ID:
            raise argparse.ArgumentTypeError(
                _("{value} is not {what}").format(value=value, what=_(what))
            )
        return value

    return parse


conversation_number = _whole_number(1, N_("a conversation number (see `list`)"))
count = _whole_number(0, N_("a number of rows (0 or more)"))


# C0 and C1 controls (but tab and newline), bidirectional overrides and isolates, and the BOM:
# printed raw they can rewrite what the terminal shows (or hide text inside a title).
_UNSAFE_FOR_TERMINALS = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]"
)


def terminal_safe(text: str) -> str:
    """Text for a terminal: control and direction-changing characters shown as escapes."""
    return _UNSAFE_FOR_TERMINALS.sub(lambda m: m.group(0).encode("unicode_escape").decode(), text)


class TerminalText:
    """An output stream for people: every write goes through `terminal_safe`. Exports and
    `--json` output are data and stay exact."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(terminal_safe(text))

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()


def iso_day(text: str) -> str:
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(
            _("{text!r} is not a date like 2026-05-01").format(text=text)
        ) from None


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """argparse's help with its own words ("usage:") in the terminal's language: Python ships
    no catalog for them, so ours holds them."""

    def add_usage(self, usage, actions, groups, prefix=None) -> None:  # type: ignore[no-untyped-def]
        super().add_usage(usage, actions, groups, _("usage: ") if prefix is None else prefix)


# argparse's commonest error sentences, matched in its English and said in the terminal's
# language (the English msgids are argparse's own words, so English output is unchanged).
_ARGPARSE_SENTENCES = (
    (re.compile(r"^argument (?P<name>[^:]+): (?P<problem>.*)$", re.S),
     N_("argument {name}: {problem}")),
    (re.compile(r"^the following arguments are required: (?P<names>.*)$", re.S),
     N_("the following arguments are required: {names}")),
    (re.compile(r"^unrecognized arguments: (?P<names>.*)$", re.S),
     N_("unrecognized arguments: {names}")),
    (re.compile(r"^invalid choice: (?P<value>.*) \(choose from (?P<choices>.*)\)$", re.S),
     N_("invalid choice: {value} (choose from {choices})")),
    (re.compile(r"^expected one argument$"), N_("expected one argument")),
)  # fmt: skip


def _argparse_sentence(message: str) -> str:
    """An argparse error in the terminal's language, where it is one we know."""
    for pattern, sentence in _ARGPARSE_SENTENCES:
        found = pattern.match(message)
        if found:
            fields = {k: _argparse_sentence(v) for k, v in found.groupdict().items()}
            return _(sentence).format(**fields)
    return message


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose headings, -h help and error line are translated (subcommands'
    parsers are of this class too). argparse's own error sentences stay English."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        kwargs["add_help"] = False
        super().__init__(*args, **kwargs)
        self._positionals.title = _("positional arguments")
        self._optionals.title = _("options")
        self.add_argument(
            "-h",
            "--help",
            action="help",
            default=argparse.SUPPRESS,
            help=_("show this help message and exit"),
        )

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        message = _argparse_sentence(message)
        self.exit(
            EXIT_USAGE, _("{prog}: error: {message}").format(prog=self.prog, message=message) + "\n"
        )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m assistant",
        description=_(
            "The assistant in a terminal: health check, history (list, show, search,\n"
            "trash), export and import, usage and tool servers.\n\n"
            "Exit codes: 0 ok; 1 the command could not do what was asked; 2 bad settings,\n"
            "bad arguments or an unusable database. --json prints machine-readable output."
        ),
    )
    sub = parser.add_subparsers(dest="command", required=True)
    doctor = sub.add_parser(
        "doctor", help=_("settings, database and a connection check of an endpoint profile")
    )
    doctor.add_argument(
        "--profile", metavar="NAME", help=_("the endpoint profile to check (default: the default)")
    )
    doctor.add_argument("--model", metavar="MODEL", help=_("check this model instead"))
    doctor.set_defaults(func=cmd_doctor)

    listing = sub.add_parser("list", help=_("conversations, pinned first, newest activity first"))
    listing.add_argument("--trash", action="store_true", help=_("list the trash instead"))
    listing.add_argument("--limit", type=count, metavar="N", help=_("at most N rows"))
    listing.add_argument("--json", action="store_true", help=_("machine-readable output"))
    listing.set_defaults(func=cmd_list)

    show = sub.add_parser("show", help=_("print one conversation"))
    show.add_argument("id", type=conversation_number, metavar="ID")
    show.add_argument("--json", action="store_true", help=_("machine-readable output"))
    show.add_argument(
        "--all-branches", action="store_true", help=_("every branch, not only the one on screen")
    )
    show.set_defaults(func=cmd_show)

    search = sub.add_parser("search", help=_("full-text search over titles and messages"))
    search.add_argument("query", metavar="QUERY")
    search.add_argument(
        "--limit", type=count, default=20, metavar="N", help=_("at most N messages")
    )
    search.add_argument("--json", action="store_true", help=_("machine-readable output"))
    search.set_defaults(func=cmd_search)

    exp = sub.add_parser("export", help=_("export one conversation or all of them"))
    exp.add_argument(
        "--format", choices=export.FORMATS, default="json", help=_("the file format (default json)")
    )
    exp.add_argument(
        "--conversation", type=conversation_number, metavar="ID", help=_("only this conversation")
    )
    exp.add_argument(
        "--all-branches",
        action="store_true",
        help=_("Markdown and HTML: every branch, not only the one on screen (JSON has all)"),
    )
    exp.add_argument("-o", "--output", metavar="FILE", help=_("write to FILE (or into a folder)"))
    exp.set_defaults(func=cmd_export)

    imp = sub.add_parser(
        "import",
        help=_(
            "import conversations: this app's export, ChatGPT, Claude.ai, Open WebUI, "
            "LibreChat or ChatbotUI"
        ),
        description=_(
            "Import conversations, with their branches, from: this app's JSON or JSON Lines "
            "export; ChatGPT's conversations.json (or one conversation of it); Claude.ai's "
            "conversations.json; an Open WebUI chat export; a LibreChat conversation export "
            "(flat or recursive); a ChatbotUI v1 export. Conversations already here are "
            "skipped. An entry of a list that cannot be read is left out and named; the "
            "others still import."
        ),
    )
    imp.add_argument("file", metavar="FILE", help=_("the file to import"))
    imp.add_argument("--json", action="store_true", help=_("machine-readable output"))
    imp.set_defaults(func=cmd_import)

    use = sub.add_parser("usage", help=_("answers, tokens and cost by model, endpoint or day"))
    use.add_argument("--since", type=iso_day, metavar="DATE", help=_("from this day (YYYY-MM-DD)"))
    use.add_argument(
        "--by", choices=tuple(USAGE_GROUPS), default="model", help=_("group by (default model)")
    )
    use.add_argument("--json", action="store_true", help=_("machine-readable output"))
    use.set_defaults(func=cmd_usage)

    tools = sub.add_parser("tools", help=_("MCP tool servers: list their tools, or import a file"))
    tools.add_argument("--server", metavar="NAME", help=_("only this server (enabled or not)"))
    tools.add_argument("--json", action="store_true", help=_("machine-readable output"))
    tools.set_defaults(func=cmd_tools)
    tools_sub = tools.add_subparsers(dest="tools_command")
    tools_import = tools_sub.add_parser(
        "import", help=_("servers from an mcpServers JSON file (Claude Desktop, Cursor, VS Code)")
    )
    tools_import.add_argument("file", metavar="FILE")
    tools_import.add_argument("--json", action="store_true", help=_("machine-readable output"))
    tools_import.set_defaults(func=cmd_tools_import)

    rm = sub.add_parser("rm", help=_("move a conversation to the trash"))
    rm.add_argument("id", type=conversation_number, metavar="ID")
    rm.set_defaults(func=cmd_rm)
    restore = sub.add_parser("restore", help=_("bring a conversation back from the trash"))
    restore.add_argument("id", type=conversation_number, metavar="ID")
    restore.set_defaults(func=cmd_restore)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """The terminal's language (LANGUAGE, LC_ALL, LC_MESSAGES, LANG) for every message."""
    with i18n.using(i18n.system_language()):
        return _main(argv, out)


def _main(argv: Sequence[str] | None, out: TextIO | None) -> int:
    out = out or sys.stdout
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed its one-line usage error
        return int(exc.code or 0)
    if args.command != "export" and not getattr(args, "json", False):
        out = TerminalText(out)  # type: ignore[assignment]
    try:
        return int(args.func(args, out))
    except CliError as exc:
        print(_("error: {problem}").format(problem=terminal_safe(str(exc))), file=sys.stderr)
        return exc.code
    except StorageError as exc:
        print(_("error: {problem}").format(problem=terminal_safe(str(exc))), file=sys.stderr)
        return EXIT_USAGE
    except AppError as exc:  # not found, refused input: the sentence says which
        print(_("error: {problem}").format(problem=terminal_safe(str(exc))), file=sys.stderr)
        return EXIT_PROBLEM
    except BrokenPipeError:  # `... | head` closed the pipe: not an error worth a traceback
        sys.stderr.close()
        return EXIT_OK
