"""Postgres and SQLite record every submitted event, and the `transactions` row each transaction's
events imply, for every terminal status; writes are order-tolerant and idempotent."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiosqlite
import asyncpg
import pytest

from luthien_litellm_plugin.events import RecordedEvent
from luthien_litellm_plugin.storage import StorageSettings, build_recording_pipeline
from luthien_litellm_plugin.storage.migrations import migration_files
from luthien_litellm_plugin.storage.postgres import PostgresStore
from luthien_litellm_plugin.storage.sqlite import SqliteStore
from luthien_litellm_plugin.storage.store import EventStore
from tests.integration import queries
from tests.integration.conftest import fast_settings
from tests.integration.events_fixture import TERMINAL_STATUSES, many_transactions, transaction_events

pytestmark = pytest.mark.integration

Readback = Callable[[], Awaitable[tuple[list[queries.Row], dict[str, queries.Row]]]]


@pytest.fixture(params=["postgres", "sqlite"])
def database(
    request: pytest.FixtureRequest, tmp_path: Path
) -> tuple[StorageSettings, Callable[[], EventStore], Readback]:
    """Settings for one backend, a store factory, and a reader of what it holds."""
    if request.param == "postgres":
        dsn: str = request.getfixturevalue("postgres_dsn")

        async def read_postgres() -> tuple[list[queries.Row], dict[str, queries.Row]]:
            return await queries.postgres_events(dsn), await queries.postgres_transactions(dsn)

        return fast_settings(tmp_path, database_url=dsn), lambda: PostgresStore(dsn), read_postgres
    path = tmp_path / "luthien.db"

    async def read_sqlite() -> tuple[list[queries.Row], dict[str, queries.Row]]:
        return queries.sqlite_events(path), queries.sqlite_transactions(path)

    return fast_settings(tmp_path, database_url=f"sqlite:///{path}"), lambda: SqliteStore(path), read_sqlite


async def test_every_event_and_a_row_per_transaction_for_each_terminal_status(
    database: tuple[StorageSettings, Callable[[], EventStore], Readback],
) -> None:
    settings, _, read = database
    submitted: list[RecordedEvent] = []
    for status in TERMINAL_STATUSES:
        submitted += transaction_events(f"stream-{status}", status, streaming=True)
        submitted += transaction_events(f"plain-{status}", status, streaming=False)
    pipeline = build_recording_pipeline(settings)
    await pipeline.start()
    for event in submitted:
        pipeline.submit(event)
    await pipeline.aclose()  # drains: no flush needed first
    events, transactions = await read()
    queries.assert_same_events(events, submitted)
    queries.assert_same_rows(transactions, queries.expected_transactions(submitted))
    assert {t["status"] for t in transactions.values()} == set(TERMINAL_STATUSES)
    assert transactions["stream-blocked"]["original_response"] is None
    assert transactions["plain-success"]["final_response"] == submitted[2].payload["final_response"]
    [stats] = pipeline.counters.values()
    assert (stats.written, stats.spooled, stats.dropped, stats.failures) == (len(submitted), 0, 0, 0)


async def test_a_started_transaction_has_status_started(
    database: tuple[StorageSettings, Callable[[], EventStore], Readback],
) -> None:
    _, make_store, read = database
    store = make_store()
    await store.open()
    [request, *_] = transaction_events("t1")
    await store.write([request], batch_id="a")
    await store.close()
    _, transactions = await read()
    assert transactions["t1"]["status"] == "started"
    assert transactions["t1"]["final_request"] == request.payload["final_request"]
    assert transactions["t1"]["finished_at"] is None


async def test_late_and_replayed_events_never_change_the_outcome(
    database: tuple[StorageSettings, Callable[[], EventStore], Readback],
) -> None:
    _, make_store, read = database
    store = make_store()
    await store.open()
    batch = transaction_events("t1", "blocked")
    await store.write(list(reversed(batch)), batch_id="a")  # completed first: row made from it
    await store.write(batch, batch_id="b")  # a replay of everything
    await store.write(batch[:1], batch_id="c")  # a late request event: must not downgrade to started
    await store.close()
    events, transactions = await read()
    queries.assert_same_events(events, batch)
    queries.assert_same_rows(transactions, queries.expected_transactions(batch))
    assert transactions["t1"]["status"] == "blocked"


async def test_several_workers_migrating_at_once_apply_each_migration_once(
    database: tuple[StorageSettings, Callable[[], EventStore], Readback],
) -> None:
    settings, make_store, read = database
    stores = [make_store() for _ in range(6)]
    await asyncio.gather(*(store.open() for store in stores))
    await asyncio.gather(*(store.write(transaction_events(f"w{i}"), batch_id=str(i)) for i, store in enumerate(stores)))
    await asyncio.gather(*(store.close() for store in stores))
    if settings.is_postgres:
        assert settings.database_url is not None
        connection = await asyncpg.connect(settings.database_url)
        try:
            versions = [r["version"] for r in await connection.fetch("SELECT version FROM luthien.schema_migrations")]
        finally:
            await connection.close()
    else:
        async with aiosqlite.connect(settings.sqlite_path) as db:
            versions = [r[0] for r in await (await db.execute("SELECT version FROM schema_migrations")).fetchall()]
    assert versions == [version for version, _ in migration_files("postgres" if settings.is_postgres else "sqlite")]
    _, transactions = await read()
    assert len(transactions) == 6


async def test_postgres_stores_text_it_would_otherwise_refuse(postgres_dsn: str) -> None:
    store = PostgresStore(postgres_dsn)
    await store.open()
    [request, *_] = transaction_events("t\x00nul")
    tricky = RecordedEvent("t\x00nul", "policy.note", {"text": "a\x00b", "escaped": "\\u0000"}, sequence=9)
    await store.write([request, tricky], batch_id="a")
    await store.close()
    events = await queries.postgres_events(postgres_dsn)
    assert [e["payload"] for e in events if e["event_type"] == "policy.note"] == [
        {"text": "a\ufffdb", "escaped": "\\u0000"}
    ]


async def test_postgres_uses_its_own_schema(postgres_dsn: str, tmp_path: Path) -> None:
    pipeline = build_recording_pipeline(fast_settings(tmp_path, database_url=postgres_dsn))
    await pipeline.start()
    await pipeline.aclose()
    connection = await asyncpg.connect(postgres_dsn)
    try:
        tables = {
            (r["table_schema"], r["table_name"])
            for r in await connection.fetch(
                "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema NOT IN"
                " ('pg_catalog', 'information_schema')"
            )
        }
    finally:
        await connection.close()
    assert tables == {("luthien", "transactions"), ("luthien", "events"), ("luthien", "schema_migrations")}


async def test_many_transactions_in_batches(
    database: tuple[StorageSettings, Callable[[], EventStore], Readback],
) -> None:
    settings, _, read = database
    submitted = many_transactions(300)
    pipeline = build_recording_pipeline(settings.model_copy(update={"batch_size": 128}))
    await pipeline.start()
    for event in submitted:
        pipeline.submit(event)
    await pipeline.settle()
    await pipeline.aclose()
    events, transactions = await read()
    queries.assert_same_events(events, submitted)
    queries.assert_same_rows(transactions, queries.expected_transactions(submitted))
