"""History: migration 2, the full-text index and its triggers, ranking, CJK, pin, rename, trash."""

from __future__ import annotations

import sqlite3

import pytest
import seed

from assistant import browse, migrations, textsearch
from assistant.db import Database
from assistant.errors import InvalidInput, NotFound
from assistant.store import FinalResult, Snapshot, Store

SNAP = Snapshot("fake", "fake-model")


def answered(store: Store, question: str, answer: str, conversation_id: int | None = None):
    ids = seed.turn(store, conversation_id, question, SNAP)
    seed.claim(store, ids.assistant_message_id, 0)
    seed.finish(store, ids.assistant_message_id, FinalResult("complete", answer, "stop"))
    return ids


def words(hits) -> list[tuple[str, int | None]]:
    return [(hit.role, hit.message_id) for hit in hits]


def fts_rows(store: Store, table: str = "messages_fts") -> set[int]:
    with store.db.connect() as conn:
        return {row[0] for row in conn.execute(f"SELECT rowid FROM {table}")}


# -- migration from the previous schema -------------------------------------------------------


def test_migration_2_indexes_existing_rows_of_a_version_1_database(db_path):
    with sqlite3.connect(db_path, isolation_level=None) as conn:
        assert migrations.migrate(conn, target=1) == 1
        conn.execute(
            "INSERT INTO conversations (id, title, created_at, updated_at)"
            " VALUES (1, 'Old chat about kittens', 't0', 't0'), (2, 'Second', 't1', 't1')"
        )
        conn.execute(
            "INSERT INTO messages (conversation_id, seq, role, content, status, created_at,"
            " updated_at) VALUES (1, 1, 'user', 'Tell me about photosynthesis', 'complete',"
            " 't0', 't0'), (2, 1, 'user', '我想学习中文', 'complete', 't1', 't1'),"
            " (2, 2, 'assistant', '', 'pending', 't1', 't1')"
        )
    store = Store(Database(db_path))  # opening migrates to the latest version
    assert store.db.schema_version() == migrations.LATEST_VERSION
    assert [h.message_id for h in store.search("photosynthesis")] == [1]
    assert [h.message_id for h in store.search("中文")] == [2]
    assert [h.conversation_id for h in store.search("kittens")] == [1]  # titles too
    conversations = store.list_conversations()
    assert all(len(c.uid) == 32 for c in conversations)
    assert len({c.uid for c in conversations}) == 2
    assert not any(c.pinned or c.in_trash for c in conversations)
    assert fts_rows(store) == {1, 2}  # the empty pending answer is not indexed


# -- triggers keep the index current ----------------------------------------------------------


def test_new_messages_and_streamed_text_are_searchable_and_old_text_is_not(store):
    ids = seed.turn(store, None, "Explain quaternions", SNAP)
    assert words(store.search("quaternions"))[-1] == ("user", ids.user_message_id)
    assert seed.claim(store, ids.assistant_message_id, 0)
    seed.checkpoint(store, ids.assistant_message_id, "Rotations in three dimensions", 1)
    assert ("assistant", ids.assistant_message_id) in words(store.search("rotations"))
    seed.finish(store, ids.assistant_message_id, FinalResult("complete", "Gimbal lock avoided."))
    assert ("assistant", ids.assistant_message_id) in words(store.search("gimbal"))
    assert store.search("rotations") == []  # the checkpointed text was replaced


def test_deleting_for_good_removes_rows_from_both_indexes(store):
    ids = answered(store, "Tell me about volcanoes", "Magma rises.")
    store.trash(ids.conversation_id)
    store.delete_forever(ids.conversation_id)
    assert fts_rows(store) == set()
    assert fts_rows(store, "titles_fts") == set()
    with store.db.connect() as conn:
        assert conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 0


def test_renaming_reindexes_the_title(store):
    ids = answered(store, "first words", "reply")
    store.rename(ids.conversation_id, "Holiday planning")
    assert [h.role for h in store.search("holiday")] == ["title"]
    assert [h.role for h in store.search("first")] == ["user"]  # the message, not the title


# -- ranking, snippets, query syntax ----------------------------------------------------------


def test_bm25_ranks_the_message_about_the_word_first(store):
    answered(store, "a long message that mentions sqlite once among many other words here", "x")
    best = answered(store, "sqlite sqlite: all about sqlite", "y")
    hits = [h for h in store.search("sqlite") if h.message_id is not None]
    assert hits[0].message_id == best.user_message_id
    assert hits[0].rank < hits[1].rank


