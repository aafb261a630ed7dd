"""`python -m assistant` as a user runs it: a real subprocess, real database, fake server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from assistant.db import Database
from assistant.migrations import LATEST_VERSION
from assistant.store import FinalResult, Snapshot, Store

ROOT = Path(__file__).resolve().parent.parent
KEY = "sk-cli-secret-abcdef123456"


def run_cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ASSISTANT_"))}
    full_env.update(env)
    full_env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "assistant", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def seeded(db_path: Path) -> Store:
    store = Store(Database(db_path))
    ids = store.create_turn(None, "What is WAL?", Snapshot("openai", "gpt-3.5-turbo", {}, ""))
    store.claim(ids.assistant_message_id, "test", 0)
    store.finish(ids.assistant_message_id, FinalResult("complete", "Write-ahead logging.", "stop"))
    return store


def test_doctor_reports_a_reachable_endpoint_with_the_key_masked(fake_server, db_path, tmp_path):
    result = run_cli(
        "doctor",
        env={
            "OPENAI_BASE_URL": fake_server.base_url,
            "OPENAI_API_KEY": KEY,
            "SQLITE_DB_PATH": str(db_path),
        },
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "provider check: ok" in result.stdout
    assert f"schema version: {LATEST_VERSION}" in result.stdout
    assert "sk-…3456" in result.stdout
    assert KEY not in result.stdout + result.stderr


def test_doctor_says_why_an_endpoint_is_unreachable(closed_port, db_path, tmp_path):
    result = run_cli(
        "doctor",
        env={
            "OPENAI_BASE_URL": f"http://127.0.0.1:{closed_port}/v1",
            "SQLITE_DB_PATH": str(db_path),
        },
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert "FAILED: Could not connect" in result.stdout
    assert "Traceback" not in result.stderr


def test_doctor_says_when_the_model_does_not_exist(fake_server, db_path, tmp_path):
    result = run_cli(
        "doctor",
        env={
            "OPENAI_BASE_URL": fake_server.base_url,
            "OPENAI_MODEL": "gpt-9",
            "SQLITE_DB_PATH": str(db_path),
        },
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert "has no model “gpt-9”" in result.stdout


def test_doctor_checks_the_embedded_model(db_path, tmp_path):
    result = run_cli("doctor", env={"SQLITE_DB_PATH": str(db_path)}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "provider: local" in result.stdout
    assert "embedded model loads in" in result.stdout


def test_bad_settings_exit_2_with_one_line(tmp_path):
    result = run_cli("doctor", env={"ASSISTANT_PROVIDER": "nope"}, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith("error: ASSISTANT_PROVIDER must be one of")


def test_corrupt_database_exit_2_with_one_line(db_path, tmp_path):
    db_path.write_bytes(b"garbage" * 500)
    result = run_cli("export", env={"SQLITE_DB_PATH": str(db_path)}, cwd=tmp_path)
    assert result.returncode == 2
    assert "damaged or is not an SQLite database" in result.stderr
    assert "Traceback" not in result.stderr


def test_export_prints_every_conversation_as_json(db_path, tmp_path):
    seeded(db_path)
    result = run_cli(
        "export", "--format", "json", env={"SQLITE_DB_PATH": str(db_path)}, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    [conversation] = data["conversations"]
    assert {"id", "title", "created_at", "messages"} <= conversation.keys()
    user, answer = conversation["messages"]
    assert (user["role"], user["content"], user["status"]) == ("user", "What is WAL?", "complete")
    assert (answer["role"], answer["content"], answer["model"]) == (
        "assistant",
        "Write-ahead logging.",
        "gpt-3.5-turbo",
    )
    assert answer["created_at"]


def test_export_of_one_conversation_and_a_missing_one(db_path, tmp_path):
    store = seeded(db_path)
    store.create_turn(None, "Another", Snapshot("openai", "m", {}, ""))
    env = {"SQLITE_DB_PATH": str(db_path)}
    one = run_cli("export", "--conversation", "1", env=env, cwd=tmp_path)
    assert [c["title"] for c in json.loads(one.stdout)["conversations"]] == ["What is WAL?"]
    missing = run_cli("export", "--conversation", "99", env=env, cwd=tmp_path)
    assert missing.returncode == 1
    assert missing.stderr.strip() == "error: Conversation 99 does not exist."


def test_unknown_command_is_a_usage_error(tmp_path):
    result = run_cli("frobnicate", env={}, cwd=tmp_path)
    assert result.returncode == 2
    assert "invalid choice" in result.stderr
