"""A recording database of each kind (SQLite file, Postgres schema), written by the real store and
read back by `TransactionHistory`."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from luthien_litellm_plugin.history.database import open_database
from luthien_litellm_plugin.history.reader import TransactionHistory
from luthien_litellm_plugin.storage.postgres import PostgresStore
from luthien_litellm_plugin.storage.settings import StorageSettings
from luthien_litellm_plugin.storage.sqlite import SqliteStore
from luthien_litellm_plugin.storage.store import EventStore
from tests.integration.history.recorded import Recorded


@dataclass
class Recordings:
    store: EventStore
    history: TransactionHistory
    settings: StorageSettings

    async def record(self, *transactions: Recorded) -> None:
        batch = [event for transaction in transactions for event in transaction.events()]
        await self.store.write(batch, batch_id=os.urandom(8).hex())


@pytest.fixture(params=["sqlite", "postgres"])
async def recordings(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Recordings]:
    """Each test gets its own SQLite file, or its own schema in the session's Postgres database."""
    schema = f"history_{os.urandom(4).hex()}"
    if request.param == "postgres":
        dsn = request.getfixturevalue("postgres_database")  # a sync fixture: safe inside a running loop
        settings = StorageSettings(database_url=dsn, postgres_schema=schema, spool_dir=str(tmp_path / "spool"))
        store: EventStore = PostgresStore(dsn, schema=schema)
    else:
        settings = StorageSettings(database_url=f"sqlite:///{tmp_path / 'luthien.db'}", spool_dir=str(tmp_path / "s"))
        store = SqliteStore(settings.sqlite_path)
    await store.open()
    database = open_database(settings)
    try:
        yield Recordings(store, TransactionHistory(database), settings)
    finally:
        await database.aclose()
        await store.close()
        if request.param == "postgres":
            connection = await asyncpg.connect(settings.database_url)
            try:
                await connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            finally:
                await connection.close()
