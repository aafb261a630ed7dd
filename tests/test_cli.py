"""`python -m assistant` as a user runs it: a real subprocess, real database, fake server."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import seed

from assistant import browse, cli
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
    ids = seed.turn(store, None, "What is WAL?", Snapshot("openai", "gpt-3.5-turbo", {}, ""))
    seed.claim(store, ids.assistant_message_id, 0)
    seed.finish(
        store, ids.assistant_message_id, FinalResult("complete", "Write-ahead logging.", "stop")
    )
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
    assert "First token: ok: after" in result.stdout
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


def test_doctor_and_usage_speak_the_terminals_language(closed_port, db_path, tmp_path):
    """Its labels were English on a Chinese terminal (`_()` inside f-strings is never
    extracted, so they had no translation), and so were `usage`'s headings."""
    env = {
        "OPENAI_BASE_URL": f"http://127.0.0.1:{closed_port}/v1",
        "SQLITE_DB_PATH": str(db_path),
        "LANG": "zh_CN.UTF-8",
    }
    lines = run_cli("doctor", env=env, cwd=tmp_path).stdout.splitlines()
    labels = [line.split(":")[0].strip() for line in lines]
    assert labels[:4] == ["提供方", "模型", "端点", "API 密钥"]
    assert "数据库结构版本" in labels and "端点配置" in labels
    assert not any(re.search(r"[a-z]{3,}", label) for label in labels), labels
    store = seeded(db_path)
    assert store.summaries()
    heading = run_cli("usage", env=env, cwd=tmp_path).stdout.splitlines()[0]
    # The seeded history has answers without token counts, so "not reported" has a column.
    assert heading.split() == ["模型", "回答", "输入词元", "输出词元", "未报告", "费用"]
    english = run_cli("usage", env={**env, "LANG": "C.UTF-8"}, cwd=tmp_path).stdout
    assert english.splitlines()[0].split() == ["Model", "Answers", "Tokens", "in", "Tokens",
                                                "out", "not", "reported", "Cost"]  # fmt: skip
    assert "gpt-3.5-turbo" in english


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
    assert "Model: FAILED: “gpt-9” is not one of the 2 models" in result.stdout
    assert "fake-model, gpt-3.5-turbo" in result.stdout


