"""Both dialects, applied for real and introspected, have the same tables and columns."""

from __future__ import annotations

from pathlib import Path

import aiosqlite
import asyncpg
import pytest

from luthien_litellm_plugin.storage.migrations import migration_files
from luthien_litellm_plugin.storage.postgres import PostgresStore
from luthien_litellm_plugin.storage.sqlite import SqliteStore

pytestmark = pytest.mark.integration


async def test_postgres_and_sqlite_have_the_same_tables_and_columns(tmp_path: Path, postgres_dsn: str) -> None:
    for _ in range(2):  # applying twice is a no-op
        for store in (PostgresStore(postgres_dsn), SqliteStore(tmp_path / "x.db")):
            await store.open()
            await store.close()
    connection = await asyncpg.connect(postgres_dsn)
    try:
        postgres = [
            (r["table_name"], r["column_name"])
            for r in await connection.fetch(
                "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'luthien'"
                " ORDER BY table_name, ordinal_position"
            )
        ]
        postgres_indexes = {
            r["indexname"]
            for r in await connection.fetch("SELECT indexname FROM pg_indexes WHERE schemaname = 'luthien'")
        }
        versions = [r["version"] for r in await connection.fetch("SELECT version FROM luthien.schema_migrations")]
    finally:
        await connection.close()
    sqlite: list[tuple[str, str]] = []
    async with aiosqlite.connect(tmp_path / "x.db") as db:
        for table in sorted({table for table, _ in postgres}):
            sqlite += [
                (table, column[1]) for column in await (await db.execute(f"PRAGMA table_info({table})")).fetchall()
            ]
        sqlite_indexes = {
            row[0]
            for row in await (
                await db.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
            ).fetchall()
        }
    assert postgres == sqlite
    assert {"transactions", "events", "schema_migrations"} == {table for table, _ in postgres}
    assert sqlite_indexes == {"events_by_transaction", "transactions_by_start", "transactions_started_by_process"}
    assert sqlite_indexes <= postgres_indexes
    assert versions == [version for version, _ in migration_files("postgres")]
