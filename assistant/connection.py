"""The connection check of an endpoint profile: each step in plain words.

For an OpenAI-compatible endpoint: is it reachable (`GET /models`), is the key accepted, does
the model exist (in that list), and how long does the first token of a tiny answer take. For
the embedded model: is the file there, does it load, and the same time to first token. A step
that cannot be decided (a server without a `/models` list) says so instead of guessing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from assistant.errors import ProviderError
from assistant.i18n import N_, _
from assistant.profiles import KEY_NONE, KIND_LOCAL, Profile
from assistant.providers.base import GenerationRequest, Provider, TextDelta

PROBE_MESSAGES = [{"role": "user", "content": "Reply with the single word: ready"}]
PROBE_PARAMS = {"max_tokens": 8, "temperature": 0.0}
MARKS = {True: N_("ok"), False: N_("FAILED"), None: N_("not checked")}


@dataclass(frozen=True)
class Step:
    name: str
    ok: bool | None  # None: not checked (an earlier step failed, or it cannot be told)
    detail: str


@dataclass
class CheckReport:
    profile: str
    model: str
    steps: list[Step] = field(default_factory=list)
    first_token_s: float | None = None

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(step.ok is not False for step in self.steps)

    def add(self, name: str, ok: bool | None, detail: str) -> None:
        """Record a step; a later word on the same step replaces an earlier one."""
        step = Step(name, ok, detail)
        for index, existing in enumerate(self.steps):
            if existing.name == name:
                self.steps[index] = step
                return
        self.steps.append(step)


def check(
    profile: Profile,
    model: str,
    provider_for: Callable[[Profile], Provider],
    list_models: Callable[[Profile], list[str]],
) -> CheckReport:
    """Run the check against `profile` (environment values already filled in)."""
    report = CheckReport(profile.name, model)
    if profile.kind == KIND_LOCAL:
        _check_local(profile, provider_for, report)
    else:
        _check_remote(profile, model, list_models, report)
    if report.ok and model:
        _first_token(profile, model, provider_for, report)
    return report


def _check_local(
    profile: Profile, provider_for: Callable[[Profile], Provider], report: CheckReport
) -> None:
    path = Path(profile.model_path) if profile.model_path else None
    if path is None or not path.is_file():
        where = str(path) if path else _("no file configured")
        report.add(
            _("Model file"), False, _("The GGUF file is missing ({where}).").format(where=where)
        )
        return
    report.add(
        _("Model file"),
        True,
        _("{name}, {megabytes:.0f} MB").format(name=path.name, megabytes=path.stat().st_size / 1e6),
    )
    model = provider_for(profile)
    if getattr(model, "loaded", False):
        report.add(_("Loads"), True, _("already loaded in this process"))
        return
    started = time.perf_counter()
    try:
        model.load()  # type: ignore[attr-defined]
    except ProviderError as exc:
        report.add(_("Loads"), False, exc.user_message)
        return
    report.add(
        _("Loads"),
        True,
        _("ready in {seconds:.2f} s").format(seconds=time.perf_counter() - started),
    )


def _check_remote(
    profile: Profile,
    model: str,
    list_models: Callable[[Profile], list[str]],
    report: CheckReport,
) -> None:
    where = profile.base_url or "api.openai.com"
    started = time.perf_counter()
    try:
        models = list_models(profile)
    except ProviderError as exc:
        if exc.kind in ("connection", "timeout"):
            report.add(_("Reachable"), False, exc.user_message)
            report.add(_("Key"), None, _("the endpoint did not answer."))
        elif exc.kind == "no_key":
            report.add(_("Reachable"), None, _("there is no key to send."))
            report.add(_("Key"), False, exc.user_message)
        elif exc.kind == "auth":
            report.add(_("Reachable"), True, _("{where} answered.").format(where=where))
            report.add(_("Key"), False, exc.user_message)
        elif exc.kind == "not_found":
            report.add(
                _("Reachable"),
                True,
                _("{where} answered, but lists no models (404).").format(where=where),
            )
            report.add(
                _("Key"), None, _("cannot be told without a model list; see the first token.")
            )
            report.add(_("Model"), None, _("“{model}” is tried below.").format(model=model))
            return
        else:
            report.add(_("Reachable"), False, exc.user_message)
        report.add(_("Model"), None, _("an earlier step failed."))
        return
    elapsed = time.perf_counter() - started
    report.add(
        _("Reachable"),
        True,
        _("{where} answered in {milliseconds:.0f} ms.").format(
            where=where, milliseconds=elapsed * 1000
        ),
    )
    report.add(
        _("Key"),
        True,
        "accepted." if profile.key_source != KEY_NONE else _("none is sent; the endpoint agreed."),
    )
    if not model:
        report.add(_("Model"), False, _("No model is chosen. Pick one of: ") + _few(models))
    elif models and model not in models:
        report.add(
            _("Model"),
            False,
            _("“{model}” is not one of the {count} models {where} offers: {few}").format(
                model=model, count=len(models), where=where, few=_few(models)
            ),
        )
    else:
        report.add(_("Model"), True, _("“{model}” is offered.").format(model=model))


def _first_token(
    profile: Profile, model: str, provider_for: Callable[[Profile], Provider], report: CheckReport
) -> None:
    started = time.perf_counter()
    try:
        stream = provider_for(profile).stream(
            GenerationRequest(model, PROBE_MESSAGES, PROBE_PARAMS)
        )
        try:
            for event in stream:
                if isinstance(event, TextDelta):
                    report.first_token_s = time.perf_counter() - started
                    break
        finally:
            stream.close()
    except ProviderError as exc:
        step = _("Model") if exc.kind == "not_found" else _("First token")
        report.add(step, False, exc.user_message)
        return
    if report.first_token_s is None:
        report.add(_("First token"), False, _("The model answered with no text."))
        return
    report.add(
        _("First token"),
        True,
        _("after {first_token_s:.2f} s").format(first_token_s=report.first_token_s),
    )


def _few(models: list[str], shown: int = 8) -> str:
    if not models:
        return _("(the list is empty)")
    return ", ".join(models[:shown]) + (
        _(" and {count} more").format(count=len(models) - shown) if len(models) > shown else ""
    )