def test_doctor_checks_the_embedded_model(db_path, tmp_path):
    result = run_cli("doctor", env={"SQLITE_DB_PATH": str(db_path)}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "provider: local" in result.stdout
    assert "endpoint profile: Embedded model" in result.stdout
    assert "Loads: ok: ready in" in result.stdout
    assert "First token: ok: after" in result.stdout


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
    seed.turn(store, None, "Another", Snapshot("openai", "m", {}, ""))
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


# -- history commands -------------------------------------------------------------------------


def test_list_show_and_search_in_the_terminal_and_as_json(db_path, tmp_path):
    store = seeded(db_path)
    other = seed.turn(store, None, "学习中文的方法", Snapshot("openai", "m", {}, ""))
    store.set_pinned(other.conversation_id, True)
    env = {"SQLITE_DB_PATH": str(db_path)}

    listing = run_cli("list", env=env, cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    heading, *lines = listing.stdout.splitlines()
    assert heading.split() == ["ID", "Last", "activity", "Messages", "(branch", "on", "screen)",
                               "Title"]  # fmt: skip
    assert re.match(r"\* *2 ", lines[0]) and lines[0].endswith("学习中文的方法")  # pinned first
    assert lines[1].endswith(" 2  What is WAL?")
    rows = json.loads(run_cli("list", "--json", env=env, cwd=tmp_path).stdout)
    assert [(r["id"], r["pinned"], r["messages"]) for r in rows] == [(2, True, 2), (1, False, 2)]

    shown = run_cli("show", "1", env=env, cwd=tmp_path)
    assert shown.returncode == 0
    assert shown.stdout.startswith("# What is WAL?\n")
    assert "--- Assistant · gpt-3.5-turbo" in shown.stdout
    assert "Write-ahead logging." in shown.stdout
    record = json.loads(run_cli("show", "1", "--json", env=env, cwd=tmp_path).stdout)
    assert [m["role"] for m in record["messages"]] == ["user", "assistant"]

    found = run_cli("search", "write-ahead", env=env, cwd=tmp_path)
    assert found.returncode == 0
    assert "What is WAL?  (assistant, message 2" in found.stdout
    assert "[Write-ahead] logging." in found.stdout
    hits = json.loads(run_cli("search", "中文", "--json", env=env, cwd=tmp_path).stdout)
    assert [(h["role"], h["conversation_id"]) for h in hits] == [("title", 2), ("user", 2)]
    assert hits[1]["snippet_html"] == "学习<mark>中文</mark>的方法"
    limited = json.loads(
        run_cli("search", "中文", "--limit", "0", "--json", env=env, cwd=tmp_path).stdout
    )
    assert [h["role"] for h in limited] == ["title"]
    nothing = run_cli("search", "zebra", env=env, cwd=tmp_path)
    assert (nothing.returncode, nothing.stdout.strip()) == (0, "No matches for “zebra”.")


def test_show_of_a_missing_conversation_exits_1(db_path, tmp_path):
    seeded(db_path)
    result = run_cli("show", "42", env={"SQLITE_DB_PATH": str(db_path)}, cwd=tmp_path)
    assert (result.returncode, result.stderr.strip()) == (
        1,
        "error: Conversation 42 does not exist.",
    )


def test_rm_goes_to_the_trash_and_restore_brings_it_back(db_path, tmp_path):
    seeded(db_path)
    env = {"SQLITE_DB_PATH": str(db_path)}
    removed = run_cli("rm", "1", env=env, cwd=tmp_path)
    assert removed.returncode == 0
    assert "Undo with: python -m assistant restore 1" in removed.stdout
    assert run_cli("list", "--json", env=env, cwd=tmp_path).stdout.strip() == "[]"
    assert json.loads(run_cli("search", "WAL", "--json", env=env, cwd=tmp_path).stdout) == []
    trash = json.loads(run_cli("list", "--trash", "--json", env=env, cwd=tmp_path).stdout)
    assert [t["id"] for t in trash] == [1] and trash[0]["deleted_at"]
    assert (
        run_cli("restore", "1", env=env, cwd=tmp_path).stdout.strip() == "Restored “What is WAL?”."
    )
    again = run_cli("restore", "1", env=env, cwd=tmp_path)
    assert (again.returncode, again.stderr.strip()) == (
        1,
        "error: Conversation 1 is not in the trash.",
    )
    assert run_cli("rm", "9", env=env, cwd=tmp_path).returncode == 1
    assert run_cli("rm", "x", env=env, cwd=tmp_path).returncode == 2  # not a number


def test_export_every_format_to_a_file_or_a_folder(db_path, tmp_path):
    seeded(db_path)
    env = {"SQLITE_DB_PATH": str(db_path)}
    md = run_cli(
        "export", "--format", "md", "--conversation", "1", "-o", "out.md", env=env, cwd=tmp_path
    )
    assert md.returncode == 0, md.stderr
    assert (tmp_path / "out.md").read_text(encoding="utf-8").startswith("# What is WAL?")
    folder = tmp_path / "exports"
    folder.mkdir()
    page = run_cli(
        "export",
        "--format",
        "html",
        "--conversation",
        "1",
        "-o",
        str(folder),
        env=env,
        cwd=tmp_path,
    )
    assert page.returncode == 0, page.stderr
    [written] = list(folder.iterdir())
    assert written.name.startswith("What is WAL") and written.suffix == ".html"
    assert "<!DOCTYPE html>" in written.read_text(encoding="utf-8")
    lines = run_cli("export", "--format", "jsonl", env=env, cwd=tmp_path).stdout.splitlines()
    assert [json.loads(line)["title"] for line in lines] == ["What is WAL?"]
    missing_dir = run_cli(
        "export", "-o", str(tmp_path / "no" / "such" / "dir.json"), env=env, cwd=tmp_path
    )
    assert missing_dir.returncode == 2 and missing_dir.stderr.startswith("error: Cannot write")
    assert run_cli("export", "--format", "pdf", env=env, cwd=tmp_path).returncode == 2


def test_import_reports_counts_is_idempotent_and_refuses_bad_files(db_path, tmp_path):
    source = tmp_path / "source.db"
    seeded(source)
    exported = run_cli(
        "export", "-o", "all.json", env={"SQLITE_DB_PATH": str(source)}, cwd=tmp_path
    )
    assert exported.returncode == 0
    env = {"SQLITE_DB_PATH": str(db_path)}
    first = run_cli("import", "all.json", env=env, cwd=tmp_path)
    assert (first.returncode, first.stdout.strip()) == (
        0,
        "Imported 1 conversation with 2 messages.",
    )
    second = json.loads(run_cli("import", "all.json", "--json", env=env, cwd=tmp_path).stdout)
    assert second == {"imported": [], "skipped": 1, "messages": 0, "left_out": []}
    (tmp_path / "bad.json").write_text('{"format": "assistant-export", "version": 1}')
    bad = run_cli("import", "bad.json", env=env, cwd=tmp_path)
    assert bad.returncode == 1
    assert bad.stderr.strip() == (
        'error: bad.json: The export has no "conversations" list. Nothing was imported.'
    )
    missing = run_cli("import", "nope.json", env=env, cwd=tmp_path)
    assert missing.returncode == 2 and "Cannot read nope.json" in missing.stderr
    assert "Traceback" not in bad.stderr + missing.stderr
    assert len(json.loads(run_cli("list", "--json", env=env, cwd=tmp_path).stdout)) == 1


REAL = Path(__file__).resolve().parent / "fixtures" / "real"


def test_import_leaves_out_a_broken_entry_naming_it_and_shows_a_chat_that_starts_with_an_answer(
    db_path, tmp_path
):
    """ChatGPT's conversations.json with an entry without "mapping": the rest imports and the
    one sentence names the entry; a fragment that starts with an answer shows the answer."""
    env = {"SQLITE_DB_PATH": str(db_path)}
    modern = REAL / "chatgpt" / "librechat_chatgpt-modern-export.json"
    partly = run_cli("import", str(modern), env=env, cwd=tmp_path)
    assert (partly.returncode, partly.stderr) == (0, "")
    assert partly.stdout == (
        "Imported 2 conversations with 6 messages; left out 1 entry that could not be read "
        '(Conversation 2 ("Corrupted entry") has no "mapping" of messages).\n'
    )
    again = json.loads(run_cli("import", str(modern), "--json", env=env, cwd=tmp_path).stdout)
    assert again == {
        "imported": [],
        "skipped": 2,
        "messages": 0,
        "left_out": ['Conversation 2 ("Corrupted entry") has no "mapping" of messages.'],
    }
    fragment = REAL / "chatgpt" / "librechat_chatgpt-citations.json"
    imported = json.loads(run_cli("import", str(fragment), "--json", env=env, cwd=tmp_path).stdout)
    [conversation_id] = imported["imported"]
    shown = run_cli("show", str(conversation_id), env=env, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "--- You" not in shown.stdout  # no question in the file, none made up
    assert "--- Assistant · gpt-4" in shown.stdout
    assert "[Tool result: browser]" in shown.stdout
    assert "Signal Sciences is a web application security company" in shown.stdout
    assert "other versions and edits exist" not in shown.stdout


def test_import_help_names_every_format_it_reads(tmp_path):
    helped = run_cli("import", "--help", env={}, cwd=tmp_path)
    assert helped.returncode == 0
    text = " ".join(helped.stdout.split())
    for name in ("this app's JSON", "ChatGPT", "Claude.ai", "Open WebUI", "LibreChat", "ChatbotUI"):
        assert name in text, name
    chinese = run_cli("import", "--help", env={"LANGUAGE": "zh_CN"}, cwd=tmp_path)
    assert "导入对话（连同分支）" in chinese.stdout, chinese.stdout


ODD_ARGUMENTS = [
    "99999999999999999999999",
    "-5",
    "0",
    "abc",
    "",
    "1e3",
    "\x00",
    "\u202e1",
    "1" * 400,
]


def test_no_odd_argument_gives_a_traceback(db_path, monkeypatch, capsys, tmp_path):
    """Every command's numbers and words set to values that broke it before: each answers with
    a sentence and an exit code (0, 1 or 2), never a traceback."""
    monkeypatch.setenv("SQLITE_DB_PATH", str(db_path))
    monkeypatch.chdir(tmp_path)  # `export -o ODD` writes files named ODD here
    seeded(db_path)
    commands = [
        ["show", "{}"],
        ["show", "{}", "--json"],
        ["rm", "{}"],
        ["restore", "{}"],
        ["list", "--limit", "{}"],
        ["search", "{}"],
        ["search", "wal", "--limit", "{}"],
        ["export", "--conversation", "{}", "-o", str(db_path.parent / "out")],
        ["import", "{}"],
        ["export", "-o", "{}"],
        ["doctor", "--profile", "{}"],
    ]
    tried = 0
    for command in commands:
        for odd in ODD_ARGUMENTS:
            argv = [part.replace("{}", odd) for part in command]
            code = cli.main(argv, io.StringIO())
            captured = capsys.readouterr()
            assert code in (0, 1, 2), (argv, code)
            assert "Traceback" not in captured.err + captured.out, argv
            if code:
                assert captured.err.strip(), argv  # a sentence says why
            tried += 1
    assert tried == len(commands) * len(ODD_ARGUMENTS)


def test_titles_and_messages_reach_the_terminal_without_control_characters(db_path, tmp_path):
    store = seeded(db_path)
    hostile = "evil\x00title\u202eenil\x1b[31m"
    seed.turn(store, None, hostile, Snapshot("openai", "m"))
    env = {"SQLITE_DB_PATH": str(db_path)}
    listing = run_cli("list", env=env, cwd=tmp_path).stdout
    shown = run_cli("show", "2", env=env, cwd=tmp_path).stdout
    for out in (listing, shown):
        assert "evil" in out
        assert not any(ch in out for ch in ("\x00", "\u202e", "\x1b"))
        assert "\\u202e" in out and "\\x00" in out
    as_json = json.loads(run_cli("show", "2", "--json", env=env, cwd=tmp_path).stdout)
    assert as_json["title"] == hostile  # data stays exact in JSON


def test_show_and_export_give_the_branch_on_screen_or_every_branch(db_path, tmp_path):
    store = Store(Database(db_path))
    snap = Snapshot("openai", "m")
    first = seed.finished_turn(
        store, None, "Plan a trip", FinalResult("complete", "Go north."), snap
    )
    again = seed.answer(store, first.user_message_id, snap)
    seed.finish(store, again, FinalResult("complete", "Go south."))
    env = {"SQLITE_DB_PATH": str(db_path)}
    shown = run_cli("show", "1", env=env, cwd=tmp_path).stdout
    assert "Go south." in shown and "Go north." not in shown
    assert "Assistant (version 2 of 2)" in shown and "other versions and edits exist" in shown
    every = run_cli("show", "1", "--all-branches", env=env, cwd=tmp_path).stdout
    assert "Go north." in every and "=== Branch 2 of 2, after “Plan a trip”" in every
    markdown = run_cli("export", "--format", "md", "--all-branches", env=env, cwd=tmp_path)
    assert markdown.returncode == 0 and "Go north." in markdown.stdout
    record = json.loads(run_cli("export", "--format", "json", env=env, cwd=tmp_path).stdout)
    messages = record["conversations"][0]["messages"]
    assert [m["parent"] for m in messages] == [None, messages[0]["id"], messages[0]["id"]]
    assert record["conversations"][0]["active_leaf"] == messages[2]["id"]


def test_list_counts_the_branch_on_screen_as_the_page_does(db_path, tmp_path):
    """Seven messages in three branches, two on screen: `list` said 7, the page 2."""
    store = Store(Database(db_path))
    conversation_id = seed.branched(store)
    [summary] = store.summaries()
    assert (summary.messages, summary.path_messages) == (7, 2)
    frame = browse.summaries_frame(store.summaries())
    assert frame.loc[conversation_id, "Messages"] == 2  # the page's column
    env = {"SQLITE_DB_PATH": str(db_path)}
    heading, row = run_cli("list", env=env, cwd=tmp_path).stdout.splitlines()
    assert "Messages (branch on screen)" in heading
    assert row.split()[-4:] == ["2", "Plan", "a", "trip"]
    [record] = json.loads(run_cli("list", "--json", env=env, cwd=tmp_path).stdout)
    assert (record["messages"], record["path_messages"]) == (7, 2)
    chinese = {**env, "LANG": "zh_CN.UTF-8"}
    heading = run_cli("list", env=chinese, cwd=tmp_path).stdout.splitlines()[0]
    assert heading.split() == ["ID", "最后活动", "消息（屏幕上的分支）", "标题"]
    # Each branch once: the edit of the first message was a second "Branch 1 of 3".
    shown = run_cli("show", str(conversation_id), "--all-branches", env=env, cwd=tmp_path)
    assert [line for line in shown.stdout.splitlines() if line.startswith("===")] == [
        "=== Branch 1 of 3 (the one last on screen)",
        "=== Branch 2 of 3, from the first message",
        "=== Branch 3 of 3, after “Plan a trip”",
    ]


def test_help_and_usage_errors_speak_the_terminals_language(tmp_path):
    chinese = {"LANG": "zh_CN.UTF-8", "SQLITE_DB_PATH": str(tmp_path / "cli.db")}
    top = run_cli("--help", env=chinese, cwd=tmp_path).stdout
    assert top.startswith("用法：python -m assistant") and "选项" in top
    assert "终端里的助手" in top and "显示此帮助信息并退出" in top
    for command in ("list", "show", "search", "export", "usage", "tools", "doctor"):
        shown = run_cli(command, "--help", env=chinese, cwd=tmp_path).stdout
        words = re.findall(r"[A-Za-z]{3,}", re.sub(r"\[[^]]*\]|\{[^}]*\}|--?[\w-]+", "", shown))
        # what is left in Latin letters: the program's name, metavars and choices
        assert set(words) <= {
            "python",
            "assistant",
            command,
            "NAME",
            "MODEL",
            "QUERY",
            "FILE",
            "DATE",
            "JSON",
            "JSONL",
            "ChatGPT",
            "Markdown",
            "HTML",
            "MCP",
            "json",
            "model",
            "YYYY",
            "conversations",
            "import",
            "Claude",
            "Desktop",
            "Cursor",
            "Code",
            "mcpServers",
        }, (command, words)
    wrong = run_cli("show", "x", env=chinese, cwd=tmp_path)
    assert wrong.returncode == 2
    assert wrong.stderr.splitlines()[-1] == "python -m assistant show：错误：参数 ID：'x' 不是数字"
    missing = run_cli("show", env=chinese, cwd=tmp_path).stderr.splitlines()[-1]
    assert missing == "python -m assistant show：错误：缺少这些参数：ID"
    english = run_cli("show", env={"LANG": "C.UTF-8"}, cwd=tmp_path).stderr.splitlines()[-1]
    assert english == "python -m assistant show: error: the following arguments are required: ID"


def test_tools_lists_each_server_or_says_why_in_one_sentence(tmp_path):
    """Servers run under the tool guard: a missing command is still "not found" (looked up
    before the guard starts), an exit still ends with the server's last stderr line."""
    failing = "import sys; sys.stderr.write('boom: missing config\\n'); sys.exit(3)"
    servers = {
        "mcpServers": {
            "gone": {"command": "no-such-mcp-server"},
            "exits": {"command": sys.executable, "args": ["-c", failing]},
            "local": {
                "command": sys.executable,
                "args": [str(ROOT / "tests" / "mcp_test_server.py"), "--stdio"],
            },
        }
    }
    (tmp_path / "servers.json").write_text(json.dumps(servers))
    env = {"SQLITE_DB_PATH": str(tmp_path / "app.db")}
    imported = run_cli("tools", "import", "servers.json", env=env, cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    listed = run_cli("tools", env=env, cwd=tmp_path)
    assert listed.returncode == cli.EXIT_PROBLEM
    assert "Traceback" not in listed.stderr
    out = listed.stdout
    assert (
        "  cannot be used: The command 'no-such-mcp-server' of the tool server gone was not "
        "found. Install it, or give its full path.\n" in out
    )
    assert "  cannot be used: The tool server exits exited: boom: missing config.\n" in out
    assert "  add: Add two integers.\n" in out
