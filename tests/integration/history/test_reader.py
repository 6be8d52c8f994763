"""TransactionHistory on real SQLite and Postgres: filters, search, pages, one transaction, summaries."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from luthien_litellm_plugin.history.database import DatabaseUnavailable, PostgresDatabase, SqliteDatabase
from luthien_litellm_plugin.history.reader import TransactionHistory, UnknownTransaction
from luthien_litellm_plugin.history.records import TransactionFilter
from luthien_litellm_plugin.storage.migrations import migration_files
from tests.integration.history.conftest import Recordings
from tests.integration.history.recorded import Recorded, chat_response

pytestmark = pytest.mark.integration

T0 = 1_800_000_000.0


def ids(rows: list[object]) -> list[str]:
    return [row.transaction_id for row in rows]  # type: ignore[attr-defined]


async def test_filters_each_match_what_they_name(recordings: Recordings) -> None:
    plain = Recorded(started_at=T0)
    caps = Recorded(
        model="gpt-4o-caps",
        policy="all_caps",
        started_at=T0 + 10,
        final_response=chat_response("HI THERE."),
    )
    blocked = Recorded(
        model="claude",
        policy="guard",
        api="messages",
        status="blocked",
        started_at=T0 + 20,
        original_response=None,
        final_response=None,
        error="Blocked by policy 'guard': no",
    )
    rewritten = Recorded(started_at=T0 + 30, final_prompt="hello (sanitised)")
    await recordings.record(plain, caps, blocked, rewritten)
    history = recordings.history

    async def find(**where: object) -> list[str]:
        return ids((await history.page(TransactionFilter(**where))).rows)  # type: ignore[arg-type]

    assert await find() == [rewritten.transaction_id, blocked.transaction_id, caps.transaction_id, plain.transaction_id]
    assert await find(model="gpt-4o-caps") == [caps.transaction_id]
    assert await find(policy="guard") == [blocked.transaction_id]
    assert await find(status="blocked") == [blocked.transaction_id]
    assert await find(api="messages") == [blocked.transaction_id]
    assert await find(changed=True) == [rewritten.transaction_id, caps.transaction_id]
    assert await find(changed=False) == [blocked.transaction_id, plain.transaction_id]
    assert await find(since=T0 + 10, until=T0 + 30) == [blocked.transaction_id, caps.transaction_id]
    rows = {row.transaction_id: row for row in (await history.page(TransactionFilter())).rows}
    assert rows[rewritten.transaction_id].request_changed and not rows[rewritten.transaction_id].response_changed
    assert rows[caps.transaction_id].response_changed and rows[caps.transaction_id].response_preview == "HI THERE."
    assert rows[blocked.transaction_id].prompt_preview == "hello" and rows[blocked.transaction_id].api == "messages"
    assert rows[plain.transaction_id].usage == {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}


async def test_free_text_finds_words_inside_recorded_json_in_any_script(recordings: Recordings) -> None:
    quoted = Recorded(started_at=T0, prompt='say "déjà vu" — 日本語 please')
    tool = Recorded(
        started_at=T0 + 1,
        original_response=chat_response("ok", [("call_1", "bash", '{"command": "rm -rf /tmp/x"}')], "tool_calls"),
        final_response=chat_response("ok"),
    )
    failed = Recorded(
        started_at=T0 + 2, status="error", error="Upstream said 50% of nothing_here", original_response=None
    )
    await recordings.record(quoted, tool, failed)

    async def search(text: str) -> list[str]:
        return ids((await recordings.history.page(TransactionFilter(text=text))).rows)

    folded = [quoted.transaction_id] if recordings.history.dialect.is_postgres else []  # SQLite folds ASCII only
    assert await search("DÉJÀ VU") == folded
    assert await search("SAY") == [quoted.transaction_id]
    assert await search('"déjà vu"') == [quoted.transaction_id]
    assert await search("日本語") == [quoted.transaction_id]
    assert await search("rm -rf /tmp") == [tool.transaction_id]
    assert await search("50% of nothing_here") == [failed.transaction_id]
    assert await search("50% of nothingXhere") == []  # `_` is not a wildcard
    assert await search(tool.transaction_id) == [tool.transaction_id]
    assert await search("never said") == []


async def test_pages_continue_where_the_last_one_stopped(recordings: Recordings) -> None:
    transactions = [Recorded(started_at=T0 + i) for i in range(7)]
    await recordings.record(*transactions)
    newest_first = [t.transaction_id for t in reversed(transactions)]
    seen: list[str] = []
    before = None
    while True:
        page = await recordings.history.page(TransactionFilter(), limit=3, before=before)
        seen += ids(page.rows)
        if page.next_before is None:
            break
        before = page.next_before
    assert seen == newest_first


async def test_one_transaction_with_its_events_and_id_prefixes(recordings: Recordings) -> None:
    verdict = {"policy": "judge", "tool_name": "bash", "probability": 0.9, "blocked": True, "reason": "destructive"}
    judged = Recorded(
        started_at=T0, extra_events=[("policy.judge_verdict", verdict)], transaction_id="abc123" + "0" * 26
    )
    other = Recorded(started_at=T0 + 1, transaction_id="abc456" + "0" * 26)
    await recordings.record(judged, other)
    history = recordings.history
    record = await history.get(judged.transaction_id)
    assert [e.event_type for e in record.events] == [
        "transaction.request_recorded",
        "policy.judge_verdict",
        "transaction.streaming_response_recorded",
        "transaction.completed",
    ]
    assert record.events_of("policy.judge_verdict")[0].payload == verdict
    assert record.original_request == {"model": "gpt-4o", "messages": [{"role": "user", "content": "hello"}]}
    assert await history.resolve("abc123") == judged.transaction_id
    with pytest.raises(UnknownTransaction, match="several"):
        await history.resolve("abc")
    with pytest.raises(UnknownTransaction, match="no transaction 'zzz'"):
        await history.resolve("zzz")
    with pytest.raises(UnknownTransaction):
        await history.get("zzz")


async def test_summary_counts_per_policy_and_model_with_nearest_rank_percentiles(recordings: Recordings) -> None:
    durations = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 1000.0]
    fast = [Recorded(policy="p1", started_at=T0 + i, duration_ms=d) for i, d in enumerate(durations)]
    odd = [
        Recorded(policy="p2", model="m2", status="blocked", started_at=T0 + 20, original_response=None),
        Recorded(policy="p2", model="m2", status="error", started_at=T0 + 21, original_response=None),
        Recorded(policy="p2", model="m2", started_at=T0 + 22, final_response=chat_response("changed")),
        Recorded(policy="p2", model="m2", status="timeout", started_at=T0 + 4000, original_response=None),
    ]
    await recordings.record(*fast, *odd)
    summary = await recordings.history.summary(T0, T0 + 3600)
    assert (summary.totals.transactions, summary.totals.blocked, summary.totals.changed, summary.totals.errors) == (
        13,
        1,
        1,
        1,
    )
    by_policy = {group.key: group for group in summary.by_policy}
    assert by_policy["p1"].transactions == 10
    assert (by_policy["p1"].p50_ms, by_policy["p1"].p95_ms) == (50.0, 1000.0)
    assert (by_policy["p2"].blocked, by_policy["p2"].changed, by_policy["p2"].errors) == (1, 1, 1)
    assert [group.key for group in summary.by_model] == ["gpt-4o", "m2"]
    assert summary.bucket_seconds == 300 and summary.timeline_start == T0 - T0 % 300
    assert sum(bucket.transactions for bucket in summary.timeline) == 13
    assert all(bucket.start >= summary.timeline_start for bucket in summary.timeline)
    narrowed = await recordings.history.summary(T0, T0 + 3600, TransactionFilter(model="m2"))
    assert narrowed.totals.transactions == 3


async def test_live_helpers_see_new_and_finished_transactions(recordings: Recordings) -> None:
    history = recordings.history
    before = await history.fingerprint(T0 - 1)
    first = Recorded(started_at=T0, policy="x", model="mx", api="responses")
    await recordings.record(first)
    assert await history.fingerprint(T0 - 1) != before
    assert await history.statuses([first.transaction_id, "missing"]) == {first.transaction_id: "success"}
    assert ids(await history.finished_since(T0, TransactionFilter())) == [first.transaction_id]
    facets = await history.facets(T0 - 1)
    assert facets == {"models": ["mx"], "policies": ["x"], "apis": ["responses"]}


async def test_export_reads_every_transaction_with_its_events_in_pages(recordings: Recordings) -> None:
    transactions = [Recorded(started_at=T0 + i) for i in range(5)]
    await recordings.record(*transactions)
    exported = [record async for record in recordings.history.export(TransactionFilter(since=T0 + 1), page_size=2)]
    assert [r.row.transaction_id for r in exported] == [t.transaction_id for t in transactions[1:]]
    assert all(len(r.events) == 3 for r in exported)


async def test_bodies_are_stored_once_and_every_event_is_read_back_as_it_was_recorded(
    recordings: Recordings,
) -> None:
    recorded = Recorded(started_at=T0, prompt="a long conversation", final_prompt="an edited one")
    await recordings.record(recorded)
    record = await recordings.history.get(recorded.transaction_id)
    assert [event.payload for event in record.events] == [event.payload for event in recorded.events()]
    exported = [r async for r in recordings.history.export(TransactionFilter(since=T0 - 1))]
    assert [event.payload for event in exported[0].events] == [event.payload for event in recorded.events()]
    stored = await recordings.history.events([recorded.transaction_id])
    texts = json.dumps([event.payload for event in stored[recorded.transaction_id]])
    assert "a long conversation" not in texts and "Hi there." not in texts, "the events table has no bodies"


async def test_a_missing_or_unmigrated_sqlite_file_is_a_clear_error(tmp_path: Path) -> None:
    missing = TransactionHistory(SqliteDatabase(tmp_path / "nowhere.db"))
    with pytest.raises(DatabaseUnavailable, match="no recording database at"):
        await missing.page(TransactionFilter())
    assert not (tmp_path / "nowhere.db").exists()  # reading never creates the file
    old = tmp_path / "old.db"
    with sqlite3.connect(old) as db:
        db.executescript(_first_migration())
    with pytest.raises(DatabaseUnavailable, match=r"older version of the plugin .*'api'"):
        await TransactionHistory(SqliteDatabase(old)).page(TransactionFilter())


async def test_an_unreachable_postgres_is_a_clear_error_without_the_password() -> None:
    database = PostgresDatabase("postgresql://luthien:s3cret@127.0.0.1:1/luthien", connect_timeout=2)
    with pytest.raises(DatabaseUnavailable) as caught:
        await TransactionHistory(database).page(TransactionFilter())
    assert "cannot reach postgres postgresql://luthien:***@127.0.0.1:1/luthien" in str(caught.value)
    assert "s3cret" not in str(caught.value)


def _first_migration() -> str:
    return dict(migration_files("sqlite"))["001_init"]
