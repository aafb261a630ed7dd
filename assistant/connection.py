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
from assistant.profiles import KEY_NONE, KIND_LOCAL, Profile
from assistant.providers.base import GenerationRequest, Provider, TextDelta

PROBE_MESSAGES = [{"role": "user", "content": "Reply with the single word: ready"}]
PROBE_PARAMS = {"max_tokens": 8, "temperature": 0.0}
MARKS = {True: "ok", False: "FAILED", None: "not checked"}


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
        where = str(path) if path else "no file configured"
        report.add("Model file", False, f"The GGUF file is missing ({where}).")
        return
    report.add("Model file", True, f"{path.name}, {path.stat().st_size / 1e6:.0f} MB")
    model = provider_for(profile)
    if getattr(model, "loaded", False):
        report.add("Loads", True, "already loaded in this process")
        return
    started = time.perf_counter()
    try:
        model.load()  # type: ignore[attr-defined]
    except ProviderError as exc:
        report.add("Loads", False, exc.user_message)
        return
    report.add("Loads", True, f"ready in {time.perf_counter() - started:.2f} s")


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
            report.add("Reachable", False, exc.user_message)
            report.add("Key", None, "the endpoint did not answer.")
        elif exc.kind == "no_key":
            report.add("Reachable", None, "there is no key to send.")
            report.add("Key", False, exc.user_message)
        elif exc.kind == "auth":
            report.add("Reachable", True, f"{where} answered.")
            report.add("Key", False, exc.user_message)
        elif exc.kind == "not_found":
            report.add("Reachable", True, f"{where} answered, but lists no models (404).")
            report.add("Key", None, "cannot be told without a model list; see the first token.")
            report.add("Model", None, f"“{model}” is tried below.")
            return
        else:
            report.add("Reachable", False, exc.user_message)
        report.add("Model", None, "an earlier step failed.")
        return
    elapsed = time.perf_counter() - started
    report.add("Reachable", True, f"{where} answered in {elapsed * 1000:.0f} ms.")
    report.add(
        "Key",
        True,
        "accepted." if profile.key_source != KEY_NONE else "none is sent; the endpoint agreed.",
    )
    if not model:
        report.add("Model", False, "No model is chosen. Pick one of: " + _few(models))
    elif models and model not in models:
        report.add(
            "Model",
            False,
            f"“{model}” is not one of the {len(models)} models {where} offers: {_few(models)}",
        )
    else:
        report.add("Model", True, f"“{model}” is offered.")


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
        step = "Model" if exc.kind == "not_found" else "First token"
        report.add(step, False, exc.user_message)
        return
    if report.first_token_s is None:
        report.add("First token", False, "The model answered with no text.")
        return
    report.add("First token", True, f"after {report.first_token_s:.2f} s")


def _few(models: list[str], shown: int = 8) -> str:
    if not models:
        return "(the list is empty)"
    return ", ".join(models[:shown]) + (
        f" and {len(models) - shown} more" if len(models) > shown else ""
    )