def test_snippet_highlights_the_matched_words(store):
    answered(store, "How do generators help with streaming output?", "ok")
    [hit] = [h for h in store.search("stream gener") if h.role == "user"]
    assert textsearch.snippet_plain(hit.snippet) == (
        "How do [generators] help with [streaming] output?"
    )
    assert "<mark>generators</mark>" in textsearch.snippet_html(hit.snippet)


def test_snippet_html_escapes_message_text(store):
    answered(store, "<script>alert('x')</script> danger", "ok")
    [hit] = [h for h in store.search("danger") if h.role == "user"]
    rendered = textsearch.snippet_html(hit.snippet)
    assert "<script>" not in rendered
    assert "&lt;script&gt;" in rendered


def test_phrases_prefixes_and_every_word_required(store):
    one = answered(store, "the quick brown fox", "a")
    answered(store, "brown quick fox", "b")
    assert [h.message_id for h in store.search('"quick brown"') if h.role == "user"] == [
        one.user_message_id
    ]
    assert len([h for h in store.search("qui fox") if h.role == "user"]) == 2  # prefix "qui"
    assert [h for h in store.search("quick zebra") if h.role == "user"] == []


@pytest.mark.parametrize(
    "query",
    ['"', "AND", "OR NOT", "NEAR(", "*", "col:umn", "-", "a OR", "((", "'", "   ", ""],
)
def test_fts_syntax_in_a_query_never_raises(store, query):
    answered(store, "AND OR NOT are words too", "ok")
    store.search(query)  # no sqlite3.OperationalError


def test_trashed_conversations_are_not_searchable_until_restored(store):
    ids = answered(store, "secret recipe for dumplings", "flour and water")
    store.trash(ids.conversation_id)
    assert store.search("dumplings") == []
    assert store.search("flour") == []
    store.restore(ids.conversation_id)
    assert {h.role for h in store.search("dumplings")} == {"title", "user"}
    assert [h.role for h in store.search("flour")] == ["assistant"]


# -- Chinese, Japanese, Korean ----------------------------------------------------------------


def test_a_two_character_chinese_word_is_found_inside_a_sentence(store):
    inside = answered(store, "我们今天在学校学习中文，很有意思。", "好的")
    answered(store, "中国文化历史悠久", "是的")  # 中 and 文 occur, but not together
    hits = [h for h in store.search("中文") if h.message_id is not None]
    assert [h.message_id for h in hits] == [inside.user_message_id]
    assert textsearch.snippet_plain(hits[0].snippet, "[", "]").count("[中文]") == 1


def test_chinese_mixed_with_english_and_japanese_and_korean(store):
    mixed = answered(store, "用Python写一个爬虫", "ok")
    japanese = answered(store, "東京で日本語を勉強しています", "ok")
    korean = answered(store, "저는 학교에서 공부해요", "ok")
    assert [h.message_id for h in store.search("python 爬虫") if h.role == "user"] == [
        mixed.user_message_id
    ]
    assert [h.message_id for h in store.search("日本語") if h.role == "user"] == [
        japanese.user_message_id
    ]
    assert [h.message_id for h in store.search("학교") if h.role == "user"] == [
        korean.user_message_id
    ]


# -- pin, rename, trash -----------------------------------------------------------------------


def test_pinned_conversations_come_first_in_the_sidebar_list(store):
    old = answered(store, "old one", "a")
    answered(store, "new one", "b")
    assert [c.title for c in store.list_conversations()] == ["new one", "old one"]
    store.set_pinned(old.conversation_id, True)
    assert [c.title for c in store.list_conversations()] == ["old one", "new one"]
    assert store.get_conversation(old.conversation_id).pinned


def test_rename_validates_and_tidies(store):
    ids = answered(store, "x", "y")
    assert store.rename(ids.conversation_id, "  Trip   to\nKyoto ") == "Trip to Kyoto"
    with pytest.raises(InvalidInput, match="cannot be empty"):
        store.rename(ids.conversation_id, "   ")
    with pytest.raises(InvalidInput, match="at most 200 characters"):
        store.rename(ids.conversation_id, "x" * 201)
    with pytest.raises(NotFound):
        store.rename(999, "anything")
    assert store.get_conversation(ids.conversation_id).title == "Trip to Kyoto"


