"""Migration 002 adds `transactions.api` and fills it for rows recorded before, from their request event."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import asyncpg
import pytest

from luthien_litellm_plugin.storage.migrations import migration_files, sql_statements
from luthien_litellm_plugin.storage.postgres import PostgresStore, _in_schema
from luthien_litellm_plugin.storage.sqlite import SqliteStore

pytestmark = pytest.mark.integration

REQUEST_EVENT = ("e1", "t1", 0, "transaction.request_recorded", '{"api": "messages", "model": "m"}')


async def test_sqlite_rows_recorded_before_get_their_api(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        for statement in sql_statements(dict(migration_files("sqlite"))["001_init"]):
            db.execute(statement)
        db.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?, 1.0)", REQUEST_EVENT)
        db.execute("INSERT INTO transactions (transaction_id, status) VALUES ('t1', 'success')")
    store = SqliteStore(path)
    await store.open()
    await store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT api FROM transactions WHERE transaction_id = 't1'").fetchone() == ("messages",)


async def test_postgres_rows_recorded_before_get_their_api(postgres_database: str) -> None:
    schema = f"migrate_{os.urandom(4).hex()}"
    connection = await asyncpg.connect(postgres_database)
    try:
        await connection.execute(_in_schema(dict(migration_files("postgres"))["001_init"], schema))
        await connection.execute(
            f"INSERT INTO {schema}.events VALUES ($1, $2, $3, $4, $5::jsonb, now())", *REQUEST_EVENT
        )
        await connection.execute(f"INSERT INTO {schema}.transactions (transaction_id, status) VALUES ('t1', 'success')")
        store = PostgresStore(postgres_database, schema=schema)
        await store.open()
        await store.close()
        assert await connection.fetchval(f"SELECT api FROM {schema}.transactions") == "messages"
    finally:
        await connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await connection.close()
