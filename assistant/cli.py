"""`python -m assistant`: health check and export from the command line.

Exit codes: 0 ok; 1 the check found a problem (provider unreachable, model missing);
2 bad settings, bad arguments or an unusable database. Errors are one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from typing import TextIO

from assistant import export
from assistant.config import (
    PROVIDER_LOCAL,
    ConfigError,
    Settings,
    load_settings,
    read_secrets_files,
)
from assistant.db import Database, StorageError
from assistant.migrations import LATEST_VERSION
from assistant.providers import LocalModel, OpenAICompatProvider, ProviderError
from assistant.store import NotFound, Store

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
    try:
        return Store(Database(settings.db_path))
    except StorageError as exc:
        raise CliError(str(exc)) from exc


def check_provider(settings: Settings) -> tuple[bool, str]:
    """Is the configured provider usable? (ok, one line saying why)."""
    if settings.provider == PROVIDER_LOCAL:
        model = LocalModel(settings.local_model_path, n_ctx=settings.local_context)
        try:
            model.load()
        except ProviderError as exc:
            return False, exc.user_message
        return True, f"embedded model loads in {model.load_seconds:.2f} s ({model.label})"
    provider = OpenAICompatProvider(
        settings.openai_api_key,
        settings.openai_base_url,
        timeout=min(settings.openai_timeout, 15.0),
        max_retries=0,
    )
    started = time.perf_counter()
    try:
        models = provider.list_models()
    except ProviderError as exc:
        return False, exc.user_message
    elapsed = time.perf_counter() - started
    if models and settings.openai_model not in models:
        shown = ", ".join(models[:8]) + (" …" if len(models) > 8 else "")
        return False, (
            f"{provider.endpoint} is reachable but has no model “{settings.openai_model}”. "
            f"It offers: {shown}"
        )
    return True, f"{provider.endpoint} answered in {elapsed:.2f} s; model {settings.openai_model}"


def cmd_doctor(args: argparse.Namespace, out: TextIO) -> int:
    settings = _settings()
    for name, value in settings.summary().items():
        print(f"{name:>22}: {value}", file=out)
    store = _store(settings)
    print(f"{'schema version':>22}: {store.db.schema_version()} (app {LATEST_VERSION})", file=out)
    ok, detail = check_provider(settings)
    print(f"{'provider check':>22}: {'ok' if ok else 'FAILED'}: {detail}", file=out)
    return EXIT_OK if ok else EXIT_PROBLEM


def cmd_export(args: argparse.Namespace, out: TextIO) -> int:
    store = _store(_settings())
    try:
        data = export.export_json(store, args.conversation)
    except NotFound as exc:
        raise CliError(str(exc), EXIT_PROBLEM) from exc
    json.dump(data, out, ensure_ascii=False, indent=2)
    out.write("\n")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m assistant", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    doctor = sub.add_parser("doctor", help="settings, database and provider health check")
    doctor.set_defaults(func=cmd_doctor)
    exp = sub.add_parser("export", help="print conversations as JSON")
    exp.add_argument("--format", choices=["json"], default="json")
    exp.add_argument("--conversation", type=int, metavar="ID", help="only this conversation")
    exp.set_defaults(func=cmd_export)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed its one-line usage error
        return int(exc.code or 0)
    try:
        return int(args.func(args, out))
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    except StorageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # `... | head` closed the pipe: not an error worth a traceback
        sys.stderr.close()
        return EXIT_OK
