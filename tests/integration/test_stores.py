"""SQLite and Postgres stores write what the recorder emitted; queries read it back."""

from __future__ import annotations

import json
from pathlib import Path

import aiosqlite
import asyncpg
import pytest

from luthien_litellm_plugin.storage.postgres import PostgresStore
from luthien_litellm_plugin.storage.sqlite import SqliteStore
from tests.integration.conftest import POSTGRES_DSN
from tests.integration.events_fixture import transaction_events

pytestmark = pytest.mark.integration
COLUMNS = ("status", "model", "policy", "call_id", "error", "duration_ms", "time_to_first_byte_ms")


@pytest.mark.parametrize("status", ["success", "blocked", "error", "cancelled", "timeout"])
async def test_sqlite_rows_for_each_terminal_status(tmp_path: Path, status: str) -> None:
    store = SqliteStore(tmp_path / "luthien.db")
    await store.open()
    batch = transaction_events("t1", status)
    await store.write(batch)
    await store.write(batch[:1])  # a replayed request event: idempotent, and never downgrades status
    await store.close()
    async with aiosqlite.connect(tmp_path / "luthien.db") as db:
        row = await (
            await db.execute(f"SELECT {', '.join(COLUMNS)}, final_response, usage FROM transactions")
        ).fetchall()
        count = await (await db.execute("SELECT count(*) FROM events WHERE transaction_id = 't1'")).fetchone()
    [(got_status, model, policy, call_id, error, duration, ttfb, final_response, usage)] = row
    assert (got_status, model, policy, call_id, duration, ttfb) == (status, "gpt-4o", "shout", "call-1", 500.0, 12.5)
    assert (error is None) == (status == "success")
    assert json.loads(final_response)["choices"][0]["message"]["content"] == "hello"
    assert json.loads(usage)["total_tokens"] == 5
    assert count == (3,)


async def test_postgres_rows_and_events(pg_schema: str) -> None:
    store = PostgresStore(POSTGRES_DSN, schema=pg_schema)
    await store.open()
    batch = transaction_events("t1")
    await store.write(list(reversed(batch)))  # completed before request: order-tolerant
    await store.write(batch)  # replay: idempotent
    await store.close()
    connection = await asyncpg.connect(POSTGRES_DSN)
    try:
        row = await connection.fetchrow(
            f"SELECT *, extract(epoch FROM finished_at) AS finished FROM {pg_schema}.transactions"
        )
        events = await connection.fetch(f"SELECT event_type, payload FROM {pg_schema}.events ORDER BY sequence")
    finally:
        await connection.close()
    assert row is not None
    assert (row["status"], row["policy"], row["is_streaming"], row["duration_ms"]) == ("success", "shout", True, 500.0)
    assert json.loads(row["original_request"])["messages"][0]["content"] == "hi"
    assert [e["event_type"] for e in events] == [e.event_type for e in batch]


async def test_migrations_are_idempotent_and_dialects_have_the_same_columns(tmp_path: Path, pg_schema: str) -> None:
    postgres = PostgresStore(POSTGRES_DSN, schema=pg_schema)
    for _ in range(2):
        await postgres.open()
        await postgres.close()
    sqlite = SqliteStore(tmp_path / "x.db")
    await sqlite.open()
    await sqlite.close()
    connection = await asyncpg.connect(POSTGRES_DSN)
    try:
        pg_columns = {
            (r["table_name"], r["column_name"])
            for r in await connection.fetch(
                "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = $1", pg_schema
            )
        }
        versions = await connection.fetch(f"SELECT version FROM {pg_schema}.schema_migrations")
    finally:
        await connection.close()
    sqlite_columns: set[tuple[str, str]] = set()
    async with aiosqlite.connect(tmp_path / "x.db") as db:
        for table in ("transactions", "events", "schema_migrations"):
            for column in await (await db.execute(f"PRAGMA table_info({table})")).fetchall():
                sqlite_columns.add((table, column[1]))
    assert pg_columns == sqlite_columns
    assert [v["version"] for v in versions] == ["001_init"]
