"""Endpoint profiles, per-conversation settings, snapshots, the connection check and key safety,
against a real SQLite file and the fake OpenAI-compatible server over HTTP."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import wait_until
from fake_openai import FakeOpenAIServer, Scenario

from assistant import export, migrations
from assistant.chat_settings import ChatSettings
from assistant.config import load_settings
from assistant.errors import InvalidInput
from assistant.profiles import KEY_ENV, KEY_SECRETS, KIND_LOCAL, KIND_OPENAI
from assistant.services import Services

KEY = "sk-scan-7f3a9c1e5b2d4f6a8c0e"
KEY_VARIABLE = "SCAN_TEST_KEY"


def build(db_path: Path, environ: dict[str, str], secrets: dict | None = None) -> Services:
    settings = load_settings(environ={"SQLITE_DB_PATH": str(db_path), **environ}, secrets={})
    return Services.build(settings, environ=environ, secrets=lambda: secrets or {})


@pytest.fixture
def svc(db_path: Path) -> Iterator[Services]:
    services = build(db_path, {KEY_VARIABLE: KEY})
    services.preferences.set_auto_titles(False)  # the tests read the last request
    yield services
    services.turns.shutdown(wait=2)


@pytest.fixture
def keyed_server() -> Iterator[FakeOpenAIServer]:
    server = FakeOpenAIServer(api_key=KEY, models=["fake-model", "other-model"]).start()
    yield server
    server.stop()


@pytest.fixture
def fake_profile(svc: Services, keyed_server: FakeOpenAIServer):
    return svc.profiles.create(
        "Fake server", keyed_server.base_url, KEY_ENV, KEY_VARIABLE, "fake-model"
    )


def finish(svc: Services, answer_id: int):
    return wait_until(
        lambda: (m := svc.store.get_message(answer_id)).status not in ("pending", "streaming") and m
    )


def send(svc: Services, conversation_id: int | None, text: str, draft=None):
    ids = svc.send(conversation_id, text, draft)
    return ids, finish(svc, ids.assistant_message_id)


# -- profiles ---------------------------------------------------------------------------------


def test_builtin_profiles_are_seeded_once_and_cannot_be_deleted(svc, db_path):
    kinds = [p.kind for p in svc.profiles.list()]
    assert kinds == [KIND_LOCAL, KIND_OPENAI]
    build(db_path, {}).turns.shutdown()  # a second start seeds nothing more
    assert len(svc.profiles.list()) == 2
    for profile in svc.profiles.list():
        with pytest.raises(InvalidInput, match="built in"):
            svc.profiles.delete(profile.id)


def test_automatic_default_follows_the_environment(db_path, fake_server):
    local = build(db_path, {})
    assert local.profiles.default(local.settings).kind == KIND_LOCAL
    local.turns.shutdown()
    remote = build(db_path, {"OPENAI_BASE_URL": fake_server.base_url})
    default = remote.profiles.default(remote.settings)
    assert default.kind == KIND_OPENAI
    assert remote.endpoints.effective(default).base_url == fake_server.base_url
    remote.turns.shutdown()


@pytest.mark.parametrize(
    ("name", "url", "source", "key_name", "message"),
    [
        ("", "http://x/v1", "none", None, "needs a name"),
        ("   ", "http://x/v1", "none", None, "needs a name"),
        ("openai", "http://x/v1", "none", None, "already exists"),  # names ignore case
        ("A", "", "none", None, "Enter the endpoint's base URL"),
        ("A", "ftp://host/v1", "none", None, "must start with http:// or https://"),
        ("A", "localhost:11434", "none", None, "must start with http:// or https://"),
        ("A", "http://", "none", None, "name a host"),
        ("A", "http://x/v1", "env", "", "Name the environment variable"),
        ("A", "http://x/v1", "env", "sk-abc123", "not an environment variable name"),
        ("A", "http://x/v1", "secrets", "a key", "not a secrets.toml key"),
    ],
)
def test_profile_validation_has_clear_messages(svc, name, url, source, key_name, message):
    with pytest.raises(InvalidInput, match=message) as refused:
        svc.profiles.create(name, url, source, key_name)
    if key_name:  # a key pasted where its name belongs is never shown back
        assert key_name not in str(refused.value)
    assert len(svc.profiles.list()) == 2


def test_deleting_a_profile_sends_its_conversations_back_to_the_default(svc, fake_profile):
    ids, _ = send(svc, None, "hi", ChatSettings(profile_id=fake_profile.id, model="fake-model"))
    assert svc.chat.conversation(ids.conversation_id).profile_id == fake_profile.id
    svc.profiles.set_default(fake_profile.id)
    with pytest.raises(InvalidInput, match="default"):
        svc.profiles.delete(fake_profile.id)
    svc.profiles.set_default(None)
    svc.profiles.delete(fake_profile.id)
    assert svc.chat.conversation(ids.conversation_id).profile_id is None
    assert svc.resolve(ids.conversation_id).profile.kind == KIND_LOCAL


def test_the_model_list_comes_from_the_endpoint(svc, fake_profile):
    assert svc.endpoints.list_models(fake_profile) == ["fake-model", "other-model"]


# -- a turn uses the conversation's settings and snapshots them -------------------------------


def test_a_turn_uses_the_conversations_preset_model_and_parameters(svc, fake_profile, keyed_server):
    concise = next(p for p in svc.presets.list() if p.name == "Concise answers")
    draft = ChatSettings(
        preset_id=concise.id,
        profile_id=fake_profile.id,
        model="other-model",
        params={"temperature": 0.2, "max_tokens": 64, "top_p": 0.5},
    )
    _, answer = send(svc, None, "Name a colour", draft)
    assert answer.status == "complete", answer.error
    body = keyed_server.completions()[-1].body
    assert body["model"] == "other-model"
    assert (body["temperature"], body["max_tokens"], body["top_p"]) == (0.2, 64, 0.5)
    assert body["messages"][0] == {"role": "system", "content": concise.text}
    assert keyed_server.completions()[-1].headers["authorization"] == f"Bearer {KEY}"
    assert (answer.provider, answer.profile_id, answer.model) == (
        "Fake server",
        fake_profile.id,
        "other-model",
    )
    assert answer.preset == "Concise answers" and answer.system_prompt == concise.text
    assert answer.params == {"temperature": 0.2, "max_tokens": 64, "top_p": 0.5}


def test_editing_a_preset_leaves_earlier_snapshots_and_applies_to_the_next_turn(
    svc, fake_profile, keyed_server
):
    preset = svc.presets.create("Pirate", "Talk like a pirate.")
    draft = ChatSettings(preset_id=preset.id, profile_id=fake_profile.id)
    ids, first = send(svc, None, "Hello", draft)
    svc.presets.update(preset.id, "Pirate", "Talk like a polite pirate.")
    _, second = send(svc, ids.conversation_id, "Again")
    assert svc.store.get_message(first.id).system_prompt == "Talk like a pirate."
    assert second.system_prompt == "Talk like a polite pirate."
    sent = [r.body["messages"][0]["content"] for r in keyed_server.completions()]
    assert sent == ["Talk like a pirate.", "Talk like a polite pirate."]


def test_changes_mid_conversation_apply_to_the_next_turn_and_its_caption(svc, fake_profile):
    from assistant import transcript

    ids, first = send(svc, None, "One", ChatSettings(profile_id=fake_profile.id))
    chat = svc.chat.conversation(ids.conversation_id)
    svc.chat.save(
        ids.conversation_id,
        ChatSettings(
            system_prompt="Answer in French.",
            profile_id=fake_profile.id,
            model="other-model",
            params={**chat.params, "temperature": 1.3},
        ),
    )
    _, second = send(svc, ids.conversation_id, "Two")
    assert transcript.caption(first).startswith("fake-model · Fake server · Helpful assistant")
    assert transcript.caption(second).startswith(
        "other-model · Fake server · one-off prompt · temperature 1.3"
    )
    assert ("System prompt", "one-off prompt") in transcript.provenance(second)
    # Regenerating the first answer now uses the conversation's current settings too.
    regenerated = finish(svc, svc.regenerate(first.id))
    assert regenerated.model == "other-model" and regenerated.system_prompt == "Answer in French."


def test_new_conversations_start_from_the_defaults_and_keep_them(svc, fake_profile):
    concise = next(p for p in svc.presets.list() if p.name == "Concise answers")
    svc.presets.set_default(concise.id)
    svc.profiles.set_default(fake_profile.id)
    svc.chat.save_default_params({"temperature": 0.1, "max_tokens": 99, "top_p": 0.9})
    ids, answer = send(svc, None, "Hi")
    assert (answer.preset, answer.provider, answer.model) == (
        "Concise answers",
        "Fake server",
        "fake-model",
    )
    assert answer.params == {"temperature": 0.1, "max_tokens": 99, "top_p": 0.9}
    # A later change of the defaults does not change an existing conversation.
    svc.presets.set_default(None)
    svc.chat.save_default_params({"temperature": 1.0, "max_tokens": 10, "top_p": 1.0})
    resolved = svc.resolve(ids.conversation_id)
    assert resolved.preset == concise and resolved.params.temperature == 0.1
    assert svc.resolve(None).system_prompt == ""


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"temperature": 2.5, "max_tokens": 10, "top_p": 1}, "Temperature must be between 0 and 2"),
        ({"temperature": -0.1, "max_tokens": 10, "top_p": 1}, "Temperature must be between"),
        ({"temperature": 1, "max_tokens": 0, "top_p": 1}, "Max tokens must be between 1"),
        ({"temperature": 1, "max_tokens": 10.5, "top_p": 1}, "Max tokens must be a number"),
        ({"temperature": 1, "max_tokens": 10, "top_p": 1.5}, "Top p must be between 0 and 1"),
        ({"temperature": "warm", "max_tokens": 10, "top_p": 1}, "Temperature must be a number"),
    ],
)
def test_parameters_out_of_range_are_refused_with_the_range(svc, values, message):
    with pytest.raises(InvalidInput, match=message):
        svc.chat.save_default_params(values)
    ids, _ = send(svc, None, "Hi", ChatSettings(profile_id=None))
    with pytest.raises(InvalidInput, match=message):
        svc.chat.save(ids.conversation_id, ChatSettings(params=values))


def test_bad_saved_values_fall_back_to_defaults_and_say_so(svc, fake_profile):
    ids, _ = send(svc, None, "Hi", ChatSettings(profile_id=fake_profile.id))
    with svc.db.connect() as conn:
        conn.execute(
            'UPDATE conversations SET params = \'{"temperature": 9, "top_p": 0.3}\' WHERE id = ?',
            (ids.conversation_id,),
        )
        conn.execute(
            "INSERT INTO app_settings (key, value) VALUES ('default_params', '{broken')"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
        )
        conn.execute(
            "UPDATE profiles SET base_url = 'ftp://nowhere' WHERE id = ?", (fake_profile.id,)
        )
    resolved = svc.resolve(ids.conversation_id)
    assert resolved.params.temperature == 0.7 and resolved.params.top_p == 0.3
    assert resolved.profile.kind == KIND_LOCAL
    problems = " ".join(resolved.problems)
    assert "saved parameters of new conversations could not be read" in problems
    assert "Temperature must be between 0 and 2; got 9" in problems
    assert "Endpoint “Fake server”" in problems and "Using the embedded model" in problems
    with svc.db.connect() as conn:
        conn.execute(
            "UPDATE conversations SET params = 'not json' WHERE id = ?", (ids.conversation_id,)
        )
    assert any("could not be read" in p for p in svc.resolve(ids.conversation_id).problems)


def test_an_answer_whose_profile_was_deleted_fails_with_a_clear_message(svc, fake_profile):
    chat = svc.chat.completed(ChatSettings(profile_id=fake_profile.id))
    ids = svc.turns.create(None, "Hi", svc.chat.resolve(chat).snapshot())  # not started yet
    svc.profiles.delete(fake_profile.id)
    svc.turns.start(ids.assistant_message_id)
    answer = finish(svc, ids.assistant_message_id)
    assert answer.status == "error"
    assert "The endpoint “Fake server” was deleted" in answer.error


def test_migration_4_applies_on_a_version_3_database(db_path):
    with sqlite3.connect(db_path, isolation_level=None) as conn:
        assert migrations.migrate(conn, target=3) == 3
        conn.execute(
            "INSERT INTO conversations (title, created_at, updated_at, uid)"
            " VALUES ('old', 't', 't', 'u1')"
        )
    services = build(db_path, {})
    try:
        assert services.db.schema_version() == migrations.LATEST_VERSION
        conversation = services.store.list_conversations()[0]
        assert services.chat.conversation(conversation.id) == ChatSettings()
        resolved = services.resolve(conversation.id)  # NULLs follow the defaults
        assert resolved.profile.kind == KIND_LOCAL and resolved.preset is not None
    finally:
        services.turns.shutdown()


# -- the connection check ---------------------------------------------------------------------


def test_connection_check_ok_measures_time_to_first_token(svc, fake_profile):
    report = svc.endpoints.check_connection(fake_profile)
    assert report.ok, report.steps
    assert [s.name for s in report.steps] == ["Reachable", "Key", "Model", "First token"]
    assert report.first_token_s is not None and report.first_token_s > 0


def test_connection_check_says_the_key_was_rejected(db_path, keyed_server):
    services = build(db_path, {KEY_VARIABLE: "sk-wrong-key-000"})
    try:
        profile = services.profiles.create(
            "Fake", keyed_server.base_url, KEY_ENV, KEY_VARIABLE, "fake-model"
        )
        report = services.endpoints.check_connection(profile)
    finally:
        services.turns.shutdown()
    assert not report.ok
    steps = {s.name: s for s in report.steps}
    assert steps["Reachable"].ok is True
    assert steps["Key"].ok is False
    assert (
        "rejected" in steps["Key"].detail
        and "environment variable SCAN_TEST_KEY" in steps["Key"].detail
    )
    assert "sk-wrong-key-000" not in str(report)


def test_connection_check_says_the_key_is_missing(svc, keyed_server):
    profile = svc.profiles.create("Fake", keyed_server.base_url, KEY_ENV, "NOT_SET_ANYWHERE", "m")
    steps = {s.name: s for s in svc.endpoints.check_connection(profile).steps}
    assert steps["Key"].ok is False
    assert "environment variable NOT_SET_ANYWHERE is not set" in steps["Key"].detail
    assert keyed_server.requests == []  # nothing was sent without a key


def test_connection_check_names_an_unknown_model_and_the_offered_ones(svc, fake_profile):
    report = svc.endpoints.check_connection(fake_profile, "gpt-9")
    steps = {s.name: s for s in report.steps}
    assert steps["Model"].ok is False
    assert "“gpt-9” is not one of the 2 models" in steps["Model"].detail
    assert "fake-model, other-model" in steps["Model"].detail
    assert "First token" not in steps


def test_connection_check_says_when_nothing_listens(svc, closed_port):
    profile = svc.profiles.create("Nothing", f"http://127.0.0.1:{closed_port}/v1", model="m")
    report = svc.endpoints.check_connection(profile)
    steps = {s.name: s for s in report.steps}
    assert steps["Reachable"].ok is False
    assert "Could not connect" in steps["Reachable"].detail
    assert steps["Key"].ok is None and not report.ok


# -- the key never lands anywhere -------------------------------------------------------------


def test_the_key_never_reaches_the_database_logs_or_exports(
    db_path, keyed_server, caplog, tmp_path
):
    secret_key = "sk-secrets-file-9d8c7b6a5f4e"
    secrets_server = FakeOpenAIServer(api_key=secret_key).start()
    caplog.set_level(logging.DEBUG)
    app_logger = logging.getLogger("assistant")  # the app may have stopped it propagating
    app_logger.addHandler(caplog.handler)
    services = build(db_path, {KEY_VARIABLE: KEY}, secrets={"team": {"api_key": secret_key}})
    try:
        by_env = services.profiles.create(
            "Env key", keyed_server.base_url, KEY_ENV, KEY_VARIABLE, "fake-model"
        )
        by_secrets = services.profiles.create(
            "Secrets key", secrets_server.base_url, KEY_SECRETS, "team.api_key", "fake-model"
        )
        keyed_server.enqueue(Scenario(status=401))  # a rejected request logs and stores an error
        for profile in (by_env, by_env, by_secrets):
            _, answer = send(services, None, "Hello", ChatSettings(profile_id=profile.id))
        assert answer.status == "complete" and answer.provider == "Secrets key"
        assert secrets_server.completions()[-1].headers["authorization"] == f"Bearer {secret_key}"
        statuses = sorted(m.status for m in services.store.messages(1) if m.role == "assistant")
        assert statuses == ["error"]
        reports = [services.endpoints.check_connection(p) for p in (by_env, by_secrets)]
        assert all(r.ok for r in reports)
        exported = [export.render(services.store, fmt) for fmt in export.FORMATS]
    finally:
        services.turns.shutdown(wait=2)
        secrets_server.stop()
        app_logger.removeHandler(caplog.handler)
    files = [p for p in db_path.parent.iterdir() if p.name.startswith(db_path.name)]
    assert files, "the database file exists"
    for secret in (KEY, secret_key):
        for path in files:  # the database, its WAL and shared-memory files
            assert secret.encode() not in path.read_bytes(), path
        assert secret not in caplog.text
        assert all(secret not in text for text in exported)
        assert secret not in repr(reports)
    assert "Env key" in caplog.text  # the log did record the turns


def test_doctor_profile_on_the_command_line(db_path, tmp_path, keyed_server):
    from test_cli import run_cli

    services = build(db_path, {})
    services.profiles.create("Fake", keyed_server.base_url, KEY_ENV, KEY_VARIABLE, "fake-model")
    services.turns.shutdown()
    env = {"SQLITE_DB_PATH": str(db_path), KEY_VARIABLE: KEY}
    ok = run_cli("doctor", "--profile", "fake", env=env, cwd=tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "endpoint profile: Fake" in ok.stdout
    assert "First token: ok: after" in ok.stdout
    assert KEY not in ok.stdout + ok.stderr
    bad_model = run_cli("doctor", "--profile", "Fake", "--model", "nope", env=env, cwd=tmp_path)
    assert bad_model.returncode == 1
    assert "Model: FAILED: “nope” is not one of" in bad_model.stdout
    missing = run_cli("doctor", "--profile", "Nope", env=env, cwd=tmp_path)
    assert missing.returncode == 2
    assert "no endpoint profile named “Nope”" in missing.stderr
    assert "Embedded model, OpenAI, Fake" in missing.stderr