def test_trash_restore_and_empty(store):
    keep = answered(store, "keep me", "a")
    drop = answered(store, "drop me", "b")
    store.trash(drop.conversation_id)
    assert [c.id for c in store.list_conversations()] == [keep.conversation_id]
    assert [c.id for c in store.list_trash()] == [drop.conversation_id]
    assert [s.id for s in store.summaries()] == [keep.conversation_id]
    with pytest.raises(NotFound):  # nothing can be added to a conversation in the trash
        seed.turn(store, drop.conversation_id, "more", SNAP)
    with pytest.raises(InvalidInput, match="not in the trash"):
        store.restore(keep.conversation_id)
    with pytest.raises(InvalidInput, match="not in the trash"):
        store.delete_forever(keep.conversation_id)
    store.restore(drop.conversation_id)
    assert store.list_trash() == []
    assert len(store.messages(drop.conversation_id)) == 2  # nothing lost on the way
    store.trash(drop.conversation_id)
    assert store.empty_trash() == 1
    with pytest.raises(NotFound):
        store.get_conversation(drop.conversation_id)
    assert [c.id for c in store.list_conversations()] == [keep.conversation_id]


def test_summaries_count_messages_models_tokens_and_problems(store):
    ids = seed.turn(store, None, "q1", Snapshot("openai", "gpt-a"))
    seed.claim(store, ids.assistant_message_id, 0)
    seed.finish(store, ids.assistant_message_id, FinalResult("error", "", error="boom"))
    retry = seed.answer(store, ids.user_message_id, Snapshot("openai", "gpt-b"))
    seed.claim(store, retry, 0)
    seed.finish(store, retry, FinalResult("complete", "fine", prompt_tokens=5, completion_tokens=7))
    failing = seed.turn(store, None, "q2", Snapshot("openai", "gpt-a"))
    seed.claim(store, failing.assistant_message_id, 0)
    seed.finish(store, failing.assistant_message_id, FinalResult("interrupted", "half"))
    by_id = {s.id: s for s in store.summaries()}
    first = by_id[ids.conversation_id]
    assert (first.messages, first.models, first.tokens) == (3, ("gpt-a", "gpt-b"), 12)
    assert not first.has_problem  # the failed answer was retried successfully
    assert by_id[failing.conversation_id].has_problem


def test_snippet_of_a_long_message_shows_the_match_with_some_context(store):
    filler = " ".join(f"word{i}" for i in range(200))
    answered(store, f"{filler} the needle is here {filler}", "ok")
    [hit] = [h for h in store.search("needle") if h.role == "user"]
    shown = textsearch.snippet_plain(hit.snippet)
    assert shown.startswith("…word197 word198 word199 the [needle] is here word0")
    assert shown.endswith("…")
    assert len(shown.split()) == textsearch.SNIPPET_TOKENS


@pytest.mark.parametrize(
    ("text", "query", "expected"),
    [
        ("Café crème brûlée", "creme", "Café [crème] brûlée"),
        ("저는 학교에서 공부해요", "학교", "저는 [학교]에서 공부해요"),
        ("<b>bold</b> claim", "claim", "<b>bold</b> [claim]"),
        ("no match here", "zebra", "no match here"),
    ],
)
def test_snippet_highlighting_folds_case_and_accents(text, query, expected):
    snippet = textsearch.make_snippet(text, textsearch.parse_query(query))
    assert textsearch.snippet_plain(snippet) == expected


def test_history_version_changes_with_what_the_table_shows_but_not_with_streamed_text(store):
    seen = [store.history_version()]

    def changed() -> bool:
        seen.append(store.history_version())
        return seen[-1] != seen[-2]

    ids = seed.turn(store, None, "q", SNAP)
    assert changed()
    seed.claim(store, ids.assistant_message_id, 0)
    assert changed()  # pending -> streaming
    seed.checkpoint(store, ids.assistant_message_id, "partial text", 1)
    assert not changed()  # streaming text alone does not touch the table
    seed.finish(
        store, ids.assistant_message_id, FinalResult("complete", "done", completion_tokens=3)
    )
    assert changed()
    for action in (
        lambda: store.rename(ids.conversation_id, "new"),
        lambda: store.set_pinned(ids.conversation_id, True),
        lambda: store.trash(ids.conversation_id),
        lambda: store.restore(ids.conversation_id),
    ):
        action()
        assert changed()


def test_a_cut_result_list_says_how_many_matched(store):
    for number in range(12):
        seed.finished_turn(
            store, None, f"walrus question {number}", FinalResult("complete", "walrus answer"), SNAP
        )
    hits = store.search("walrus", limit=5, title_limit=3)
    titles, messages = store.count_matches("walrus")
    assert (titles, messages) == (12, 24)
    assert browse.search_summary(hits, titles, messages) == (
        "The best 3 of 12 titles and the best 5 of 24 messages, best first"
    )
    assert browse.search_summary(hits[:1], 1, 0) == "1 title and 0 messages, best first"
    assert browse.search_summary(hits, 3, 5_001) == (
        "3 titles and the best 5 of more than 5,000 messages, best first"
    )
